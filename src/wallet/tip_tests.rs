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
    assert!(
        to_bob[0].starts_with("Al (alice) tipped you 0.00001 BTC in lounge@rooms.example.org"),
        "{to_bob:?}"
    );
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

/// The state of every claim, in the order they were made.
fn claim_states(b: &mut Bench) -> Vec<&'static str> {
    let ledger = b.services().wallet.ledger();
    let n = ledger.count_rows("/* test */ SELECT count(*) FROM claims");
    (1..=n)
        .map(|id| {
            ["held", "claimed", "returned"]
                .into_iter()
                .find(|state| {
                    ledger.count_rows(&format!(
                        "/* test */ SELECT count(*) FROM claims WHERE id = {id} AND state = '{state}'"
                    )) == 1
                })
                .unwrap_or("?")
        })
        .collect()
}

#[test]
fn a_renamed_recipient_still_gets_the_tip_they_were_seen_for() {
    let (mut b, alice, _) = alice_and_bob();
    let code = recap_code(tip(&mut b, &alice, "Bobby", "bob", 3_000, None).0);
    b.say("bob", "register robert");
    // Someone else takes the old username: the tip still follows the JID.
    let other = b.register("mallory", "bob");
    let (confirmed, out) = confirm(&mut b, &alice, &code);
    match confirmed {
        Confirmed::Tip(Tipped::Paid { to, .. }) => assert_eq!(to.username, "robert"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        said_to(&out, ROOM, "groupchat"),
        ["Al tipped Bobby 0.00003 BTC"]
    );
    assert_eq!(balance(&mut b, "bob"), (Sats(3_000), Sats(0)));
    assert_eq!(
        b.services().wallet.fresh(&other).unwrap().balance,
        Sats(0),
        "the new holder of the name gets nothing"
    );
    balances_agree(&mut b);
}

#[test]
fn a_recipient_who_left_before_the_code_gets_it_held_then_claims_it_back() {
    let (mut b, alice, _) = alice_and_bob();
    let code = recap_code(tip(&mut b, &alice, "Bobby", "bob", 4_000, Some("gm")).0);
    b.say("bob", "unregister");
    assert!(b.user("bob").is_none());
    let (confirmed, out) = confirm(&mut b, &alice, &code);
    assert!(
        matches!(confirmed, Confirmed::Tip(Tipped::Held { .. })),
        "{confirmed:?}"
    );
    let told = said_to(&out, "bob@example.org", "chat");
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("register <username> to bitcoin.example.org"),
        "{told:?}"
    );
    assert!(told[0].contains("7 days"), "{told:?}");
    assert_eq!(
        said_to(&out, ROOM, "groupchat"),
        ["Al tipped Bobby 0.00004 BTC: «gm»"]
    );
    assert_eq!(balance(&mut b, "alice"), (Sats(96_000), Sats(4_000)));
    // Its code again holds nothing more.
    let (again, out) = confirm(&mut b, &alice, &code);
    assert!(matches!(again, Confirmed::AlreadyDone(_)), "{again:?}");
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(claim_states(&mut b), ["held"]);
    assert_eq!(balance(&mut b, "alice"), (Sats(96_000), Sats(4_000)));
    balances_agree(&mut b);
    // Coming back is registering again: the tip is theirs.
    let replies = b.say("bob", "register bob");
    assert!(
        replies
            .iter()
            .any(|r| r.contains("You received 0.00004 BTC tipped by alice")),
        "{replies:?}"
    );
    assert_eq!(balance(&mut b, "bob"), (Sats(4_000), Sats(0)));
    assert_eq!(balance(&mut b, "alice"), (Sats(96_000), Sats(0)));
    assert_eq!(claim_states(&mut b), ["claimed"]);
    balances_agree(&mut b);
}

