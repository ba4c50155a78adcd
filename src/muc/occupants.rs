//! Who is in a room, by nick: the real bare JID the room shows (XEP-0045
//! `muc#user` items; a semi-anonymous room shows it to moderators only),
//! the role, and the XEP-0421 occupant id when the room gives one. Nick
//! changes (unavailable with status 303 and the new nick) keep the person;
//! an unavailable presence otherwise is a leave. Pure: no I/O.

use crate::xmpp::ns;
use crate::xmpp::{Element, Jid};
use std::collections::HashMap;

/// An occupant's role (XEP-0045, section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Moderator,
    Participant,
    Visitor,
    None,
}

impl Role {
    fn parse(text: Option<&str>) -> Role {
        match text {
            Some("moderator") => Role::Moderator,
            Some("participant") => Role::Participant,
            Some("visitor") => Role::Visitor,
            _ => Role::None,
        }
    }
}

/// What a room's presence says about one occupant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MucPresence {
    pub available: bool,
    /// The real bare JID, lowercased, when the room shows it.
    pub jid: Option<String>,
    pub role: Role,
    /// The new nick of a nick change (status 303).
    pub new_nick: Option<String>,
    pub statuses: Vec<u16>,
    /// The room was destroyed.
    pub destroyed: bool,
    pub occupant_id: Option<String>,
}

impl MucPresence {
    /// Reads a presence from a room occupant (not of type error).
    pub fn read(stanza: &Element) -> MucPresence {
        let x = stanza.get_child("x", ns::MUC_USER);
        let item = x.and_then(|x| x.get_child("item", ns::MUC_USER));
        let statuses = x
            .map(|x| {
                x.elements()
                    .filter(|e| e.is("status", ns::MUC_USER))
                    .filter_map(|e| e.get_attr("code")?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        MucPresence {
            available: stanza.get_attr("type").is_none(),
            jid: item
                .and_then(|i| i.get_attr("jid"))
                .and_then(|j| Jid::parse(j).ok())
                .map(|j| j.bare_string().to_lowercase()),
            role: Role::parse(item.and_then(|i| i.get_attr("role"))),
            new_nick: item.and_then(|i| i.get_attr("nick")).map(str::to_owned),
            statuses,
            destroyed: x.is_some_and(|x| x.get_child("destroy", ns::MUC_USER).is_some()),
            occupant_id: stanza
                .get_child("occupant-id", ns::OCCUPANT_ID)
                .and_then(|o| o.get_attr("id"))
                .map(str::to_owned),
        }
    }

    pub fn has(&self, status: u16) -> bool {
        self.statuses.contains(&status)
    }
}

/// One person in the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occupant {
    pub jid: Option<String>,
    pub role: Role,
    pub occupant_id: Option<String>,
}

/// Occupants followed per room, at most (memory stays bounded whatever a
/// room sends); one not followed cannot tip or be tipped.
const MAX_OCCUPANTS: usize = 5000;

/// The occupants of one room, by nick.
#[derive(Debug, Default)]
pub struct Occupants {
    by_nick: HashMap<String, Occupant>,
}

impl Occupants {
    /// Follows one presence of `nick`.
    pub fn apply(&mut self, nick: &str, p: &MucPresence) {
        if p.available {
            if self.by_nick.len() >= MAX_OCCUPANTS && !self.by_nick.contains_key(nick) {
                log::warn!("more than {MAX_OCCUPANTS} occupants: {nick} not followed");
                return;
            }
            let known = self.by_nick.get(nick);
            let occupant = Occupant {
                // A presence without the JID (a role change seen by a
                // non-moderator) does not make a known person unknown.
                jid: p.jid.clone().or_else(|| known.and_then(|o| o.jid.clone())),
                role: p.role,
                occupant_id: p
                    .occupant_id
                    .clone()
                    .or_else(|| known.and_then(|o| o.occupant_id.clone())),
            };
            self.by_nick.insert(nick.to_owned(), occupant);
            return;
        }
        let Some(occupant) = self.by_nick.remove(nick) else {
            return;
        };
        if let (true, Some(new)) = (p.has(303), &p.new_nick) {
            self.by_nick.insert(new.clone(), occupant);
        }
    }

    pub fn get(&self, nick: &str) -> Option<&Occupant> {
        self.by_nick.get(nick)
    }

    pub fn nicks(&self) -> impl Iterator<Item = &str> {
        self.by_nick.keys().map(String::as_str)
    }

    /// Whether anyone but `me` is shown without a real JID.
    pub fn any_hidden(&self, me: &str) -> bool {
        self.by_nick
            .iter()
            .any(|(nick, o)| nick != me && o.jid.is_none())
    }

    pub fn clear(&mut self) {
        self.by_nick.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::stanza;

    fn presence(kind: &str, item: &str, extra: &str) -> MucPresence {
        MucPresence::read(&stanza(&format!(
            "<presence {kind} from='r@c/n'><x xmlns='http://jabber.org/protocol/muc#user'>\
             <item {item}/>{extra}</x></presence>"
        )))
    }

    #[test]
    fn items_give_the_real_bare_jid_and_the_role() {
        let p = presence(
            "",
            "jid='Alice@Localhost/phone' role='moderator' affiliation='owner'",
            "<status code='110'/><status code='100'/>",
        );
        assert!(p.available);
        assert_eq!(p.jid.as_deref(), Some("alice@localhost"));
        assert_eq!(p.role, Role::Moderator);
        assert!(p.has(110) && p.has(100) && !p.has(303));
    }

    #[test]
    fn a_nick_change_keeps_the_person_and_a_leave_removes_them() {
        let mut o = Occupants::default();
        o.apply(
            "bob",
            &presence("", "jid='bob@localhost/x' role='participant'", ""),
        );
        o.apply(
            "bob",
            &presence(
                "type='unavailable'",
                "nick='Bobby B' role='participant'",
                "<status code='303'/>",
            ),
        );
        assert_eq!(o.get("bob"), None);
        assert_eq!(
            o.get("Bobby B").and_then(|b| b.jid.as_deref()),
            Some("bob@localhost")
        );
        // The new nick's presence, seen without the JID, keeps it.
        o.apply("Bobby B", &presence("", "role='participant'", ""));
        assert_eq!(
            o.get("Bobby B").and_then(|b| b.jid.as_deref()),
            Some("bob@localhost")
        );
        o.apply(
            "Bobby B",
            &presence("type='unavailable'", "role='none'", ""),
        );
        assert_eq!(o.nicks().count(), 0);
    }

    #[test]
    fn a_semi_anonymous_room_shows_no_jids() {
        let mut o = Occupants::default();
        o.apply(
            "me",
            &presence("", "role='participant'", "<status code='110'/>"),
        );
        assert!(!o.any_hidden("me"), "our own item does not count");
        o.apply("carol", &presence("", "role='participant'", ""));
        assert!(o.any_hidden("me"));
        assert_eq!(o.get("carol").unwrap().jid, None);
    }

    #[test]
    fn a_destroyed_room_and_occupant_ids_are_read() {
        let p = MucPresence::read(&stanza(
            "<presence type='unavailable' from='r@c/me'>\
             <occupant-id xmlns='urn:xmpp:occupant-id:0' id='abc'/>\
             <x xmlns='http://jabber.org/protocol/muc#user'>\
             <item role='none'/><destroy/></x></presence>",
        ));
        assert!(p.destroyed && !p.available);
        assert_eq!(p.occupant_id.as_deref(), Some("abc"));
    }
}
