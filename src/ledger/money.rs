//! Ledger entries: every movement of money, and the balances they make.
//!
//! Each entry's `amount` is the signed change to the user's spendable
//! balance; `users.balance` caches the sum and `users.held` the amounts
//! reserved by withdrawals in flight. Both are changed by the same SQL
//! statement that checks they stay at or above zero, in the same
//! transaction as the entry: a movement is all there or not at all, and
//! no balance is ever negative.

use super::{now, Cached, Context, Ledger, LedgerError};
use crate::amount::Sats;
use rusqlite::{params, Connection, OptionalExtension};

/// The kinds of entries, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Deposit,
    TransferIn,
    TransferOut,
    Withdrawal,
    Fee,
    Hold,
    Release,
    Reversal,
    /// The part of a credit that repays a debt.
    Repayment,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deposit => "deposit",
            Kind::TransferIn => "transfer_in",
            Kind::TransferOut => "transfer_out",
            Kind::Withdrawal => "withdrawal",
            Kind::Fee => "fee",
            Kind::Hold => "hold",
            Kind::Release => "release",
            Kind::Reversal => "reversal",
            Kind::Repayment => "repayment",
        }
    }

    fn parse(s: &str) -> Kind {
        match s {
            "deposit" => Kind::Deposit,
            "transfer_in" => Kind::TransferIn,
            "transfer_out" => Kind::TransferOut,
            "withdrawal" => Kind::Withdrawal,
            "fee" => Kind::Fee,
            "hold" => Kind::Hold,
            "release" => Kind::Release,
            "repayment" => Kind::Repayment,
            _ => Kind::Reversal,
        }
    }
}

/// Why a movement was refused.
#[derive(Debug, PartialEq)]
pub enum MoneyError {
    /// The spendable balance is short of what the movement takes.
    Insufficient {
        balance: Sats,
        needed: Sats,
    },
    NoSuchUser,
    Db(String),
}

impl From<LedgerError> for MoneyError {
    fn from(e: LedgerError) -> MoneyError {
        MoneyError::Db(e.to_string())
    }
}

/// Figures for the admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub users: i64,
    pub pending_orders: i64,
    pub deposits_day: i64,
    pub deposited_day: Sats,
    pub withdrawals_day: i64,
    pub withdrawn_day: Sats,
}

/// Sums over all users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub balances: Sats,
    pub held: Sats,
    pub debts: Sats,
}

/// One line of a user's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub kind: Kind,
    pub amount: Sats,
    pub reference: String,
    /// The other user of a transfer, by username.
    pub peer: Option<String>,
    pub comment: Option<String>,
    pub created_at: i64,
}

/// An entry from `SELECT id, kind, amount, reference, peer username,
/// comment, created_at`.
fn entry_from_row(r: &rusqlite::Row) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: r.get(0)?,
        kind: Kind::parse(&r.get::<_, String>(1)?),
        amount: Sats(r.get(2)?),
        reference: r.get(3)?,
        peer: r.get(4)?,
        comment: r.get(5)?,
        created_at: r.get(6)?,
    })
}

/// A movement of `user_id`'s money, inside `tx`.
pub(super) struct Movement<'a> {
    pub user_id: i64,
    pub kind: Kind,
    /// Change to the spendable balance.
    pub amount: i64,
    /// Change to the held amount.
    pub held: i64,
    /// Change to the user's debt.
    pub debt: i64,
    pub reference: &'a str,
    pub peer: Option<i64>,
    pub comment: Option<&'a str>,
}

