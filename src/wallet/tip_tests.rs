//! The tip engine over a real ledger and the simulated node: tips paid at
//! once or after their code, to people with or without a wallet, held
//! tips claimed or returned, and the failures in the middle of each.

use crate::amount::Sats;
use crate::ledger::orders::{State, Tip};
use crate::ledger::User;
use crate::testkit::{bodies, Bench};
use crate::wallet::payments::{self, Confirmed, Refusal};
use crate::wallet::tips::{self, Tipped};
use crate::wallet::News;
use crate::xmpp::Element;

const ROOM: &str = "lounge@rooms.example.org";

/// Where a tip to `nick` (real JID `local@example.org`) is made.
fn place(tipper_nick: &str, nick: &str, local: &str) -> Tip {
    Tip {
        room: ROOM.to_owned(),
        tipper_nick: tipper_nick.to_owned(),
        recipient_nick: nick.to_owned(),
        recipient_jid: format!("{local}@example.org"),
    }
}

/// `tipper` tips `amount` sat to `nick` (`local@example.org`); what the
/// tip became and the stanzas its news became.
fn tip(
    b: &mut Bench,
    tipper: &User,
    nick: &str,
    local: &str,
    amount: i64,
    comment: Option<&str>,
) -> (Result<Tipped, Refusal>, Vec<Element>) {
    let mut news = Vec::new();
    let place = place("Al", nick, local);
    let outcome = tips::tip(
        &mut b.services().wallet,
        tipper,
        &place,
        Sats(amount),
        comment,
        &mut news,
    );
    (outcome, speak(b, news))
}

fn speak(b: &mut Bench, news: Vec<News>) -> Vec<Element> {
    let mut out = Vec::new();
    b.services().speak(news, &mut out);
    out
}

/// `user` confirms `code` through the payments engine.
fn confirm(b: &mut Bench, user: &User, code: &str) -> (Confirmed, Vec<Element>) {
    let mut news = Vec::new();
    let outcome = payments::confirm(&mut b.services().wallet, user, code, &mut news);
    (outcome, speak(b, news))
}

/// The bodies of the messages of `kind` sent to `to` (a bare JID).
fn said_to(out: &[Element], to: &str, kind: &str) -> Vec<String> {
    let mine: Vec<Element> = out
        .iter()
        .filter(|e| {
            e.get_attr("to").is_some_and(|t| t.starts_with(to)) && e.get_attr("type") == Some(kind)
        })
        .cloned()
        .collect();
    bodies(&mine)
}

fn set_limit(b: &mut Bench, user: &User, sats: i64) {
    b.services()
        .wallet
        .ledger_mut()
        .set_tiplimit(user.id, Sats(sats))
        .unwrap();
}

fn balance(b: &mut Bench, local: &str) -> (Sats, Sats) {
    let u = b.user(local).expect("registered");
    (u.balance, u.held)
}

fn balances_agree(b: &mut Bench) {
    let ledger = b.services().wallet.ledger();
    assert!(
        ledger.check_balances().unwrap().is_empty(),
        "{}",
        ledger.dump()
    );
}

/// Alice with 100 000 sat, and Bob with nothing.
fn alice_and_bob() -> (Bench, User, User) {
    let mut b = Bench::new();
    let alice = b.register("alice", "alice");
    let bob = b.register("bob", "bob");
    b.deposit(&alice, 100_000);
    let alice = b.user("alice").unwrap();
    (b, alice, bob)
}

fn recap_code(outcome: Result<Tipped, Refusal>) -> String {
    match outcome {
        Ok(Tipped::Recap(recap)) => recap.order.code,
        other => panic!("not a recap: {other:?}"),
    }
}

#[test]
fn a_tip_within_the_limit_is_paid_at_once_and_told_in_the_room() {
    let (mut b, alice, _) = alice_and_bob();
    set_limit(&mut b, &alice, 5_000);
    let alice = b.user("alice").unwrap();
    let (outcome, out) = tip(&mut b, &alice, "Bobby", "bob", 1_000, Some("thanks"));
    assert!(matches!(outcome, Ok(Tipped::Paid { .. })), "{outcome:?}");
    assert_eq!(
        said_to(&out, ROOM, "groupchat"),
        ["Al tipped Bobby 0.00001 BTC: «thanks»"]
    );
    let to_bob = said_to(&out, "bob@example.org", "chat");
    assert_eq!(to_bob.len(), 1, "{to_bob:?}");
    assert!(to_bob[0].contains("tipped you 0.00001 BTC in lounge@rooms.example.org"));
    assert_eq!(balance(&mut b, "alice"), (Sats(99_000), Sats(0)));
    assert_eq!(balance(&mut b, "bob"), (Sats(1_000), Sats(0)));
    balances_agree(&mut b);
}

#[test]
fn a_tip_over_the_limit_waits_for_its_code_then_is_paid_once() {
    let (mut b, alice, _) = alice_and_bob();
    let (outcome, out) = tip(&mut b, &alice, "Bobby", "bob", 2_000, None);
    assert!(out.is_empty(), "nothing said before the code");
    let code = recap_code(outcome);
    assert_eq!(balance(&mut b, "bob"), (Sats(0), Sats(0)));
    let (confirmed, out) = confirm(&mut b, &alice, &code);
    assert!(matches!(confirmed, Confirmed::Tip(Tipped::Paid { .. })));
    assert_eq!(
        said_to(&out, ROOM, "groupchat"),
        ["Al tipped Bobby 0.00002 BTC"]
    );
    // A replayed code pays nothing more, and says nothing in the room.
    let (again, out) = confirm(&mut b, &alice, &code);
    assert!(matches!(again, Confirmed::AlreadyDone(_)), "{again:?}");
    assert!(said_to(&out, ROOM, "groupchat").is_empty());
    assert_eq!(balance(&mut b, "alice"), (Sats(98_000), Sats(0)));
    assert_eq!(balance(&mut b, "bob"), (Sats(2_000), Sats(0)));
    balances_agree(&mut b);
}
