//! Withdrawals, following the spec's durable steps to the letter:
//!
//! 1. order stored (`pending`);
//! 2. code accepted: amount + fee reserve held (`held`, committed);
//! 3. marked `sending` (committed);
//! 4. `sendtoaddress` with the order's reference as the wallet comment;
//! 5. txid stored (`sent`, committed), then the actual fee settled from
//!    `gettransaction` (`settled`).
//!
//! Only a definite refusal from the node (RPC -3, -5, -6, -8, -13: nothing
//! was committed) releases the hold. Any other failure leaves the order
//! `unknown`, holding its funds, until reconciliation finds the comment in
//! the wallet's transactions (it was sent: settle it) or proves it absent
//! (it was not: release). Nothing is ever re-sent blindly.

use crate::amount::Sats;
use crate::bitcoin::node::{Node, NodeError};
use crate::gateway::Gateway;
use crate::ledger::money::MoneyError;
use crate::ledger::orders::{Order, State};
use crate::ledger::User;
use crate::xmpp::Element;

/// How many of the wallet's last transactions reconciliation searches.
const RECONCILE_DEPTH: u32 = 10_000;

/// The wallet comment of an order's transaction.
pub fn comment(order_id: i64) -> String {
    format!("bitcoim order {order_id}")
}

/// Aborts the process at a named step when the crash tests ask for it.
#[cfg(feature = "fault-injection")]
fn fault(step: &str) {
    if std::env::var("BITCOIM_FAULT").as_deref() == Ok(step) {
        log::error!("fault injection: aborting at {step}");
        std::process::abort();
    }
}

#[cfg(not(feature = "fault-injection"))]
fn fault(_: &str) {}

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
    fault("held");
    match gateway
        .ledger
        .set_order_state(order.id, State::Held, State::Sending)
    {
        Ok(true) => {}
        other => {
            log::error!("order {}: cannot mark it sending: {other:?}", order.id);
            return Outcome::Internal;
        }
    }
    fault("sending");
    log::info!(
        "order {}: sending {} to {}",
        order.id,
        order.amount,
        order.recipient
    );
    let result = gateway.node.send_to_address(
        &order.recipient,
        order.amount,
        &comment(order.id),
        order.subtract_fee,
    );
    match result {
        Ok(txid) => {
            fault("sent-unrecorded");
            if let Err(e) = gateway.ledger.mark_sent(order.id, &txid) {
                // Reconciliation will find the txid by its comment.
                log::error!("order {}: sent as {txid} but not recorded: {e}", order.id);
                return Outcome::Unknown(order.clone());
            }
            log::info!("order {}: sent as {txid}", order.id);
            fault("sent");
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

/// Charges the actual fee of a sent withdrawal; `None` while the node
/// cannot say (it is retried by [`reconcile`]).
fn settle(
    gateway: &mut Gateway,
    order: &Order,
    txid: &str,
    out: &mut Vec<Element>,
) -> Option<Sats> {
    let (fee, _) = match gateway.node.sent_fee(txid) {
        Ok(found) => found,
        Err(e) => {
            log::warn!("order {}: fee of {txid} not known yet: {e}", order.id);
            return None;
        }
    };
    match gateway.ledger.settle_withdrawal(order, fee) {
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
                match gateway.node.find_send(&comment(order.id), RECONCILE_DEPTH) {
                    Ok(Some(txid)) => {
                        log::warn!("order {}: found in the wallet as {txid}", order.id);
                        if let Ok(true) = gateway.ledger.mark_sent(order.id, &txid) {
                            if let Ok(Some(o)) = gateway.ledger.order(order.id) {
                                settle(gateway, &o, &txid, out);
                            }
                            results.push(Reconciled::Sent { order, txid });
                        }
                    }
                    Ok(None) => {
                        log::warn!("order {}: not in the wallet; released", order.id);
                        if let Ok(true) = gateway
                            .ledger
                            .fail_withdrawal(&order, &[State::Sending, State::Unknown])
                        {
                            results.push(Reconciled::NotSent(order));
                        }
                    }
                    Err(NodeError::Down(_)) => return results,
                    Err(NodeError::Unexpected(e)) => {
                        log::error!("order {}: cannot reconcile: {e}", order.id);
                    }
                }
            }
            _ => {}
        }
    }
    results
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
        match gateway.node.sent_fee(&txid) {
            Ok((fee, confirmations)) if confirmations > 0 => {
                let fee = order.fee.unwrap_or(fee);
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
            Err(NodeError::Unexpected(e)) => log::warn!("order {}: {e}", order.id),
        }
    }
}
