//! Withdrawals, in durable steps (the README's "Your money when the chain
//! does the unexpected" tells operators the same):
//!
//! 1. order stored (`pending`), with its wallet comment: this database's
//!    random id, the order id and a random nonce;
//! 2. code accepted: amount + fee reserve held (`held`, committed);
//! 3. marked `sending` with the node's best block and a fresh address
//!    labelled with the wallet comment (committed);
//! 4. `sendtoaddress` with the wallet comment and the fee rate the recap
//!    showed;
//! 5. txid stored (`sent`, committed), then the fee settled from
//!    `gettransaction` (`settled`): the user is charged at most the
//!    reserve they confirmed.
//!
//! Only a definite refusal from the node (RPC -3, -5, -6, -8, -13: nothing
//! was committed) releases the hold. Any other failure leaves the order
//! `unknown`, holding its funds, until reconciliation finds its comment
//! among every wallet transaction since the block of step 3 (it was sent:
//! settle it) or proves it absent: nothing resembling it there, a block
//! has come since (a call still queued in the node would have run), and
//! the wallet still has the address labelled with the comment that step 3
//! made just before the send (a wallet restored from its seed or from an
//! older backup, or another wallet, does not). Anything short of that
//! proof leaves the order held and tells the admins. Nothing is ever
//! re-sent.

use crate::amount::Sats;
use crate::bitcoin::node::{Category, NodeError, SendError, SendSearch};
use crate::ledger::money::MoneyError;
use crate::ledger::orders::{Order, State};
use crate::ledger::User;
use crate::wallet::{Living, Message, News, Speaker, Wallet};

/// `state` row: a transaction of the wallet this database uses (its first
/// credited deposit or sent withdrawal). A wallet that does not know it is
/// another wallet, or one restored without its history.
pub const WALLET_IDENTITY: &str = "wallet_identity";

/// Records the wallet's identity the first time a transaction of it is
/// known to this database.
pub fn remember_wallet(wallet: &mut Wallet, txid: &str) {
    if let Err(e) = wallet.ledger.set_state_once(WALLET_IDENTITY, txid) {
        log::error!("{e}");
    }
}

/// What the node's wallet is to this database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletIdentity {
    /// It knows the transaction this database recorded: the same wallet.
    Same,
    /// No transaction is recorded yet: nothing to compare.
    NotYetKnown,
    /// It does not know `txid`, which this database recorded.
    Other { txid: String },
}

/// Compares the node's wallet with the one this database has used.
pub fn wallet_identity(wallet: &mut Wallet) -> Result<WalletIdentity, NodeError> {
    let identity = wallet
        .ledger
        .state(WALLET_IDENTITY)
        .map_err(|e| NodeError::Unexpected(e.to_string()))?;
    let Some(txid) = identity else {
        return Ok(WalletIdentity::NotYetKnown);
    };
    Ok(match wallet.node.transaction(&txid)? {
        Some(_) => WalletIdentity::Same,
        None => WalletIdentity::Other { txid },
    })
}

/// Checked once the node answers after start-up: another wallet than the
/// one this database used freezes withdrawals and tells the admins.
/// Returns false while the node cannot say.
pub fn check_wallet_identity(wallet: &mut Wallet, news: &mut Vec<News>) -> bool {
    match wallet_identity(wallet) {
        Ok(WalletIdentity::Same) => {
            log::info!("bitcoind's wallet is the one this database has used");
            true
        }
        Ok(WalletIdentity::NotYetKnown) => true,
        Ok(WalletIdentity::Other { txid }) => {
            log::error!(
                "the node's wallet does not know transaction {txid}, which this database \
                 recorded: another wallet, or one restored without its history; withdrawals \
                 frozen"
            );
            let why = Message::new("frozen-wallet-unknown").with("txid", &txid);
            crate::wallet::audit::freeze(wallet, &why);
            crate::wallet::alert(news, "admin-wallet-unknown", &[("txid", &txid)]);
            true
        }
        Err(NodeError::Down(_)) => false,
        Err(e) => {
            log::warn!("cannot check the wallet's identity: {e}");
            false
        }
    }
}

