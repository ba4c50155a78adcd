//! XEP-0030: Service Discovery, and the XEP-0115 capabilities hash that
//! clients such as Profanity use instead of asking.
//!
//! Features are built from the router's handler tables, so they list only
//! what is handled. Items of the gateway: a registered user sees their
//! deposit addresses; an admin also sees the registered users.

use crate::bitcoin::address::Address;
use crate::command::Services;
use crate::entity::Entity;
use crate::notify::CAPS_NODE;
use crate::xep::adhoc;
use crate::xep::{self, IqHandler, IqResult, Request, State};
use crate::xmpp::ns;
use crate::xmpp::stanza::{Condition, StanzaError};
use crate::xmpp::Element;
use base64::Engine as _;
use sha1::{Digest, Sha1};

pub const INFO: IqHandler = IqHandler {
    ns: ns::DISCO_INFO,
    name: "query",
    feature: Some(ns::DISCO_INFO),
    get: Some(on_info),
    set: None,
};

pub const ITEMS: IqHandler = IqHandler {
    ns: ns::DISCO_ITEMS,
    name: "query",
    feature: Some(ns::DISCO_ITEMS),
    get: Some(on_items),
    set: None,
};

/// The gateway's identity: `gateway/bitcoin` (XEP-0030's registry has a
/// `gateway` category; `bitcoin` names the network it bridges to).
const GATEWAY_IDENTITY: (&str, &str) = ("gateway", "bitcoin");

/// The gateway's disco#info, and what its caps hash covers.
pub fn gateway_info() -> Element {
    info(GATEWAY_IDENTITY, crate::NAME, &xep::gateway_features())
}

fn info(identity: (&str, &str), name: &str, features: &[&str]) -> Element {
    let mut query = Element::new("query", ns::DISCO_INFO).child(
        Element::new("identity", ns::DISCO_INFO)
            .attr("category", identity.0)
            .attr("type", identity.1)
            .attr("name", name),
    );
    for feature in features {
        query.push(Element::new("feature", ns::DISCO_INFO).attr("var", feature));
    }
    query
}

/// XEP-0115 section 5.1: the verification string of the gateway's
/// identity and features, hashed with SHA-1, in base64.
pub fn caps_ver() -> String {
    let mut s = format!(
        "{}/{}//{}<",
        GATEWAY_IDENTITY.0,
        GATEWAY_IDENTITY.1,
        crate::NAME
    );
    for feature in xep::gateway_features() {
        s.push_str(feature);
        s.push('<');
    }
    base64::engine::general_purpose::STANDARD.encode(Sha1::digest(s.as_bytes()))
}

fn requested_node<'a>(request: &'a Request) -> Option<&'a str> {
    request.iq.payload.and_then(|p| p.get_attr("node"))
}

fn no_such_node(node: &str) -> StanzaError {
    StanzaError::with_text(Condition::ItemNotFound, format!("no such node: {node}"))
}

fn on_info(s: &mut Services, _: &mut State, request: &Request, _: &mut Vec<Element>) -> IqResult {
    let node = requested_node(request);
    let mut query = match request.entity {
        Entity::Gateway => match node {
            None => gateway_info(),
            Some(n) if n == format!("{CAPS_NODE}#{}", caps_ver()) => gateway_info(),
            Some(n) if n == ns::COMMANDS => info(
                ("automation", "command-list"),
                &s.text(request.lang(s), "adhoc-list", &[]),
                &[ns::DISCO_INFO, ns::DISCO_ITEMS],
            ),
            Some(n) => {
                return adhoc::node_info(s, request, n)
                    .ok_or_else(|| no_such_node(n))
                    .map(Some)
            }
        },
        _ if node.is_some() => return Err(no_such_node(node.unwrap_or_default())),
        Entity::Address(address) => info(
            ("hierarchy", "leaf"),
            address.as_str(),
            &xep::features(request.entity),
        ),
        Entity::User(user) => info(
            ("account", "registered"),
            &user.username,
            &xep::features(request.entity),
        ),
        Entity::Unknown => return Err(StanzaError::new(Condition::ItemNotFound)),
    };
    if let Some(node) = node {
        query.set_attr("node", node);
    }
    Ok(Some(query))
}

fn item(jid: &str, name: &str) -> Element {
    Element::new("item", ns::DISCO_ITEMS)
        .attr("jid", jid)
        .attr("name", name)
}

fn on_items(s: &mut Services, _: &mut State, request: &Request, _: &mut Vec<Element>) -> IqResult {
    match requested_node(request) {
        None => {}
        Some(ns::COMMANDS) if matches!(request.entity, Entity::Gateway) => {
            let mut query = Element::new("query", ns::DISCO_ITEMS).attr("node", ns::COMMANDS);
            for item in adhoc::items(s, request) {
                query.push(item);
            }
            return Ok(Some(query));
        }
        Some(node) => return Err(no_such_node(node)),
    }
    let mut query = Element::new("query", ns::DISCO_ITEMS);
    if !matches!(request.entity, Entity::Gateway) {
        return Ok(Some(query));
    }
    if let Some(user) = request.sender(s) {
        let addresses = s.wallet.ledger().addresses_of(user.id).map_err(internal)?;
        for text in addresses {
            if let Ok(address) = Address::parse(&text, s.wallet.network()) {
                query.push(item(
                    &s.voice.contact_jid(&address.to_node()).to_string(),
                    address.as_str(),
                ));
            }
        }
    }
    if s.voice.is_admin(&request.iq.from) {
        for user in s.wallet.ledger().users().map_err(internal)? {
            query.push(item(
                &s.voice.contact_jid(&user.username).to_string(),
                &user.username,
            ));
        }
    }
    Ok(Some(query))
}

fn internal(e: crate::ledger::LedgerError) -> StanzaError {
    log::error!("{e}");
    StanzaError::new(Condition::InternalServerError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_identity_and_every_handled_feature_once() {
        let info = gateway_info();
        let identity = info.get_child("identity", ns::DISCO_INFO).unwrap();
        assert_eq!(identity.get_attr("category"), Some("gateway"));
        assert_eq!(identity.get_attr("type"), Some("bitcoin"));
        let features: Vec<&str> = info
            .elements()
            .filter(|e| e.name == "feature")
            .filter_map(|e| e.get_attr("var"))
            .collect();
        for expected in [
            ns::DISCO_INFO,
            ns::DISCO_ITEMS,
            ns::VERSION,
            ns::LAST,
            ns::PING,
            ns::VCARD,
            ns::REGISTER,
            ns::GATEWAY,
            ns::COMMANDS,
        ] {
            assert_eq!(
                features.iter().filter(|f| **f == expected).count(),
                1,
                "{expected}"
            );
        }
    }

    // XEP-0115 section 5.2's example, computed the same way.
    #[test]
    fn caps_hash_follows_xep0115() {
        let s = "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<\
                 http://jabber.org/protocol/disco#info<\
                 http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<";
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(Sha1::digest(s.as_bytes())),
            "QgayPKawpkPSDYmwT/WM94uAlu0="
        );
        assert_eq!(caps_ver().len(), 28);
    }
}
