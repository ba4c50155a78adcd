//! Presence (RFC 6121): subscriptions between users and the gateway, its
//! address contacts and its user contacts; who is online, per resource;
//! probes at start-up and goodbyes at shutdown.
//!
//! The gateway's status carries the user's balance (from the ledger, no
//! RPC); an own address's status says what it has received. Only the user
//! themself ever sees those: presence is always directed to one user.

use crate::bitcoin::address::Address;
use crate::entity::Entity;
use crate::gateway::Gateway;
use crate::ledger::User;
use crate::xep::{disco, vcard};
use crate::xmpp::stanza::{error_reply, Condition, StanzaError};
use crate::xmpp::{ns, Element, Jid};
use std::collections::{BTreeSet, HashMap};

const NS_NICK: &str = "http://jabber.org/protocol/nick";
const NS_CAPS: &str = "http://jabber.org/protocol/caps";
const NS_VCARD_UPDATE: &str = "vcard-temp:x:update";

/// Who is online, and which of our contacts told them so.
#[derive(Debug, Default)]
pub struct Online {
    users: HashMap<String, OnlineUser>,
}

#[derive(Debug, Default)]
struct OnlineUser {
    resources: BTreeSet<String>,
    /// Our JIDs that sent this user an available presence.
    announced: BTreeSet<String>,
}

impl Online {
    /// Records a resource; true when it is the user's first.
    pub fn available(&mut self, bare: &str, resource: &str) -> bool {
        let user = self.users.entry(bare.to_owned()).or_default();
        user.resources.insert(resource.to_owned()) && user.resources.len() == 1
    }

    /// Forgets a resource; true when the user has none left.
    pub fn unavailable(&mut self, bare: &str, resource: &str) -> bool {
        let Some(user) = self.users.get_mut(bare) else {
            return false;
        };
        user.resources.remove(resource);
        if user.resources.is_empty() {
            self.users.remove(bare);
            return true;
        }
        false
    }

    pub fn is_online(&self, bare: &str) -> bool {
        self.users.contains_key(bare)
    }

    pub fn resources(&self, bare: &str) -> usize {
        self.users.get(bare).map_or(0, |u| u.resources.len())
    }

    pub fn count(&self) -> usize {
        self.users.len()
    }

    /// Records that `from` told `bare` it is available; false if it had
    /// already (so that it need not say it again).
    fn announce(&mut self, bare: &str, from: &str) -> bool {
        match self.users.get_mut(bare) {
            Some(user) => user.announced.insert(from.to_owned()),
            None => true,
        }
    }

    /// Forgets what was announced to `bare` (after unsubscriptions).
    fn forget_announced(&mut self, bare: &str) {
        if let Some(user) = self.users.get_mut(bare) {
            user.announced.clear();
        }
    }
}

fn presence(from: &Jid, to: &str, kind: Option<&str>) -> Element {
    let mut p = Element::new("presence", ns::COMPONENT)
        .attr("from", &from.to_string())
        .attr("to", to);
    if let Some(kind) = kind {
        p.set_attr("type", kind);
    }
    p
}

/// The gateway's status for `user`: balance, incoming and held amounts.
pub fn gateway_status(gateway: &Gateway, user: Option<&User>, lang: &str) -> String {
    let Some(user) = user else {
        return gateway.text(lang, "status-not-registered", &[]);
    };
    let mut status = gateway.text(
        lang,
        "status-balance",
        &[("balance", &user.balance.to_string())],
    );
    let incoming = gateway.ledger.incoming_of(user.id).unwrap_or_default();
    if incoming.0 > 0 {
        status.push('\n');
        status.push_str(&gateway.text(
            lang,
            "status-incoming",
            &[("amount", &incoming.to_string())],
        ));
    }
    if user.held.0 > 0 {
        status.push('\n');
        status.push_str(&gateway.text(lang, "status-held", &[("amount", &user.held.to_string())]));
    }
    status
}

