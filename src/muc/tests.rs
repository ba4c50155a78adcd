//! The room face through the gateway: what goes out for what comes in.

use crate::reactor::App;
use crate::testkit::{attrs, bodies, xml, Bench, GATEWAY};
use crate::xmpp::Element;

const ROOM: &str = "tips@conference.example.org";
const MUC_USER: &str = "http://jabber.org/protocol/muc#user";

fn invite(b: &mut Bench, local: &str) -> Vec<Element> {
    b.send(&format!(
        "<message from='{local}@example.org/phone' to='{GATEWAY}'>\
         <x xmlns='jabber:x:conference' jid='{ROOM}'/></message>"
    ))
}

/// A presence of `nick` in the room with `inner` inside its muc#user x.
fn presence(b: &mut Bench, nick: &str, kind: &str, inner: &str) -> Vec<Element> {
    b.send(&format!(
        "<presence from='{ROOM}/{nick}' to='{GATEWAY}' {kind}>\
         <x xmlns='{MUC_USER}'>{inner}</x></presence>"
    ))
}

fn occupant(b: &mut Bench, nick: &str, local: &str) -> Vec<Element> {
    presence(
        b,
        nick,
        "",
        &format!("<item jid='{local}@example.org/phone' role='participant'/>"),
    )
}

/// alice and bob registered, in a non-anonymous room the gateway joined
/// on alice's invitation.
fn joined() -> Bench {
    joined_with("")
}

fn joined_with(extra: &str) -> Bench {
    let mut b = Bench::with(extra);
    b.register("alice", "alice");
    b.register("bob", "bob");
    invite(&mut b, "alice");
    occupant(&mut b, "alice", "alice");
    occupant(&mut b, "Bob B", "bob");
    presence(
        &mut b,
        "bitcoin",
        "",
        "<item role='participant'/><status code='100'/><status code='110'/>",
    );
    b
}

fn line(b: &mut Bench, nick: &str, body: &str, extra: &str) -> Vec<Element> {
    b.send(&format!(
        "<message type='groupchat' from='{ROOM}/{nick}' to='{GATEWAY}'>\
         <body>{body}</body>{extra}</message>"
    ))
}

#[test]
fn an_invitation_joins_without_history_and_the_join_is_stored_and_told() {
    let mut b = Bench::new();
    b.register("alice", "alice");
    let out = invite(&mut b, "alice");
    assert_eq!(
        xml(&out),
        [format!(
            "<presence from='{GATEWAY}' to='{ROOM}/bitcoin'>\
             <x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>"
        )]
    );
    assert!(
        b.gateway.rooms().joined().is_empty(),
        "not before the room says so"
    );
    occupant(&mut b, "alice", "alice");
    let out = presence(
        &mut b,
        "bitcoin",
        "",
        "<item role='participant'/><status code='100'/><status code='110'/>",
    );
    assert_eq!(attrs(&out, "to"), ["alice@example.org"]);
    assert!(bodies(&out)[0].starts_with(&format!("I joined {ROOM} as bitcoin.")));
    assert_eq!(b.gateway.rooms().joined(), [ROOM]);
    let stored = b.services().wallet.ledger().rooms().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].invited_by, b.user("alice").map(|u| u.id));
}

#[test]
fn invitations_from_people_without_a_wallet_or_when_closed_are_refused() {
    let mut b = Bench::new();
    let out = invite(&mut b, "carol");
    assert_eq!(attrs(&out, "to"), ["carol@example.org"]);
    assert!(bodies(&out)[0].starts_with("Only users with a wallet can invite me"));
    // Mediated through the room: declined there too.
    let mut b = Bench::with("[rooms]\ninvites = nobody\n");
    b.register("alice", "alice");
    let out = b.send(&format!(
        "<message from='{ROOM}' to='{GATEWAY}'><x xmlns='{MUC_USER}'>\
         <invite from='alice@example.org/phone'/></x></message>"
    ));
    let sent = xml(&out);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(bodies(&out)[0].starts_with("I do not join rooms on this service"));
    assert!(
        sent[1].contains("<decline to='alice@example.org'>"),
        "{}",
        sent[1]
    );
    assert!(b.gateway.rooms().joined().is_empty());
}

#[test]
fn history_echoes_corrections_repeats_and_strangers_are_never_acted_on() {
    let mut b = joined();
    let never = [
        (
            "alice",
            "<delay xmlns='urn:xmpp:delay' stamp='2026-01-01T00:00:00Z'/>",
        ),
        (
            "alice",
            "<replace xmlns='urn:xmpp:message-correct:0' id='x'/>",
        ),
        ("bitcoin", ""),
        ("dave", ""),
    ];
    for (nick, extra) in never {
        let out = line(&mut b, nick, "tip 100 sat Bob B", extra);
        assert!(out.is_empty(), "{nick} {extra}: {:?}", xml(&out));
    }
    let sid = format!("<stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='s1'/>");
    let out = line(&mut b, "alice", "tip 100 sat Bob B thanks", &sid);
    // alice has no money: the refusal goes to her, privately.
    assert_eq!(attrs(&out, "to"), ["alice@example.org"]);
    assert_eq!(attrs(&out, "type"), ["chat"]);
    assert!(line(&mut b, "alice", "tip 100 sat Bob B thanks", &sid).is_empty());
    // Conversation is not a command, even one starting like one.
    assert!(line(&mut b, "alice", "tipsy tonight", "").is_empty());
}

