//! What users do with their wallet, once, for every way of asking: the
//! XEP handlers (forms) and the chat commands both call in here.

pub mod accounts;
pub mod audit;
pub mod deposits;
pub mod payments;
pub mod withdrawals;

#[cfg(test)]
mod chain_tests;
#[cfg(test)]
mod scenario_tests;

use crate::gateway::Gateway;
use crate::xmpp::{ns, Element};
use withdrawals::Reconciled;

/// The wallet's periodic work: deposits, expired orders, withdrawals
/// caught mid-flight, and the audit after each new block.
pub fn tick(gateway: &mut Gateway, out: &mut Vec<Element>) {
    if !gateway.wallet_checked {
        gateway.wallet_checked = withdrawals::check_wallet_identity(gateway, out);
    }
    // The Python bitcoIM's addresses come before the first poll, which
    // must not credit what was deposited before the upgrade.
    let imported = gateway.python_imported
        || match accounts::import_python_addresses(gateway, out) {
            Ok(()) => true,
            Err(why) => {
                log::warn!("{why}");
                deposits::stalled(gateway, &why, out);
                false
            }
        };
    gateway.python_imported = imported;
    let new_block = imported && deposits::poll(gateway, out);
    match gateway.ledger.expire_orders(crate::ledger::now()) {
        Ok(expired) => {
            for order in expired {
                if let Some(user) = withdrawals::owner(gateway, &order) {
                    let lang = deposits::user_lang(gateway, &user);
                    let text = gateway.text(
                        lang,
                        "order-expired",
                        &[
                            ("code", &order.code),
                            ("amount", &order.amount.to_string()),
                            ("recipient", &order.recipient),
                        ],
                    );
                    out.push(crate::bot::chat(&gateway.jid, &user.jid, lang, &text));
                }
            }
        }
        Err(e) => log::error!("{e}"),
    }
    for result in withdrawals::reconcile(gateway, out) {
        tell_reconciled(gateway, &result, out);
    }
    if new_block {
        withdrawals::watch_unconfirmed(gateway, out);
        audit::run(gateway, out);
    }
}

/// Tells the owner of a withdrawal what reconciliation found.
pub fn tell_reconciled(gateway: &mut Gateway, result: &Reconciled, out: &mut Vec<Element>) {
    let (order, key, txid, fee) = match result {
        Reconciled::Sent { order, txid } => (order, "withdraw-reconciled-sent", txid.clone(), None),
        Reconciled::NotSent(order) => (order, "withdraw-reconciled-not-sent", String::new(), None),
        Reconciled::Settled { order, fee } => (
            order,
            "withdraw-settled",
            order.txid.clone().unwrap_or_default(),
            Some(*fee),
        ),
    };
    let Some(user) = withdrawals::owner(gateway, order) else {
        return;
    };
    let lang = deposits::user_lang(gateway, &user);
    let text = gateway.text(
        lang,
        key,
        &[
            ("amount", &withdrawals::net_amount(order, fee).to_string()),
            ("recipient", &order.recipient),
            ("txid", &txid),
            ("fee", &fee.unwrap_or_default().to_string()),
            ("balance", &user.balance.to_string()),
        ],
    );
    withdrawals::announce(gateway, order, &text, out);
    crate::presence::send_balance(gateway, &user, out);
}

/// Tells every admin something that needs a human, in their language.
pub fn alert_admins(gateway: &Gateway, key: &str, args: &[(&str, &str)], out: &mut Vec<Element>) {
    log::warn!("admin alert: {}", gateway.text("en", key, args));
    for admin in &gateway.config.main.admins {
        let language = gateway
            .ledger
            .user_by_jid(&admin.to_string())
            .ok()
            .flatten()
            .and_then(|u| u.language);
        let lang = gateway
            .catalogs
            .pick(None, language.as_deref(), &gateway.config.main.languages);
        out.push(
            Element::new("message", ns::COMPONENT)
                .attr("type", "chat")
                .attr("from", &gateway.jid.to_string())
                .attr("to", &admin.to_string())
                .text_child("body", &gateway.text(lang, key, args)),
        );
    }
}