/// Applies a movement: entry and cached balances, refused if either
/// balance would go below zero.
pub(super) fn apply(tx: &Connection, m: &Movement) -> Result<(), MoneyError> {
    let changed = tx
        .execute_cached(
            "UPDATE users SET balance = balance + ?1, held = held + ?2, debt = debt + ?4 \
             WHERE id = ?3 AND balance + ?1 >= 0 AND held + ?2 >= 0 AND debt + ?4 >= 0",
            params![m.amount, m.held, m.user_id, m.debt],
        )
        .context("cannot update a balance")?;
    if changed == 0 {
        let balance: Option<i64> = tx
            .query_row_cached(
                "SELECT balance FROM users WHERE id = ?1",
                [m.user_id],
                |r| r.get(0),
            )
            .optional()
            .context("cannot read a balance")?;
        return Err(match balance {
            None => MoneyError::NoSuchUser,
            Some(balance) => MoneyError::Insufficient {
                balance: Sats(balance),
                needed: Sats(-m.amount),
            },
        });
    }
    tx.execute_cached(
        "INSERT INTO ledger (user_id, kind, amount, debt, reference, peer_id, comment, created_at) \
         VALUES (?1, ?2, ?3, ?8, ?4, ?5, ?6, ?7)",
        params![
            m.user_id,
            m.kind.as_str(),
            m.amount,
            m.reference,
            m.peer,
            m.comment,
            now(),
            m.debt
        ],
    )
    .context("cannot write a ledger entry")?;
    Ok(())
}

