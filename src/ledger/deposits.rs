//! Deposits as the chain shows them, keyed by (txid, vout).
//!
//! The poller reports every receive it sees, again and again (unconfirmed
//! and conflicted transactions reappear on every `listsinceblock`); this
//! module turns those reports into state changes, each at most once:
//! seen → credited once confirmed enough → reversed if it becomes
//! conflicted → credited again if it confirms after all. Crediting and
//! reversing write the ledger entry and the deposit's state in one
//! transaction, so a crash between two polls cannot credit twice.

use super::money::{apply, Kind, MoneyError, Movement};
use super::{now, Context, Ledger};
use crate::amount::Sats;
use rusqlite::{params, OptionalExtension};

/// What a report changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// First sight, not credited yet.
    Seen,
    /// More (or fewer) confirmations, still not credited.
    Confirmations(i64),
    /// Credited to the user's balance.
    Credited,
    /// Conflicted or reorganized away after crediting: taken back. A
    /// shortfall is what the user had already spent and could not be
    /// taken back: the admins must know.
    Reversed {
        shortfall: Sats,
    },
    Nothing,
}

/// One receive, as the poller saw it.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub txid: &'a str,
    pub vout: i64,
    pub address: &'a str,
    pub user_id: i64,
    pub amount: Sats,
    /// Negative: conflicted.
    pub confirmations: i64,
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
}

impl Ledger {
    /// Applies one report; `required` confirmations credit a deposit.
    pub fn report_deposit(&mut self, r: &Report, required: i64) -> Result<Change, MoneyError> {
        let tx = self.conn.transaction().context("cannot record a deposit")?;
        let reference = format!("{}:{}", r.txid, r.vout);
        let row: Option<(String, i64, i64)> = tx
            .query_row(
                "SELECT state, confirmations, amount FROM deposits WHERE txid = ?1 AND vout = ?2",
                params![r.txid, r.vout],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
            .context("cannot read a deposit")?;
        let credit = |tx: &rusqlite::Transaction, amount: i64| {
            apply(
                tx,
                &Movement {
                    user_id: r.user_id,
                    kind: Kind::Deposit,
                    amount,
                    held: 0,
                    reference: &reference,
                    peer: None,
                    comment: None,
                },
            )
        };
        let change = match row {
            None => {
                if r.confirmations < 0 {
                    // Conflicted before we ever saw it: nothing to announce.
                    return Ok(Change::Nothing);
                }
                let credited = r.confirmations >= required;
                tx.execute(
                    "INSERT INTO deposits (txid, vout, address, user_id, amount, confirmations, \
                     state, first_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        r.txid,
                        r.vout,
                        r.address,
                        r.user_id,
                        r.amount.0,
                        r.confirmations,
                        if credited { "credited" } else { "seen" },
                        now()
                    ],
                )
                .context("cannot record a deposit")?;
                if credited {
                    credit(&tx, r.amount.0)?;
                    Change::Credited
                } else {
                    Change::Seen
                }
            }
            Some((state, old_confs, amount)) => {
                let set = |state: &str| {
                    tx.execute(
                        "UPDATE deposits SET state = ?1, confirmations = ?2 \
                         WHERE txid = ?3 AND vout = ?4",
                        params![state, r.confirmations, r.txid, r.vout],
                    )
                    .context("cannot update a deposit")
                };
                match state.as_str() {
                    "seen" | "reversed" if r.confirmations >= required => {
                        set("credited")?;
                        credit(&tx, amount)?;
                        Change::Credited
                    }
                    "seen" if r.confirmations != old_confs => {
                        set("seen")?;
                        Change::Confirmations(r.confirmations)
                    }
                    "credited" if r.confirmations < 0 => {
                        set("reversed")?;
                        let balance: i64 = tx
                            .query_row(
                                "SELECT balance FROM users WHERE id = ?1",
                                [r.user_id],
                                |row| row.get(0),
                            )
                            .context("cannot read a balance")?;
                        let taken = amount.min(balance);
                        if taken > 0 {
                            apply(
                                &tx,
                                &Movement {
                                    user_id: r.user_id,
                                    kind: Kind::Reversal,
                                    amount: -taken,
                                    held: 0,
                                    reference: &reference,
                                    peer: None,
                                    comment: None,
                                },
                            )?;
                        }
                        Change::Reversed {
                            shortfall: Sats(amount - taken),
                        }
                    }
                    "credited" if r.confirmations != old_confs => {
                        set("credited")?;
                        Change::Nothing
                    }
                    _ => Change::Nothing,
                }
            }
        };
        tx.commit().context("cannot commit a deposit")?;
        Ok(change)
    }

    pub fn deposit(&self, txid: &str, vout: i64) -> Result<Option<Deposit>, MoneyError> {
        Ok(self
            .conn
            .query_row(
                "SELECT txid, vout, address, user_id, amount, confirmations, state, message_id \
                 FROM deposits WHERE txid = ?1 AND vout = ?2",
                params![txid, vout],
                |r| {
                    Ok(Deposit {
                        txid: r.get(0)?,
                        vout: r.get(1)?,
                        address: r.get(2)?,
                        user_id: r.get(3)?,
                        amount: Sats(r.get(4)?),
                        confirmations: r.get(5)?,
                        state: r.get(6)?,
                        message_id: r.get(7)?,
                    })
                },
            )
            .optional()
            .context("cannot read a deposit")?)
    }

    /// Remembers the id of the chat message announcing a deposit, so that
    /// later news corrects it in place.
    pub fn set_deposit_message(
        &mut self,
        txid: &str,
        vout: i64,
        id: &str,
    ) -> Result<(), MoneyError> {
        self.conn
            .execute(
                "UPDATE deposits SET message_id = ?1 WHERE txid = ?2 AND vout = ?3",
                params![id, txid, vout],
            )
            .context("cannot update a deposit")?;
        Ok(())
    }

    /// A small persistent value (the poller's cursor).
    pub fn state(&self, name: &str) -> Result<Option<String>, MoneyError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM state WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .context("cannot read the state")?)
    }

    pub fn clear_state(&mut self, name: &str) -> Result<(), MoneyError> {
        self.conn
            .execute("DELETE FROM state WHERE name = ?1", [name])
            .context("cannot write the state")?;
        Ok(())
    }

    pub fn set_state(&mut self, name: &str, value: &str) -> Result<(), MoneyError> {
        self.conn
            .execute(
                "INSERT INTO state (name, value) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .context("cannot write the state")?;
        Ok(())
    }
}
