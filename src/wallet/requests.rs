//! Payment requests: `request <amount> from <user>` asks another user
//! for money; `request <amount>` makes a fresh deposit address whose
//! BIP21 URI carries the amount; `block`/`unblock` refuse or take again
//! a user's requests.
//!
//! A request between users is an order of the payer, made through the
//! order engine of `payments` (same codes, same bound on waiting orders,
//! same expiry), with origin `request` and the requester as recipient:
//! the payer's `confirm` pays it exactly as a `pay` (funds checked then,
//! a requester renamed or gone since is refused), their `cancel`
//! declines it. This module adds what only a request has: the checks
//! before asking (blocks, the requester's own bound) and the news to the
//! requester when it is paid, declined or expires.

use crate::amount::Sats;
use crate::bitcoin::address::Address;
use crate::ledger::deposits::{Change, Report};
use crate::ledger::orders::{NewOrder, Order, Origin, Recipient};
use crate::ledger::User;
use crate::wallet::payments::{self, internal};
use crate::wallet::{accounts, Message, News, Speaker, Wallet};

/// Why a request was not made or a block not changed; nothing was
/// stored.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// No registered user has this name.
    UnknownUser(String),
    /// One cannot ask oneself, or block oneself.
    ToSelf,
    /// The payer refuses requests from the requester.
    Blocked(String),
    /// The payer has `max_pending_orders` orders waiting already.
    PayerBusy(String),
    /// The requester has this many requests waiting already.
    TooManyRequests(usize),
    NodeDown,
    Internal,
}

impl From<payments::Refusal> for Refusal {
    fn from(r: payments::Refusal) -> Refusal {
        match r {
            payments::Refusal::NodeDown => Refusal::NodeDown,
            _ => Refusal::Internal,
        }
    }
}

/// A request made: the payer's order, and the payer.
#[derive(Debug)]
pub struct Asked {
    pub order: Order,
    pub payer: User,
}

/// The registered user named `typed`.
fn user_named(wallet: &Wallet, typed: &str) -> Result<User, Refusal> {
    let name = typed.trim().to_lowercase();
    if !crate::ledger::accounts::is_valid_username(&name) {
        return Err(Refusal::UnknownUser(typed.trim().to_owned()));
    }
    match wallet.ledger.user_by_username(&name) {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(Refusal::UnknownUser(typed.trim().to_owned())),
        Err(e) => Err(internal(e).into()),
    }
}

/// `requester` asks the user named `payer` for `amount`: an order of the
/// payer to pay the requester, waiting for the payer's code. The payer is
/// told on `news`.
///
/// The payer hears it from the requester's user contact rather than from
/// the gateway: in a chat client the request then sits in the chat with
/// that person, next to their payments, and the payer can answer right
/// there (`confirm` and `cancel` work in a user contact's chat).
pub fn ask(
    wallet: &mut Wallet,
    requester: &User,
    payer: &str,
    amount: Sats,
    comment: Option<&str>,
    news: &mut Vec<News>,
) -> Result<Asked, Refusal> {
    let payer = user_named(wallet, payer)?;
    if payer.id == requester.id {
        return Err(Refusal::ToSelf);
    }
    if wallet
        .ledger
        .is_blocked(payer.id, requester.id)
        .map_err(internal)?
    {
        return Err(Refusal::Blocked(payer.username));
    }
    if payments::room_for_order(wallet, &payer).is_err() {
        return Err(Refusal::PayerBusy(payer.username));
    }
    let max = wallet.settings.main.max_pending_orders;
    if wallet
        .ledger
        .requests_waiting_by(requester.id)
        .map_err(internal)?
        >= max
    {
        return Err(Refusal::TooManyRequests(max));
    }
    let code = payments::new_code(wallet)?;
    let order = wallet
        .ledger
        .create_order(&NewOrder {
            user_id: payer.id,
            code: &code,
            recipient_kind: Recipient::User,
            recipient: &requester.username,
            recipient_id: Some(requester.id),
            amount,
            fee_reserve: Sats(0),
            fee_rate: None,
            subtract_fee: false,
            comment,
            nonce: None,
            expires_at: payments::order_expiry(wallet),
            origin: Origin::Request,
            tip: None,
        })
        .map_err(internal)?;
    log::info!(
        "order {}: {} asks {} for {}",
        order.id,
        requester.username,
        payer.username,
        amount
    );
    let minutes = wallet.settings.main.order_expiry.as_secs().div_ceil(60);
    let message = Message::new(if comment.is_some() {
        "request-received-comment"
    } else {
        "request-received"
    })
    .with("requester", &requester.username)
    .with("amount", amount)
    .with("comment", comment.unwrap_or_default())
    .with("code", &code)
    .with("minutes", minutes);
    news.push(News::Tell {
        user: payer.clone(),
        from: Speaker::User(requester.username.clone()),
        message,
        living: None,
    });
    Ok(Asked { order, payer })
}