/// The available presence of `entity` for the user `to` (a bare or full
/// JID) whose account is `user`.
fn available(
    gateway: &Gateway,
    entity: &Entity,
    to: &str,
    user: Option<&User>,
    lang: &str,
) -> Option<Element> {
    match entity {
        Entity::Gateway => {
            let status = gateway_status(gateway, user, lang);
            Some(
                presence(&gateway.jid, to, None)
                    .text_child("status", &status)
                    .child(
                        Element::new("c", NS_CAPS)
                            .attr("hash", "sha-1")
                            .attr("node", disco::CAPS_NODE)
                            .attr("ver", &disco::caps_ver()),
                    ),
            )
        }
        Entity::Address(address) => {
            let from = gateway.contact_jid(&address.to_node());
            let mut p = presence(&from, to, None);
            let owner = gateway
                .ledger
                .address_owner(address.as_str())
                .ok()
                .flatten();
            if let (Some(user), Some(owner)) = (user, owner) {
                if user.id == owner {
                    let received = gateway
                        .ledger
                        .received_on(address.as_str())
                        .unwrap_or_default();
                    p.push(Element::new("status", ns::COMPONENT).text(&gateway.text(
                        lang,
                        "status-address-mine",
                        &[("amount", &received.to_string())],
                    )));
                }
            }
            if let Some(hash) = vcard::address_photo_hash(address) {
                p.push(
                    Element::new("x", NS_VCARD_UPDATE)
                        .child(Element::new("photo", NS_VCARD_UPDATE).text(&hash)),
                );
            }
            Some(p)
        }
        Entity::User(contact) => Some(presence(&gateway.contact_jid(&contact.username), to, None)),
        Entity::Unknown => None,
    }
}

/// Tells an online user their new balance, in the gateway's status.
pub fn send_balance(gateway: &mut Gateway, user: &User, out: &mut Vec<Element>) {
    if !gateway.online.is_online(&user.jid) {
        return;
    }
    let lang = crate::wallet::deposits::user_lang(gateway, user);
    if let Some(p) = available(gateway, &Entity::Gateway, &user.jid, Some(user), lang) {
        out.push(p);
    }
}

/// Handles a presence from `from` to `entity`.
pub fn on_presence(
    gateway: &mut Gateway,
    stanza: &Element,
    from: &Jid,
    entity: &Entity,
    out: &mut Vec<Element>,
) {
    let kind = stanza.get_attr("type");
    if kind == Some("error") {
        return;
    }
    let bare = from.bare().to_string();
    if matches!(entity, Entity::Unknown) {
        if matches!(kind, Some("subscribe" | "probe")) {
            out.push(error_reply(
                stanza,
                &StanzaError::with_text(Condition::ItemNotFound, "no such user or address"),
            ));
        }
        return;
    }
    let to_jid = entity_jid(gateway, entity);
    let user = gateway.user_of(from);
    let lang = gateway.lang(stanza, user.as_ref());
    match kind {
        None => {
            let resource = from.resource.clone().unwrap_or_default();
            if gateway.online.available(&bare, &resource) {
                log::debug!("{bare} is online");
                let me = gateway.jid.to_string();
                if gateway.online.announce(&bare, &me) {
                    if let Some(p) =
                        available(gateway, &Entity::Gateway, &bare, user.as_ref(), lang)
                    {
                        out.push(p);
                    }
                }
            }
        }
        Some("unavailable") => {
            let resource = from.resource.clone().unwrap_or_default();
            if gateway.online.unavailable(&bare, &resource) {
                log::debug!("{bare} is offline");
            }
        }
        Some("subscribe") => {
            out.push(presence(&to_jid, &bare, Some("subscribed")));
            if let Some(p) = available(gateway, entity, &bare, user.as_ref(), lang) {
                gateway.online.announce(&bare, &to_jid.to_string());
                out.push(p);
            }
        }
        Some("subscribed") => {
            // Said already if the user came online or subscribed first.
            if gateway.online.announce(&bare, &to_jid.to_string()) {
                if let Some(p) = available(gateway, entity, &bare, user.as_ref(), lang) {
                    out.push(p);
                }
            }
        }
        Some("probe") => {
            if let Some(p) = available(gateway, entity, &from.to_string(), user.as_ref(), lang) {
                gateway.online.announce(&bare, &to_jid.to_string());
                out.push(p);
            }
        }
        Some("unsubscribe") => out.push(presence(&to_jid, &bare, Some("unsubscribed"))),
        Some(_) => {}
    }
}

