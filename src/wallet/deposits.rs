//! The deposit poller: one `listsinceblock` per interval, whatever the
//! number of users; receives on our users' addresses become deposits.
//!
//! Each deposit is announced once, from its address's contact, and that
//! message is then corrected in place (XEP-0308) as the deposit gets
//! confirmations, is credited, or is reversed. The cursor only moves
//! after a successful call: on a pruned node an old cursor can fail, and
//! skipping it would lose deposits.

use crate::bitcoin::address::Address;
use crate::bitcoin::node::{NodeError, Receive};
use crate::gateway::Gateway;
use crate::ledger::deposits::{Change, Report};
use crate::ledger::User;
use crate::presence;
use crate::xmpp::{ns, Element, Jid};

/// `state` row holding the poller's cursor.
const CURSOR: &str = "listsinceblock_cursor";

pub const NS_CORRECT: &str = "urn:xmpp:message-correct:0";

/// A chat message, correcting `replaces` (XEP-0308) when given.
pub fn living_message(
    from: &Jid,
    to: &str,
    id: &str,
    replaces: Option<&str>,
    body: &str,
) -> Element {
    let mut m = Element::new("message", ns::COMPONENT)
        .attr("type", "chat")
        .attr("from", &from.to_string())
        .attr("to", to)
        .attr("id", id)
        .text_child("body", body);
    if let Some(original) = replaces {
        m.push(Element::new("replace", NS_CORRECT).attr("id", original));
    }
    m
}

/// Polls the wallet once; true when the chain moved on since last time.
pub fn poll(gateway: &mut Gateway, out: &mut Vec<Element>) -> bool {
    let required = gateway.config.bitcoin.confirmations;
    let cursor = match gateway.ledger.state(CURSOR) {
        Ok(c) => c,
        Err(e) => {
            log::error!("deposit poller: {e:?}");
            return false;
        }
    };
    let since = match gateway.node.list_since_block(cursor.as_deref(), required) {
        Ok(since) => since,
        Err(NodeError::Down(_)) => return false,
        Err(NodeError::Unexpected(e)) => {
            log::error!("deposit poller: {e}; the cursor stays where it was");
            return false;
        }
    };
    let mut touched: Vec<i64> = Vec::new();
    let removed = since.removed.iter().map(|r| Receive {
        confirmations: -1,
        ..r.clone()
    });
    for receive in since.receives.iter().cloned().chain(removed) {
        let Some(user_id) = gateway
            .ledger
            .address_owner(&receive.address)
            .ok()
            .flatten()
        else {
            continue;
        };
        let report = Report {
            txid: &receive.txid,
            vout: receive.vout,
            address: &receive.address,
            user_id,
            amount: receive.amount,
            confirmations: receive.confirmations,
        };
        match gateway.ledger.report_deposit(&report, required) {
            Ok(Change::Nothing) => {}
            Ok(change) => {
                announce(gateway, &receive, user_id, &change, out);
                if !touched.contains(&user_id) {
                    touched.push(user_id);
                }
            }
            Err(e) => {
                // Not committed: the next poll reports it again.
                log::error!("deposit {}:{}: {e:?}", receive.txid, receive.vout);
                return false;
            }
        }
    }
    let moved = cursor.as_deref() != Some(since.lastblock.as_str());
    if let Err(e) = gateway.ledger.set_state(CURSOR, &since.lastblock) {
        log::error!("deposit poller: {e:?}");
    }
    for user_id in touched {
        if let Ok(Some(user)) = gateway.ledger.user_by_id(user_id) {
            presence::send_balance(gateway, &user, out);
        }
    }
    moved
}

/// Announces a deposit's news, correcting its first message.
fn announce(
    gateway: &mut Gateway,
    r: &Receive,
    user_id: i64,
    change: &Change,
    out: &mut Vec<Element>,
) {
    let Ok(Some(user)) = gateway.ledger.user_by_id(user_id) else {
        return;
    };
    let lang = user_lang(gateway, &user);
    let required = gateway.config.bitcoin.confirmations;
    let short_txid: String = r.txid.chars().take(12).collect();
    let args = [
        ("amount", r.amount.to_string()),
        ("txid", short_txid),
        ("confirmations", r.confirmations.max(0).to_string()),
        ("required", required.to_string()),
        ("balance", user.balance.to_string()),
    ];
    let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let key = match change {
        Change::Seen => "deposit-seen",
        Change::Confirmations(_) => "deposit-confirming",
        Change::Credited => "deposit-credited",
        Change::Reversed { .. } => "deposit-reversed",
        Change::Nothing => return,
    };
    let body = gateway.text(lang, key, &args);
    let from = match Address::parse(&r.address, gateway.node.network()) {
        Ok(a) => gateway.contact_jid(&a.to_node()),
        Err(_) => gateway.jid.clone(),
    };
    let original = gateway
        .ledger
        .deposit(&r.txid, r.vout)
        .ok()
        .flatten()
        .and_then(|d| d.message_id);
    let id = format!("dep-{}-{}-{}", r.txid, r.vout, crate::ledger::now());
    out.push(living_message(
        &from,
        &user.jid,
        &id,
        original.as_deref(),
        &body,
    ));
    if original.is_none() {
        if let Err(e) = gateway.ledger.set_deposit_message(&r.txid, r.vout, &id) {
            log::error!("{e:?}");
        }
    }
    if let Change::Reversed { shortfall } = change {
        log::warn!(
            "deposit {}:{} of {} reversed (shortfall {shortfall})",
            r.txid,
            r.vout,
            user.username
        );
        let reference = format!("{}:{}", r.txid, r.vout);
        let (amount, shortfall) = (r.amount.to_string(), shortfall.to_string());
        crate::wallet::alert_admins(
            gateway,
            "admin-deposit-reversed",
            &[
                ("deposit", &reference),
                ("amount", &amount),
                ("username", &user.username),
                ("address", &r.address),
                ("shortfall", &shortfall),
            ],
            out,
        );
    }
}

pub fn user_lang(gateway: &Gateway, user: &User) -> &'static str {
    gateway.catalogs.pick(
        None,
        user.language.as_deref(),
        &gateway.config.main.languages,
    )
}