#[test]
fn a_tip_to_someone_without_a_wallet_is_held_until_they_register() {
    let (mut b, alice, _) = alice_and_bob();
    set_limit(&mut b, &alice, 10_000);
    let alice = b.user("alice").unwrap();
    let (outcome, out) = tip(&mut b, &alice, "Caro", "carol", 5_000, Some("welcome"));
    assert!(matches!(outcome, Ok(Tipped::Held { .. })), "{outcome:?}");
    assert_eq!(
        said_to(&out, ROOM, "groupchat"),
        ["Al tipped Caro 0.00005 BTC: «welcome»"]
    );
    let told = said_to(&out, "carol@example.org", "chat");
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].starts_with("Al tipped you 0.00005 BTC in lounge@rooms.example.org"));
    assert_eq!(balance(&mut b, "alice"), (Sats(95_000), Sats(5_000)));
    let shown = b.say("alice", "balance");
    assert!(
        shown[0].contains("0.00005 BTC waits for the claims of tips"),
        "{shown:?}"
    );
    // Alice cannot leave while it waits: the money is still hers.
    let left = b.say("alice", "unregister");
    assert!(b.user("alice").is_some(), "{left:?}");

    let carol = b.register("carol", "carol");
    assert_eq!(balance(&mut b, "carol"), (Sats(5_000), Sats(0)));
    assert_eq!(balance(&mut b, "alice"), (Sats(95_000), Sats(0)));
    let history = b.say("carol", "history");
    assert!(
        history[0].contains("welcome"),
        "the tip's comment: {history:?}"
    );
    assert_eq!(claim_states(&mut b), ["claimed"]);
    // Registering again (a rename) claims nothing twice.
    b.say("carol", "register caroline");
    assert_eq!(
        b.services().wallet.fresh(&carol).unwrap().balance,
        Sats(5_000)
    );
    balances_agree(&mut b);
}

#[test]
fn the_tipper_hears_that_their_held_tip_was_claimed() {
    let (mut b, alice, _) = alice_and_bob();
    set_limit(&mut b, &alice, 10_000);
    let alice = b.user("alice").unwrap();
    tip(&mut b, &alice, "Caro", "carol", 5_000, None).0.unwrap();
    let out = b.send(
        "<message type='chat' from='carol@example.org/phone' to='bitcoin.example.org' \
         id='m'><body>register carol</body></message>",
    );
    let to_alice = said_to(&out, "alice@example.org", "chat");
    assert_eq!(
        to_alice,
        [
            "Caro opened a wallet as carol and received the 0.00005 BTC you tipped them in \
          lounge@rooms.example.org."
        ]
    );
}

#[test]
fn an_unclaimed_tip_goes_back_to_its_tipper_once() {
    let (mut b, alice, _) = alice_and_bob();
    let code = recap_code(tip(&mut b, &alice, "Caro", "carol", 5_000, None).0);
    confirm(&mut b, &alice, &code);
    assert_eq!(balance(&mut b, "alice"), (Sats(95_000), Sats(5_000)));
    // Six days on, it still waits.
    crate::ledger::clock::advance(6 * 86_400);
    b.tick();
    assert_eq!(claim_states(&mut b), ["held"]);
    crate::ledger::clock::advance(86_400);
    let out = b.tick();
    let told = said_to(&out, "alice@example.org", "chat");
    assert!(
        told.iter()
            .any(|t| t.starts_with("Nobody claimed the 0.00005 BTC you tipped Caro")),
        "{told:?}"
    );
    assert_eq!(balance(&mut b, "alice"), (Sats(100_000), Sats(0)));
    let out = b.tick();
    assert!(
        said_to(&out, "alice@example.org", "chat").is_empty(),
        "told once"
    );
    assert_eq!(balance(&mut b, "alice"), (Sats(100_000), Sats(0)));
    // Too late: registering now finds nothing.
    b.register("carol", "carol");
    assert_eq!(balance(&mut b, "carol"), (Sats(0), Sats(0)));
    assert_eq!(claim_states(&mut b), ["returned"]);
    balances_agree(&mut b);
}