fn entity_jid(gateway: &Gateway, entity: &Entity) -> Jid {
    match entity {
        Entity::Gateway | Entity::Unknown => gateway.jid.clone(),
        Entity::Address(a) => gateway.contact_jid(&a.to_node()),
        Entity::User(u) => gateway.contact_jid(&u.username),
    }
}

/// A subscription request with an XEP-0172 nick.
fn subscribe(from: &Jid, to: &str, nick: &str) -> Element {
    presence(from, to, Some("subscribe")).child(Element::new("nick", NS_NICK).text(nick))
}

/// A new account: the gateway and its first address ask to be in the
/// user's roster.
pub fn subscribe_new_user(
    gateway: &Gateway,
    user: &User,
    address: Option<&Address>,
    out: &mut Vec<Element>,
) {
    out.push(subscribe(
        &gateway.jid,
        &user.jid,
        crate::xep::version::NAME,
    ));
    if let Some(address) = address {
        subscribe_address(gateway, user, address, out);
    }
}

/// A deposit address asks to be in its owner's roster.
pub fn subscribe_address(
    gateway: &Gateway,
    user: &User,
    address: &Address,
    out: &mut Vec<Element>,
) {
    let from = gateway.contact_jid(&address.to_node());
    out.push(subscribe(&from, &user.jid, address.as_str()));
}

/// An account closed: the gateway and the user's addresses leave the
/// roster.
pub fn unsubscribe_user(gateway: &mut Gateway, user: &User, out: &mut Vec<Element>) {
    gateway.online.forget_announced(&user.jid);
    let mut contacts = vec![gateway.jid.clone()];
    for address in gateway.ledger.addresses_of(user.id).unwrap_or_default() {
        if let Ok(a) = Address::parse(&address, gateway.node.network()) {
            contacts.push(gateway.contact_jid(&a.to_node()));
        }
    }
    for contact in contacts {
        out.push(presence(&contact, &user.jid, Some("unavailable")));
        out.push(presence(&contact, &user.jid, Some("unsubscribe")));
        out.push(presence(&contact, &user.jid, Some("unsubscribed")));
    }
}

/// Start-up: probe every registered user, so that their presence (and so
/// who is online) comes back to us.
pub fn on_connected(gateway: &mut Gateway, out: &mut Vec<Element>) {
    match gateway.ledger.users() {
        Ok(users) => {
            log::info!("probing {} registered users", users.len());
            for user in users {
                out.push(presence(&gateway.jid, &user.jid, Some("probe")));
            }
        }
        Err(e) => log::error!("{e}"),
    }
}

/// Shutdown: every contact that told an online user it was available now
/// says it is not.
pub fn goodbye(gateway: &mut Gateway, out: &mut Vec<Element>) {
    let mut count = 0;
    for (bare, user) in &gateway.online.users {
        for from in &user.announced {
            out.push(
                Element::new("presence", ns::COMPONENT)
                    .attr("from", from)
                    .attr("to", bare)
                    .attr("type", "unavailable"),
            );
        }
        count += 1;
    }
    log::info!("said goodbye to {count} online users");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_resources_per_user() {
        let mut o = Online::default();
        assert!(o.available("a@x", "phone"));
        assert!(!o.available("a@x", "laptop"));
        assert!(!o.available("a@x", "phone"));
        assert_eq!(o.resources("a@x"), 2);
        assert!(!o.unavailable("a@x", "phone"));
        assert!(o.is_online("a@x"));
        assert!(o.unavailable("a@x", "laptop"));
        assert!(!o.is_online("a@x"));
        assert!(!o.unavailable("b@x", "r"));
        assert_eq!(o.count(), 0);
    }
}