/// Repays the user's debt from their balance, as far as it goes: a user
/// who owes has nothing spendable. Called at the end of every movement
/// that can give a user money (a credit, an incoming payment, a released
/// hold). Returns what was repaid.
pub(super) fn settle_debt(
    tx: &Connection,
    user_id: i64,
    reference: &str,
) -> Result<Sats, MoneyError> {
    let (balance, debt): (i64, i64) = tx
        .query_row_cached(
            "SELECT balance, debt FROM users WHERE id = ?1",
            [user_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .context("cannot read a debt")?;
    let repaid = balance.min(debt);
    if repaid > 0 {
        apply(
            tx,
            &Movement {
                user_id,
                kind: Kind::Repayment,
                amount: -repaid,
                held: 0,
                debt: -repaid,
                reference,
                peer: None,
                comment: None,
            },
        )?;
    }
    Ok(Sats(repaid.max(0)))
}

/// Moves `amount` from one user to another inside `tx`: both entries or,
/// when the sender is short, neither (the caller's transaction rolls back).
pub(super) fn transfer(
    tx: &Connection,
    from: i64,
    to: i64,
    amount: Sats,
    reference: &str,
    comment: Option<&str>,
) -> Result<(), MoneyError> {
    apply(
        tx,
        &Movement {
            user_id: from,
            kind: Kind::TransferOut,
            amount: -amount.0,
            held: 0,
            debt: 0,
            reference,
            peer: Some(to),
            comment,
        },
    )?;
    apply(
        tx,
        &Movement {
            user_id: to,
            kind: Kind::TransferIn,
            amount: amount.0,
            held: 0,
            debt: 0,
            reference,
            peer: Some(from),
            comment,
        },
    )?;
    settle_debt(tx, to, reference)?;
    Ok(())
}

impl Ledger {
    /// The last `limit` entries of a user, newest first; only those with
    /// `peer` when given. Holds and releases are bookkeeping, not history.
    pub fn history(
        &self,
        user_id: i64,
        peer: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Entry>, LedgerError> {
        let mut stmt = self
            .conn
            .cached(
                "SELECT l.id, l.kind, l.amount, l.reference, p.username, l.comment, l.created_at \
                 FROM ledger l LEFT JOIN users p ON p.id = l.peer_id \
                 WHERE l.user_id = ?1 AND l.kind NOT IN ('hold', 'release') \
                 AND (?2 IS NULL OR l.peer_id = ?2) \
                 ORDER BY l.id DESC LIMIT ?3",
            )
            .context("cannot read the history")?;
        let rows = stmt
            .query_map(params![user_id, peer, limit], entry_from_row)
            .context("cannot read the history")?;
        rows.collect::<Result<_, _>>()
            .context("cannot read the history")
    }

    /// A user's entries about one address: deposits to it (if it is
    /// theirs) and withdrawals and fees of orders paying it.
    pub fn history_with_address(
        &self,
        user_id: i64,
        address: &str,
        limit: u32,
    ) -> Result<Vec<Entry>, LedgerError> {
        let mut stmt = self
            .conn
            .cached(
                "SELECT l.id, l.kind, l.amount, l.reference, NULL, l.comment, l.created_at \
                 FROM ledger l WHERE l.user_id = ?1 AND l.kind NOT IN ('hold', 'release') AND ( \
                   l.reference IN (SELECT 'order:' || id FROM orders \
                                   WHERE user_id = ?1 AND recipient = ?2) \
                   OR l.reference IN (SELECT txid || ':' || vout FROM deposits \
                                      WHERE user_id = ?1 AND address = ?2)) \
                 ORDER BY l.id DESC LIMIT ?3",
            )
            .context("cannot read the history")?;
        let rows = stmt
            .query_map(params![user_id, address, limit], entry_from_row)
            .context("cannot read the history")?;
        rows.collect::<Result<_, _>>()
            .context("cannot read the history")
    }

    /// Checks that every cached balance, held amount and debt equals what
    /// its entries add up to; returns the users where they differ.
    pub fn check_balances(&self) -> Result<Vec<String>, LedgerError> {
        let mut stmt = self
            .conn
            .cached(
                "SELECT u.username FROM users u WHERE u.balance != \
                   (SELECT coalesce(sum(amount), 0) FROM ledger WHERE user_id = u.id) \
                 OR u.held != -(SELECT coalesce(sum(amount), 0) FROM ledger \
                   WHERE user_id = u.id AND kind IN ('hold', 'release')) \
                 OR u.debt != (SELECT coalesce(sum(debt), 0) FROM ledger WHERE user_id = u.id)",
            )
            .context("cannot check balances")?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .context("cannot check balances")?;
        rows.collect::<Result<_, _>>()
            .context("cannot check balances")
    }

    /// Figures for the admins' statistics, the last day counted from
    /// `since`.
    pub fn stats(&self, since: i64) -> Result<Stats, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT (SELECT count(*) FROM users WHERE removed_at IS NULL), \
                        (SELECT count(*) FROM orders WHERE state = 'pending'), \
                        (SELECT count(*) FROM ledger WHERE kind = 'deposit' AND created_at >= ?1), \
                        (SELECT coalesce(sum(amount), 0) FROM ledger WHERE kind = 'deposit' AND created_at >= ?1), \
                        (SELECT count(*) FROM ledger WHERE kind = 'withdrawal' AND created_at >= ?1), \
                        (SELECT coalesce(-sum(amount), 0) FROM ledger WHERE kind = 'withdrawal' AND created_at >= ?1)",
                [since],
                |r| {
                    Ok(Stats {
                        users: r.get(0)?,
                        pending_orders: r.get(1)?,
                        deposits_day: r.get(2)?,
                        deposited_day: Sats(r.get(3)?),
                        withdrawals_day: r.get(4)?,
                        withdrawn_day: Sats(r.get(5)?),
                    })
                },
            )
            .context("cannot compute statistics")
    }

    /// The sums the audit compares with the wallet: balances, held
    /// amounts and debts.
    pub fn totals(&self) -> Result<Totals, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT coalesce(sum(balance), 0), coalesce(sum(held), 0), \
                 coalesce(sum(debt), 0) FROM users",
                [],
                |r| {
                    Ok(Totals {
                        balances: Sats(r.get(0)?),
                        held: Sats(r.get(1)?),
                        debts: Sats(r.get(2)?),
                    })
                },
            )
            .context("cannot sum balances")
    }

    /// Users who owe a debt, largest first: (username, debt).
    pub fn debtors(&self) -> Result<Vec<(String, Sats)>, LedgerError> {
        let mut stmt = self
            .conn
            .cached("SELECT username, debt FROM users WHERE debt > 0 ORDER BY debt DESC, id")
            .context("cannot list debts")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, Sats(r.get(1)?))))
            .context("cannot list debts")?;
        rows.collect::<Result<_, _>>().context("cannot list debts")
    }
}