#[test]
fn a_tip_makes_a_recap_for_the_tipper_alone() {
    let mut b = joined();
    let alice = b.user("alice").unwrap();
    b.deposit(&alice, 100_000);
    let out = line(&mut b, "alice", "tip 1000 sat bob b for lunch", "");
    assert_eq!(attrs(&out, "to"), ["alice@example.org"]);
    let recap = &bodies(&out)[0];
    assert!(
        recap.contains("Bob B") && recap.contains("confirm "),
        "{recap}"
    );
    for (text, expected) in [
        ("tip 1000 sat dave", "Nobody called dave is in"),
        ("tip 1000 sat bitcoin", "I cannot take tips"),
        ("tip", "Usage in a room: tip"),
        ("tip 1,5 Bob B", "Use a dot"),
    ] {
        let out = line(&mut b, "alice", text, "");
        assert_eq!(attrs(&out, "to"), ["alice@example.org"], "{text}");
        assert!(
            bodies(&out)[0].starts_with(expected),
            "{text}: {:?}",
            bodies(&out)
        );
    }
}

#[test]
fn a_room_hiding_jids_is_told_once_and_tips_are_refused_through_it() {
    let mut b = Bench::new();
    b.register("alice", "alice");
    invite(&mut b, "alice");
    presence(&mut b, "alice", "", "<item role='moderator'/>");
    let out = presence(
        &mut b,
        "bitcoin",
        "",
        "<item role='participant'/><status code='110'/>",
    );
    let notice: Vec<String> = out
        .iter()
        .filter(|m| m.get_attr("type") == Some("groupchat"))
        .map(|m| m.to_xml())
        .collect();
    assert_eq!(notice.len(), 1, "{:?}", xml(&out));
    assert!(notice[0].contains("non-anonymous"));
    let out = line(&mut b, "alice", "tip 100 sat bob", "");
    assert_eq!(attrs(&out, "to"), [format!("{ROOM}/alice").as_str()]);
    assert_eq!(
        attrs(&out, "type"),
        ["chat"],
        "privately, never in the room"
    );
    assert!(bodies(&out)[0].starts_with("Tips are off in"));
}

#[test]
fn a_nick_change_keeps_the_person_for_tips() {
    let mut b = joined();
    let alice = b.user("alice").unwrap();
    b.deposit(&alice, 100_000);
    presence(
        &mut b,
        "Bob B",
        "type='unavailable'",
        "<item nick='robert' role='participant'/><status code='303'/>",
    );
    presence(&mut b, "robert", "", "<item role='participant'/>");
    let out = line(&mut b, "alice", "tip 500 sat robert", "");
    assert!(bodies(&out)[0].contains("robert"), "{:?}", bodies(&out));
    let out = line(&mut b, "alice", "tip 500 sat Bob B", "");
    assert!(bodies(&out)[0].starts_with("Nobody called Bob is in"));
}

#[test]
fn leave_is_for_the_inviter_or_a_moderator() {
    let mut b = joined();
    let out = line(&mut b, "Bob B", "leave", "");
    assert_eq!(attrs(&out, "to"), ["bob@example.org"]);
    assert!(bodies(&out)[0].starts_with("Only whoever invited me"));
    let out = line(&mut b, "alice", "leave", "");
    assert_eq!(attrs(&out, "type"), ["unavailable"]);
    assert_eq!(attrs(&out, "to"), [format!("{ROOM}/bitcoin").as_str()]);
    assert!(b.services().wallet.ledger().rooms().unwrap().is_empty());
    presence(
        &mut b,
        "bitcoin",
        "type='unavailable'",
        "<item role='none'/><status code='110'/>",
    );
    assert!(b.gateway.rooms().joined().is_empty());
}

#[test]
fn kicked_the_room_is_forgotten_and_the_inviter_told() {
    let mut b = joined();
    let out = presence(
        &mut b,
        "bitcoin",
        "type='unavailable'",
        "<item role='none'/><status code='307'/><status code='110'/>",
    );
    assert_eq!(attrs(&out, "to"), ["alice@example.org"]);
    assert!(bodies(&out)[0].starts_with(&format!("I was kicked out of {ROOM}")));
    assert!(b.services().wallet.ledger().rooms().unwrap().is_empty());
    assert!(line(&mut b, "alice", "tip 1 bob", "").is_empty());
}