#[test]
fn a_recipient_who_registers_before_the_code_is_paid_directly() {
    let (mut b, alice, _) = alice_and_bob();
    let code = recap_code(tip(&mut b, &alice, "Caro", "carol", 5_000, None).0);
    b.register("carol", "carol");
    let (confirmed, _) = confirm(&mut b, &alice, &code);
    assert!(
        matches!(confirmed, Confirmed::Tip(Tipped::Paid { .. })),
        "{confirmed:?}"
    );
    assert_eq!(balance(&mut b, "carol"), (Sats(5_000), Sats(0)));
    assert!(claim_states(&mut b).is_empty());
    balances_agree(&mut b);
}

#[test]
fn a_tip_short_of_funds_at_its_code_moves_nothing_and_still_waits() {
    let (mut b, alice, _) = alice_and_bob();
    let to_bob = recap_code(tip(&mut b, &alice, "Bobby", "bob", 80_000, None).0);
    let to_carol = recap_code(tip(&mut b, &alice, "Caro", "carol", 80_000, None).0);
    let code = b.order("alice", "50000 sat bob");
    b.say("alice", &format!("confirm {code}"));
    for code in [&to_bob, &to_carol] {
        let (confirmed, out) = confirm(&mut b, &alice, code);
        assert!(
            matches!(confirmed, Confirmed::Refused(Refusal::Insufficient { .. })),
            "{confirmed:?}"
        );
        assert!(
            said_to(&out, ROOM, "groupchat").is_empty(),
            "never in the room"
        );
    }
    assert_eq!(balance(&mut b, "alice"), (Sats(50_000), Sats(0)));
    assert_eq!(balance(&mut b, "bob"), (Sats(50_000), Sats(0)));
    assert!(claim_states(&mut b).is_empty());
    let ledger = b.services().wallet.ledger();
    let waiting = ledger.pending_orders(alice.id).unwrap();
    assert_eq!(waiting.len(), 2);
    assert!(waiting.iter().all(|o| o.state == State::Pending));
    balances_agree(&mut b);
}

// A claim and its expiry in the same moment: whichever comes first wins,
// the other moves nothing.
#[test]
fn a_claim_raced_by_its_expiry_has_exactly_one_outcome() {
    for claim_first in [true, false] {
        let (mut b, alice, _) = alice_and_bob();
        set_limit(&mut b, &alice, 10_000);
        let alice = b.user("alice").unwrap();
        tip(&mut b, &alice, "Caro", "carol", 5_000, None).0.unwrap();
        let ledger = b.services().wallet.ledger_mut();
        let claim = ledger
            .held_claims_for("carol@example.org")
            .unwrap()
            .remove(0);
        // Carol's account, made behind the wallet's back (no claim run).
        ledger.execute_sql(
            "INSERT INTO users (jid, username, created_at) VALUES ('carol@example.org', 'carol', 0)",
        );
        let carol = ledger.user_by_jid("carol@example.org").unwrap().unwrap();
        let (first, second) = if claim_first {
            (
                ledger.pay_claim(&claim, carol.id).unwrap(),
                ledger.return_claim(&claim).unwrap(),
            )
        } else {
            (
                ledger.return_claim(&claim).unwrap(),
                ledger.pay_claim(&claim, carol.id).unwrap(),
            )
        };
        assert!(first && !second, "exactly one outcome");
        let carol_has = if claim_first { 5_000 } else { 0 };
        assert_eq!(balance(&mut b, "carol"), (Sats(carol_has), Sats(0)));
        assert_eq!(
            balance(&mut b, "alice"),
            (Sats(100_000 - carol_has), Sats(0))
        );
        balances_agree(&mut b);
    }
}