/// The requester of an order, if it is a request and they still have a
/// wallet.
fn requester_of(wallet: &Wallet, order: &Order) -> Option<User> {
    if order.origin != Origin::Request {
        return None;
    }
    let id = order.recipient_id?;
    wallet
        .ledger
        .user_by_id(id)
        .ok()
        .flatten()
        .filter(|u| !u.removed)
}

/// The news of a request between users that `payer` just paid: the
/// requester hears it from the payer's contact, with their new balance.
pub fn paid(wallet: &Wallet, payer: &User, order: &Order) -> Vec<News> {
    let Some(requester) = requester_of(wallet, order) else {
        return Vec::new();
    };
    let message = Message::new("request-paid")
        .with("payer", &payer.username)
        .with("amount", order.amount)
        .with("balance", requester.balance);
    vec![
        News::Tell {
            user: requester.clone(),
            from: Speaker::User(payer.username.clone()),
            message,
            living: None,
        },
        News::Balance(requester),
    ]
}

/// The news of a request that `payer` declined (cancelled).
pub fn declined(wallet: &Wallet, payer: &User, order: &Order, news: &mut Vec<News>) {
    if let Some(requester) = requester_of(wallet, order) {
        let message = Message::new("request-declined")
            .with("payer", &payer.username)
            .with("amount", order.amount);
        news.push(News::Tell {
            user: requester,
            from: Speaker::User(payer.username.clone()),
            message,
            living: None,
        });
    }
}

/// The news of a request that expired unanswered, for both: the payer
/// reads it as a request (they never made a payment), the requester as
/// an answer that will not come.
pub fn expired(wallet: &Wallet, order: &Order, news: &mut Vec<News>) {
    let Ok(Some(payer)) = wallet.ledger.user_by_id(order.user_id) else {
        return;
    };
    if !payer.removed {
        let message = Message::new("request-expired-payer")
            .with("code", &order.code)
            .with("requester", &order.recipient)
            .with("amount", order.amount);
        news.push(News::tell(&payer, message));
    }
    if let Some(requester) = requester_of(wallet, order) {
        let message = Message::new("request-expired")
            .with("payer", &payer.username)
            .with("amount", order.amount);
        news.push(News::tell(&requester, message));
    }
}

/// The news of requests dropped without an answer from their payer (too
/// many wrong codes cancel the payer's waiting orders), for each
/// requester.
pub fn dropped(wallet: &Wallet, orders: &[Order], news: &mut Vec<News>) {
    for order in orders {
        let Some(requester) = requester_of(wallet, order) else {
            continue;
        };
        let Ok(Some(payer)) = wallet.ledger.user_by_id(order.user_id) else {
            continue;
        };
        let message = Message::new("request-dropped")
            .with("payer", &payer.username)
            .with("amount", order.amount);
        news.push(News::tell(&requester, message));
    }
}

