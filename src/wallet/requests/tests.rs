//! Requests as users live them, through the chat face of a whole
//! gateway over the simulated node (`testkit::Bench`): paid, declined,
//! expired, blocked, bounded on both sides, refused at confirm time, and
//! the payment links whose first deposit pays them.

use crate::bitcoin::sim::Fault;
use crate::ledger::orders::State;
use crate::testkit::{code_in, xml, Bench, GATEWAY};
use crate::xmpp::{ns, Element};

const BTC: i64 = 100_000_000;
const ALICE_CONTACT: &str = "alice@bitcoin.example.org";
const BOB_CONTACT: &str = "bob@bitcoin.example.org";

/// The bodies of the messages to `local@example.org`, with who said
/// each.
fn told(out: &[Element], local: &str) -> Vec<(String, String)> {
    let jid = format!("{local}@example.org");
    out.iter()
        .filter(|e| e.name == "message")
        .filter(|e| {
            e.get_attr("to")
                .is_some_and(|to| to == jid || to.starts_with(&format!("{jid}/")))
        })
        .filter_map(|m| {
            let body = m.get_child("body", ns::COMPONENT)?.text_content();
            Some((m.get_attr("from").unwrap_or_default().to_owned(), body))
        })
        .collect()
}

/// `local` chats `body` to `to`; everything sent back.
fn chat(b: &mut Bench, local: &str, to: &str, body: &str) -> Vec<Element> {
    let id = b.message_id();
    b.send(&format!(
        "<message type='chat' from='{local}@example.org/phone' to='{to}' id='{id}'>\
         <body>{body}</body></message>"
    ))
}

/// alice with 1 BTC, bob and carol with nothing.
fn three() -> Bench {
    three_with("")
}

fn three_with(extra: &str) -> Bench {
    let mut b = Bench::with(extra);
    let alice = b.register("alice", "alice");
    b.register("bob", "bob");
    b.register("carol", "carol");
    b.deposit(&alice, BTC);
    b
}

fn balances(b: &mut Bench) -> (i64, i64) {
    (
        b.user("alice").unwrap().balance.0,
        b.user("bob").unwrap().balance.0,
    )
}

/// bob asks alice for 1000 sat: the code alice is given.
fn bob_asks_alice(b: &mut Bench) -> String {
    let out = chat(b, "bob", GATEWAY, "request 1000 sat from alice lunch");
    let to_alice = told(&out, "alice");
    assert_eq!(to_alice.len(), 1, "{:?}", xml(&out));
    code_in(&to_alice[0].1)
}

fn requests_stored(b: &mut Bench) -> i64 {
    b.services()
        .wallet
        .ledger()
        .count_rows("/* test */ SELECT count(*) FROM orders WHERE origin = 'request'")
}

#[test]
fn a_request_reaches_the_payer_from_the_requesters_contact_and_is_paid_once() {
    let mut b = three();
    let out = chat(&mut b, "bob", GATEWAY, "request 1000 sat from alice lunch");
    assert_eq!(
        told(&out, "bob"),
        [(
            GATEWAY.to_owned(),
            "I asked alice for 0.00001 BTC. You will be told when they pay or decline.".to_owned()
        )]
    );
    let to_alice = told(&out, "alice");
    assert_eq!(to_alice.len(), 1);
    assert_eq!(to_alice[0].0, BOB_CONTACT);
    let code = code_in(&to_alice[0].1);
    assert_eq!(
        to_alice[0].1,
        format!(
            "bob asks you for 0.00001 BTC: «lunch».\nTo pay: confirm {code}\n\
             To decline: cancel {code}\nThe request expires in 10 minutes."
        )
    );
    // alice answers in bob's chat, where the request came.
    let out = chat(&mut b, "alice", BOB_CONTACT, &format!("confirm {code}"));
    assert_eq!(
        told(&out, "alice")[0].1,
        "Paid 0.00001 BTC to bob. Your balance is 0.99999 BTC."
    );
    assert_eq!(
        told(&out, "bob"),
        [(
            ALICE_CONTACT.to_owned(),
            "alice paid your request of 0.00001 BTC. Your balance is 0.00001 BTC.".to_owned()
        )]
    );
    assert_eq!(balances(&mut b), (BTC - 1000, 1000));
    // A replayed code pays nothing more and tells bob nothing.
    let out = chat(&mut b, "alice", GATEWAY, &format!("confirm {code}"));
    assert!(told(&out, "bob").is_empty());
    assert_eq!(
        told(&out, "alice")[0].1,
        "This payment was already carried out: nothing more was paid."
    );
    assert_eq!(balances(&mut b), (BTC - 1000, 1000));
}

