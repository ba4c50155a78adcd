//! Solvency: does the wallet cover what the ledger owes?
//!
//! The ledger owes every spendable balance and every hold of a withdrawal
//! not handed to the node yet. Holds of withdrawals that are being sent,
//! were sent or may have been sent are left out: the wallet's balance has
//! already dropped for them (or will be found to have). The daemon runs
//! this after every new block; when the wallet falls short, withdrawals
//! are frozen (internal payments go on) and the admins are told, until an
//! admin clears the freeze.

use crate::amount::Sats;
use crate::bitcoin::node::NodeError;
use crate::ledger::orders::{hold_of, State};
use crate::wallet::{Message, News, Wallet};

/// `state` row that freezes withdrawals; its value says why, as an
/// encoded [`Message`] with one of the [`FREEZE_REASONS`] keys.
pub const FROZEN: &str = "withdrawals_frozen";

/// The catalog keys of a freeze's reason.
pub const FREEZE_REASONS: &[&str] = &[
    "frozen-shortfall",
    "frozen-shortfall-drift",
    "frozen-wallet-unknown",
];

/// Freezes withdrawals for `why` (unless they are already).
pub fn freeze(wallet: &mut Wallet, why: &Message) {
    if wallet.is_frozen() {
        return;
    }
    if let Err(e) = wallet.ledger.set_state(FROZEN, &why.encode()) {
        log::error!("cannot freeze withdrawals: {e:?}");
    }
}

/// Why withdrawals are frozen, if they are, to be said in the reader's
/// language; a reason this version did not write is shown as it is.
pub fn frozen_because(wallet: &Wallet) -> Option<Result<Message, String>> {
    let raw = wallet.ledger.state(FROZEN).ok()??;
    Some(Message::decode(&raw, FREEZE_REASONS).ok_or(raw))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub wallet: Sats,
    pub balances: Sats,
    /// Holds of withdrawals not handed to the node yet.
    pub held: Sats,
    /// Holds of withdrawals sent or possibly sent.
    pub in_flight: Sats,
    /// What users owe after reversed deposits they had spent: a known
    /// hole, told to the admins when it opened, repaid by those users'
    /// next deposits.
    pub debts: Sats,
    /// Network fees the wallet paid beyond what users could be charged:
    /// the operator's, told to the admins each time.
    pub absorbed: Sats,
    /// Users whose cached balance disagrees with their entries.
    pub drifted: Vec<String>,
}

impl Report {
    pub fn owed(&self) -> Sats {
        Sats(self.balances.0 + self.held.0)
    }

    /// Whether the wallet covers what is owed, but for the known holes
    /// (users' debts, fees the operator absorbed): those were reported when
    /// they opened, and freezing everyone's withdrawals for them would
    /// punish the others. Any other shortfall freezes them.
    pub fn covered(&self) -> bool {
        self.wallet.0 + self.debts.0 + self.absorbed.0 >= self.owed().0 && self.drifted.is_empty()
    }
}

pub fn report(wallet: &mut Wallet) -> Result<Report, NodeError> {
    let balance = wallet.node.wallet_balance()?;
    let fail = |e: crate::ledger::LedgerError| NodeError::Unexpected(e.to_string());
    let totals = wallet.ledger.totals().map_err(fail)?;
    let mut held = 0;
    let mut in_flight = 0;
    for state in [State::Held, State::Sending, State::Unknown, State::Sent] {
        for order in wallet.ledger.orders_in(state).map_err(fail)? {
            if state == State::Held {
                held += hold_of(&order);
            } else {
                in_flight += hold_of(&order);
            }
        }
    }
    // Tips held for their claim are owed too (to their tipper, or to
    // whoever claims them), and still in the wallet.
    held += wallet.ledger.held_claims_total().map_err(fail)?.0;
    Ok(Report {
        wallet: balance,
        balances: totals.balances,
        debts: totals.debts,
        absorbed: wallet.ledger.absorbed_fees().map_err(fail)?,
        held: Sats(held),
        in_flight: Sats(in_flight),
        drifted: wallet.ledger.check_balances().map_err(fail)?,
    })
}

/// Audits and freezes withdrawals if the wallet falls short.
pub fn run(wallet: &mut Wallet, news: &mut Vec<News>) {
    let report = match report(wallet) {
        Ok(r) => r,
        Err(e) => {
            log::warn!("audit skipped: {e}");
            return;
        }
    };
    if report.covered() {
        log::debug!("audit: wallet {} covers {}", report.wallet, report.owed());
        return;
    }
    if wallet.is_frozen() {
        return;
    }
    let why = Message::new(if report.drifted.is_empty() {
        "frozen-shortfall"
    } else {
        "frozen-shortfall-drift"
    })
    .with("wallet", report.wallet)
    .with("owed", report.owed())
    .with("balances", report.balances)
    .with("held", report.held)
    .with("users", report.drifted.join(", "));
    log::error!(
        "audit failed, withdrawals frozen: wallet {} < owed {} (balances {} + held {}); \
         drifted: [{}]",
        report.wallet,
        report.owed(),
        report.balances,
        report.held,
        report.drifted.join(", ")
    );
    freeze(wallet, &why);
    let (balance, owed) = (report.wallet.to_string(), report.owed().to_string());
    crate::wallet::alert(
        news,
        "admin-frozen",
        &[("wallet", &balance), ("owed", &owed)],
    );
}

/// What lifting the freeze did.
#[derive(Debug)]
pub enum Unfrozen {
    /// The audit passes: withdrawals are open.
    Open,
    /// The audit still fails: frozen again at once.
    StillShort(Report),
    /// The node cannot be audited now: open until the next block's audit.
    Unaudited,
    Internal,
}

/// An admin lifts the freeze. The audit runs again at once: a wallet still
/// short freezes withdrawals again, and the admin hears the numbers.
pub fn unfreeze(wallet: &mut Wallet, by: &str, news: &mut Vec<News>) -> Unfrozen {
    if let Err(e) = wallet.ledger.clear_state(FROZEN) {
        log::error!("{e}");
        return Unfrozen::Internal;
    }
    log::info!("withdrawals unfrozen by {by}");
    match report(wallet) {
        Ok(r) if r.covered() => Unfrozen::Open,
        Ok(r) => {
            run(wallet, news);
            Unfrozen::StillShort(r)
        }
        Err(e) => {
            log::warn!("audit after unfreeze skipped: {e}");
            Unfrozen::Unaudited
        }
    }
}