/// Crash points for the tests: a withdrawal can stop dead between any two
/// of its steps, as when the process is killed there. The integration
/// tests abort the process (`--features fault-injection`, BITCOIM_FAULT);
/// the chain simulator stops the call (`crash::arm`).
#[cfg(feature = "fault-injection")]
fn crashed(step: &str) -> bool {
    if std::env::var("BITCOIM_FAULT").as_deref() == Ok(step) {
        log::error!("fault injection: aborting at {step}");
        std::process::abort();
    }
    false
}

#[cfg(all(test, not(feature = "fault-injection")))]
fn crashed(step: &str) -> bool {
    crash::hit(step)
}

#[cfg(not(any(test, feature = "fault-injection")))]
fn crashed(_: &str) -> bool {
    false
}

#[cfg(test)]
pub mod crash {
    use std::cell::RefCell;

    thread_local! {
        static ARMED: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    /// The next withdrawal stops dead at `step`.
    pub fn arm(step: &str) {
        ARMED.with(|a| *a.borrow_mut() = Some(step.to_owned()));
    }

    pub fn disarm() {
        ARMED.with(|a| *a.borrow_mut() = None);
    }

    pub(super) fn hit(step: &str) -> bool {
        ARMED.with(|a| {
            let mut armed = a.borrow_mut();
            if armed.as_deref() == Some(step) {
                *armed = None;
                true
            } else {
                false
            }
        })
    }
}

/// What confirming a withdrawal did.
#[derive(Debug)]
pub enum Outcome {
    /// Sent; `fee` is what was charged, `None` until the node tells.
    Sent {
        order: Order,
        txid: String,
        fee: Option<Sats>,
    },
    /// The node refused before sending anything; the hold is released.
    Refused {
        order: Order,
        code: i64,
        message: String,
    },
    /// The node did not answer clearly; the funds stay held until
    /// reconciliation tells whether it was sent.
    Unknown(Order),
    /// The node could not be reached: nothing was sent, the hold is
    /// released.
    NodeDown(Order),
    Insufficient {
        balance: Sats,
        needed: Sats,
    },
    Frozen,
    /// The global limit of withdrawals per hour is reached.
    RateLimited,
    AlreadyDone(Order),
    Internal,
    /// The tests' simulated crash between two steps.
    Crashed,
}

/// `state` row: when the admins were last told the hourly limit was hit.
const LIMIT_ALERTED: &str = "withdrawal_limit_alerted";

/// Whether the global hourly limit of withdrawals is reached; the admins
/// are told once an hour while it is.
fn over_hourly_limit(wallet: &mut Wallet, news: &mut Vec<News>) -> bool {
    let limit = i64::from(wallet.settings.main.max_withdrawals_per_hour);
    if limit == 0 {
        return false;
    }
    let now = crate::ledger::now();
    let count = match wallet.ledger.withdrawals_since(now - 3600) {
        Ok(n) => n,
        Err(e) => {
            log::error!("{e}");
            // Unknown: refuse rather than risk a run of withdrawals.
            return true;
        }
    };
    if count < limit {
        return false;
    }
    let alerted: i64 = wallet
        .ledger
        .state(LIMIT_ALERTED)
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if alerted < now - 3600 {
        let _ = wallet.ledger.set_state(LIMIT_ALERTED, &now.to_string());
        let limit = limit.to_string();
        crate::wallet::alert(news, "admin-withdrawal-limit", &[("limit", &limit)]);
    }
    true
}

pub fn execute(wallet: &mut Wallet, order: &Order, news: &mut Vec<News>) -> Outcome {
    if wallet.is_frozen() {
        return Outcome::Frozen;
    }
    if over_hourly_limit(wallet, news) {
        return Outcome::RateLimited;
    }
    match wallet.ledger.hold_withdrawal(order) {
        Ok(true) => {}
        Ok(false) => return Outcome::AlreadyDone(order.clone()),
        Err(MoneyError::Insufficient { balance, needed }) => {
            return Outcome::Insufficient { balance, needed }
        }
        Err(e) => {
            log::error!("order {}: {e:?}", order.id);
            return Outcome::Internal;
        }
    }
    if crashed("held") {
        return Outcome::Crashed;
    }
    // Where reconciliation will start its search, should the reply of
    // sendtoaddress be lost, and a mark in the wallet that a wallet
    // restored from an older state would not have.
    let prepared = wallet.node.best_block().and_then(|best| {
        let marker = wallet.node.mark(&order.comment_in_wallet())?;
        Ok((best, marker))
    });
    let (best, marker) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            log::warn!("order {}: cannot prepare it ({e}); nothing sent", order.id);
            return match wallet.ledger.fail_withdrawal(order, &[State::Held]) {
                Ok(_) => Outcome::NodeDown(order.clone()),
                Err(err) => {
                    log::error!("order {}: cannot release: {err:?}", order.id);
                    Outcome::Internal
                }
            };
        }
    };
    match wallet.ledger.mark_sending(order.id, &best, &marker) {
        Ok(true) => {}
        other => {
            log::error!("order {}: cannot mark it sending: {other:?}", order.id);
            return Outcome::Internal;
        }
    }
    if crashed("sending") {
        return Outcome::Crashed;
    }
    log::info!(
        "order {}: sending {} to {}",
        order.id,
        order.amount,
        order.recipient
    );
    let fee_rate = order
        .fee_rate
        .unwrap_or(wallet.settings.bitcoin.fallback_fee_rate);
    let result = wallet.node.send_to_address(
        &order.recipient,
        order.amount,
        &order.comment_in_wallet(),
        order.subtract_fee,
        fee_rate,
    );
    match result {
        Ok(txid) => {
            if crashed("sent-unrecorded") {
                return Outcome::Crashed;
            }
            if let Err(e) = wallet.ledger.mark_sent(order.id, &txid) {
                // Reconciliation will find the txid by its comment.
                log::error!("order {}: sent as {txid} but not recorded: {e}", order.id);
                return Outcome::Unknown(order.clone());
            }
            log::info!("order {}: sent as {txid}", order.id);
            remember_wallet(wallet, &txid);
            if crashed("sent") {
                return Outcome::Crashed;
            }
            let fee = settle(wallet, order, &txid, news);
            Outcome::Sent {
                order: order.clone(),
                txid,
                fee,
            }
        }
        Err(e @ (SendError::Refused { .. } | SendError::NotSent(_))) => {
            log::warn!("order {}: refused by the node: {e}", order.id);
            match wallet.ledger.fail_withdrawal(order, &[State::Sending]) {
                Ok(_) => match e {
                    SendError::Refused { code, message } => Outcome::Refused {
                        order: order.clone(),
                        code,
                        message,
                    },
                    _ => Outcome::NodeDown(order.clone()),
                },
                Err(err) => {
                    log::error!("order {}: cannot release: {err:?}", order.id);
                    Outcome::Internal
                }
            }
        }
        Err(e) => {
            log::warn!(
                "order {}: outcome unknown ({e}); funds stay held until reconciliation",
                order.id
            );
            let _ = wallet
                .ledger
                .set_order_state(order.id, State::Sending, State::Unknown);
            Outcome::Unknown(order.clone())
        }
    }
}