#[test]
fn a_declined_request_moves_nothing_and_tells_the_requester() {
    let mut b = three();
    let code = bob_asks_alice(&mut b);
    let out = chat(&mut b, "alice", GATEWAY, &format!("cancel {code}"));
    assert_eq!(
        told(&out, "alice")[0].1,
        format!("You declined the request {code} from bob; they are told.")
    );
    assert_eq!(
        told(&out, "bob"),
        [(
            ALICE_CONTACT.to_owned(),
            "alice declined your request of 0.00001 BTC.".to_owned()
        )]
    );
    let out = chat(&mut b, "alice", GATEWAY, &format!("confirm {code}"));
    assert!(told(&out, "bob").is_empty());
    assert_eq!(balances(&mut b), (BTC, 0));
}

#[test]
fn an_expired_request_tells_both() {
    let mut b = three();
    let code = bob_asks_alice(&mut b);
    crate::ledger::clock::advance(600);
    let out = b.tick();
    assert_eq!(
        told(&out, "bob"),
        [(
            GATEWAY.to_owned(),
            "Your request of 0.00001 BTC to alice expired without an answer.".to_owned()
        )]
    );
    assert_eq!(
        told(&out, "alice")[0].1,
        format!("The request {code} from bob (0.00001 BTC) expired unanswered.")
    );
    let out = chat(&mut b, "alice", GATEWAY, &format!("confirm {code}"));
    assert!(told(&out, "bob").is_empty());
    assert_eq!(balances(&mut b), (BTC, 0));
}

#[test]
fn a_request_dropped_by_the_payers_wrong_codes_tells_the_requester() {
    let mut b = three();
    let code = bob_asks_alice(&mut b);
    let mut heard = Vec::new();
    for _ in 0..3 {
        let out = chat(&mut b, "alice", GATEWAY, "confirm zzzzzz");
        heard.extend(told(&out, "bob"));
    }
    assert_eq!(
        heard,
        [(
            GATEWAY.to_owned(),
            "Your request of 0.00001 BTC to alice was dropped without being paid.".to_owned()
        )]
    );
    let out = chat(&mut b, "alice", GATEWAY, &format!("confirm {code}"));
    assert!(told(&out, "bob").is_empty());
    assert_eq!(balances(&mut b), (BTC, 0));
}

#[test]
fn a_blocked_requester_is_refused_and_nothing_is_stored_but_payments_pass() {
    let mut b = three();
    assert_eq!(
        b.say("alice", "block bob"),
        ["You no longer take requests from bob. Their payments still reach you."]
    );
    assert_eq!(
        b.say("alice", "block Bob"),
        ["You already refuse requests from bob."]
    );
    assert_eq!(b.say("alice", "block"), ["You refuse requests from: bob"]);
    let out = chat(&mut b, "bob", GATEWAY, "request 1000 sat from alice");
    assert_eq!(
        told(&out, "bob")[0].1,
        "alice does not take requests from you."
    );
    assert!(told(&out, "alice").is_empty(), "{:?}", xml(&out));
    assert_eq!(requests_stored(&mut b), 0);
    // Blocking is about requests: bob's payments still reach alice.
    let bob = b.user("bob").unwrap();
    b.deposit(&bob, 5000);
    let code = b.order("bob", "1000 sat alice");
    let replies = b.say("bob", &format!("confirm {code}"));
    assert!(
        replies.contains(&"Paid 0.00001 BTC to alice. Your balance is 0.00004 BTC.".into()),
        "{replies:?}"
    );
    // Unblocked, bob can ask again.
    assert_eq!(
        b.say("alice", "unblock bob"),
        ["You take requests from bob again."]
    );
    assert_eq!(
        b.say("alice", "unblock bob"),
        ["You did not refuse requests from bob."]
    );
    bob_asks_alice(&mut b);
    assert_eq!(requests_stored(&mut b), 1);
}

/// Review of issue 13: a block answers the requests already waiting.
#[test]
fn blocking_declines_the_requests_already_waiting() {
    let mut b = three();
    let code = bob_asks_alice(&mut b);
    let out = chat(&mut b, "alice", GATEWAY, "block bob");
    assert_eq!(
        told(&out, "bob"),
        [(
            ALICE_CONTACT.to_owned(),
            "alice declined your request of 0.00001 BTC.".to_owned()
        )]
    );
    let alice = b.user("alice").unwrap();
    assert!(b.services().wallet.pending_orders(&alice).is_empty());
    let replies = b.say("alice", &format!("confirm {code}"));
    assert!(
        !replies.iter().any(|r| r.starts_with("Paid")),
        "{replies:?}"
    );
    assert_eq!(balances(&mut b), (BTC, 0));
}

