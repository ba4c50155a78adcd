//! One room the gateway is in or joining: its nick there, who invited it,
//! the occupants, whether the room hides real JIDs from it, and the
//! presences of the room read as what happened to the gateway (joined,
//! refused, put out). Pure: no I/O; `mod.rs` says and sends.

use super::occupants::{MucPresence, Occupants, Role};
use crate::xmpp::{ns, Element};
use std::collections::VecDeque;

/// How many message ids each room remembers to see repeats by.
const SEEN_IDS: usize = 64;

/// Where the join stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Our join presence is sent. `retried`: a nick conflict already made
    /// us try another nick.
    Joining {
        retried: bool,
    },
    Joined,
    /// Our `leave` presence is sent.
    Leaving,
}

/// Why a room would not have us (a presence error to our join).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Password,
    Banned,
    MembersOnly,
    NotFound,
    NickTaken,
    Full,
    Other,
}

impl Refused {
    /// From the error of a presence of type `error` (XEP-0045, 7.2.7-7.2.11).
    pub fn read(stanza: &Element) -> Refused {
        let errors = ns::STANZA_ERRORS;
        let condition = stanza
            .get_child("error", ns::COMPONENT)
            .and_then(|e| e.elements().find(|c| c.ns == errors))
            .map(|c| c.name.as_str());
        match condition {
            Some("not-authorized") => Refused::Password,
            Some("forbidden") => Refused::Banned,
            Some("registration-required") => Refused::MembersOnly,
            Some("item-not-found" | "remote-server-not-found" | "not-allowed" | "gone") => {
                Refused::NotFound
            }
            Some("conflict") => Refused::NickTaken,
            Some("service-unavailable") => Refused::Full,
            _ => Refused::Other,
        }
    }

    /// The catalog key telling the inviter.
    pub fn key(self) -> &'static str {
        match self {
            Refused::Password => "room-join-password",
            Refused::Banned => "room-join-banned",
            Refused::MembersOnly => "room-join-members-only",
            Refused::NotFound => "room-join-not-found",
            Refused::NickTaken => "room-join-nick-taken",
            Refused::Full => "room-join-full",
            Refused::Other => "room-join-failed",
        }
    }
}

/// Why the room put us out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Kicked,
    Banned,
    /// Our affiliation changed (321), or the room became members-only (322).
    NotMember,
    Destroyed,
    /// It did not exist: our join created it (201), and we leave it.
    Gone,
}

impl Removed {
    pub fn key(self) -> &'static str {
        match self {
            Removed::Kicked => "room-removed-kicked",
            Removed::Banned => "room-removed-banned",
            Removed::NotMember => "room-removed-not-member",
            Removed::Destroyed => "room-removed-destroyed",
            Removed::Gone => "room-join-not-found",
        }
    }
}

/// What a presence from the room meant for the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An occupant's presence, followed.
    Nothing,
    /// Our join is confirmed; `hidden`: the room hides real JIDs from us.
    Joined {
        hidden: bool,
    },
    /// The room now hides real JIDs from us (after a change).
    NowHidden,
    Refused(Refused),
    /// Our nick was taken: join again with this one.
    Retry(String),
    Removed(Removed),
    /// The service shuts down (332): joined again at the next connection.
    Shutdown,
    /// Our `leave` went through.
    Left,
}

/// A room, as the gateway knows it.
#[derive(Debug)]
pub struct Room {
    /// The room's bare JID, lowercased.
    pub jid: String,
    /// Our nick there.
    pub nick: String,
    pub phase: Phase,
    /// The inviter's account, stored with the room.
    pub invited_by: Option<i64>,
    /// The inviter's real bare JID, to tell about the join and its end.
    pub inviter: Option<String>,
    pub password: Option<String>,
    /// Joined after a reconnection (nobody waits to hear about it).
    pub rejoin: bool,
    pub occupants: Occupants,
    /// The room hides real JIDs from us: no tips there.
    pub hidden: bool,
    /// The hidden-JID notice was said since the join.
    pub notice_said: bool,
    seen: VecDeque<String>,
}

impl Room {
    pub fn new(jid: String, nick: String) -> Room {
        Room {
            jid,
            nick,
            phase: Phase::Joining { retried: false },
            invited_by: None,
            inviter: None,
            password: None,
            rejoin: false,
            occupants: Occupants::default(),
            hidden: false,
            notice_said: false,
            seen: VecDeque::new(),
        }
    }

