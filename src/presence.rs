//! The presence face (RFC 6121): subscriptions between users and the
//! gateway, its address contacts and its user contacts; who is online, per
//! resource; probes at start-up and goodbyes at shutdown.
//!
//! The gateway's status carries the user's balance (from the ledger, no
//! RPC); an own address's status says what it has received. Only the user
//! themself ever sees those: presence is always directed to one user. The
//! presences themselves are built by `crate::notify`, which also sends
//! them when a balance changes.

use crate::command::Services;
use crate::entity::Entity;
use crate::notify::{presence, Bulk};
use crate::xmpp::stanza::{error_reply, Condition, StanzaError};
use crate::xmpp::{ns, Element, Jid};

/// Handles a presence from `from` to `entity`.
pub fn on_presence(
    s: &mut Services,
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
    let to_jid = s.voice.entity_jid(entity);
    let user = s.wallet.user_of(from);
    let lang = s.lang(stanza, user.as_ref());
    match kind {
        None => {
            let resource = from.resource.clone().unwrap_or_default();
            if s.voice.online.available(&bare, &resource) {
                log::debug!("{bare} is online");
                let me = s.voice.jid().to_string();
                if s.voice.online.announce(&bare, &me) {
                    if let Some(p) = s.voice.available(
                        s.wallet.ledger(),
                        &Entity::Gateway,
                        &bare,
                        user.as_ref(),
                        lang,
                    ) {
                        out.push(p);
                    }
                }
            }
        }
        Some("unavailable") => {
            let resource = from.resource.clone().unwrap_or_default();
            if s.voice.online.unavailable(&bare, &resource) {
                log::debug!("{bare} is offline");
            }
        }
        Some("subscribe") => {
            out.push(presence(&to_jid, &bare, Some("subscribed")));
            if let Some(p) =
                s.voice
                    .available(s.wallet.ledger(), entity, &bare, user.as_ref(), lang)
            {
                s.voice.online.announce(&bare, &to_jid.to_string());
                out.push(p);
            }
        }
        Some("subscribed") => {
            // Said already if the user came online or subscribed first.
            if s.voice.online.announce(&bare, &to_jid.to_string()) {
                if let Some(p) =
                    s.voice
                        .available(s.wallet.ledger(), entity, &bare, user.as_ref(), lang)
                {
                    out.push(p);
                }
            }
        }
        Some("probe") => {
            if let Some(p) = s.voice.available(
                s.wallet.ledger(),
                entity,
                &from.to_string(),
                user.as_ref(),
                lang,
            ) {
                s.voice.online.announce(&bare, &to_jid.to_string());
                out.push(p);
            }
        }
        Some("unsubscribe") => out.push(presence(&to_jid, &bare, Some("unsubscribed"))),
        Some(_) => {}
    }
}

/// Start-up: probe every registered user, so that their presence (and so
/// who is online) comes back to us. The probes go out a page at a time as
/// the socket drains ([`Bulk`]).
pub fn on_connected(s: &mut Services) {
    match s.wallet.ledger().user_count() {
        Ok(count) => log::info!("probing {count} registered users"),
        Err(e) => log::error!("{e}"),
    }
    s.voice.queue(Bulk::Probes { after: 0 });
}