/// Charges the fee of a sent withdrawal; `None` while the node cannot
/// say (it is retried by [`reconcile`]).
fn settle(wallet: &mut Wallet, order: &Order, txid: &str, news: &mut Vec<News>) -> Option<Sats> {
    let (fee, delivered) = match wallet.node.transaction(txid) {
        Ok(Some(tx)) => {
            // What the recipient got, as the wallet's send entries say.
            let sends: Vec<Sats> = tx
                .details
                .iter()
                .filter(|d| {
                    d.category == Category::Other("send".into()) && d.address == order.recipient
                })
                .filter_map(|d| d.amount.map(|a| Sats(-a.0)))
                .collect();
            // (Saturating: an absurd reply must not panic the daemon.)
            let delivered = (!sends.is_empty())
                .then(|| Sats(sends.iter().fold(0i64, |t, s| t.saturating_add(s.0))));
            (tx.fee?, delivered)
        }
        Ok(None) => {
            log::warn!("order {}: the wallet does not know {txid} yet", order.id);
            return None;
        }
        Err(e) => {
            log::warn!("order {}: fee of {txid} not known yet: {e}", order.id);
            return None;
        }
    };
    match wallet.ledger.settle_withdrawal(order, fee, delivered) {
        Ok(Some(charged)) => {
            if charged < fee {
                let (id, fee_s, charged_s) =
                    (order.id.to_string(), fee.to_string(), charged.to_string());
                crate::wallet::alert(
                    news,
                    "admin-fee-shortfall",
                    &[("order", &id), ("fee", &fee_s), ("charged", &charged_s)],
                );
            }
            Some(charged)
        }
        Ok(None) => None,
        Err(e) => {
            log::error!("order {}: cannot settle: {e:?}", order.id);
            None
        }
    }
}

