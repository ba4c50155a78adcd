//! Tips held for someone without a wallet, until their real JID claims
//! them by registering or they expire back to the tipper.
//!
//! The amount sits in the tipper's `held` (a 'hold' entry, reference
//! `claim:<id>`) from the moment the tip is carried out. A claim ends
//! once: the conditional `UPDATE claims ... WHERE state = 'held'` is in
//! the same transaction as the money it moves, so a claim raced by its
//! expiry, or replayed, pays or returns exactly once.

use super::money::{apply, settle_debt, transfer, Kind, MoneyError, Movement};
use super::orders::Order;
use super::{now, Cached, Context, Ledger, LedgerError};
use crate::amount::Sats;
use rusqlite::{params, Connection, Row};

/// A held (or ended) tip to a JID without a wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: i64,
    pub order_id: i64,
    pub tipper_id: i64,
    /// The bare JID, lowercased, the tip was made to.
    pub jid: String,
    pub amount: Sats,
    pub comment: Option<String>,
    pub room: Option<String>,
    pub expires_at: i64,
}

const COLUMNS: &str = "id, order_id, tipper_id, jid, amount, comment, room, expires_at";

fn claim_from_row(r: &Row) -> rusqlite::Result<Claim> {
    Ok(Claim {
        id: r.get(0)?,
        order_id: r.get(1)?,
        tipper_id: r.get(2)?,
        jid: r.get(3)?,
        amount: Sats(r.get(4)?),
        comment: r.get(5)?,
        room: r.get(6)?,
        expires_at: r.get(7)?,
    })
}

/// Gives a claim's hold back to the tipper's spendable balance, inside `tx`.
fn release(tx: &Connection, claim: &Claim, reference: &str) -> Result<(), MoneyError> {
    apply(
        tx,
        &Movement {
            user_id: claim.tipper_id,
            kind: Kind::Release,
            amount: claim.amount.0,
            held: -claim.amount.0,
            debt: 0,
            reference,
            peer: None,
            comment: None,
        },
    )
}

impl Ledger {
    /// Carries out a tip to `jid`, who has no wallet: the order ends
    /// (pending → done), the amount moves from the tipper's balance to
    /// their held amount, and a claim waits until `expires_at`, all in one
    /// transaction. `Ok(None)` when the order was no longer pending.
    pub fn hold_for_claim(
        &mut self,
        order: &Order,
        jid: &str,
        expires_at: i64,
    ) -> Result<Option<i64>, MoneyError> {
        let t = now();
        let tx = self.write("cannot start a hold")?;
        let n = tx
            .execute_cached(
                "UPDATE orders SET state = 'done', updated_at = ?1 WHERE id = ?2 AND state = 'pending'",
                params![t, order.id],
            )
            .context("cannot update an order")?;
        if n == 0 {
            return Ok(None);
        }
        tx.execute_cached(
            "INSERT INTO claims (order_id, tipper_id, jid, amount, comment, room, state, \
             created_at, expires_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'held', ?7, ?8, ?7)",
            params![
                order.id,
                order.user_id,
                jid,
                order.amount.0,
                order.comment,
                order.tip.as_ref().map(|t| &t.room),
                t,
                expires_at,
            ],
        )
        .context("cannot store a claim")?;
        let id = tx.last_insert_rowid();
        apply(
            &tx,
            &Movement {
                user_id: order.user_id,
                kind: Kind::Hold,
                amount: -order.amount.0,
                held: order.amount.0,
                debt: 0,
                reference: &format!("claim:{id}"),
                peer: None,
                comment: order.comment.as_deref(),
            },
        )?;
        tx.commit().context("cannot commit a hold")?;
        Ok(Some(id))
    }

    /// The tips held for `jid` (bare, lowercased), oldest first.
    pub fn held_claims_for(&self, jid: &str) -> Result<Vec<Claim>, LedgerError> {
        self.claims_where("jid = ?1 AND state = 'held' ORDER BY id", [jid])
    }

    /// The held tips whose time ran out at `at`.
    pub fn expired_claims(&self, at: i64) -> Result<Vec<Claim>, LedgerError> {
        self.claims_where(
            "expires_at <= ?1 AND state = 'held' ORDER BY expires_at",
            [at],
        )
    }

    /// What `tipper_id` holds for people without a wallet, in all.
    pub fn held_for_others(&self, tipper_id: i64) -> Result<Sats, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT coalesce(sum(amount), 0) FROM claims \
                 WHERE tipper_id = ?1 AND state = 'held'",
                [tipper_id],
                |r| r.get(0),
            )
            .map(Sats)
            .context("cannot sum claims")
    }

    /// What all tippers hold for claims, for the audit: the wallet still
    /// has it, and owes it.
    pub fn held_claims_total(&self) -> Result<Sats, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT coalesce(sum(amount), 0) FROM claims WHERE state = 'held'",
                [],
                |r| r.get(0),
            )
            .map(Sats)
            .context("cannot sum claims")
    }

    fn claims_where(
        &self,
        condition: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Claim>, LedgerError> {
        let mut stmt = self
            .conn
            .cached(&format!("SELECT {COLUMNS} FROM claims WHERE {condition}"))
            .context("cannot list claims")?;
        let rows = stmt
            .query_map(params, claim_from_row)
            .context("cannot list claims")?;
        rows.collect::<Result<_, _>>().context("cannot list claims")
    }

    /// Pays a held tip to the account `to` its JID just opened: the hold
    /// is released and the amount transferred, with the tip's comment,
    /// and the claim ends (held → claimed), in one transaction. False when
    /// it was no longer held (claimed or returned already).
    pub fn pay_claim(&mut self, claim: &Claim, to: i64) -> Result<bool, MoneyError> {
        let tx = self.write("cannot start a claim")?;
        let n = tx
            .execute_cached(
                "UPDATE claims SET state = 'claimed', claimed_by = ?1, updated_at = ?2 \
                 WHERE id = ?3 AND state = 'held'",
                params![to, now(), claim.id],
            )
            .context("cannot update a claim")?;
        if n == 0 {
            return Ok(false);
        }
        let reference = format!("claim:{}", claim.id);
        release(&tx, claim, &reference)?;
        transfer(
            &tx,
            claim.tipper_id,
            to,
            claim.amount,
            &reference,
            claim.comment.as_deref(),
        )?;
        tx.commit().context("cannot commit a claim")?;
        Ok(true)
    }

    /// Gives an unclaimed tip back to its tipper (held → returned), in one
    /// transaction with the release. False when it was no longer held.
    pub fn return_claim(&mut self, claim: &Claim) -> Result<bool, MoneyError> {
        let tx = self.write("cannot start a return")?;
        let n = tx
            .execute_cached(
                "UPDATE claims SET state = 'returned', updated_at = ?1 \
                 WHERE id = ?2 AND state = 'held'",
                params![now(), claim.id],
            )
            .context("cannot update a claim")?;
        if n == 0 {
            return Ok(false);
        }
        let reference = format!("claim:{}", claim.id);
        release(&tx, claim, &reference)?;
        // A tipper who came to owe since repays from what comes back.
        settle_debt(&tx, claim.tipper_id, &reference)?;
        tx.commit().context("cannot commit a return")?;
        Ok(true)
    }
}