#[test]
fn tips_that_cannot_be_are_refused_privately_and_move_nothing() {
    let mut b = Bench::with("allowed_domains = example.org");
    let alice = b.register("alice", "alice");
    b.register("bob", "bob");
    b.deposit(&alice, 10_000);
    let alice = b.user("alice").unwrap();
    type Expected = fn(&Refusal) -> bool;
    let cases: [(&str, i64, Expected); 5] = [
        ("alice@example.org", 100, |r| *r == Refusal::ToSelf),
        ("bob@example.org", 0, |r| {
            matches!(r, Refusal::Insufficient { .. })
        }),
        ("bob@example.org", 20_000, |r| {
            matches!(r, Refusal::Insufficient { .. })
        }),
        (
            "eve@elsewhere.net",
            100,
            |r| matches!(r, Refusal::Unclaimable(n) if n == "Someone"),
        ),
        ("rooms.example.org", 100, |r| {
            matches!(r, Refusal::Unclaimable(_))
        }),
    ];
    for (jid, amount, expected) in cases {
        let mut news = Vec::new();
        let place = Tip {
            recipient_jid: jid.to_owned(),
            recipient_nick: "Someone".to_owned(),
            ..place("Al", "x", "x")
        };
        let outcome = tips::tip(
            &mut b.services().wallet,
            &alice,
            &place,
            Sats(amount),
            None,
            &mut news,
        );
        match outcome {
            Err(r) => assert!(expected(&r), "{jid} {amount}: {r:?}"),
            Ok(t) => panic!("{jid} {amount}: {t:?}"),
        }
        assert!(news.is_empty(), "{jid}: {news:?}");
    }
    assert!(b.services().wallet.pending_orders(&alice).is_empty());
    assert_eq!(balance(&mut b, "alice"), (Sats(10_000), Sats(0)));
}

#[test]
fn tips_count_toward_the_pending_order_bound() {
    let mut b = Bench::with("max_pending_orders = 2");
    let alice = b.register("alice", "alice");
    b.deposit(&alice, 10_000);
    let alice = b.user("alice").unwrap();
    for _ in 0..2 {
        recap_code(tip(&mut b, &alice, "Bobby", "bob", 100, None).0);
    }
    let (third, _) = tip(&mut b, &alice, "Bobby", "bob", 100, None);
    assert!(
        matches!(third, Err(Refusal::TooManyPending(2))),
        "{third:?}"
    );
}

#[test]
fn tiplimit_is_set_shown_and_capped_by_the_operator_maximum() {
    let (mut b, _, _) = alice_and_bob();
    assert!(b.say("alice", "tiplimit")[0].starts_with("Every tip asks for a code."));
    assert_eq!(
        b.say("alice", "tiplimit 200000 sat"),
        ["A tip limit can be at most 0.001 BTC here."]
    );
    assert_eq!(b.user("alice").unwrap().tiplimit, Sats(0));
    assert_eq!(
        b.say("alice", "tiplimit 50000 sat"),
        ["Tips up to 0.0005 BTC are now paid at once, without a code."]
    );
    assert!(b.say("alice", "tiplimit")[0].starts_with("Tips up to 0.0005 BTC are paid at once"));
    assert!(b.say("alice", "tiplimit lots")[0].contains("amount"));
    assert_eq!(b.user("alice").unwrap().tiplimit, Sats(50_000));
    // The operator lowers the maximum (SIGHUP): the older, higher limit
    // is capped.
    b.gateway
        .reload(crate::testkit::config("[rooms]\nmax_tiplimit = 1000 sat"));
    assert!(b.say("alice", "tiplimit")[0].contains("allows at most 0.00001 BTC now"));
    let alice = b.user("alice").unwrap();
    let (over, _) = tip(&mut b, &alice, "Bobby", "bob", 2_000, None);
    assert!(matches!(over, Ok(Tipped::Recap(_))), "{over:?}");
    let (under, _) = tip(&mut b, &alice, "Bobby", "bob", 1_000, None);
    assert!(matches!(under, Ok(Tipped::Paid { .. })), "{under:?}");
    assert_eq!(
        b.say("alice", "tiplimit 0"),
        ["Every tip now asks for a code."]
    );
    let alice = b.user("alice").unwrap();
    let (small, _) = tip(&mut b, &alice, "Bobby", "bob", 1, None);
    assert!(matches!(small, Ok(Tipped::Recap(_))), "{small:?}");
    assert_eq!(balance(&mut b, "bob"), (Sats(1_000), Sats(0)));
    balances_agree(&mut b);
}

