//! Invitations of the gateway into a room: direct (XEP-0249, a
//! `jabber:x:conference` element from the inviter) and mediated (XEP-0045
//! section 7.8.2, the room relays `<invite from=...>`), and the decline
//! a refused mediated invitation gets. Pure: no I/O.

use crate::xmpp::ns;
use crate::xmpp::{Element, Jid};

/// An invitation, whichever way it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The room's bare JID.
    pub room: Jid,
    /// Who invites: the sender of a direct invitation, the `from` of a
    /// mediated one (a room may leave it out, or give the occupant JID).
    pub inviter: Option<Jid>,
    pub password: Option<String>,
    /// Relayed by the room: a refusal is also declined to the room.
    pub mediated: bool,
}

/// The invitation `stanza` (a message from `from`) carries, if any.
pub fn parse(stanza: &Element, from: &Jid) -> Option<Invitation> {
    if stanza.get_attr("type") == Some("error") {
        return None;
    }
    // A room relays with both: its own <invite from=...> says who invites.
    if let Some(x) = stanza.get_child("x", ns::MUC_USER) {
        if let (Some(invite), Some(_)) = (x.get_child("invite", ns::MUC_USER), &from.node) {
            return Some(Invitation {
                room: from.bare(),
                // A semi-anonymous room gives the inviter's occupant JID
                // (room/nick), kept whole: the decline goes back to it.
                inviter: invite
                    .get_attr("from")
                    .and_then(|j| Jid::parse(j).ok())
                    .map(|j| if j.bare() == from.bare() { j } else { j.bare() }),
                password: x
                    .get_child("password", ns::MUC_USER)
                    .map(Element::text_content)
                    .filter(|p| !p.is_empty()),
                mediated: true,
            });
        }
    }
    let x = stanza.get_child("x", ns::CONFERENCE)?;
    let room = Jid::parse(x.get_attr("jid")?).ok()?;
    room.node.as_ref()?;
    Some(Invitation {
        room: room.bare(),
        inviter: Some(from.bare()),
        password: x.get_attr("password").map(str::to_owned),
        mediated: false,
    })
}

/// Declines a mediated invitation through the room (XEP-0045, 7.8.2).
pub fn decline(me: &Jid, invitation: &Invitation, reason: &str) -> Option<Element> {
    let inviter = invitation.inviter.as_ref()?;
    let decline = Element::new("decline", ns::MUC_USER)
        .attr("to", &inviter.to_string())
        .text_child("reason", reason);
    Some(
        Element::new("message", ns::COMPONENT)
            .attr("from", &me.to_string())
            .attr("to", &invitation.room.to_string())
            .child(Element::new("x", ns::MUC_USER).child(decline)),
    )
}

impl Invitation {
    /// The room hid who invites: only their occupant JID is known.
    pub fn inviter_hidden(&self) -> bool {
        self.inviter.as_ref().is_some_and(|i| i.bare() == self.room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::stanza;

    fn from(s: &str) -> Jid {
        Jid::parse(s).unwrap()
    }

    #[test]
    fn a_direct_invitation_names_the_room_and_its_password() {
        let m = stanza(
            "<message from='alice@localhost/phone' to='bitcoin.localhost'>\
             <x xmlns='jabber:x:conference' jid='Tips@conference.localhost' password='pw' \
             reason='come'/></message>",
        );
        let i = parse(&m, &from("alice@localhost/phone")).unwrap();
        assert_eq!(i.room.to_string(), "tips@conference.localhost");
        assert_eq!(i.inviter.unwrap().to_string(), "alice@localhost");
        assert_eq!(i.password.as_deref(), Some("pw"));
        assert!(!i.mediated);
    }

    #[test]
    fn a_mediated_invitation_comes_from_the_room() {
        let m = stanza(
            "<message from='tips@conference.localhost' to='bitcoin.localhost'>\
             <x xmlns='http://jabber.org/protocol/muc#user'>\
             <invite from='alice@localhost/phone'><reason>hi</reason></invite>\
             <password>secret</password></x>\
             <x xmlns='jabber:x:conference' jid='tips@conference.localhost'/></message>",
        );
        let i = parse(&m, &from("tips@conference.localhost")).unwrap();
        assert_eq!(i.room.to_string(), "tips@conference.localhost");
        assert_eq!(i.inviter.as_ref().unwrap().to_string(), "alice@localhost");
        assert_eq!(i.password.as_deref(), Some("secret"));
        assert!(i.mediated);
        let d = decline(&from("bitcoin.localhost"), &i, "no").unwrap();
        assert_eq!(
            d.to_xml(),
            "<message xmlns='jabber:component:accept' from='bitcoin.localhost' \
             to='tips@conference.localhost'><x xmlns='http://jabber.org/protocol/muc#user'>\
             <decline to='alice@localhost'><reason>no</reason></decline></x></message>"
        );
    }

    #[test]
    fn a_room_hiding_the_inviter_gives_its_occupant_jid() {
        let m = stanza(
            "<message from='tips@conference.localhost' to='bitcoin.localhost'>\
             <x xmlns='http://jabber.org/protocol/muc#user'>\
             <invite from='tips@conference.localhost/carol'/></x></message>",
        );
        let i = parse(&m, &from("tips@conference.localhost")).unwrap();
        assert!(i.inviter_hidden());
        let d = decline(&from("bitcoin.localhost"), &i, "no").unwrap();
        assert!(d
            .to_xml()
            .contains("<decline to='tips@conference.localhost/carol'>"));
    }

    #[test]
    fn other_messages_and_bad_room_addresses_are_no_invitations() {
        let alice = from("alice@localhost/x");
        for xml in [
            "<message><body>hi</body></message>",
            "<message><x xmlns='jabber:x:conference' jid='@@'/></message>",
            "<message><x xmlns='jabber:x:conference' jid='conference.localhost'/></message>",
            "<message><x xmlns='jabber:x:conference'/></message>",
            "<message type='error'><x xmlns='jabber:x:conference' jid='r@c'/></message>",
            "<message><x xmlns='http://jabber.org/protocol/muc#user'><decline/></x></message>",
        ] {
            assert_eq!(parse(&stanza(xml), &alice), None, "{xml}");
        }
    }
}
