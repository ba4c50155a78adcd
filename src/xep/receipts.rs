//! XEP-0184: Message Delivery Receipts.
//!
//! The gateway and every contact acknowledge the messages they take in
//! when the sender asks, so that clients such as Conversations show the
//! message as delivered rather than pending. The router adds the ack
//! after the chat face has handled the message, whatever it answered:
//! a command, a refusal, "I don't know" or nothing at all (section 7: a
//! receipt once the message is processed, even when processing ends in
//! an error). A message to a JID that is nobody gets `item-not-found`
//! and no receipt: it reached no one.
//!
//! Choices, with the XEP's sections:
//! - 5.4: our acks never carry a request, so two entities cannot loop.
//! - 7: the ack's only child is `<received/>` echoing their id; the
//!   ack itself gets a fresh id, as in example 4, and the same type as
//!   their message ("a good practice").
//! - 5 and 5.3: no receipt for `error` messages (never answered), nor
//!   `groupchat` (receipts in rooms are not recommended) nor `headline`
//!   (RFC 6121, 5.2.2: no reply is expected); and none without an id,
//!   which a request requires (7: "a sender MUST include an 'id'").
//! - 8: a receipt can leak presence; ours says nothing a reply would
//!   not, since the gateway answers whoever writes to it.

use crate::xmpp::{ns, Element, Jid};
use base64::Engine as _;

/// The disco feature (section 6): listed by every entity, since every
/// entity acknowledges.
pub const FEATURE: &str = ns::RECEIPTS;

/// The ack of `message`, written by `from` to `me`, if it asks for one.
pub fn ack(message: &Element, me: &Jid, from: &Jid) -> Option<Element> {
    let kind = message.get_attr("type");
    if matches!(kind, Some("error" | "groupchat" | "headline")) {
        return None;
    }
    let id = message.get_attr("id").filter(|id| !id.is_empty())?;
    message.get_child("request", ns::RECEIPTS)?;
    let mut ack = Element::new("message", ns::COMPONENT);
    if let Some(kind) = kind {
        ack.set_attr("type", kind);
    }
    ack.set_attr("from", &me.to_string());
    ack.set_attr("to", &from.to_string());
    if let Some(fresh) = fresh_id() {
        ack.set_attr("id", &fresh);
    }
    Some(ack.child(Element::new("received", ns::RECEIPTS).attr("id", id)))
}

