//! XEP-0030: Service Discovery, and the XEP-0115 capabilities hash that
//! clients such as Profanity use instead of asking.
//!
//! Features are built from the router's handler tables, so they list only
//! what is handled. Items of the gateway: a registered user sees their
//! deposit addresses; an admin also sees the registered users, a page at
//! a time (XEP-0059: Result Set Management, see [`USERS_PER_PAGE`]).

use crate::bitcoin::address::Address;
use crate::command::Services;
use crate::entity::Entity;
use crate::notify::CAPS_NODE;
use crate::xep::adhoc;
use crate::xep::{self, IqHandler, IqResult, Request, State};
use crate::xmpp::element::Shared;
use crate::xmpp::ns;
use crate::xmpp::stanza::{Condition, StanzaError};
use crate::xmpp::Element;
use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::sync::{Arc, OnceLock};

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

/// The gateway's disco#info as an IQ result carries it, built and
/// serialized once: it depends on nothing that changes while running.
fn shared_gateway_info() -> &'static Arc<Shared> {
    static INFO: OnceLock<Arc<Shared>> = OnceLock::new();
    INFO.get_or_init(|| Shared::new(gateway_info(), ns::COMPONENT))
}

/// XEP-0115 section 5.1: the verification string of the gateway's
/// identity and features, hashed with SHA-1, in base64 (computed once).
pub fn caps_ver() -> &'static str {
    static VER: OnceLock<String> = OnceLock::new();
    VER.get_or_init(compute_caps_ver)
}