#[test]
fn blocks_say_what_is_wrong_with_the_name() {
    let mut b = three();
    assert_eq!(
        b.say("alice", "block"),
        ["You take requests from everyone. To refuse a user's: block <username>"]
    );
    assert_eq!(
        b.say("alice", "block alice"),
        ["You cannot block yourself."]
    );
    assert_eq!(
        b.say("alice", "block zed"),
        ["zed is not a registered user."]
    );
    assert_eq!(
        b.say("alice", "unblock"),
        ["Whose requests to take again: unblock <username>"]
    );
}

#[test]
fn a_payer_at_the_bound_of_waiting_orders_is_not_asked() {
    let mut b = three_with("max_pending_orders = 2");
    b.order("alice", "1000 sat carol");
    bob_asks_alice(&mut b);
    // Two waiting: a payment and a request, both alice's.
    let out = chat(&mut b, "carol", GATEWAY, "request 1000 sat from alice");
    assert_eq!(
        told(&out, "carol")[0].1,
        "alice already has too many payments waiting; ask again later."
    );
    assert!(told(&out, "alice").is_empty());
    assert_eq!(requests_stored(&mut b), 1);
    // And alice's own pay is refused too: requests count.
    assert_eq!(
        b.say("alice", "pay 1000 sat bob"),
        ["You already have 2 payments waiting: confirm or cancel one first."]
    );
}

#[test]
fn a_requester_cannot_flood_people_with_requests() {
    let mut b = three_with("max_pending_orders = 2");
    b.register("dave", "dave");
    for payer in ["alice", "carol"] {
        let out = chat(
            &mut b,
            "bob",
            GATEWAY,
            &format!("request 1 sat from {payer}"),
        );
        assert_eq!(told(&out, payer).len(), 1);
    }
    let out = chat(&mut b, "bob", GATEWAY, "request 1 sat from dave");
    assert_eq!(
        told(&out, "bob")[0].1,
        "You already have 2 requests waiting for an answer: wait until one is paid, \
         declined or expired."
    );
    assert!(told(&out, "dave").is_empty());
    assert_eq!(requests_stored(&mut b), 2);
}

#[test]
fn a_requester_renamed_before_the_confirmation_is_not_paid() {
    let mut b = three();
    let code = bob_asks_alice(&mut b);
    b.say("bob", "register robert");
    let out = chat(&mut b, "alice", GATEWAY, &format!("confirm {code}"));
    assert!(
        told(&out, "alice")[0].1.contains("bob"),
        "{:?}",
        told(&out, "alice")
    );
    assert!(told(&out, "bob").is_empty());
    assert_eq!(balances(&mut b), (BTC, 0));
    let alice = b.user("alice").unwrap();
    let order = b
        .services()
        .wallet
        .ledger()
        .order_by_code(alice.id, &code)
        .unwrap()
        .unwrap();
    assert_eq!(order.state, State::Pending);
}

#[test]
fn a_payer_short_of_funds_keeps_the_request_waiting_and_the_requester_hears_nothing() {
    let mut b = three();
    let out = chat(&mut b, "bob", GATEWAY, "request 0.5 from carol");
    let code = code_in(&told(&out, "carol")[0].1);
    let out = chat(&mut b, "carol", GATEWAY, &format!("confirm {code}"));
    assert!(
        told(&out, "carol")[0].1.starts_with("Not enough funds"),
        "{:?}",
        told(&out, "carol")
    );
    assert!(told(&out, "bob").is_empty());
    // Funded, carol pays the same request.
    let carol = b.user("carol").unwrap();
    b.deposit(&carol, BTC);
    let out = chat(&mut b, "carol", GATEWAY, &format!("confirm {code}"));
    assert_eq!(
        told(&out, "bob")[0].1,
        "carol paid your request of 0.5 BTC. Your balance is 0.5 BTC."
    );
}

#[test]
fn bad_requests_say_why_and_store_nothing() {
    let mut b = three();
    for (typed, answer) in [
        ("request 1000 sat from zed", "zed is not a registered user."),
        (
            "request 1000 sat from bob",
            "You cannot ask yourself for money.",
        ),
        ("request 0 from alice", "An amount must be more than zero."),
        (
            "request all from alice",
            "Ask a user: request <amount> from <username> [comment]\n\
             Or get a payment link: request <amount> [comment]",
        ),
        (
            "request",
            "Ask a user: request <amount> from <username> [comment]\n\
             Or get a payment link: request <amount> [comment]",
        ),
        (
            "request 5 from",
            "Ask a user: request <amount> from <username> [comment]\n\
             Or get a payment link: request <amount> [comment]",
        ),
    ] {
        let replies = b.say("bob", typed);
        assert!(replies[0].starts_with(answer), "{typed}: {replies:?}");
    }
    assert_eq!(requests_stored(&mut b), 0);
}

