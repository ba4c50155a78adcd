//! Routes each incoming stanza to its face: messages to the chat face
//! (`crate::bot`), presences to `crate::presence`, IQs to the XEP face
//! (`crate::xep`), after the rate limit; messages and presences from the
//! rooms the gateway is in, and invitations, to the room face
//! (`crate::muc`), which limits the occupants behind a room one by one. A message is acknowledged
//! (XEP-0184, `xep::receipts`) once the chat face has handled it; a
//! message refused by the rate limit was not handled, so it is not.
//!
//! The key is the stanza kind, then for IQs the type and the payload's
//! namespace, as in Prosody. Every `get`/`set` gets exactly one answer:
//! handlers return an [`IqResult`](xep::IqResult) and only this module
//! turns it into a stanza; results and errors are never answered (RFC
//! 6120, section 8.2.3).

use crate::command::Services;
use crate::entity::Entity;
use crate::limits::{RateLimiter, Verdict};
use crate::notify::chat;
use crate::seen::Seen;
use crate::xmpp::ns;
use crate::xmpp::stanza::{error_reply, Condition, Iq, IqType, StanzaError};
use crate::xmpp::{Element, Jid};
use crate::{bot, muc, presence, xep};
use std::time::Instant;

/// What routing works with: the services, the XEPs' state, the rooms,
/// and the rate limiter.
pub struct Router<'a> {
    pub services: &'a mut Services,
    pub xep: &'a mut xep::State,
    pub muc: &'a mut muc::State,
    pub limiter: &'a mut RateLimiter,
    /// Messages already acted on.
    pub seen: &'a mut Seen,
}

/// Handles one stanza from the server, pushing any replies on `out`.
pub fn route(router: Router, stanza: Element, out: &mut Vec<Element>) {
    let Router {
        services: s,
        xep: state,
        muc: rooms,
        limiter,
        seen,
    } = router;
    if stanza.ns != ns::COMPONENT {
        log::debug!("ignoring <{}> in namespace {}", stanza.name, stanza.ns);
        return;
    }
    let (Some(from), Some(to)) = (addr(&stanza, "from"), addr(&stanza, "to")) else {
        log::warn!(
            "dropping a <{}> without valid from and to addresses",
            stanza.name
        );
        return;
    };
    // Users only: the server itself is not limited, and a room's occupants
    // are, each by themself, in the room face.
    let from_room = rooms.is_room(&from);
    if from.node.is_some() && !from_room {
        let verdict = limiter.check(&from.bare_string(), Instant::now());
        if let Verdict::Refuse { first } = verdict {
            refuse_flood(s, &stanza, &from, first, out);
            return;
        }
    }
    match stanza.name.as_str() {
        "iq" => on_iq(s, state, &stanza, from, to, out),
        "message" => match muc::takes_message(rooms, &stanza, &from, &to) {
            Some(taken) => muc::on_message(s, rooms, limiter, seen, taken, &stanza, &from, out),
            None => to_chat_face(s, seen, &stanza, &from, &to, out),
        },
        "presence" if from_room => muc::on_presence(s, rooms, &stanza, &from, out),
        "presence" => {
            let entity = s.entity(&to);
            presence::on_presence(s, &stanza, &from, &entity, out);
        }
        other => log::debug!("ignoring a <{other}> from {from}"),
    }
}

/// A chat message to the gateway or a contact: the chat face answers, and
/// it is acknowledged once handled.
fn to_chat_face(
    s: &mut Services,
    seen: &mut Seen,
    stanza: &Element,
    from: &Jid,
    to: &Jid,
    out: &mut Vec<Element>,
) {
    let entity = s.entity(to);
    bot::on_message(s, seen, stanza, from, &entity, out);
    // Acked once handled, whatever the answer; nobody acks nothing.
    if !matches!(entity, Entity::Unknown) {
        let me = s.voice.entity_jid(&entity);
        out.extend(xep::receipts::ack(stanza, &me, from));
    }
}