#[test]
fn a_tip_recap_names_the_nick_and_the_room() {
    let (mut b, alice, _) = alice_and_bob();
    let (outcome, _) = tip(&mut b, &alice, "Bobby", "bob", 2_000, Some("merci"));
    let Ok(tipped) = outcome else { panic!() };
    let text = crate::command::tip_text(b.services(), "en", &tipped);
    assert!(
        text.starts_with("Tip 0.00002 BTC to Bobby in lounge@rooms.example.org «merci»."),
        "{text}"
    );
    assert!(text.contains("confirm "), "{text}");
    let fr = crate::command::tip_text(b.services(), "fr", &tipped);
    assert!(fr.starts_with("Pourboire de 0.00002 BTC à Bobby"), "{fr}");
}

// The audit compares the wallet with what the ledger owes: a held tip is
// owed (to its tipper or its claimant) and still in the wallet.
#[test]
fn the_audit_counts_held_tips_as_owed() {
    let (mut b, alice, _) = alice_and_bob();
    set_limit(&mut b, &alice, 10_000);
    let alice = b.user("alice").unwrap();
    tip(&mut b, &alice, "Caro", "carol", 5_000, None).0.unwrap();
    let report = crate::wallet::audit::report(&mut b.services().wallet).unwrap();
    assert_eq!(report.held, Sats(5_000));
    assert_eq!(report.owed(), Sats(100_000));
    assert!(report.covered());
}

// A held tip is a hold in the ledger, but no withdrawal: it must not use
// up the hourly limit of withdrawals.
#[test]
fn held_tips_do_not_count_as_withdrawals_for_the_hourly_limit() {
    let mut b = Bench::with("max_withdrawals_per_hour = 1");
    let alice = b.register("alice", "alice");
    b.deposit(&alice, 100_000);
    set_limit(&mut b, &alice, 10_000);
    let alice = b.user("alice").unwrap();
    for nick in ["Caro", "Dee"] {
        let local = nick.to_lowercase();
        let (held, _) = tip(&mut b, &alice, nick, &local, 1_000, None);
        assert!(matches!(held, Ok(Tipped::Held { .. })), "{held:?}");
    }
    let address = b.chain.borrow_mut().world_address();
    let code = b.order("alice", &format!("5000 sat {address}"));
    let replies = b.say("alice", &format!("confirm {code}"));
    assert!(
        !replies.iter().any(|r| r.contains("limit")),
        "the withdrawal went: {replies:?}"
    );
    let sent =
        b.services().wallet.ledger().count_rows(
            "/* test */ SELECT count(*) FROM orders WHERE state IN ('sent', 'settled')",
        );
    assert_eq!(sent, 1);
    balances_agree(&mut b);
}

// The room face's one call: the room's line is spoken, the tipper's answer
// returned for a private chat, a refusal never in the room.
#[test]
fn the_command_speaks_the_tip_and_answers_the_tipper_privately() {
    let (mut b, alice, _) = alice_and_bob();
    set_limit(&mut b, &alice, 5_000);
    let alice = b.user("alice").unwrap();
    let mut out = Vec::new();
    let place = place("Al", "Bobby", "bob");
    let text = crate::command::tip(
        b.services(),
        "en",
        &alice,
        &place,
        Sats(1_000),
        None,
        &mut out,
    );
    assert_eq!(
        text,
        "You tipped Bobby 0.00001 BTC in lounge@rooms.example.org. Your balance is 0.00099 BTC."
    );
    assert_eq!(
        said_to(&out, ROOM, "groupchat"),
        ["Al tipped Bobby 0.00001 BTC"]
    );
    let mut out = Vec::new();
    let text = crate::command::tip(
        b.services(),
        "en",
        &alice,
        &place,
        Sats(10_000_000),
        None,
        &mut out,
    );
    assert!(text.starts_with("Not enough funds"), "{text}");
    assert!(
        out.is_empty(),
        "a refusal says nothing to anyone else: {out:?}"
    );
    balances_agree(&mut b);
}