    /// Follows a presence from `nick` in this room.
    pub fn on_presence(&mut self, nick: &str, stanza: &Element) -> Event {
        if stanza.get_attr("type") == Some("error") {
            return self.on_error(stanza);
        }
        let p = MucPresence::read(stanza);
        let mine = p.has(110) || nick == self.nick;
        if !mine {
            self.occupants.apply(nick, &p);
            if p.available && p.jid.is_none() && !self.hidden && self.phase == Phase::Joined {
                self.hidden = true;
                return Event::NowHidden;
            }
            return Event::Nothing;
        }
        if p.available {
            // The room may give us another nick than we asked for (210).
            nick.clone_into(&mut self.nick);
            self.occupants.apply(nick, &p);
            // 172: the room became non-anonymous; 173: semi-anonymous.
            let open = (p.has(100) || p.has(172)) && !p.has(173);
            let sees = open || p.role == Role::Moderator;
            let hidden = !sees || self.occupants.any_hidden(&self.nick);
            if p.has(201) {
                // Our join made the room: it was not there.
                return Event::Removed(Removed::Gone);
            }
            if self.phase == Phase::Joined {
                let newly = hidden && !self.hidden;
                self.hidden = hidden;
                return if newly {
                    Event::NowHidden
                } else {
                    Event::Nothing
                };
            }
            self.phase = Phase::Joined;
            self.hidden = hidden;
            self.notice_said = false;
            return Event::Joined { hidden };
        }
        // We are out, or renamed by the room.
        if let (true, Some(new)) = (p.has(303), &p.new_nick) {
            self.occupants.apply(nick, &p);
            self.nick = new.clone();
            return Event::Nothing;
        }
        self.occupants.clear();
        if p.destroyed {
            Event::Removed(Removed::Destroyed)
        } else if p.has(301) {
            Event::Removed(Removed::Banned)
        } else if p.has(307) {
            Event::Removed(Removed::Kicked)
        } else if p.has(321) || p.has(322) {
            Event::Removed(Removed::NotMember)
        } else if p.has(332) {
            Event::Shutdown
        } else if self.phase == Phase::Leaving {
            Event::Left
        } else {
            // Out for a reason the room did not give.
            Event::Removed(Removed::Kicked)
        }
    }

    /// A message from the room itself: a configuration change (XEP-0045,
    /// 10.2.1) that makes real JIDs public (172) or hides them (173).
    /// Other changes (104) show in the presences that follow.
    pub fn on_room_message(&mut self, stanza: &Element) -> Event {
        let Some(x) = stanza.get_child("x", ns::MUC_USER) else {
            return Event::Nothing;
        };
        let has = |code: &str| {
            x.elements()
                .any(|e| e.is("status", ns::MUC_USER) && e.get_attr("code") == Some(code))
        };
        let moderator = self
            .occupants
            .get(&self.nick)
            .is_some_and(|o| o.role == Role::Moderator);
        if has("172") {
            self.hidden = false;
        } else if has("173") && !moderator && !self.hidden {
            self.hidden = true;
            self.notice_said = false;
            return Event::NowHidden;
        }
        Event::Nothing
    }

    fn on_error(&mut self, stanza: &Element) -> Event {
        let Phase::Joining { retried } = self.phase else {
            // An error to something else we sent: not about our place.
            return Event::Nothing;
        };
        match Refused::read(stanza) {
            Refused::NickTaken if !retried => {
                self.phase = Phase::Joining { retried: true };
                self.nick = format!("{}_", self.nick);
                Event::Retry(self.nick.clone())
            }
            why => Event::Refused(why),
        }
    }

