//! Deposits as the chain shows them, keyed by (txid, vout).
//!
//! The poller reports every receive it sees, again and again (unconfirmed
//! and conflicted transactions reappear on every `listsinceblock`, and a
//! transaction mined again after a reorganization is listed both as
//! removed and as new); this module turns those reports into state
//! changes, each at most once. The report carries the wallet's CURRENT
//! view of the transaction, and that view alone decides:
//!
//! - confirmed enough (and mature, for a coinbase): credited;
//! - out of the chain (back to the mempool, conflicted, an orphaned
//!   coinbase) after it was credited: reversed;
//! - confirmed enough again after a reversal: credited again.
//!
//! Per deposit, credits minus reversals are 0 or the amount, never more:
//! a reversal takes what the user still has and records the rest as their
//! debt, and every credit repays the user's debt first. Crediting and
//! reversing write the ledger entries and the deposit's state in one
//! transaction, so a crash between two polls cannot do either twice.

use super::money::{apply, settle_debt, Kind, MoneyError, Movement};
use super::{now, Cached, Context, Ledger, LedgerError};
use crate::amount::Sats;
use rusqlite::{params, OptionalExtension};

/// What a report changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// First sight, not credited yet.
    Seen,
    /// More (or fewer) confirmations, still not credited.
    Confirmations(i64),
    /// Credited to the user's balance; `repaid` of it went to the user's
    /// debt first.
    Credited {
        repaid: Sats,
    },
    /// Taken back after crediting: the transaction left the chain. `debt`
    /// is what the user had already spent and now owes.
    Reversed {
        debt: Sats,
    },
    /// Never credited, and now conflicted: it will not come.
    Conflicted,
    Nothing,
}

/// One receive, as the poller saw it.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub txid: &'a str,
    pub vout: i64,
    pub address: &'a str,
    pub user_id: i64,
    /// Positive, at most 21 million BTC: the poller checks.
    pub amount: Sats,
    /// Negative: conflicted.
    pub confirmations: i64,
    pub coinbase: bool,
    /// A coinbase output has no value before it is mature.
    pub mature: bool,
    /// A coinbase output of a block that left the chain.
    pub orphan: bool,
}

impl Report<'_> {
    /// Whether the wallet counts it now.
    fn creditable(&self, required: i64) -> bool {
        self.confirmations >= required && self.mature && !self.orphan
    }

    /// Whether it is out of the chain now: back in the mempool,
    /// conflicted, or an orphaned coinbase.
    fn out_of_chain(&self) -> bool {
        self.confirmations <= 0 || self.orphan
    }
}

/// A deposit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deposit {
    pub txid: String,
    pub vout: i64,
    pub address: String,
    pub user_id: i64,
    pub amount: Sats,
    pub confirmations: i64,
    pub state: String,
    pub message_id: Option<String>,
    pub coinbase: bool,
}

const DEPOSIT_COLUMNS: &str =
    "txid, vout, address, user_id, amount, confirmations, state, message_id, coinbase";

fn deposit_from_row(r: &rusqlite::Row) -> rusqlite::Result<Deposit> {
    Ok(Deposit {
        txid: r.get(0)?,
        vout: r.get(1)?,
        address: r.get(2)?,
        user_id: r.get(3)?,
        amount: Sats(r.get(4)?),
        confirmations: r.get(5)?,
        state: r.get(6)?,
        message_id: r.get(7)?,
        coinbase: r.get(8)?,
    })
}

/// Credits `amount` of deposit `reference` to `user_id`, repaying the
/// user's debt first; returns what was repaid.
fn credit(
    tx: &rusqlite::Connection,
    user_id: i64,
    amount: Sats,
    reference: &str,
) -> Result<Sats, MoneyError> {
    apply(
        tx,
        &Movement {
            user_id,
            kind: Kind::Deposit,
            amount: amount.0,
            held: 0,
            debt: 0,
            reference,
            peer: None,
            comment: None,
        },
    )?;
    settle_debt(tx, user_id, reference)
}

/// Takes deposit `reference` back: what the user has, the rest as debt.
fn reverse(
    tx: &rusqlite::Connection,
    user_id: i64,
    amount: Sats,
    reference: &str,
) -> Result<Sats, MoneyError> {
    let balance: i64 = tx
        .query_row_cached("SELECT balance FROM users WHERE id = ?1", [user_id], |r| {
            r.get(0)
        })
        .context("cannot read a balance")?;
    let taken = amount.0.min(balance).max(0);
    let debt = amount.0 - taken;
    apply(
        tx,
        &Movement {
            user_id,
            kind: Kind::Reversal,
            amount: -taken,
            held: 0,
            debt,
            reference,
            peer: None,
            comment: None,
        },
    )?;
    Ok(Sats(debt))
}