/// What reconciliation found, for the user's sake.
#[derive(Debug)]
pub enum Reconciled {
    /// It had been sent after all.
    Sent { order: Order, txid: String },
    /// It had not been sent: the hold is released.
    NotSent(Order),
    /// Settled, now that the node told the fee.
    Settled { order: Order, fee: Sats },
}

/// Resolves withdrawals caught mid-flight (at start-up, after a lost
/// reply, when the node comes back), and settles sent ones. An order is
/// looked at only once its last change is older than `grace`, so that a
/// call the node may still be processing is never declared lost.
pub fn reconcile(wallet: &mut Wallet, news: &mut Vec<News>) -> Vec<Reconciled> {
    let grace = 2 * wallet.settings.bitcoin.timeout.as_secs() as i64 + 5;
    let now = crate::ledger::now();
    let mut results = Vec::new();
    let mut orders = Vec::new();
    for state in [State::Held, State::Sending, State::Unknown, State::Sent] {
        match wallet.ledger.orders_in(state) {
            Ok(found) => orders.extend(found),
            Err(e) => {
                log::error!("{e}");
                return results;
            }
        }
    }
    for order in orders {
        match order.state {
            State::Sent => {
                let txid = order.txid.clone().unwrap_or_default();
                if let Some(fee) = settle(wallet, &order, &txid, news) {
                    results.push(Reconciled::Settled { order, fee });
                }
            }
            // Held but never marked sending: sendtoaddress was not called.
            State::Held if order.updated_at + grace <= now => {
                if let Ok(true) = wallet.ledger.fail_withdrawal(&order, &[State::Held]) {
                    log::warn!("order {}: held but never sent; released", order.id);
                    results.push(Reconciled::NotSent(order));
                }
            }
            State::Sending | State::Unknown if order.updated_at + grace <= now => {
                match resolve(wallet, &order) {
                    Ok(Resolution::Sent(txid)) => {
                        log::warn!("order {}: found in the wallet as {txid}", order.id);
                        if let Ok(true) = wallet.ledger.mark_sent(order.id, &txid) {
                            remember_wallet(wallet, &txid);
                            if let Ok(Some(o)) = wallet.ledger.order(order.id) {
                                settle(wallet, &o, &txid, news);
                            }
                            results.push(Reconciled::Sent { order, txid });
                        }
                    }
                    Ok(Resolution::NotSent) => {
                        log::warn!("order {}: certainly not in the wallet; released", order.id);
                        if let Ok(true) = wallet
                            .ledger
                            .fail_withdrawal(&order, &[State::Sending, State::Unknown])
                        {
                            results.push(Reconciled::NotSent(order));
                        }
                    }
                    Ok(Resolution::Doubt(why)) => doubt(wallet, &order, &why, news),
                    Ok(Resolution::Wait) => {}
                    Err(NodeError::Down(_)) => return results,
                    Err(e) => log::error!("order {}: cannot reconcile: {e}", order.id),
                }
            }
            _ => {}
        }
    }
    results
}