/// Over the rate limit: IQ requests get `resource-constraint`, the first
/// chat of a flood one polite message; everything else is dropped.
fn refuse_flood(s: &Services, stanza: &Element, from: &Jid, first: bool, out: &mut Vec<Element>) {
    if first {
        log::warn!("{} is over the rate limit", from.bare());
    }
    let kind = stanza.get_attr("type");
    match stanza.name.as_str() {
        "iq" if matches!(kind, Some("get" | "set")) => out.push(error_reply(
            stanza,
            &StanzaError::with_text(
                Condition::ResourceConstraint,
                "too many requests; slow down",
            ),
        )),
        "message" if first && stanza.get_child("body", ns::COMPONENT).is_some() => {
            let user = s.wallet.user_of(from);
            let lang = s.lang(stanza, user.as_ref());
            let me = stanza
                .get_attr("to")
                .and_then(|t| Jid::parse(t).ok())
                .map_or_else(|| s.voice.jid().clone(), |j| j.bare());
            out.push(chat(
                &me,
                &from.to_string(),
                lang,
                &s.text(lang, "rate-limited", &[]),
            ));
        }
        _ => {}
    }
}

fn addr(stanza: &Element, name: &str) -> Option<Jid> {
    Jid::parse(stanza.get_attr(name)?).ok()
}