fn compute_caps_ver() -> String {
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
            // The most asked question, answered from bytes made once.
            None => return Ok(Some(shared_gateway_info().into())),
            Some(n)
                if n.strip_prefix(CAPS_NODE).and_then(|v| v.strip_prefix('#'))
                    == Some(caps_ver()) =>
            {
                gateway_info()
            }
            Some(n) if n == ns::COMMANDS => info(
                ("automation", "command-list"),
                &s.text(request.lang(s), "adhoc-list", &[]),
                &[ns::DISCO_INFO, ns::DISCO_ITEMS],
            ),
            Some(n) => {
                return adhoc::node_info(s, request, n)
                    .ok_or_else(|| no_such_node(n))
                    .map(|info| Some(info.into()))
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
    Ok(Some(query.into()))
}

fn item(jid: &str, name: &str) -> Element {
    Element::new("item", ns::DISCO_ITEMS)
        .attr("jid", jid)
        .attr("name", name)
}

/// The most users one disco#items answer lists, whatever `<max/>` asks
/// and also without `<set/>`: 100 items stay far below the servers'
/// stanza limits (Prosody: 256 KiB), where 100 000 users would not.
pub const USERS_PER_PAGE: usize = 100;

/// Where an admin's page of users starts, and its size.
///
/// XEP-0059 as this gateway answers it: a page is the users after the
/// username in `<after/>` (none or empty: the first page), by username,
/// at most `<max/>` of them (capped at [`USERS_PER_PAGE`]). The answer's
/// `<set/>` holds `<first/>` and `<last/>` (neither on an empty page);
/// the next page is asked with `<after/>` set to `<last/>`, and an empty
/// page ends the walk. It has no `<count/>`: counting the users reads the
/// whole username index, once per page, which is the cost pages avoid,
/// and the XEP makes it optional. `<before/>` (paging backwards) and
/// `<index/>` (jumping to a position) would need the same count or a
/// reverse walk an admin's client has no use for: they are
/// `feature-not-implemented`.
/// See: <https://xmpp.org/extensions/xep-0059.html>
struct Page {
    after: String,
    max: usize,
}

impl Page {
    /// The first page, as large as pages go.
    fn first() -> Page {
        Page {
            after: String::new(),
            max: USERS_PER_PAGE,
        }
    }
}

fn requested_page(request: &Request) -> Result<Page, StanzaError> {
    let Some(set) = request.iq.payload.and_then(|p| p.get_child("set", ns::RSM)) else {
        return Ok(Page::first());
    };
    for unsupported in ["before", "index"] {
        if set.get_child(unsupported, ns::RSM).is_some() {
            return Err(StanzaError::with_text(
                Condition::FeatureNotImplemented,
                format!("result set management: <{unsupported}/> is not supported"),
            ));
        }
    }
    let max = match set.get_child("max", ns::RSM) {
        None => USERS_PER_PAGE,
        Some(max) => max.text_content().trim().parse::<usize>().map_err(|_| {
            StanzaError::with_text(
                Condition::BadRequest,
                "result set management: <max/> is not a number",
            )
        })?,
    };
    Ok(Page {
        after: set
            .get_child("after", ns::RSM)
            .map(|a| a.text_content().trim().to_owned())
            .unwrap_or_default(),
        max: max.min(USERS_PER_PAGE),
    })
}

fn on_items(s: &mut Services, _: &mut State, request: &Request, _: &mut Vec<Element>) -> IqResult {
    match requested_node(request) {
        None => {}
        Some(ns::COMMANDS) if matches!(request.entity, Entity::Gateway) => {
            let mut query = Element::new("query", ns::DISCO_ITEMS).attr("node", ns::COMMANDS);
            for item in adhoc::items(s, request) {
                query.push(item);
            }
            return Ok(Some(query.into()));
        }
        Some(node) => return Err(no_such_node(node)),
    }
    let mut query = Element::new("query", ns::DISCO_ITEMS);
    if !matches!(request.entity, Entity::Gateway) {
        return Ok(Some(query.into()));
    }
    let admin = s.voice.is_admin(&request.iq.from);
    // Only the admins' list of users is paged: a user's answer is whole,
    // whatever `<set/>` it carries.
    let page = if admin {
        requested_page(request)?
    } else {
        Page::first()
    };
    // The sender's own addresses are few: they come once, before the
    // first page of users, outside its count (the set is the users').
    if let Some(user) = request.sender(s).filter(|_| page.after.is_empty()) {
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
    if admin {
        let users = s
            .wallet
            .ledger()
            .users_page(&page.after, "", page.max)
            .map_err(internal)?;
        for user in &users {
            query.push(item(
                &s.voice.contact_jid(&user.username).to_string(),
                &user.username,
            ));
        }
        let mut set = Element::new("set", ns::RSM);
        if let (Some(first), Some(last)) = (users.first(), users.last()) {
            set.push(Element::new("first", ns::RSM).text(&first.username));
            set.push(Element::new("last", ns::RSM).text(&last.username));
        }
        query.push(set);
    }
    Ok(Some(query.into()))
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
            ns::RECEIPTS,
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

    use crate::testkit::{contact, error_condition, result_payload, Bench, ADMIN, GATEWAY};
    use crate::xep::{CONTACT_IQS, GATEWAY_IQS, MESSAGE_FEATURES};

    const INFO_GET: &str = "<query xmlns='http://jabber.org/protocol/disco#info'/>";
    const ITEMS_GET: &str = "<query xmlns='http://jabber.org/protocol/disco#items'/>";
    const ALICE: &str = "alice@example.org/phone";

    /// The identity (category, type, name) and the features of an info
    /// answer.
    fn identity_and_features(answer: &Element) -> ((String, String, String), Vec<String>) {
        let query = result_payload(answer).expect("a query");
        let identity = query
            .get_child("identity", ns::DISCO_INFO)
            .expect("an identity");
        let attr = |name| identity.get_attr(name).unwrap_or_default().to_owned();
        let features = query
            .elements()
            .filter(|e| e.is("feature", ns::DISCO_INFO))
            .map(|e| e.get_attr("var").unwrap().to_owned())
            .collect();
        ((attr("category"), attr("type"), attr("name")), features)
    }

    /// The features of a handler table, with those of messages.
    fn sorted_features(table: &[IqHandler]) -> Vec<String> {
        let mut features: Vec<String> = table
            .iter()
            .filter_map(|h| h.feature)
            .chain(MESSAGE_FEATURES.iter().copied())
            .map(str::to_owned)
            .collect();
        features.sort();
        features
    }

    /// (jid, name) of the items of an items answer.
    fn items(answer: &Element) -> Vec<(String, String)> {
        result_payload(answer)
            .expect("a query")
            .elements()
            .filter(|e| e.is("item", ns::DISCO_ITEMS))
            .map(|i| {
                let attr = |name| i.get_attr(name).unwrap_or_default().to_owned();
                (attr("jid"), attr("name"))
            })
            .collect()
    }

    #[test]
    fn the_gateway_is_a_bitcoin_gateway_with_the_features_it_handles() {
        let mut b = Bench::new();
        let answer = b.ask(ALICE, GATEWAY, "get", INFO_GET);
        let (identity, features) = identity_and_features(&answer);
        assert_eq!(
            identity,
            ("gateway".into(), "bitcoin".into(), "bitcoIM".into())
        );
        let mut expected = sorted_features(GATEWAY_IQS);
        // Invitations into rooms (XEP-0249) are the gateway's alone, and
        // so are pages of items (XEP-0059).
        expected.push("jabber:x:conference".into());
        expected.push(ns::RSM.into());
        expected.sort();
        assert_eq!(features, expected);
    }

    #[test]
    fn a_user_is_a_registered_account_with_the_features_of_contacts() {
        let mut b = Bench::new();
        b.register("bob", "bob");
        let answer = b.ask(ALICE, &format!("bob@{GATEWAY}"), "get", INFO_GET);
        let (identity, features) = identity_and_features(&answer);
        assert_eq!(
            identity,
            ("account".into(), "registered".into(), "bob".into())
        );
        assert_eq!(features, sorted_features(CONTACT_IQS));
    }

    #[test]
    fn an_address_is_a_leaf_named_by_the_address() {
        let mut b = Bench::new();
        let bob = b.register("bob", "bob");
        let address = b.address_of(&bob);
        let jid = contact(&address);
        let answer = b.ask(ALICE, &jid, "get", INFO_GET);
        let (identity, features) = identity_and_features(&answer);
        assert_eq!(identity, ("hierarchy".into(), "leaf".into(), address));
        assert_eq!(features, sorted_features(CONTACT_IQS));
    }

    // Service discovery is truthful only if every feature listed is
    // answered: asking for any of them must not be service-unavailable,
    // and a feature not listed must be.
    #[test]
    fn every_feature_listed_is_answered_and_no_other() {
        let mut b = Bench::new();
        let bob = b.register("bob", "bob");
        let address = b.address_of(&bob);
        let address_jid = contact(&address);
        for to in [GATEWAY.to_owned(), format!("bob@{GATEWAY}"), address_jid] {
            let answer = b.ask(ALICE, &to, "get", INFO_GET);
            let (_, features) = identity_and_features(&answer);
            for handler in GATEWAY_IQS {
                let payload = format!("<{} xmlns='{}'/>", handler.name, handler.ns);
                let kind = if handler.get.is_some() { "get" } else { "set" };
                let answer = b.ask(ALICE, &to, kind, &payload);
                let unavailable = answer.get_attr("type") == Some("error")
                    && error_condition(&answer) == "service-unavailable";
                let listed = features.iter().any(|f| f == handler.ns);
                assert_eq!(unavailable, !listed, "{} to {to}", handler.ns);
            }
        }
    }

    #[test]
    fn nobody_is_item_not_found() {
        let mut b = Bench::new();
        for payload in [INFO_GET, ITEMS_GET] {
            let answer = b.ask(ALICE, &format!("nobody@{GATEWAY}"), "get", payload);
            assert_eq!(error_condition(&answer), "item-not-found");
        }
    }

    #[test]
    fn unknown_nodes_are_item_not_found() {
        let mut b = Bench::new();
        b.register("bob", "bob");
        for (to, payload) in [
            (
                GATEWAY,
                "<query xmlns='http://jabber.org/protocol/disco#info' node='nope'/>",
            ),
            (
                GATEWAY,
                "<query xmlns='http://jabber.org/protocol/disco#items' node='nope'/>",
            ),
            (
                "bob@bitcoin.example.org",
                "<query xmlns='http://jabber.org/protocol/disco#info' node='x'/>",
            ),
        ] {
            let answer = b.ask(ALICE, to, "get", payload);
            assert_eq!(error_condition(&answer), "item-not-found", "{payload}");
        }
        // A caps node with a hash that is not ours.
        let answer = b.ask(
            ALICE,
            GATEWAY,
            "get",
            &format!("<query xmlns='http://jabber.org/protocol/disco#info' node='{CAPS_NODE}#x'/>"),
        );
        assert_eq!(error_condition(&answer), "item-not-found");
    }

    /// XEP-0115 section 5.1, computed from an info answer.
    fn ver_of(query: &Element) -> String {
        let mut identities: Vec<String> = query
            .elements()
            .filter(|e| e.is("identity", ns::DISCO_INFO))
            .map(|i| {
                let attr = |name| i.get_attr(name).unwrap_or_default();
                format!(
                    "{}/{}/{}/{}",
                    attr("category"),
                    attr("type"),
                    attr("xml:lang"),
                    attr("name")
                )
            })
            .collect();
        identities.sort();
        let mut features: Vec<&str> = query
            .elements()
            .filter(|e| e.is("feature", ns::DISCO_INFO))
            .filter_map(|e| e.get_attr("var"))
            .collect();
        features.sort_unstable();
        let mut s = String::new();
        for part in identities.iter().map(String::as_str).chain(features) {
            s.push_str(part);
            s.push('<');
        }
        base64::engine::general_purpose::STANDARD.encode(Sha1::digest(s.as_bytes()))
    }

    // A client that sees the gateway's caps asks node#ver once, checks
    // the hash of the answer, and caches it for every gateway like it.
    #[test]
    fn the_caps_in_the_gateway_presence_match_its_info() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        let out = b.send(&format!(
            "<presence type='probe' from='alice@example.org' to='{GATEWAY}'/>"
        ));
        let c = out
            .iter()
            .find_map(|p| p.get_child("c", "http://jabber.org/protocol/caps"))
            .expect("caps in the presence");
        assert_eq!(c.get_attr("hash"), Some("sha-1"));
        let (node, ver) = (c.get_attr("node").unwrap(), c.get_attr("ver").unwrap());
        let answer = b.ask(
            ALICE,
            GATEWAY,
            "get",
            &format!("<query xmlns='http://jabber.org/protocol/disco#info' node='{node}#{ver}'/>"),
        );
        let query = result_payload(&answer).expect("a query");
        assert_eq!(
            query.get_attr("node"),
            Some(format!("{node}#{ver}").as_str())
        );
        assert_eq!(ver_of(query), ver);
        let plain = b.ask(ALICE, GATEWAY, "get", INFO_GET);
        assert_eq!(ver_of(result_payload(&plain).unwrap()), ver);
    }

    #[test]
    fn a_user_sees_their_addresses_in_the_gateway_items() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        b.say("alice", "address");
        let addresses = b.services().wallet.ledger().addresses_of(alice.id).unwrap();
        assert_eq!(addresses.len(), 2);
        let mut expected: Vec<(String, String)> =
            addresses.iter().map(|a| (contact(a), a.clone())).collect();
        let mut got = items(&b.ask(ALICE, GATEWAY, "get", ITEMS_GET));
        expected.sort();
        got.sort();
        assert_eq!(got, expected);
    }

    #[test]
    fn the_unregistered_see_no_items() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        assert!(items(&b.ask("bob@example.org/x", GATEWAY, "get", ITEMS_GET)).is_empty());
    }

    #[test]
    fn admins_also_see_the_users() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        b.register("bob", "bob");
        let got = items(&b.ask(&format!("{ADMIN}/desk"), GATEWAY, "get", ITEMS_GET));
        let user = |name: &str| (format!("{name}@{GATEWAY}"), name.to_owned());
        assert_eq!(got, vec![user("alice"), user("bob")]);
        // A user does not.
        let got = items(&b.ask(ALICE, GATEWAY, "get", ITEMS_GET));
        assert!(got.iter().all(|(jid, _)| jid != &format!("bob@{GATEWAY}")));
    }

    /// `n` users, named u000, u001, ...
    fn many_users(b: &mut Bench, n: usize) {
        for i in 0..n {
            let name = format!("u{i:03}");
            b.register(&name, &name);
        }
    }

    fn items_page(b: &mut Bench, from: &str, set: &str) -> Element {
        b.ask(
            from,
            GATEWAY,
            "get",
            &format!("<query xmlns='http://jabber.org/protocol/disco#items'>{set}</query>"),
        )
    }

    /// (first, last) of the answer's `<set/>`; `None` without a set.
    fn rsm(answer: &Element) -> Option<(Option<String>, Option<String>)> {
        let set = result_payload(answer)?.get_child("set", ns::RSM)?;
        let text = |name| set.get_child(name, ns::RSM).map(|e| e.text_content());
        Some((text("first"), text("last")))
    }

    fn names(answer: &Element) -> Vec<String> {
        items(answer).into_iter().map(|(_, name)| name).collect()
    }

    // Issue 11: 100 000 users in one answer made a 10 MB stanza that the
    // server refused, so admins got nothing.
    #[test]
    fn admins_see_the_users_a_page_at_a_time() {
        let mut b = Bench::new();
        many_users(&mut b, 130);
        let admin = format!("{ADMIN}/desk");
        let first = b.ask(&admin, GATEWAY, "get", ITEMS_GET);
        let expected: Vec<String> = (0..100).map(|i| format!("u{i:03}")).collect();
        assert_eq!(names(&first), expected);
        assert_eq!(
            rsm(&first),
            Some((Some("u000".into()), Some("u099".into())))
        );
        let rest = items_page(
            &mut b,
            &admin,
            "<set xmlns='http://jabber.org/protocol/rsm'><after>u099</after></set>",
        );
        let expected: Vec<String> = (100..130).map(|i| format!("u{i:03}")).collect();
        assert_eq!(names(&rest), expected);
        assert_eq!(rsm(&rest), Some((Some("u100".into()), Some("u129".into()))));
        // Past the end: an empty page, with neither first nor last.
        let end = items_page(
            &mut b,
            &admin,
            "<set xmlns='http://jabber.org/protocol/rsm'><after>u129</after></set>",
        );
        assert!(items(&end).is_empty());
        assert_eq!(rsm(&end), Some((None, None)));
    }

    #[test]
    fn max_makes_pages_smaller_never_larger() {
        let mut b = Bench::new();
        many_users(&mut b, 130);
        let admin = format!("{ADMIN}/desk");
        let ten = items_page(
            &mut b,
            &admin,
            "<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><after>u004</after></set>",
        );
        let expected: Vec<String> = (5..15).map(|i| format!("u{i:03}")).collect();
        assert_eq!(names(&ten), expected);
        let capped = items_page(
            &mut b,
            &admin,
            "<set xmlns='http://jabber.org/protocol/rsm'><max>1000</max></set>",
        );
        assert_eq!(items(&capped).len(), USERS_PER_PAGE);
    }

    #[test]
    fn paging_backwards_is_not_implemented_and_a_bad_max_is_refused() {
        let mut b = Bench::new();
        let admin = format!("{ADMIN}/desk");
        for (set, condition) in [
            ("<before/>", "feature-not-implemented"),
            ("<index>3</index>", "feature-not-implemented"),
            ("<max>ten</max>", "bad-request"),
        ] {
            let answer = items_page(
                &mut b,
                &admin,
                &format!("<set xmlns='http://jabber.org/protocol/rsm'>{set}</set>"),
            );
            assert_eq!(error_condition(&answer), condition, "{set}");
        }
    }

    #[test]
    fn a_user_among_many_still_sees_only_their_addresses() {
        let mut b = Bench::new();
        many_users(&mut b, 130);
        let alice = b.register("alice", "alice");
        let address = b.address_of(&alice);
        let answer = b.ask(ALICE, GATEWAY, "get", ITEMS_GET);
        assert_eq!(items(&answer), vec![(contact(&address), address)]);
        assert_eq!(rsm(&answer), None);
    }

    #[test]
    fn an_admins_addresses_come_on_the_first_page_only() {
        let mut b = Bench::new();
        many_users(&mut b, 3);
        let boss = b.register("admin", "boss");
        let address = b.address_of(&boss);
        let admin = format!("{ADMIN}/desk");
        let first = names(&b.ask(&admin, GATEWAY, "get", ITEMS_GET));
        assert_eq!(
            first,
            vec![
                address,
                "boss".into(),
                "u000".into(),
                "u001".into(),
                "u002".into()
            ]
        );
        let next = items_page(
            &mut b,
            &admin,
            "<set xmlns='http://jabber.org/protocol/rsm'><after>boss</after></set>",
        );
        assert_eq!(names(&next), vec!["u000", "u001", "u002"]);
    }

    #[test]
    fn contacts_have_no_items() {
        let mut b = Bench::new();
        b.register("bob", "bob");
        let answer = b.ask(
            &format!("{ADMIN}/desk"),
            &format!("bob@{GATEWAY}"),
            "get",
            ITEMS_GET,
        );
        assert!(items(&answer).is_empty());
    }
}
