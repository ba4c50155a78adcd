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
use crate::ledger::orders::{NewOrder, Order, Origin, Recipient, State};
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
/// named `other`. Payments from them are not affected. Blocking declines
/// their requests still waiting too: a block is an answer to all of them.
pub fn set_block(
    wallet: &mut Wallet,
    user: &User,
    other: &str,
    block: bool,
    news: &mut Vec<News>,
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
    if block {
        let waiting = wallet.ledger.pending_orders(user.id).map_err(internal)?;
        for order in waiting
            .iter()
            .filter(|o| o.origin == Origin::Request && o.recipient_id == Some(other.id))
        {
            let cancelled = wallet
                .ledger
                .set_order_state(order.id, State::Pending, State::Cancelled)
                .map_err(internal)?;
            if cancelled {
                declined(wallet, user, order, news);
            }
        }
    }
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
mod tests;