impl Ledger {
    /// Applies one report; `required` confirmations credit a deposit.
    pub fn report_deposit(&mut self, r: &Report, required: i64) -> Result<Change, MoneyError> {
        let tx = self.write("cannot record a deposit")?;
        let reference = format!("{}:{}", r.txid, r.vout);
        let row: Option<(String, i64, i64, i64)> = tx
            .query_row_cached(
                "SELECT state, confirmations, amount, user_id FROM deposits \
                 WHERE txid = ?1 AND vout = ?2",
                params![r.txid, r.vout],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .context("cannot read a deposit")?;
        let change = match row {
            None => {
                if r.confirmations < 0 || r.orphan {
                    // Conflicted before we ever saw it: nothing to announce.
                    return Ok(Change::Nothing);
                }
                let credited = r.creditable(required);
                tx.execute_cached(
                    "INSERT INTO deposits (txid, vout, address, user_id, amount, confirmations, \
                     state, first_seen_at, coinbase) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        r.txid,
                        r.vout,
                        r.address,
                        r.user_id,
                        r.amount.0,
                        r.confirmations,
                        if credited { "credited" } else { "seen" },
                        now(),
                        r.coinbase
                    ],
                )
                .context("cannot record a deposit")?;
                if credited {
                    let repaid = credit(&tx, r.user_id, r.amount, &reference)?;
                    Change::Credited { repaid }
                } else {
                    Change::Seen
                }
            }
            // The row's owner and amount are the ones that were credited:
            // they decide, whatever this report says.
            Some((state, old_confs, amount, user_id)) => {
                let amount = Sats(amount);
                // Any change puts it back under watch until a completed
                // poll sees it deep enough.
                let set = |state: &str| {
                    tx.execute_cached(
                        "UPDATE deposits SET state = ?1, confirmations = ?2, watched = 1 \
                         WHERE txid = ?3 AND vout = ?4",
                        params![state, r.confirmations, r.txid, r.vout],
                    )
                    .context("cannot update a deposit")
                };
                match state.as_str() {
                    "seen" | "reversed" if r.creditable(required) => {
                        set("credited")?;
                        let repaid = credit(&tx, user_id, amount, &reference)?;
                        Change::Credited { repaid }
                    }
                    "credited" if r.out_of_chain() => {
                        set("reversed")?;
                        let debt = reverse(&tx, user_id, amount, &reference)?;
                        Change::Reversed { debt }
                    }
                    "seen" if r.confirmations < 0 && old_confs >= 0 => {
                        set("seen")?;
                        Change::Conflicted
                    }
                    "seen" if r.confirmations != old_confs => {
                        set("seen")?;
                        if r.confirmations < 0 {
                            Change::Nothing
                        } else {
                            Change::Confirmations(r.confirmations)
                        }
                    }
                    _ if r.confirmations != old_confs => {
                        set(&state)?;
                        Change::Nothing
                    }
                    _ => Change::Nothing,
                }
            }
        };
        tx.commit().context("cannot commit a deposit")?;
        Ok(change)
    }

    /// Deposits whose fate may still change without the poller's listing
    /// showing it: watched and not conflicted. The poller asks the wallet
    /// about those it did not see listed.
    pub fn watched_deposits(&self) -> Result<Vec<Deposit>, LedgerError> {
        let mut stmt = self
            .conn
            .cached(&format!(
                "SELECT {DEPOSIT_COLUMNS} FROM deposits WHERE watched = 1 AND confirmations >= 0"
            ))
            .context("cannot list deposits")?;
        let rows = stmt
            .query_map([], deposit_from_row)
            .context("cannot list deposits")?;
        rows.collect::<Result<_, _>>()
            .context("cannot list deposits")
    }

    /// After a completed poll (its cursor stored `depth` blocks deep): the
    /// credited deposits it saw at least that deep leave the watch. A
    /// reorganization that reaches them now leaves the cursor on a stale
    /// block, and Bitcoin Core then lists them under `removed`.
    pub fn unwatch_deep_deposits(&mut self, depth: i64) -> Result<(), LedgerError> {
        self.conn
            .execute_cached(
                "UPDATE deposits SET watched = 0 \
                 WHERE watched = 1 AND state = 'credited' AND confirmations >= ?1",
                [depth],
            )
            .context("cannot update deposits")?;
        Ok(())
    }