#[test]
fn a_user_contact_takes_a_request_from_that_contact() {
    let mut b = three();
    let out = chat(&mut b, "bob", ALICE_CONTACT, "request 2000 sat");
    assert_eq!(
        told(&out, "bob"),
        [(
            ALICE_CONTACT.to_owned(),
            "I asked alice for 0.00002 BTC. You will be told when they pay or decline.".to_owned()
        )]
    );
    assert!(told(&out, "alice")[0]
        .1
        .starts_with("bob asks you for 0.00002 BTC.\n"));
}

#[test]
fn a_request_by_address_gives_a_fresh_address_whose_first_deposit_pays_it() {
    let mut b = three();
    let bob = b.user("bob").unwrap();
    let before = b.addresses(&bob);
    let out = chat(&mut b, "bob", GATEWAY, "request 5000 sat for the rent");
    let after = b.addresses(&bob);
    assert_eq!(after.len(), before.len() + 1, "a fresh address");
    let address = after.last().unwrap().clone();
    let replies = told(&out, "bob");
    let reply = &replies.last().unwrap().1;
    assert_eq!(
        *reply,
        format!(
            "Your payment link, to a fresh deposit address ({address}, now in your \
             contacts):\nbitcoin:{address}?amount=0.00005&label=bob&message=for%20the%20rent\n\
             The first deposit to it is announced as paying this request."
        )
    );
    // Its contact asks to be in bob's roster, as for `address`.
    assert!(
        out.iter().any(|e| e.name == "presence"
            && e.get_attr("type") == Some("subscribe")
            && e.get_attr("from") == Some(crate::testkit::contact(&address).as_str())),
        "{:?}",
        xml(&out)
    );
    // The world pays less than asked.
    b.chain
        .borrow_mut()
        .pay_from_world(vec![(address.clone(), 4000)]);
    b.chain.borrow_mut().mine_mempool();
    let out = b.tick();
    let request_lines: Vec<String> = told(&out, "bob")
        .into_iter()
        .map(|(_, body)| body)
        .filter(|body| body.contains("request"))
        .collect();
    assert_eq!(
        request_lines,
        [format!(
            "A deposit of 0.00004 BTC came to {address}, for your request of \
             0.00005 BTC «for the rent»."
        )]
    );
    // A second deposit is an ordinary one.
    b.chain.borrow_mut().pay_from_world(vec![(address, 1000)]);
    b.chain.borrow_mut().mine_mempool();
    let out = b.tick();
    assert!(
        !told(&out, "bob")
            .iter()
            .any(|(_, body)| body.contains("request")),
        "{:?}",
        told(&out, "bob")
    );
    assert_eq!(b.user("bob").unwrap().balance.0, 5000);
}

#[test]
fn a_request_by_address_paid_exactly_says_so() {
    let mut b = three();
    let out = chat(&mut b, "bob", GATEWAY, "request 5000 sat");
    assert!(told(&out, "bob")
        .last()
        .unwrap()
        .1
        .contains("?amount=0.00005&label=bob\n"));
    let bob = b.user("bob").unwrap();
    let address = b.addresses(&bob).last().unwrap().clone();
    b.chain
        .borrow_mut()
        .pay_from_world(vec![(address.clone(), 5000)]);
    b.chain.borrow_mut().mine_mempool();
    let out = b.tick();
    assert!(
        told(&out, "bob").contains(&(
            crate::testkit::contact(&address),
            format!("The deposit of 0.00005 BTC to {address} pays your request.")
        )),
        "{:?}",
        told(&out, "bob")
    );
}

#[test]
fn a_request_by_address_while_the_node_is_down_stores_nothing() {
    let mut b = three();
    let bob = b.user("bob").unwrap();
    let before = b.addresses(&bob);
    b.chain.borrow_mut().fail_next(None, Fault::Down);
    assert_eq!(
        b.say("bob", "request 5000 sat"),
        ["The Bitcoin node is unreachable right now; this needs it. Try again in a moment."]
    );
    assert_eq!(b.addresses(&bob), before);
    let stored = b
        .services()
        .wallet
        .ledger()
        .count_rows("/* test */ SELECT count(*) FROM address_requests");
    assert_eq!(stored, 0);
}

#[test]
fn requests_speak_french_too() {
    let mut b = three();
    b.say("bob", "language fr");
    b.say("alice", "language fr");
    let out = chat(&mut b, "bob", GATEWAY, "demander 1000 sat à alice");
    assert_eq!(
        told(&out, "bob")[0].1,
        "J'ai demandé 0.00001 BTC à alice. Vous serez prévenu quand il paiera ou refusera."
    );
    let code = code_in(&told(&out, "alice")[0].1);
    let out = chat(&mut b, "alice", GATEWAY, &format!("annuler {code}"));
    assert_eq!(
        told(&out, "bob")[0].1,
        "alice a refusé votre demande de 0.00001 BTC."
    );
}