/// What the wallet says of a withdrawal in doubt.
enum Resolution {
    Sent(String),
    NotSent,
    Doubt(String),
    /// Not found yet, but no block has come since it was handed over: a
    /// call still queued in the node could run yet.
    Wait,
}

fn resolve(wallet: &mut Wallet, order: &Order) -> Result<Resolution, NodeError> {
    // Step 3 records both together.
    let (Some(since), Some(marker)) = (&order.sent_block, &order.marker) else {
        return Ok(Resolution::Doubt(
            "it was handed to the node by a version that did not record where to search".to_owned(),
        ));
    };
    let comment = order.comment_in_wallet();
    match wallet
        .node
        .search_send(since, &comment, &order.recipient, order.amount)?
    {
        SendSearch::Found(txid) => return Ok(Resolution::Sent(txid)),
        SendSearch::Doubt(why) => return Ok(Resolution::Doubt(why)),
        SendSearch::NotFound => {}
    }
    if wallet.node.best_block()? == *since {
        return Ok(Resolution::Wait);
    }
    // The wallet must be the one the order was handed to, as it was then.
    Ok(
        if wallet.node.addresses_of_label(&comment)?.contains(marker) {
            Resolution::NotSent
        } else {
            Resolution::Doubt(format!(
                "the wallet has lost the address {marker} made just before the order was \
             handed over: it was restored from its seed or an older backup, or it is \
             another wallet"
            ))
        },
    )
}

/// A withdrawal nobody can prove sent or not sent: its funds stay held,
/// and the admins are told once.
fn doubt(wallet: &mut Wallet, order: &Order, why: &str, news: &mut Vec<News>) {
    match wallet.ledger.set_doubt(order.id, why) {
        Ok(true) => {
            log::error!(
                "order {}: cannot tell whether it was sent ({why}); its funds stay held",
                order.id
            );
            let (id, amount) = (order.id.to_string(), order.amount.to_string());
            crate::wallet::alert(
                news,
                "admin-withdrawal-doubt",
                &[
                    ("order", &id),
                    ("amount", &amount),
                    ("recipient", &order.recipient),
                    ("comment", &order.comment_in_wallet()),
                    ("why", why),
                ],
            );
        }
        Ok(false) => {}
        Err(e) => log::error!("{e}"),
    }
}

/// An admin's verdict on a withdrawal in doubt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Sent(String),
    NotSent,
}

/// Why an admin's verdict was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerdictError {
    NotInDoubt,
    UnknownTransaction,
    NodeDown,
    Internal,
}

/// An admin settles a withdrawal that reconciliation could not: sent in a
/// transaction the wallet knows, or not sent (its hold is released).
pub fn resolve_by_admin(
    wallet: &mut Wallet,
    order_id: i64,
    verdict: &Verdict,
) -> Result<Reconciled, VerdictError> {
    let order = match wallet.ledger.order(order_id) {
        Ok(Some(o)) if matches!(o.state, State::Sending | State::Unknown) => o,
        Ok(_) => return Err(VerdictError::NotInDoubt),
        Err(e) => {
            log::error!("{e}");
            return Err(VerdictError::Internal);
        }
    };
    match verdict {
        Verdict::Sent(txid) => {
            match wallet.node.transaction(txid) {
                Ok(Some(_)) => {}
                Ok(None) => return Err(VerdictError::UnknownTransaction),
                Err(NodeError::Down(_)) => return Err(VerdictError::NodeDown),
                Err(e) => {
                    log::error!("{e}");
                    return Err(VerdictError::UnknownTransaction);
                }
            }
            match wallet.ledger.mark_sent(order.id, txid) {
                Ok(true) => {
                    log::warn!("order {}: an admin says it was sent as {txid}", order.id);
                    Ok(Reconciled::Sent {
                        order,
                        txid: txid.clone(),
                    })
                }
                Ok(false) => Err(VerdictError::NotInDoubt),
                Err(e) => {
                    log::error!("{e}");
                    Err(VerdictError::Internal)
                }
            }
        }
        Verdict::NotSent => match wallet
            .ledger
            .fail_withdrawal(&order, &[State::Sending, State::Unknown])
        {
            Ok(true) => {
                log::warn!(
                    "order {}: an admin says it was not sent; released",
                    order.id
                );
                Ok(Reconciled::NotSent(order))
            }
            Ok(false) => Err(VerdictError::NotInDoubt),
            Err(e) => {
                log::error!("{e:?}");
                Err(VerdictError::Internal)
            }
        },
    }
}