    /// Records a wallet output to one of our addresses that the ledger
    /// cannot take; true the first time (the moment to tell the admins).
    pub fn record_skipped(&mut self, s: &Skipped) -> Result<bool, LedgerError> {
        let n = self
            .conn
            .execute_cached(
                "INSERT OR IGNORE INTO skipped_outputs (txid, vout, address, user_id, amount, \
                 category, reason, first_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    s.txid,
                    s.vout,
                    s.address,
                    s.user_id,
                    s.amount,
                    s.category,
                    s.reason,
                    now()
                ],
            )
            .context("cannot record a skipped output")?;
        Ok(n == 1)
    }

    /// Whether an output was recorded as one the ledger does not take.
    pub fn is_skipped(&self, txid: &str, vout: i64) -> Result<bool, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT count(*) FROM skipped_outputs WHERE txid = ?1 AND vout = ?2",
                params![txid, vout],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .context("cannot read skipped outputs")
    }

    /// Per deposit reference, the net it makes to its user: credits minus
    /// reversals, debts counted. Each is 0 or the deposit's amount. (For
    /// the tests' invariants: it reads every deposit. Not a statement of
    /// the daemon's: prepared each time, out of the cache.)
    pub fn deposit_nets(&self) -> Result<Vec<(String, Sats, Sats)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "/* test */ SELECT d.txid || ':' || d.vout, d.amount, \
                   (SELECT coalesce(sum(l.amount - l.debt), 0) FROM ledger l \
                    WHERE l.reference = d.txid || ':' || d.vout) \
                 FROM deposits d ORDER BY d.txid, d.vout",
            )
            .context("cannot read deposits")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, Sats(r.get(1)?), Sats(r.get(2)?))))
            .context("cannot read deposits")?;
        rows.collect::<Result<_, _>>()
            .context("cannot read deposits")
    }

    pub fn deposit(&self, txid: &str, vout: i64) -> Result<Option<Deposit>, LedgerError> {
        self.conn
            .query_row_cached(
                &format!("SELECT {DEPOSIT_COLUMNS} FROM deposits WHERE txid = ?1 AND vout = ?2"),
                params![txid, vout],
                deposit_from_row,
            )
            .optional()
            .context("cannot read a deposit")
    }

    /// Remembers the id of the chat message announcing a deposit, so that
    /// later news corrects it in place.
    pub fn set_deposit_message(
        &mut self,
        txid: &str,
        vout: i64,
        id: &str,
    ) -> Result<(), LedgerError> {
        self.conn
            .execute_cached(
                "UPDATE deposits SET message_id = ?1 WHERE txid = ?2 AND vout = ?3",
                params![id, txid, vout],
            )
            .context("cannot update a deposit")?;
        Ok(())
    }

    /// A small persistent value (the poller's cursor).
    pub fn state(&self, name: &str) -> Result<Option<String>, LedgerError> {
        self.conn
            .query_row_cached("SELECT value FROM state WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .context("cannot read the state")
    }

    pub fn clear_state(&mut self, name: &str) -> Result<(), LedgerError> {
        self.conn
            .execute_cached("DELETE FROM state WHERE name = ?1", [name])
            .context("cannot write the state")?;
        Ok(())
    }

    /// Sets a small persistent value unless it is set already.
    pub fn set_state_once(&mut self, name: &str, value: &str) -> Result<(), LedgerError> {
        self.conn
            .execute_cached(
                "INSERT OR IGNORE INTO state (name, value) VALUES (?1, ?2)",
                params![name, value],
            )
            .context("cannot write the state")?;
        Ok(())
    }

    pub fn set_state(&mut self, name: &str, value: &str) -> Result<(), LedgerError> {
        self.conn
            .execute_cached(
                "INSERT INTO state (name, value) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .context("cannot write the state")?;
        Ok(())
    }
}

/// A wallet output the ledger cannot take, and why.
#[derive(Debug, Clone)]
pub struct Skipped<'a> {
    pub txid: &'a str,
    pub vout: i64,
    pub address: &'a str,
    pub user_id: Option<i64>,
    pub amount: &'a str,
    pub category: &'a str,
    pub reason: &'a str,
}