    /// True the first time an id is seen (a message without one is new).
    pub fn first_sight(&mut self, id: Option<&str>) -> bool {
        let Some(id) = id else {
            return true;
        };
        if self.seen.iter().any(|s| s == id) {
            return false;
        }
        if self.seen.len() >= SEEN_IDS {
            self.seen.pop_front();
        }
        self.seen.push_back(id.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::stanza;

    fn presence(room: &mut Room, nick: &str, attrs: &str, inner: &str) -> Event {
        room.on_presence(
            nick,
            &stanza(&format!(
                "<presence {attrs} from='r@c/{nick}'>\
                 <x xmlns='http://jabber.org/protocol/muc#user'>{inner}</x></presence>"
            )),
        )
    }

    fn joined_room(self_inner: &str) -> (Room, Event) {
        let mut room = Room::new("r@c".into(), "bitcoin".into());
        presence(
            &mut room,
            "alice",
            "",
            "<item jid='alice@localhost/x' role='moderator'/>",
        );
        let e = presence(&mut room, "bitcoin", "", self_inner);
        (room, e)
    }

    #[test]
    fn a_non_anonymous_room_is_joined_with_its_real_jids() {
        let (room, e) = joined_room(
            "<item jid='bitcoin.localhost' role='participant'/>\
             <status code='100'/><status code='110'/>",
        );
        assert_eq!(e, Event::Joined { hidden: false });
        assert_eq!(room.phase, Phase::Joined);
        let alice = room.occupants.get("alice").unwrap();
        assert_eq!(alice.jid.as_deref(), Some("alice@localhost"));
    }

    #[test]
    fn a_semi_anonymous_room_hides_jids_unless_we_moderate() {
        let mut room = Room::new("r@c".into(), "bitcoin".into());
        presence(&mut room, "alice", "", "<item role='moderator'/>");
        let e = presence(
            &mut room,
            "bitcoin",
            "",
            "<item role='participant'/><status code='110'/>",
        );
        assert_eq!(e, Event::Joined { hidden: true });
        let (_, e) = joined_room("<item role='moderator'/><status code='110'/>");
        assert_eq!(e, Event::Joined { hidden: false });
    }

    #[test]
    fn a_taken_nick_is_retried_once_then_refused() {
        let mut room = Room::new("r@c".into(), "bitcoin".into());
        let error = "<presence type='error' from='r@c/bitcoin'><error type='cancel'>\
                     <conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>";
        assert_eq!(
            room.on_presence("bitcoin", &stanza(error)),
            Event::Retry("bitcoin_".into())
        );
        assert_eq!(
            room.on_presence("bitcoin_", &stanza(error)),
            Event::Refused(Refused::NickTaken)
        );
        let mut room = Room::new("r@c".into(), "bitcoin".into());
        let banned = "<presence type='error' from='r@c/bitcoin'><error type='auth'>\
                      <forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>";
        assert_eq!(
            room.on_presence("bitcoin", &stanza(banned)),
            Event::Refused(Refused::Banned)
        );
    }

    #[test]
    fn kicks_bans_destruction_and_shutdown_are_told_apart() {
        let cases = [
            (
                "<item role='none'/><status code='307'/>",
                Event::Removed(Removed::Kicked),
            ),
            (
                "<item role='none' affiliation='outcast'/><status code='301'/>",
                Event::Removed(Removed::Banned),
            ),
            (
                "<item role='none'/><status code='321'/>",
                Event::Removed(Removed::NotMember),
            ),
            (
                "<item role='none'/><destroy jid='new@c'/>",
                Event::Removed(Removed::Destroyed),
            ),
            ("<item role='none'/><status code='332'/>", Event::Shutdown),
        ];
        for (inner, expected) in cases {
            let (mut room, _) = joined_room("<item role='moderator'/><status code='110'/>");
            let inner = format!("{inner}<status code='110'/>");
            assert_eq!(
                presence(&mut room, "bitcoin", "type='unavailable'", &inner),
                expected,
                "{inner}"
            );
        }
    }

    #[test]
    fn our_join_creating_the_room_means_it_was_gone() {
        let mut room = Room::new("r@c".into(), "bitcoin".into());
        let e = presence(
            &mut room,
            "bitcoin",
            "",
            "<item role='moderator' affiliation='owner'/><status code='110'/><status code='201'/>",
        );
        assert_eq!(e, Event::Removed(Removed::Gone));
    }

    #[test]
    fn a_room_turning_semi_anonymous_hides_jids_and_back() {
        let (mut room, _) =
            joined_room("<item role='participant'/><status code='100'/><status code='110'/>");
        let change = |code: &str| {
            stanza(&format!(
                "<message from='r@c'><x xmlns='http://jabber.org/protocol/muc#user'>\
                 <status code='{code}'/></x></message>"
            ))
        };
        assert_eq!(room.on_room_message(&change("173")), Event::NowHidden);
        assert!(room.hidden);
        assert_eq!(room.on_room_message(&change("173")), Event::Nothing);
        assert_eq!(room.on_room_message(&change("172")), Event::Nothing);
        assert!(!room.hidden);
    }

    #[test]
    fn a_message_id_is_acted_on_once() {
        let mut room = Room::new("r@c".into(), "bitcoin".into());
        assert!(room.first_sight(Some("a")));
        assert!(!room.first_sight(Some("a")));
        assert!(room.first_sight(None));
        assert!(room.first_sight(None));
        for i in 0..SEEN_IDS {
            room.first_sight(Some(&i.to_string()));
        }
        assert!(room.first_sight(Some("a")), "forgotten after {SEEN_IDS}");
    }
}