/// Shutdown: every contact that told an online user it was available now
/// says it is not.
pub fn goodbye(s: &Services, out: &mut Vec<Element>) {
    let mut count = 0;
    for (bare, announced) in s.voice.online.announced() {
        for from in announced {
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
    use crate::bitcoin::sim::Fault;
    use crate::reactor::App;
    use crate::testkit::{attrs, contact, xml, Bench, GATEWAY};
    use crate::xmpp::{ns, Element};

    const BTC: i64 = 100_000_000;

    /// The gateway's available presence for `to`, with `status`.
    fn gateway_presence(to: &str, status: &str) -> String {
        format!(
            "<presence from='{GATEWAY}' to='{to}'><status>{status}</status>\
             <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
             node='https://crates.io/crates/bitcoim' ver='{}'/></presence>",
            crate::xep::disco::caps_ver()
        )
    }

    /// The status text of each presence of `out`.
    fn statuses(out: &[Element]) -> Vec<String> {
        out.iter()
            .filter_map(|p| p.get_child("status", ns::COMPONENT))
            .map(Element::text_content)
            .collect()
    }

    fn shutdown(b: &mut Bench) -> Vec<Element> {
        let mut out = Vec::new();
        b.gateway.on_shutdown(&mut out);
        out
    }

    #[test]
    fn a_user_coming_online_gets_the_gateways_presence_with_balance_and_caps() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        b.deposit(&alice, BTC);
        assert_eq!(
            xml(&b.online("alice")),
            [gateway_presence("alice@example.org", "Balance: 1 BTC")]
        );
        // Another resource of an online user: said already.
        let out = b.send(&format!(
            "<presence from='alice@example.org/laptop' to='{GATEWAY}'/>"
        ));
        assert!(out.is_empty(), "{:?}", xml(&out));
    }

    #[test]
    fn the_gateways_status_shows_what_is_incoming() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        let address = b.addresses(&alice)[0].clone();
        b.chain
            .borrow_mut()
            .pay_from_world(vec![(address, BTC / 5)]);
        b.tick();
        assert_eq!(
            statuses(&b.online("alice")),
            ["Balance: 0 BTC\nincoming, not confirmed yet: 0.2 BTC"]
        );
    }

    #[test]
    fn the_gateways_status_shows_what_is_held_for_a_withdrawal() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        b.deposit(&alice, BTC);
        let to = b.chain.borrow_mut().world_address();
        let code = b.order("alice", &format!("0.5 {to}"));
        b.chain
            .borrow_mut()
            .fail_next(Some("sendtoaddress"), Fault::Error(-1, "odd"));
        b.say("alice", &format!("confirm {code}"));
        let alice = b.user("alice").unwrap();
        assert_eq!(
            statuses(&b.online("alice")),
            [format!(
                "Balance: {}\nheld for withdrawals: {}",
                alice.balance, alice.held
            )]
        );
    }

    #[test]
    fn the_gateways_status_is_in_the_users_language() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        b.say("alice", "language fr");
        assert_eq!(statuses(&b.online("alice")), ["Solde : 0 BTC"]);
    }

    #[test]
    fn an_unregistered_user_is_told_how_to_register_in_the_status() {
        let mut b = Bench::new();
        assert_eq!(
            statuses(&b.online("carol")),
            ["Not registered: write \"register <username>\" to open a wallet"]
        );
    }

    #[test]
    fn a_user_whose_last_resource_leaves_is_offline() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        b.online("alice");
        b.send(&format!(
            "<presence from='alice@example.org/laptop' to='{GATEWAY}'/>"
        ));
        let gone = |b: &mut Bench, resource: &str| {
            b.send(&format!(
                "<presence type='unavailable' from='alice@example.org/{resource}' \
                 to='{GATEWAY}'/>"
            ))
        };
        let address = b.addresses(&alice)[0].clone();
        let deposit = |b: &mut Bench| {
            let mut chain = b.chain.borrow_mut();
            chain.pay_from_world(vec![(address.clone(), BTC / 100)]);
            chain.mine_mempool();
            drop(chain);
            b.tick()
        };
        assert!(gone(&mut b, "phone").is_empty());
        // Still online with the laptop: a new balance is shown.
        assert_eq!(statuses(&deposit(&mut b)), ["Balance: 0.01 BTC"]);
        assert!(gone(&mut b, "laptop").is_empty());
        assert!(statuses(&deposit(&mut b)).is_empty());
        assert!(shutdown(&mut b).is_empty(), "no goodbye to offline users");
    }

    #[test]
    fn a_subscription_is_accepted_and_followed_by_the_contacts_presence() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        b.register("bob", "bob");
        let address = b.addresses(&alice)[0].clone();
        b.deposit(&alice, BTC);
        let subscribe = |b: &mut Bench, to: &str| {
            b.send(&format!(
                "<presence type='subscribe' from='alice@example.org' to='{to}'/>"
            ))
        };
        let out = subscribe(&mut b, GATEWAY);
        assert_eq!(
            xml(&out),
            [
                format!("<presence from='{GATEWAY}' to='alice@example.org' type='subscribed'/>"),
                gateway_presence("alice@example.org", "Balance: 1 BTC"),
            ]
        );
        let out = subscribe(&mut b, "bob@bitcoin.example.org");
        assert_eq!(
            xml(&out),
            [
                "<presence from='bob@bitcoin.example.org' to='alice@example.org' \
                 type='subscribed'/>",
                "<presence from='bob@bitcoin.example.org' to='alice@example.org'/>",
            ]
        );
        // An own address says what it received, with its QR code's hash.
        let jid = contact(&address);
        let out = subscribe(&mut b, &jid);
        assert_eq!(attrs(&out, "from"), [jid.as_str(), jid.as_str()]);
        assert_eq!(attrs(&out, "type"), ["subscribed", ""]);
        assert_eq!(statuses(&out), ["My address: received 1 BTC"]);
        let hash = out[1]
            .get_child("x", "vcard-temp:x:update")
            .and_then(|x| x.get_child("photo", "vcard-temp:x:update"))
            .map(Element::text_content)
            .expect("a photo hash");
        assert_eq!(hash.len(), 40, "a SHA-1 in hex: {hash}");
        // Someone else's address says nothing about it.
        let out = b.send(&format!(
            "<presence type='subscribe' from='bob@example.org' to='{jid}'/>"
        ));
        assert!(statuses(&out).is_empty(), "{:?}", xml(&out));
    }

    #[test]
    fn a_probe_is_answered_with_the_current_presence() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        b.deposit(&alice, BTC);
        let out = b.send(&format!(
            "<presence type='probe' from='alice@example.org/phone' to='{GATEWAY}'/>"
        ));
        assert_eq!(
            xml(&out),
            [gateway_presence(
                "alice@example.org/phone",
                "Balance: 1 BTC"
            )]
        );
    }

    #[test]
    fn an_unsubscription_is_acknowledged() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        let out = b.send(&format!(
            "<presence type='unsubscribe' from='alice@example.org/phone' to='{GATEWAY}'/>"
        ));
        assert_eq!(
            xml(&out),
            [format!(
                "<presence from='{GATEWAY}' to='alice@example.org' type='unsubscribed'/>"
            )]
        );
    }

    #[test]
    fn nobody_under_the_gateway_is_item_not_found_for_subscriptions_and_probes() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        for kind in ["subscribe", "probe"] {
            let out = b.send(&format!(
                "<presence type='{kind}' from='alice@example.org' to='carol@{GATEWAY}'/>"
            ));
            assert_eq!(attrs(&out, "type"), ["error"], "{kind}");
            assert_eq!(attrs(&out, "from"), ["carol@bitcoin.example.org"], "{kind}");
            assert!(xml(&out)[0].contains("<item-not-found "), "{kind}");
        }
        // Other presences to nobody are dropped.
        for kind in ["unavailable", "unsubscribe", "subscribed"] {
            let out = b.send(&format!(
                "<presence type='{kind}' from='alice@example.org' to='carol@{GATEWAY}'/>"
            ));
            assert!(out.is_empty(), "{kind}: {:?}", xml(&out));
        }
    }

    #[test]
    fn presence_errors_are_not_answered() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        let out = b.send(&format!(
            "<presence type='error' from='alice@example.org/phone' to='{GATEWAY}'/>"
        ));
        assert!(out.is_empty(), "{:?}", xml(&out));
    }

    #[test]
    fn subscribed_is_followed_by_the_presence_once() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        b.online("alice");
        let subscribed =
            format!("<presence type='subscribed' from='alice@example.org' to='bob@{GATEWAY}'/>");
        b.register("bob", "bob");
        assert_eq!(
            xml(&b.send(&subscribed)),
            ["<presence from='bob@bitcoin.example.org' to='alice@example.org'/>"]
        );
        assert!(b.send(&subscribed).is_empty(), "said already");
    }

    #[test]
    fn at_shutdown_every_contact_that_said_hello_says_goodbye() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        b.register("bob", "bob");
        let jid = contact(&b.addresses(&alice)[0]);
        b.online("alice");
        b.send(&format!(
            "<presence type='subscribe' from='alice@example.org' to='{jid}'/>"
        ));
        // bob is offline: the gateway's presence to him was not kept.
        b.send(&format!(
            "<presence type='probe' from='bob@example.org' to='{GATEWAY}'/>"
        ));
        let mut goodbyes = xml(&shutdown(&mut b));
        goodbyes.sort();
        let mut expected = vec![
            format!("<presence from='{GATEWAY}' to='alice@example.org' type='unavailable'/>"),
            format!("<presence from='{jid}' to='alice@example.org' type='unavailable'/>"),
        ];
        expected.sort();
        assert_eq!(goodbyes, expected);
    }

    #[test]
    fn on_connecting_every_registered_user_is_probed() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        b.register("bob", "bob");
        b.register("carol", "carol");
        b.say("carol", "unregister");
        let mut out = Vec::new();
        b.gateway.on_connected(&mut out);
        assert!(out.is_empty(), "the probes go out as the socket drains");
        assert_eq!(
            xml(&b.backlog()),
            [
                format!("<presence from='{GATEWAY}' to='alice@example.org' type='probe'/>"),
                format!("<presence from='{GATEWAY}' to='bob@example.org' type='probe'/>"),
            ]
        );
    }
}