/// Tells the owner of a withdrawal its news: the first time as a new
/// message, then as corrections of it (XEP-0308).
pub fn announce(wallet: &mut Wallet, order: &Order, message: Message, news: &mut Vec<News>) {
    let Some(user) = owner(wallet, order) else {
        return;
    };
    let original = wallet
        .ledger
        .order(order.id)
        .ok()
        .flatten()
        .and_then(|o| o.message_id);
    let id = format!("wd-{}-{}", order.id, crate::ledger::now());
    news.push(News::Tell {
        user,
        from: Speaker::Gateway,
        message,
        living: Some(Living {
            id: id.clone(),
            replaces: original.clone(),
        }),
    });
    if original.is_none() {
        if let Err(e) = wallet.ledger.set_order_message(order.id, &id) {
            log::error!("{e}");
        }
    }
}

/// What the recipient of a withdrawal got: the amount, or with `pay all`
/// the amount less the fee.
pub fn net_amount(order: &Order, fee: Option<Sats>) -> Sats {
    match (order.subtract_fee, fee) {
        (true, Some(fee)) => Sats(order.amount.0 - fee.0),
        _ => order.amount,
    }
}

/// The user an order belongs to.
pub fn owner(wallet: &Wallet, order: &Order) -> Option<User> {
    wallet.ledger.user_by_id(order.user_id).ok().flatten()
}

/// After a new block: a sent withdrawal that has not confirmed within
/// `stuck_after_blocks` blocks is reported to the admins, once. It is
/// never refunded automatically: a returned txid is no proof that the
/// mempool accepted the transaction, nor that it will not confirm later.
pub fn watch_unconfirmed(wallet: &mut Wallet, news: &mut Vec<News>) {
    let limit = wallet.settings.bitcoin.stuck_after_blocks;
    let orders = match wallet.ledger.unconfirmed_withdrawals() {
        Ok(o) => o,
        Err(e) => {
            log::error!("{e}");
            return;
        }
    };
    for order in orders {
        let Some(txid) = order.txid.clone() else {
            continue;
        };
        let required = wallet.settings.bitcoin.confirmations;
        match wallet.node.transaction(&txid) {
            Ok(Some(tx)) if tx.confirmations > 0 => {
                let confirmations = tx.confirmations;
                let fee = order.fee.or(tx.fee).unwrap_or_default();
                let done = confirmations >= required;
                let message = Message::new(if done {
                    "withdraw-confirmed"
                } else {
                    "withdraw-confirming"
                })
                .with("amount", net_amount(&order, Some(fee)))
                .with("recipient", &order.recipient)
                .with("txid", &txid)
                .with("fee", fee)
                .with("confirmations", confirmations)
                .with("required", required);
                announce(wallet, &order, message, news);
                if done {
                    if let Err(e) = wallet.ledger.mark_confirmed(order.id) {
                        log::error!("{e}");
                    }
                }
            }
            Ok(_) => match wallet.ledger.block_without_confirmation(order.id, limit) {
                Ok(true) => {
                    let (id, blocks) = (order.id.to_string(), limit.to_string());
                    crate::wallet::alert(
                        news,
                        "admin-withdrawal-stuck",
                        &[("order", &id), ("txid", &txid), ("blocks", &blocks)],
                    );
                }
                Ok(false) => {}
                Err(e) => log::error!("{e}"),
            },
            Err(NodeError::Down(_)) => return,
            Err(e) => log::warn!("order {}: {e}", order.id),
        }
    }
}
