//! What was said in a room that the gateway may act on. Never a delayed
//! message (XEP-0203: history replayed on join, or a message the room
//! kept), a correction (XEP-0308), a subject change, a message without a
//! body, or an occupant's message without a nick. The echo of our own
//! messages and repeats are the room's business (`room.rs`). Pure: no I/O.

use crate::xmpp::ns;
use crate::xmpp::{Element, Jid};

/// A groupchat line that may be a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    pub nick: String,
    pub body: String,
    /// The id to see a repeat by: the room's XEP-0359 stanza-id, else the
    /// sender's origin-id.
    pub id: Option<String>,
    /// The sender's own id for it: the origin-id, else the message's `id`,
    /// which a client keeps when it sends the message again (the room
    /// gives the copy a new stanza-id).
    pub client_id: Option<String>,
}

/// The line `stanza` (from `from`, an occupant JID) says, if it is one to
/// act on.
pub fn read(stanza: &Element, from: &Jid) -> Option<Said> {
    if stanza.get_attr("type") != Some("groupchat") {
        return None;
    }
    let nick = from.resource.as_ref().filter(|n| !n.is_empty())?;
    let body = stanza.get_child("body", ns::COMPONENT)?;
    let delayed = stanza.get_child("delay", ns::DELAY).is_some()
        || stanza.get_child("x", ns::DELAY_LEGACY).is_some();
    let corrected = stanza.get_child("replace", ns::CORRECT).is_some();
    let subject = stanza.get_child("subject", ns::COMPONENT).is_some();
    if delayed || corrected || subject {
        return None;
    }
    let room = from.bare_string();
    let stanza_id = stanza
        .elements()
        .filter(|e| e.is("stanza-id", ns::SID))
        .find(|e| {
            e.get_attr("by")
                .is_some_and(|by| by.eq_ignore_ascii_case(&room))
        })
        .and_then(|e| e.get_attr("id"));
    let origin_id = stanza
        .get_child("origin-id", ns::SID)
        .and_then(|e| e.get_attr("id"));
    Some(Said {
        nick: nick.clone(),
        body: body.text_content(),
        id: stanza_id.or(origin_id).map(str::to_owned),
        client_id: origin_id.or(stanza.get_attr("id")).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::stanza;

    fn said(inner: &str) -> Option<Said> {
        let xml = format!(
            "<message type='groupchat' from='r@conference.localhost/Alice A'>{inner}</message>"
        );
        read(
            &stanza(&xml),
            &Jid::parse("r@conference.localhost/Alice A").unwrap(),
        )
    }

    #[test]
    fn a_live_line_is_read_with_its_room_stanza_id() {
        let s = said(
            "<body>tip 100 sat bob</body>\
             <stanza-id xmlns='urn:xmpp:sid:0' by='other@x' id='no'/>\
             <stanza-id xmlns='urn:xmpp:sid:0' by='r@conference.localhost' id='s1'/>\
             <origin-id xmlns='urn:xmpp:sid:0' id='o1'/>",
        )
        .unwrap();
        assert_eq!(s.nick, "Alice A");
        assert_eq!(s.body, "tip 100 sat bob");
        assert_eq!(s.id.as_deref(), Some("s1"));
        let s = said("<body>x</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>").unwrap();
        assert_eq!(s.id.as_deref(), Some("o1"));
    }

    #[test]
    fn history_corrections_subjects_and_empty_lines_are_never_acted_on() {
        for inner in [
            "<body>tip 1 bob</body><delay xmlns='urn:xmpp:delay' stamp='2026-01-01T00:00:00Z'/>",
            "<body>tip 1 bob</body><x xmlns='jabber:x:delay' stamp='20260101T00:00:00'/>",
            "<body>tip 2 bob</body><replace xmlns='urn:xmpp:message-correct:0' id='a'/>",
            "<subject>tip 1 bob</subject><body>tip 1 bob</body>",
            "<active xmlns='http://jabber.org/protocol/chatstates'/>",
        ] {
            assert_eq!(said(inner), None, "{inner}");
        }
        let from_room = Jid::parse("r@conference.localhost").unwrap();
        let m = stanza("<message type='groupchat'><body>tip 1 bob</body></message>");
        assert_eq!(read(&m, &from_room), None, "the room itself speaks");
        let chat = stanza("<message type='chat'><body>tip 1 bob</body></message>");
        let alice = Jid::parse("r@conference.localhost/alice").unwrap();
        assert_eq!(
            read(&chat, &alice),
            None,
            "a private message is no room line"
        );
    }
}