/// 72 random bits: no two acks share an id, across restarts too. A
/// message may go without an id (RFC 6120, 8.1.3), so a failure of the
/// system's generator costs only the id.
fn fresh_id() -> Option<String> {
    let mut bytes = [0u8; 9];
    match getrandom::fill(&mut bytes) {
        Ok(()) => Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)),
        Err(e) => {
            log::warn!("receipt id: no randomness: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{attrs, bodies, contact, stanza, xml, Bench, GATEWAY};

    const ALICE: &str = "alice@example.org/phone";
    const REQUEST: &str = "<request xmlns='urn:xmpp:receipts'/>";

    fn jid(text: &str) -> Jid {
        Jid::parse(text).unwrap()
    }

    /// The acks among `out`: (from, to, type, id of the message acked).
    fn acks(out: &[Element]) -> Vec<(String, String, String, String)> {
        out.iter()
            .filter_map(|m| {
                let received = m.get_child("received", ns::RECEIPTS)?;
                let attr = |e: &Element, name| e.get_attr(name).unwrap_or_default().to_owned();
                Some((
                    attr(m, "from"),
                    attr(m, "to"),
                    attr(m, "type"),
                    attr(received, "id"),
                ))
            })
            .collect()
    }

    #[test]
    fn an_ack_echoes_the_id_mirrors_the_type_and_asks_nothing_back() {
        let message = stanza(&format!(
            "<message type='chat' from='{ALICE}' to='{GATEWAY}' id='m-1'>\
             <body>hi</body>{REQUEST}</message>"
        ));
        let ack = ack(&message, &jid(GATEWAY), &jid(ALICE)).expect("an ack");
        let id = ack.get_attr("id").expect("a fresh id").to_owned();
        assert_eq!(id.len(), 12);
        assert_ne!(id, "m-1");
        assert_eq!(
            xml(&[ack]),
            [format!(
                "<message type='chat' from='{GATEWAY}' to='{ALICE}' id='{id}'>\
                 <received xmlns='urn:xmpp:receipts' id='m-1'/></message>"
            )]
        );
        // A normal message (no type) gets a normal ack; each ack its own id.
        let normal = stanza(&format!(
            "<message from='{ALICE}' to='{GATEWAY}' id='m-2'><body>hi</body>{REQUEST}</message>"
        ));
        let again = super::ack(&normal, &jid(GATEWAY), &jid(ALICE)).unwrap();
        assert_eq!(again.get_attr("type"), None);
        assert_ne!(again.get_attr("id"), Some(id.as_str()));
    }

    #[test]
    fn the_gateway_acks_commands_replies_and_unknown_words_alike() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        for (i, body) in ["balance", "fly away", "pay -1 bob", "   "]
            .iter()
            .enumerate()
        {
            let out = b.send(&format!(
                "<message type='chat' from='{ALICE}' to='{GATEWAY}' id='g{i}'>\
                 <body>{body}</body>{REQUEST}</message>"
            ));
            assert_eq!(
                acks(&out),
                [(GATEWAY.into(), ALICE.into(), "chat".into(), format!("g{i}"))],
                "{body}: {:?}",
                xml(&out)
            );
        }
        // The newcomer's welcome too, and a message with no body at all.
        let carol = "carol@example.org/pc";
        for payload in ["<body>hello</body>", ""] {
            let out = b.send(&format!(
                "<message type='chat' from='{carol}' to='{GATEWAY}' id='c'>{payload}{REQUEST}</message>"
            ));
            assert_eq!(acks(&out).len(), 1, "{payload}: {:?}", xml(&out));
        }
    }

    #[test]
    fn contacts_ack_from_their_own_jid() {
        let mut b = Bench::new();
        let bob = b.register("bob", "bob");
        b.register("alice", "alice");
        let address = contact(&b.address_of(&bob));
        for to in ["bob@bitcoin.example.org", address.as_str()] {
            let out = b.send(&format!(
                "<message type='chat' from='{ALICE}' to='{to}' id='k'>\
                 <body>history</body>{REQUEST}</message>"
            ));
            assert_eq!(
                acks(&out),
                [(to.into(), ALICE.into(), "chat".into(), "k".into())]
            );
            assert_eq!(bodies(&out), ["No movements yet."], "still answered");
        }
    }

    #[test]
    fn no_ack_without_an_id_a_request_or_for_errors_rooms_headlines_and_nobody() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        let cases = [
            format!("<message type='chat' from='{ALICE}' to='{GATEWAY}'><body>balance</body>{REQUEST}</message>"),
            format!("<message type='chat' from='{ALICE}' to='{GATEWAY}' id=''><body>balance</body>{REQUEST}</message>"),
            format!("<message type='chat' from='{ALICE}' to='{GATEWAY}' id='x'><body>balance</body></message>"),
            format!("<message type='error' from='{ALICE}' to='{GATEWAY}' id='x'>{REQUEST}</message>"),
            format!("<message type='groupchat' from='{ALICE}' to='{GATEWAY}' id='x'><body>balance</body>{REQUEST}</message>"),
            format!("<message type='headline' from='{ALICE}' to='{GATEWAY}' id='x'><body>balance</body>{REQUEST}</message>"),
            format!("<message type='chat' from='{ALICE}' to='nobody@{GATEWAY}' id='x'><body>pay 1</body>{REQUEST}</message>"),
            // An ack asks for nothing: it is not acked back.
            format!("<message type='chat' from='{ALICE}' to='{GATEWAY}' id='x'><received xmlns='urn:xmpp:receipts' id='y'/></message>"),
        ];
        for case in &cases {
            let out = b.send(case);
            assert!(acks(&out).is_empty(), "{case}: {:?}", xml(&out));
        }
        // Nobody still says so.
        let out = b.send(&cases[6]);
        assert_eq!(attrs(&out, "type"), ["error"]);
    }

    #[test]
    fn every_entity_lists_the_feature_and_the_caps_follow() {
        use crate::entity::Entity;
        assert!(crate::xep::gateway_features().contains(&FEATURE));
        assert!(crate::xep::features(&Entity::Unknown).contains(&FEATURE));
        let mut b = Bench::new();
        let answer = b.ask(
            ALICE,
            GATEWAY,
            "get",
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        );
        assert!(answer
            .to_xml()
            .contains("<feature var='urn:xmpp:receipts'/>"));
    }
}