fn on_iq(
    s: &mut Services,
    state: &mut xep::State,
    stanza: &Element,
    from: Jid,
    to: Jid,
    out: &mut Vec<Element>,
) {
    let kind = stanza.get_attr("type").and_then(IqType::parse);
    let Some(id) = stanza.get_attr("id") else {
        if matches!(kind, Some(IqType::Get | IqType::Set)) {
            out.push(error_reply(
                stanza,
                &StanzaError::with_text(Condition::BadRequest, "an iq needs an id"),
            ));
        }
        return;
    };
    let kind = match kind {
        Some(IqType::Result | IqType::Error) => {
            log::debug!("iq {id} of type result/error from {from}");
            return;
        }
        Some(kind) => kind,
        None => {
            out.push(error_reply(
                stanza,
                &StanzaError::with_text(
                    Condition::BadRequest,
                    "an iq's type is get, set, result or error",
                ),
            ));
            return;
        }
    };
    let mut payloads = stanza.elements();
    let (Some(payload), None) = (payloads.next(), payloads.next()) else {
        out.push(error_reply(
            stanza,
            &StanzaError::with_text(
                Condition::BadRequest,
                "an iq get or set carries exactly one child element",
            ),
        ));
        return;
    };
    let iq = Iq {
        from,
        to,
        id,
        kind,
        payload: Some(payload),
        stanza,
    };
    let entity = s.entity(&iq.to);
    let request = xep::Request::new(&iq, &entity);
    // Side effects (subscriptions after a registration) follow the reply.
    let mut after = Vec::new();
    let result = xep::dispatch(s, state, &request, payload, &mut after);
    out.push(match result {
        Ok(payload) => iq.result(payload),
        Err(error) => iq.error(&error),
    });
    out.append(&mut after);
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::gateway::Gateway;
    use crate::ledger::Ledger;
    use crate::reactor::App;
    use crate::testkit::{self, stanza};
    use std::path::Path;

    fn gateway() -> Gateway {
        let config = Config::parse(
            "[XMPP]\njid = bitcoin.localhost\npassword = x\n[database]\nfile = :memory:\n\
             [bitcoin]\nuser = u\npassword = p\nport = 1\nnetwork = regtest\n\
             [main program]\nrate_burst = 3\nrate_per_second = 1\n",
            Path::new("test.conf"),
        )
        .unwrap();
        let b = &config.bitcoin;
        let node = crate::bitcoin::node::Node::new(&b.endpoint(), b.network, None);
        Gateway::new(config, Ledger::open_in_memory().unwrap(), node)
    }

    /// Parses `xml` as it would arrive on the stream and routes it.
    fn replies(xml: &str) -> Vec<String> {
        let mut out = Vec::new();
        gateway().on_stanza(stanza(xml), &mut out);
        testkit::xml(&out)
    }

    const FROM_TO: &str = "from='alice@localhost/x' to='bitcoin.localhost'";

    #[test]
    fn ping_gets_an_empty_result() {
        assert_eq!(
            replies(&format!(
                "<iq type='get' id='p1' {FROM_TO}><ping xmlns='urn:xmpp:ping'/></iq>"
            )),
            vec!["<iq type='result' from='bitcoin.localhost' to='alice@localhost/x' id='p1'/>"]
        );
    }

    #[test]
    fn unknown_namespace_is_service_unavailable() {
        let r = replies(&format!(
            "<iq type='get' id='u1' {FROM_TO}><query xmlns='urn:example:nothing'/></iq>"
        ));
        assert_eq!(r.len(), 1);
        assert!(r[0].starts_with("<iq type='error'"), "{}", r[0]);
        assert!(r[0].contains("<service-unavailable "), "{}", r[0]);
        assert!(r[0].contains("id='u1'"));
    }

    #[test]
    fn every_get_and_set_is_answered_once() {
        let cases = [
            ("get", "<query xmlns='jabber:iq:version'/>", "type='result'"),
            (
                "set",
                "<query xmlns='jabber:iq:version'/>",
                "<feature-not-implemented ",
            ),
            ("get", "<vCard xmlns='vcard-temp'/>", "<FN>bitcoIM</FN>"),
            ("set", "<vCard xmlns='vcard-temp'/>", "<not-allowed "),
            ("get", "<query xmlns='jabber:iq:last'/>", "seconds='"),
            ("get", "<nope xmlns='jabber:iq:version'/>", "<bad-request "),
            (
                "get",
                "<query xmlns='http://jabber.org/protocol/disco#info' node='x'/>",
                "<item-not-found ",
            ),
            (
                "get",
                "<query xmlns='http://jabber.org/protocol/disco#items'/>",
                "type='result'",
            ),
            ("get", "", "<bad-request "),
            ("set", "<a xmlns='x'/><b xmlns='y'/>", "<bad-request "),
        ];
        for (kind, payload, expected) in cases {
            let r = replies(&format!(
                "<iq type='{kind}' id='c' {FROM_TO}>{payload}</iq>"
            ));
            assert_eq!(r.len(), 1, "{kind} {payload}");
            assert!(r[0].contains(expected), "{kind} {payload}: {}", r[0]);
        }
    }

    #[test]
    fn results_and_errors_are_never_answered() {
        for kind in ["result", "error"] {
            assert!(replies(&format!("<iq type='{kind}' id='r' {FROM_TO}/>")).is_empty());
        }
        assert!(replies(&format!(
            "<message type='error' {FROM_TO}><body>x</body></message>"
        ))
        .is_empty());
    }

    #[test]
    fn unknown_node_is_item_not_found() {
        let r = replies(
            "<iq type='get' id='n' from='alice@localhost/x' to='nobody@bitcoin.localhost'>\
             <query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        );
        assert!(r[0].contains("<item-not-found "), "{}", r[0]);
    }

    #[test]
    fn bad_iq_type_or_missing_id_is_bad_request() {
        let r = replies(&format!(
            "<iq type='fetch' id='t' {FROM_TO}><ping xmlns='urn:xmpp:ping'/></iq>"
        ));
        assert!(r[0].contains("<bad-request "), "{}", r[0]);
        let r = replies(&format!(
            "<iq type='get' {FROM_TO}><ping xmlns='urn:xmpp:ping'/></iq>"
        ));
        assert!(r[0].contains("<bad-request "), "{}", r[0]);
    }

    #[test]
    fn floods_get_resource_constraint() {
        let mut gw = gateway();
        let mut conditions = Vec::new();
        for i in 0..5 {
            let mut out = Vec::new();
            gw.on_stanza(
                stanza(&format!(
                    "<iq type='get' id='f{i}' {FROM_TO}><ping xmlns='urn:xmpp:ping'/></iq>"
                )),
                &mut out,
            );
            conditions.push(out[0].to_xml().contains("resource-constraint"));
        }
        assert_eq!(conditions, vec![false, false, false, true, true]);
        // Chats: one polite message per flood, then silence.
        let mut replies = 0;
        for _ in 0..3 {
            let mut out = Vec::new();
            gw.on_stanza(
                stanza(&format!(
                    "<message type='chat' {FROM_TO}><body>hi</body></message>"
                )),
                &mut out,
            );
            replies += out.len();
        }
        assert_eq!(replies, 0, "the flood's first refusal was the IQ's");
    }

    #[test]
    fn stanzas_without_addresses_are_dropped() {
        assert!(replies("<iq type='get' id='a'><ping xmlns='urn:xmpp:ping'/></iq>").is_empty());
        assert!(replies("<iq type='get' id='a' from='@@' to='bitcoin.localhost'><ping xmlns='urn:xmpp:ping'/></iq>").is_empty());
    }
}