#[test]
fn stored_rooms_are_joined_again_at_each_connection_and_a_refusal_forgets_them() {
    let mut b = joined();
    b.gateway.on_disconnected();
    assert!(b.gateway.rooms().joined().is_empty());
    let mut out = Vec::new();
    b.gateway.on_connected(&mut out);
    let joins: Vec<String> = out
        .iter()
        .filter(|p| p.name == "presence")
        .map(|p| p.to_xml())
        .collect();
    assert_eq!(joins.len(), 1, "{joins:?}");
    assert!(joins[0].contains("<history maxstanzas='0'/>"));
    // Banned meanwhile: forgotten, nobody told (nobody asked).
    let out = b.send(&format!(
        "<presence type='error' from='{ROOM}/bitcoin' to='{GATEWAY}'><error type='auth'>\
         <forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    ));
    assert!(out.is_empty(), "{:?}", xml(&out));
    assert!(b.services().wallet.ledger().rooms().unwrap().is_empty());
    // At shutdown, the gateway leaves the rooms it is in.
    let mut b = joined();
    let mut out = Vec::new();
    b.gateway.on_shutdown(&mut out);
    assert_eq!(attrs(&out, "to"), [format!("{ROOM}/bitcoin").as_str()]);
}

#[test]
fn a_busy_room_is_not_one_sender_for_the_rate_limit_its_occupants_are() {
    // alice's registration and invitation took 2 of her burst of 4.
    let mut b = joined_with("rate_burst = 4\nrate_per_second = 1\n");
    // The room's traffic as a whole passes: presences and chatter.
    for i in 0..10 {
        occupant(&mut b, &format!("guest{i}"), &format!("guest{i}"));
        line(&mut b, &format!("guest{i}"), "hello all", "");
    }
    let out = line(&mut b, "alice", "tip 1 sat Bob B", "");
    assert_eq!(
        attrs(&out, "to"),
        ["alice@example.org"],
        "alice is not limited"
    );
    // One occupant's commands are: one more, then (within the second
    // these take) silence.
    let answered: usize = (0..5)
        .map(|_| line(&mut b, "alice", "tip 1 sat Bob B", "").len())
        .sum();
    assert!((1..=2).contains(&answered), "{answered} of 5 answered");
}

/// Review of issue 13: any account could play a room whose presences
/// claim any real JID, and spend others' one-step tips.
#[test]
fn an_account_posing_as_a_room_is_never_joined_nor_believed() {
    let mut b = Bench::with("[rooms]\ninvites = users\n");
    b.register("alice", "alice");
    b.register("mallory", "mallory");
    let alice = b.user("alice").unwrap();
    b.deposit(&alice, 100_000);
    b.say("alice", "tiplimit 5000 sat");
    let fake = "mallory@example.org";
    // A "mediated" invitation from mallory's own account naming the admin,
    // and a direct one naming her account (or a federated server's room).
    let out = b.send(&format!(
        "<message from='{fake}/phone' to='{GATEWAY}'><x xmlns='{MUC_USER}'>\
         <invite from='admin@example.org'/></x></message>"
    ));
    assert!(out.is_empty(), "{:?}", xml(&out));
    for room in [fake, "room@conference.evil.org"] {
        let out = b.send(&format!(
            "<message from='{fake}/phone' to='{GATEWAY}'>\
             <x xmlns='jabber:x:conference' jid='{room}'/></message>"
        ));
        assert_eq!(attrs(&out, "to"), [fake]);
        assert!(
            bodies(&out)[0]
                .starts_with("I only join rooms of the chat services this server trusts"),
            "{:?}",
            bodies(&out)
        );
    }
    // What she sends next as the "room" is not a room's.
    b.send(&format!(
        "<presence from='{fake}/alice' to='{GATEWAY}'><x xmlns='{MUC_USER}'>\
         <item jid='alice@example.org/x' role='participant'/></x></presence>"
    ));
    b.send(&format!(
        "<presence from='{fake}/bitcoin' to='{GATEWAY}'><x xmlns='{MUC_USER}'>\
         <item role='participant'/><status code='100'/><status code='110'/></x></presence>"
    ));
    b.send(&format!(
        "<message type='groupchat' from='{fake}/alice' to='{GATEWAY}'>\
         <body>tip 5000 sat mallory</body></message>"
    ));
    assert!(b.gateway.rooms().joined().is_empty());
    assert_eq!(b.user("alice").unwrap().balance.0, 100_000);
    assert_eq!(b.user("mallory").unwrap().balance.0, 0);
}

/// Review of issue 13: a client resending a one-step tip keeps its
/// origin-id, but the room gives the copy a new stanza-id.
#[test]
fn a_tip_resent_with_a_new_stanza_id_is_paid_once() {
    let mut b = joined();
    let alice = b.user("alice").unwrap();
    b.deposit(&alice, 100_000);
    b.say("alice", "tiplimit 5000 sat");
    for sid in ["s1", "s2"] {
        let extra = format!(
            "<stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='{sid}'/>\
             <origin-id xmlns='urn:xmpp:sid:0' id='same'/>"
        );
        line(&mut b, "alice", "tip 1000 sat Bob B", &extra);
    }
    assert_eq!(b.user("bob").unwrap().balance.0, 1000);
    // Another line with the same text and a new origin-id is another tip.
    let extra = "<origin-id xmlns='urn:xmpp:sid:0' id='other'/>";
    line(&mut b, "alice", "tip 1000 sat Bob B", extra);
    assert_eq!(b.user("bob").unwrap().balance.0, 2000);
}
