//! Payment requests' own rows: who refuses requests from whom
//! (`blocks`), how many requests a requester has waiting, and the fresh
//! addresses made for `request <amount>` (`address_requests`), whose
//! first deposit is announced once as paying the request.
//!
//! A request between users is an order of the payer (`orders.origin =
//! 'request'`): its money moves through `orders`, never here.

use super::{now, Cached, Context, Ledger, LedgerError};
use crate::amount::Sats;
use rusqlite::{params, OptionalExtension};

/// A request by address, as its URI said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRequest {
    pub address: String,
    pub user_id: i64,
    pub amount: Sats,
    pub comment: Option<String>,
}

impl Ledger {
    /// `user_id` refuses requests from `blocked_id`; false when it
    /// already did.
    pub fn block(&mut self, user_id: i64, blocked_id: i64) -> Result<bool, LedgerError> {
        let n = self
            .conn
            .execute_cached(
                "INSERT OR IGNORE INTO blocks (user_id, blocked_id, created_at) \
                 VALUES (?1, ?2, ?3)",
                params![user_id, blocked_id, now()],
            )
            .context("cannot block a user")?;
        Ok(n == 1)
    }

    /// `user_id` takes requests from `blocked_id` again; false when it
    /// did not refuse them.
    pub fn unblock(&mut self, user_id: i64, blocked_id: i64) -> Result<bool, LedgerError> {
        let n = self
            .conn
            .execute_cached(
                "DELETE FROM blocks WHERE user_id = ?1 AND blocked_id = ?2",
                params![user_id, blocked_id],
            )
            .context("cannot unblock a user")?;
        Ok(n == 1)
    }

    /// Whether `user_id` refuses requests from `other_id`.
    pub fn is_blocked(&self, user_id: i64, other_id: i64) -> Result<bool, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT count(*) FROM blocks WHERE user_id = ?1 AND blocked_id = ?2",
                params![user_id, other_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .context("cannot read blocks")
    }

    /// The usernames `user_id` refuses requests from, in order (users who
    /// left since are not shown: nobody can ask in their name).
    pub fn blocked_by(&self, user_id: i64) -> Result<Vec<String>, LedgerError> {
        let mut stmt = self
            .conn
            .cached(
                "SELECT u.username FROM blocks b JOIN users u ON u.id = b.blocked_id \
                 WHERE b.user_id = ?1 AND u.removed_at IS NULL ORDER BY u.username",
            )
            .context("cannot list blocks")?;
        let rows = stmt
            .query_map([user_id], |r| r.get(0))
            .context("cannot list blocks")?;
        rows.collect::<Result<_, _>>().context("cannot list blocks")
    }

    /// How many requests made by `requester_id` wait for their payer. Only
    /// pending orders are searched (the `orders_state` index): they are
    /// few, whatever the size of the table.
    pub fn requests_waiting_by(&self, requester_id: i64) -> Result<usize, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT count(*) FROM orders WHERE state = 'pending' AND origin = 'request' \
                 AND recipient_id = ?1",
                [requester_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .context("cannot count requests")
    }

    /// Records a fresh deposit address of `user_id` as the request of
    /// `amount` (the address is already the user's).
    pub fn add_address_request(
        &mut self,
        address: &str,
        user_id: i64,
        amount: Sats,
        comment: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.conn
            .execute_cached(
                "INSERT INTO address_requests (address, user_id, amount, comment, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![address, user_id, amount.0, comment, now()],
            )
            .context("cannot record a request")?;
        Ok(())
    }

    /// The request of an address, if it was made for one and no deposit
    /// paid it yet; the deposit `paid_by` ('txid:vout') now does, once: a
    /// second call for the same address gives `None`.
    pub fn pay_address_request(
        &mut self,
        address: &str,
        paid_by: &str,
    ) -> Result<Option<AddressRequest>, LedgerError> {
        let tx = self.write("cannot mark a request paid")?;
        let request = tx
            .query_row_cached(
                "SELECT address, user_id, amount, comment FROM address_requests \
                 WHERE address = ?1 AND paid_by IS NULL",
                [address],
                |r| {
                    Ok(AddressRequest {
                        address: r.get(0)?,
                        user_id: r.get(1)?,
                        amount: Sats(r.get(2)?),
                        comment: r.get(3)?,
                    })
                },
            )
            .optional()
            .context("cannot read a request")?;
        let Some(request) = request else {
            return Ok(None);
        };
        let n = tx
            .execute_cached(
                "UPDATE address_requests SET paid_by = ?1 WHERE address = ?2 AND paid_by IS NULL",
                params![paid_by, address],
            )
            .context("cannot mark a request paid")?;
        tx.commit().context("cannot mark a request paid")?;
        Ok((n == 1).then_some(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Registration;

    fn two() -> (Ledger, i64, i64) {
        let mut l = Ledger::open_in_memory().unwrap();
        let Registration::Created(a) = l.register("a@x", "alice").unwrap() else {
            panic!()
        };
        let Registration::Created(b) = l.register("b@x", "bob").unwrap() else {
            panic!()
        };
        (l, a.id, b.id)
    }

    #[test]
    fn a_block_is_one_way_and_said_once() {
        let (mut l, a, b) = two();
        assert!(l.block(a, b).unwrap());
        assert!(!l.block(a, b).unwrap(), "already blocked");
        assert!(l.is_blocked(a, b).unwrap());
        assert!(!l.is_blocked(b, a).unwrap());
        assert_eq!(l.blocked_by(a).unwrap(), ["bob"]);
        assert!(l.blocked_by(b).unwrap().is_empty());
        assert!(l.unblock(a, b).unwrap());
        assert!(!l.unblock(a, b).unwrap());
        assert!(!l.is_blocked(a, b).unwrap());
    }

    #[test]
    fn an_address_request_is_paid_once() {
        let (mut l, a, _) = two();
        l.add_address(a, "mA").unwrap();
        l.add_address_request("mA", a, Sats(5000), Some("rent"))
            .unwrap();
        let paid = l.pay_address_request("mA", "t:0").unwrap().unwrap();
        assert_eq!(
            paid,
            AddressRequest {
                address: "mA".into(),
                user_id: a,
                amount: Sats(5000),
                comment: Some("rent".into()),
            }
        );
        assert_eq!(l.pay_address_request("mA", "t:1").unwrap(), None);
        assert_eq!(l.pay_address_request("mB", "t:0").unwrap(), None);
    }
}