/// `request <amount> [comment]`: a fresh deposit address of `user`,
/// recorded as the request of `amount`; its contact appears (on `news`)
/// as for the `address` command. Nothing is stored when the node is down.
pub fn by_address(
    wallet: &mut Wallet,
    user: &User,
    amount: Sats,
    comment: Option<&str>,
    news: &mut Vec<News>,
) -> Result<Address, Refusal> {
    let Some(address) = accounts::new_address(wallet, user) else {
        return Err(if wallet.node_is_down() {
            Refusal::NodeDown
        } else {
            Refusal::Internal
        });
    };
    news.push(News::NewAddress {
        user: user.clone(),
        address: address.clone(),
    });
    wallet
        .ledger
        .add_address_request(address.as_str(), user.id, amount, comment)
        .map_err(internal)?;
    log::info!("{} requests {} at a fresh address", user.username, amount);
    Ok(address)
}

/// The deposit poller saw `change` of a deposit: if it is the first
/// deposit to an address made for a request, its owner is told that it
/// pays the request (once; later deposits are ordinary).
pub fn on_deposit(wallet: &mut Wallet, report: &Report, change: &Change, news: &mut Vec<News>) {
    if !matches!(
        change,
        Change::Seen | Change::Confirmations(_) | Change::Credited { .. }
    ) {
        return;
    }
    let paid_by = format!("{}:{}", report.txid, report.vout);
    let request = match wallet.ledger.pay_address_request(report.address, &paid_by) {
        Ok(Some(request)) => request,
        Ok(None) => return,
        Err(e) => {
            log::error!("{e}");
            return;
        }
    };
    let Ok(Some(user)) = wallet.ledger.user_by_id(request.user_id) else {
        return;
    };
    let key = match (request.amount == report.amount, request.comment.is_some()) {
        (true, false) => "request-deposit",
        (true, true) => "request-deposit-comment",
        (false, false) => "request-deposit-differs",
        (false, true) => "request-deposit-differs-comment",
    };
    let message = Message::new(key)
        .with("requested", request.amount)
        .with("amount", report.amount)
        .with("comment", request.comment.unwrap_or_default())
        .with("address", report.address);
    let from = match Address::parse(report.address, wallet.node.network()) {
        Ok(a) => Speaker::Address(a),
        Err(_) => Speaker::Gateway,
    };
    news.push(News::Tell {
        user,
        from,
        message,
        living: None,
    });
}

/// Outcome of `block` and `unblock`: the user's name, and whether
/// anything changed.
#[derive(Debug, PartialEq)]
pub struct BlockChange {
    pub username: String,
    pub changed: bool,
}

/// `user` refuses (`block = true`) or takes again requests from the user
/// named `other`. Payments from them are not affected.
pub fn set_block(
    wallet: &mut Wallet,
    user: &User,
    other: &str,
    block: bool,
) -> Result<BlockChange, Refusal> {
    let other = user_named(wallet, other)?;
    if other.id == user.id {
        return Err(Refusal::ToSelf);
    }
    let changed = if block {
        wallet.ledger.block(user.id, other.id)
    } else {
        wallet.ledger.unblock(user.id, other.id)
    }
    .map_err(internal)?;
    Ok(BlockChange {
        username: other.username,
        changed,
    })
}

/// Who `user` refuses requests from, by username.
pub fn blocked(wallet: &Wallet, user: &User) -> Result<Vec<String>, Refusal> {
    Ok(wallet.ledger.blocked_by(user.id).map_err(internal)?)
}

#[cfg(test)]
mod tests {
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
        b.send(&format!(
            "<message type='chat' from='{local}@example.org/phone' to='{to}' id='m'>\
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
                "I asked alice for 0.00001 BTC. You will be told when they pay or decline."
                    .to_owned()
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
            format!("Payment {code} cancelled.")
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
                "I asked alice for 0.00002 BTC. You will be told when they pay or decline."
                    .to_owned()
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
}
