//! Withdrawals, following the spec's durable steps to the letter:
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
use crate::bitcoin::node::{Category, Node, NodeError, SendSearch};
use crate::gateway::Gateway;
use crate::ledger::money::MoneyError;
use crate::ledger::orders::{Order, State};
use crate::ledger::User;
use crate::xmpp::Element;

/// `state` row: a transaction of the wallet this database uses (its first
/// credited deposit or sent withdrawal). A wallet that does not know it is
/// another wallet, or one restored without its history.
pub const WALLET_IDENTITY: &str = "wallet_identity";

/// Records the wallet's identity the first time a transaction of it is
/// known to this database.
pub fn remember_wallet(gateway: &mut Gateway, txid: &str) {
    if let Err(e) = gateway.ledger.set_state_once(WALLET_IDENTITY, txid) {
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
    /// It does not know that transaction.
    Other(String),
}

/// Compares the node's wallet with the one this database has used.
pub fn wallet_identity(gateway: &mut Gateway) -> Result<WalletIdentity, NodeError> {
    let identity = gateway
        .ledger
        .state(WALLET_IDENTITY)
        .map_err(|e| NodeError::Unexpected(e.to_string()))?;
    let Some(txid) = identity else {
        return Ok(WalletIdentity::NotYetKnown);
    };
    Ok(match gateway.node.transaction(&txid)? {
        Some(_) => WalletIdentity::Same,
        None => WalletIdentity::Other(format!(
            "the wallet does not know transaction {txid}, which this database recorded: \
             it is another wallet, or one restored without its history"
        )),
    })
}

/// Checked once the node answers after start-up: another wallet than the
/// one this database used freezes withdrawals and tells the admins.
/// Returns false while the node cannot say.
pub fn check_wallet_identity(gateway: &mut Gateway, out: &mut Vec<Element>) -> bool {
    match wallet_identity(gateway) {
        Ok(WalletIdentity::Same) => {
            log::info!("bitcoind's wallet is the one this database has used");
            true
        }
        Ok(WalletIdentity::NotYetKnown) => true,
        Ok(WalletIdentity::Other(why)) => {
            log::error!("{why}; withdrawals frozen");
            if !gateway.is_frozen() {
                if let Err(e) = gateway.ledger.set_state(crate::wallet::audit::FROZEN, &why) {
                    log::error!("cannot freeze withdrawals: {e}");
                }
            }
            crate::wallet::alert_admins(gateway, "admin-wallet-unknown", &[("why", &why)], out);
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
fn over_hourly_limit(gateway: &mut Gateway, out: &mut Vec<Element>) -> bool {
    let limit = i64::from(gateway.config.main.max_withdrawals_per_hour);
    if limit == 0 {
        return false;
    }
    let now = crate::ledger::now();
    let count = match gateway.ledger.withdrawals_since(now - 3600) {
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
    let alerted: i64 = gateway
        .ledger
        .state(LIMIT_ALERTED)
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if alerted < now - 3600 {
        let _ = gateway.ledger.set_state(LIMIT_ALERTED, &now.to_string());
        let limit = limit.to_string();
        crate::wallet::alert_admins(gateway, "admin-withdrawal-limit", &[("limit", &limit)], out);
    }
    true
}

pub fn execute(gateway: &mut Gateway, order: &Order, out: &mut Vec<Element>) -> Outcome {
    if gateway.is_frozen() {
        return Outcome::Frozen;
    }
    if over_hourly_limit(gateway, out) {
        return Outcome::RateLimited;
    }
    match gateway.ledger.hold_withdrawal(order) {
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
    let prepared = gateway.node.best_block().and_then(|best| {
        let marker = gateway.node.mark(&order.comment_in_wallet())?;
        Ok((best, marker))
    });
    let (best, marker) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            log::warn!("order {}: cannot prepare it ({e}); nothing sent", order.id);
            return match gateway.ledger.fail_withdrawal(order, &[State::Held]) {
                Ok(_) => Outcome::NodeDown(order.clone()),
                Err(err) => {
                    log::error!("order {}: cannot release: {err:?}", order.id);
                    Outcome::Internal
                }
            };
        }
    };
    match gateway.ledger.mark_sending(order.id, &best, &marker) {
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
        .unwrap_or(gateway.config.bitcoin.fallback_fee_rate);
    let result = gateway.node.send_to_address(
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
            if let Err(e) = gateway.ledger.mark_sent(order.id, &txid) {
                // Reconciliation will find the txid by its comment.
                log::error!("order {}: sent as {txid} but not recorded: {e}", order.id);
                return Outcome::Unknown(order.clone());
            }
            log::info!("order {}: sent as {txid}", order.id);
            remember_wallet(gateway, &txid);
            if crashed("sent") {
                return Outcome::Crashed;
            }
            let fee = settle(gateway, order, &txid, out);
            Outcome::Sent {
                order: order.clone(),
                txid,
                fee,
            }
        }
        Err(e) if Node::is_definite_refusal(&e) => {
            log::warn!("order {}: refused by the node: {e}", order.id);
            match gateway.ledger.fail_withdrawal(order, &[State::Sending]) {
                Ok(_) => match &e.error {
                    crate::bitcoin::rpc::RpcError::Rpc { code, message } => Outcome::Refused {
                        order: order.clone(),
                        code: *code,
                        message: message.clone(),
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
            let _ = gateway
                .ledger
                .set_order_state(order.id, State::Sending, State::Unknown);
            Outcome::Unknown(order.clone())
        }
    }
}

/// Charges the fee of a sent withdrawal; `None` while the node cannot
/// say (it is retried by [`reconcile`]).
fn settle(
    gateway: &mut Gateway,
    order: &Order,
    txid: &str,
    out: &mut Vec<Element>,
) -> Option<Sats> {
    let (fee, delivered) = match gateway.node.transaction(txid) {
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
    match gateway.ledger.settle_withdrawal(order, fee, delivered) {
        Ok(Some(charged)) => {
            if charged < fee {
                let (id, fee_s, charged_s) =
                    (order.id.to_string(), fee.to_string(), charged.to_string());
                crate::wallet::alert_admins(
                    gateway,
                    "admin-fee-shortfall",
                    &[("order", &id), ("fee", &fee_s), ("charged", &charged_s)],
                    out,
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
pub fn reconcile(gateway: &mut Gateway, out: &mut Vec<Element>) -> Vec<Reconciled> {
    let grace = 2 * gateway.config.bitcoin.timeout.as_secs() as i64 + 5;
    let now = crate::ledger::now();
    let mut results = Vec::new();
    let mut orders = Vec::new();
    for state in [State::Held, State::Sending, State::Unknown, State::Sent] {
        match gateway.ledger.orders_in(state) {
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
                if let Some(fee) = settle(gateway, &order, &txid, out) {
                    results.push(Reconciled::Settled { order, fee });
                }
            }
            // Held but never marked sending: sendtoaddress was not called.
            State::Held if order.updated_at + grace <= now => {
                if let Ok(true) = gateway.ledger.fail_withdrawal(&order, &[State::Held]) {
                    log::warn!("order {}: held but never sent; released", order.id);
                    results.push(Reconciled::NotSent(order));
                }
            }
            State::Sending | State::Unknown if order.updated_at + grace <= now => {
                match resolve(gateway, &order) {
                    Ok(Resolution::Sent(txid)) => {
                        log::warn!("order {}: found in the wallet as {txid}", order.id);
                        if let Ok(true) = gateway.ledger.mark_sent(order.id, &txid) {
                            remember_wallet(gateway, &txid);
                            if let Ok(Some(o)) = gateway.ledger.order(order.id) {
                                settle(gateway, &o, &txid, out);
                            }
                            results.push(Reconciled::Sent { order, txid });
                        }
                    }
                    Ok(Resolution::NotSent) => {
                        log::warn!("order {}: certainly not in the wallet; released", order.id);
                        if let Ok(true) = gateway
                            .ledger
                            .fail_withdrawal(&order, &[State::Sending, State::Unknown])
                        {
                            results.push(Reconciled::NotSent(order));
                        }
                    }
                    Ok(Resolution::Doubt(why)) => doubt(gateway, &order, &why, out),
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

fn resolve(gateway: &mut Gateway, order: &Order) -> Result<Resolution, NodeError> {
    // Step 3 records both together.
    let (Some(since), Some(marker)) = (&order.sent_block, &order.marker) else {
        return Ok(Resolution::Doubt(
            "it was handed to the node by a version that did not record where to search".to_owned(),
        ));
    };
    let comment = order.comment_in_wallet();
    match gateway
        .node
        .search_send(since, &comment, &order.recipient, order.amount)?
    {
        SendSearch::Found(txid) => return Ok(Resolution::Sent(txid)),
        SendSearch::Doubt(why) => return Ok(Resolution::Doubt(why)),
        SendSearch::NotFound => {}
    }
    if gateway.node.best_block()? == *since {
        return Ok(Resolution::Wait);
    }
    // The wallet must be the one the order was handed to, as it was then.
    Ok(
        if gateway.node.addresses_of_label(&comment)?.contains(marker) {
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
fn doubt(gateway: &mut Gateway, order: &Order, why: &str, out: &mut Vec<Element>) {
    match gateway.ledger.set_doubt(order.id, why) {
        Ok(true) => {
            log::error!(
                "order {}: cannot tell whether it was sent ({why}); its funds stay held",
                order.id
            );
            let (id, amount) = (order.id.to_string(), order.amount.to_string());
            crate::wallet::alert_admins(
                gateway,
                "admin-withdrawal-doubt",
                &[
                    ("order", &id),
                    ("amount", &amount),
                    ("recipient", &order.recipient),
                    ("comment", &order.comment_in_wallet()),
                    ("why", why),
                ],
                out,
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
    gateway: &mut Gateway,
    order_id: i64,
    verdict: &Verdict,
) -> Result<Reconciled, VerdictError> {
    let order = match gateway.ledger.order(order_id) {
        Ok(Some(o)) if matches!(o.state, State::Sending | State::Unknown) => o,
        Ok(_) => return Err(VerdictError::NotInDoubt),
        Err(e) => {
            log::error!("{e}");
            return Err(VerdictError::Internal);
        }
    };
    match verdict {
        Verdict::Sent(txid) => {
            match gateway.node.transaction(txid) {
                Ok(Some(_)) => {}
                Ok(None) => return Err(VerdictError::UnknownTransaction),
                Err(NodeError::Down(_)) => return Err(VerdictError::NodeDown),
                Err(e) => {
                    log::error!("{e}");
                    return Err(VerdictError::UnknownTransaction);
                }
            }
            match gateway.ledger.mark_sent(order.id, txid) {
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
        Verdict::NotSent => match gateway
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
pub fn announce(gateway: &mut Gateway, order: &Order, text: &str, out: &mut Vec<Element>) {
    let Some(user) = owner(gateway, order) else {
        return;
    };
    let original = gateway
        .ledger
        .order(order.id)
        .ok()
        .flatten()
        .and_then(|o| o.message_id);
    let id = format!("wd-{}-{}", order.id, crate::ledger::now());
    out.push(crate::wallet::deposits::living_message(
        &gateway.jid,
        &user.jid,
        &id,
        original.as_deref(),
        text,
    ));
    if original.is_none() {
        if let Err(e) = gateway.ledger.set_order_message(order.id, &id) {
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
pub fn owner(gateway: &Gateway, order: &Order) -> Option<User> {
    gateway.ledger.user_by_id(order.user_id).ok().flatten()
}

/// After a new block: a sent withdrawal that has not confirmed within
/// `stuck_after_blocks` blocks is reported to the admins, once. It is
/// never refunded automatically: a returned txid is no proof that the
/// mempool accepted the transaction, nor that it will not confirm later.
pub fn watch_unconfirmed(gateway: &mut Gateway, out: &mut Vec<Element>) {
    let limit = gateway.config.bitcoin.stuck_after_blocks;
    let orders = match gateway.ledger.unconfirmed_withdrawals() {
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
        let required = gateway.config.bitcoin.confirmations;
        match gateway.node.transaction(&txid) {
            Ok(Some(tx)) if tx.confirmations > 0 => {
                let confirmations = tx.confirmations;
                let fee = order.fee.or(tx.fee).unwrap_or_default();
                let lang = owner(gateway, &order)
                    .map(|u| crate::wallet::deposits::user_lang(gateway, &u))
                    .unwrap_or("en");
                let done = confirmations >= required;
                let text = gateway.text(
                    lang,
                    if done {
                        "withdraw-confirmed"
                    } else {
                        "withdraw-confirming"
                    },
                    &[
                        ("amount", &net_amount(&order, Some(fee)).to_string()),
                        ("recipient", &order.recipient),
                        ("txid", &txid),
                        ("fee", &fee.to_string()),
                        ("confirmations", &confirmations.to_string()),
                        ("required", &required.to_string()),
                    ],
                );
                announce(gateway, &order, &text, out);
                if done {
                    if let Err(e) = gateway.ledger.mark_confirmed(order.id) {
                        log::error!("{e}");
                    }
                }
            }
            Ok(_) => match gateway.ledger.block_without_confirmation(order.id, limit) {
                Ok(true) => {
                    let (id, blocks) = (order.id.to_string(), limit.to_string());
                    crate::wallet::alert_admins(
                        gateway,
                        "admin-withdrawal-stuck",
                        &[("order", &id), ("txid", &txid), ("blocks", &blocks)],
                        out,
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
