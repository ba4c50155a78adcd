//! Payment orders: `pay` stores one with a confirmation code; `confirm`
//! executes it, `cancel` drops it; unconfirmed orders expire.
//!
//! Every state change is a conditional UPDATE (`... WHERE state = 'x'`)
//! in the same transaction as the money it moves, so that replaying a
//! code, or a crash between two steps, can never pay twice.

use super::money::{apply, settle_debt, transfer, Kind, MoneyError, Movement};
use super::{now, Cached, Context, Ledger, LedgerError};
use crate::amount::Sats;
use rusqlite::{params, OptionalExtension, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    User,
    Address,
}

/// The life of an order (see the withdrawal steps in `wallet::withdrawals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for its code.
    Pending,
    /// Withdrawal: amount + fee reserve held, not sent yet.
    Held,
    /// Withdrawal: `sendtoaddress` is being called.
    Sending,
    /// Withdrawal: the node gave a txid.
    Sent,
    /// Withdrawal: the call's outcome is unknown until reconciliation.
    Unknown,
    /// Withdrawal: the actual fee is charged, the rest released.
    Settled,
    /// Internal payment made.
    Done,
    Cancelled,
    Expired,
    /// Withdrawal refused by the node before anything was sent.
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Held => "held",
            State::Sending => "sending",
            State::Sent => "sent",
            State::Unknown => "unknown",
            State::Settled => "settled",
            State::Done => "done",
            State::Cancelled => "cancelled",
            State::Expired => "expired",
            State::Failed => "failed",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "pending" => State::Pending,
            "held" => State::Held,
            "sending" => State::Sending,
            "sent" => State::Sent,
            "unknown" => State::Unknown,
            "settled" => State::Settled,
            "done" => State::Done,
            "cancelled" => State::Cancelled,
            "expired" => State::Expired,
            _ => State::Failed,
        }
    }
}

/// Where an order comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The `pay` command or form.
    Pay,
    /// A tip in a room: see [`Tip`].
    Tip,
    /// Another user asked for this payment (`request <amount> from
    /// <user>`): the order is the payer's, its recipient the requester.
    Request,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Pay => "pay",
            Origin::Tip => "tip",
            Origin::Request => "request",
        }
    }

    fn parse(s: &str) -> Origin {
        match s {
            "tip" => Origin::Tip,
            "request" => Origin::Request,
            _ => Origin::Pay,
        }
    }
}

/// Where a tip was made and to whom, as the tipper saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    /// The room's bare JID.
    pub room: String,
    pub tipper_nick: String,
    pub recipient_nick: String,
    /// The recipient's real bare JID, from the room's presence: who is
    /// paid, whatever their nick or username is by then. An order with
    /// no `recipient_id` tips someone without a wallet (a claim).
    pub recipient_jid: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: i64,
    pub user_id: i64,
    pub code: String,
    pub recipient_kind: Recipient,
    /// A username (as it was when the order was made) or an address.
    pub recipient: String,
    /// The recipient's account, for payments to a user: what is paid,
    /// whatever the name is now.
    pub recipient_id: Option<i64>,
    pub amount: Sats,
    pub fee_reserve: Sats,
    /// The network fee comes out of `amount` ('pay all' to an address).
    pub subtract_fee: bool,
    pub fee: Option<Sats>,
    pub comment: Option<String>,
    pub state: State,
    pub txid: Option<String>,
    pub wrong_codes: i64,
    pub expires_at: i64,
    /// When the state last changed.
    pub updated_at: i64,
    /// The chat message announcing it (a withdrawal's living message).
    pub message_id: Option<String>,
    /// A withdrawal's wallet comment (None for orders made before it was
    /// stored: see [`Order::comment_in_wallet`]).
    pub wallet_comment: Option<String>,
    /// The best block just before a withdrawal was handed to the node.
    pub sent_block: Option<String>,
    /// The address labelled with the wallet comment, made just before.
    pub marker: Option<String>,
    /// The fee rate (sat/vB) shown in the recap and sent.
    pub fee_rate: Option<i64>,
    /// What the network was paid; `fee` is what the user was charged.
    pub network_fee: Option<Sats>,
    /// Why reconciliation cannot tell whether it was sent.
    pub doubt: Option<String>,
    pub origin: Origin,
    /// For tips: the room and the people as the tipper saw them.
    pub tip: Option<Tip>,
}

impl Order {
    /// The comment that marks this withdrawal's transaction in the wallet.
    /// Orders from before comments carried a database id used the bare
    /// order id.
    pub fn comment_in_wallet(&self) -> String {
        self.wallet_comment
            .clone()
            .unwrap_or_else(|| format!("bitcoim order {}", self.id))
    }
}

const COLUMNS: &str = "id, user_id, code, recipient_kind, recipient, amount, fee_reserve, fee, \
                       comment, state, txid, wrong_codes, expires_at, subtract_fee, updated_at, \
                       message_id, recipient_id, wallet_comment, sent_block, fee_rate, \
                       network_fee, doubt, marker, origin, room, tipper_nick, recipient_nick, \
                       recipient_jid";

fn order_from_row(r: &Row) -> rusqlite::Result<Order> {
    Ok(Order {
        id: r.get(0)?,
        user_id: r.get(1)?,
        code: r.get(2)?,
        recipient_kind: if r.get::<_, String>(3)? == "user" {
            Recipient::User
        } else {
            Recipient::Address
        },
        recipient: r.get(4)?,
        amount: Sats(r.get(5)?),
        fee_reserve: Sats(r.get(6)?),
        fee: r.get::<_, Option<i64>>(7)?.map(Sats),
        comment: r.get(8)?,
        state: State::parse(&r.get::<_, String>(9)?),
        txid: r.get(10)?,
        wrong_codes: r.get(11)?,
        expires_at: r.get(12)?,
        subtract_fee: r.get(13)?,
        updated_at: r.get(14)?,
        message_id: r.get(15)?,
        recipient_id: r.get(16)?,
        wallet_comment: r.get(17)?,
        sent_block: r.get(18)?,
        fee_rate: r.get(19)?,
        network_fee: r.get::<_, Option<i64>>(20)?.map(Sats),
        doubt: r.get(21)?,
        marker: r.get(22)?,
        origin: Origin::parse(&r.get::<_, String>(23)?),
        tip: match (r.get(24)?, r.get(25)?, r.get(26)?, r.get(27)?) {
            (Some(room), Some(tipper_nick), Some(recipient_nick), Some(recipient_jid)) => {
                Some(Tip {
                    room,
                    tipper_nick,
                    recipient_nick,
                    recipient_jid,
                })
            }
            _ => None,
        },
    })
}

/// What a new order is.
pub struct NewOrder<'a> {
    pub user_id: i64,
    pub code: &'a str,
    pub recipient_kind: Recipient,
    pub recipient: &'a str,
    /// The recipient's account, for payments to a user.
    pub recipient_id: Option<i64>,
    pub amount: Sats,
    pub fee_reserve: Sats,
    /// For withdrawals: the fee rate the recap shows and the node is given.
    pub fee_rate: Option<i64>,
    pub subtract_fee: bool,
    pub comment: Option<&'a str>,
    /// For withdrawals: a random nonce for the comment that marks its
    /// transaction in the wallet (`bitcoim <database id> order <id> <nonce>`).
    pub nonce: Option<&'a str>,
    pub expires_at: i64,
    pub origin: Origin,
    /// For tips.
    pub tip: Option<&'a Tip>,
}

impl Ledger {
    pub fn create_order(&mut self, o: &NewOrder) -> Result<Order, LedgerError> {
        let t = now();
        let database = self.meta(super::DATABASE_ID_KEY)?.unwrap_or_default();
        let tx = self.write("cannot store an order")?;
        tx.execute_cached(
            "INSERT INTO orders (user_id, code, recipient_kind, recipient, amount, fee_reserve, \
                 comment, state, created_at, expires_at, updated_at, subtract_fee, recipient_id, \
                 fee_rate, wallet_comment, origin, room, tipper_nick, recipient_nick, \
                 recipient_jid) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9, ?8, ?10, ?11, ?12, ?13, \
                 ?14, ?15, ?16, ?17, ?18)",
            params![
                o.user_id,
                o.code,
                match o.recipient_kind {
                    Recipient::User => "user",
                    Recipient::Address => "address",
                },
                o.recipient,
                o.amount.0,
                o.fee_reserve.0,
                o.comment,
                t,
                o.expires_at,
                o.subtract_fee,
                o.recipient_id,
                o.fee_rate,
                Option::<String>::None,
                o.origin.as_str(),
                o.tip.map(|t| &t.room),
                o.tip.map(|t| &t.tipper_nick),
                o.tip.map(|t| &t.recipient_nick),
                o.tip.map(|t| &t.recipient_jid),
            ],
        )
        .context("cannot store an order")?;
        let id = tx.last_insert_rowid();
        if let Some(nonce) = o.nonce {
            tx.execute_cached(
                "UPDATE orders SET wallet_comment = ?1 WHERE id = ?2",
                params![format!("bitcoim {database} order {id} {nonce}"), id],
            )
            .context("cannot store an order")?;
        }
        tx.commit().context("cannot store an order")?;
        self.order(id)?
            .ok_or_else(|| LedgerError::new("the new order vanished"))
    }

    pub fn order(&self, id: i64) -> Result<Option<Order>, LedgerError> {
        self.conn
            .query_row_cached(
                &format!("SELECT {COLUMNS} FROM orders WHERE id = ?1"),
                [id],
                order_from_row,
            )
            .optional()
            .context("cannot read an order")
    }

    /// A user's orders still waiting for their code, oldest first.
    pub fn pending_orders(&self, user_id: i64) -> Result<Vec<Order>, LedgerError> {
        self.orders_where("user_id = ?1 AND state = 'pending' ORDER BY id", [user_id])
    }

    /// Orders of any user in `state` (for reconciliation).
    pub fn orders_in(&self, state: State) -> Result<Vec<Order>, LedgerError> {
        let mut stmt = self
            .conn
            .cached(&format!(
                "SELECT {COLUMNS} FROM orders WHERE state = ?1 ORDER BY id"
            ))
            .context("cannot list orders")?;
        let rows = stmt
            .query_map([state.as_str()], order_from_row)
            .context("cannot list orders")?;
        rows.collect::<Result<_, _>>().context("cannot list orders")
    }

    fn orders_where(
        &self,
        condition: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Order>, LedgerError> {
        let mut stmt = self
            .conn
            .cached(&format!("SELECT {COLUMNS} FROM orders WHERE {condition}"))
            .context("cannot list orders")?;
        let rows = stmt
            .query_map(params, order_from_row)
            .context("cannot list orders")?;
        rows.collect::<Result<_, _>>().context("cannot list orders")
    }

    /// A user's most recent order with this code. Someone else's code is
    /// not found: it gets the same answer as a wrong code.
    pub fn order_by_code(&self, user_id: i64, code: &str) -> Result<Option<Order>, LedgerError> {
        self.conn
            .query_row_cached(
                &format!(
                    "SELECT {COLUMNS} FROM orders WHERE user_id = ?1 AND code = ?2 \
                     ORDER BY id DESC LIMIT 1"
                ),
                params![user_id, code],
                order_from_row,
            )
            .optional()
            .context("cannot read an order")
    }

    /// Whether a code is in use by a pending order.
    pub fn code_in_use(&self, code: &str) -> Result<bool, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT count(*) FROM orders WHERE code = ?1 AND state = 'pending'",
                [code],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .context("cannot read orders")
    }

    /// Moves an order from one state to another; false when it was not
    /// in `from` any more (someone else got there first).
    pub fn set_order_state(
        &mut self,
        id: i64,
        from: State,
        to: State,
    ) -> Result<bool, LedgerError> {
        let n = self
            .conn
            .execute_cached(
                "UPDATE orders SET state = ?1, updated_at = ?2 WHERE id = ?3 AND state = ?4",
                params![to.as_str(), now(), id, from.as_str()],
            )
            .context("cannot update an order")?;
        Ok(n == 1)
    }

    /// Expires the pending orders past their time; returns them.
    pub fn expire_orders(&mut self, at: i64) -> Result<Vec<Order>, LedgerError> {
        let expired = {
            let mut stmt = self
                .conn
                .cached(&format!(
                    "SELECT {COLUMNS} FROM orders WHERE state = 'pending' AND expires_at <= ?1"
                ))
                .context("cannot list orders")?;
            let rows = stmt
                .query_map([at], order_from_row)
                .context("cannot list orders")?;
            rows.collect::<Result<Vec<_>, _>>()
                .context("cannot list orders")?
        };
        let mut done = Vec::new();
        for order in expired {
            if self.set_order_state(order.id, State::Pending, State::Expired)? {
                done.push(order);
            }
        }
        Ok(done)
    }

    /// Counts a wrong code against a user's pending orders; returns those
    /// cancelled for having had `limit` wrong codes.
    pub fn wrong_code(&mut self, user_id: i64, limit: i64) -> Result<Vec<Order>, LedgerError> {
        self.conn
            .execute_cached(
                "UPDATE orders SET wrong_codes = wrong_codes + 1 \
                 WHERE user_id = ?1 AND state = 'pending'",
                [user_id],
            )
            .context("cannot count a wrong code")?;
        // The limit is bound, not written in: one statement to cache.
        let over = self.orders_where(
            "user_id = ?1 AND state = 'pending' AND wrong_codes >= ?2",
            params![user_id, limit],
        )?;
        let mut cancelled = Vec::new();
        for order in over {
            if self.set_order_state(order.id, State::Pending, State::Cancelled)? {
                cancelled.push(order);
            }
        }
        Ok(cancelled)
    }

    /// Executes an internal payment: the transfer and the order's end, in
    /// one transaction. `Ok(false)` when the order was no longer pending.
    pub fn execute_transfer(&mut self, order: &Order, to: i64) -> Result<bool, MoneyError> {
        let tx = self.write("cannot start a payment")?;
        let n = tx
            .execute_cached(
                "UPDATE orders SET state = 'done', updated_at = ?1 WHERE id = ?2 AND state = 'pending'",
                params![now(), order.id],
            )
            .context("cannot update an order")?;
        if n == 0 {
            return Ok(false);
        }
        transfer(
            &tx,
            order.user_id,
            to,
            order.amount,
            &format!("order:{}", order.id),
            order.comment.as_deref(),
        )?;
        tx.commit().context("cannot commit a payment")?;
        Ok(true)
    }
}

impl Ledger {
    /// Sent withdrawals not seen confirmed yet.
    pub fn unconfirmed_withdrawals(&self) -> Result<Vec<Order>, LedgerError> {
        let mut stmt = self
            .conn
            .cached(&format!(
                "SELECT {COLUMNS} FROM orders WHERE state IN ('sent', 'settled') \
                 AND recipient_kind = 'address' AND confirmed = 0 ORDER BY id"
            ))
            .context("cannot list orders")?;
        let rows = stmt
            .query_map([], order_from_row)
            .context("cannot list orders")?;
        rows.collect::<Result<_, _>>().context("cannot list orders")
    }

    /// Withdrawals handed towards the node since `since` (held or
    /// further), all users together. A tip held for its claim is a hold
    /// too, but no withdrawal: its reference is `claim:<id>`.
    pub fn withdrawals_since(&self, since: i64) -> Result<i64, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT count(*) FROM ledger WHERE kind = 'hold' AND created_at >= ?1 \
                 AND reference LIKE 'order:%'",
                [since],
                |r| r.get(0),
            )
            .context("cannot count withdrawals")
    }

    /// Remembers the chat message announcing a withdrawal, so that later
    /// news corrects it in place.
    pub fn set_order_message(&mut self, id: i64, message_id: &str) -> Result<(), LedgerError> {
        self.conn
            .execute_cached(
                "UPDATE orders SET message_id = ?1 WHERE id = ?2",
                params![message_id, id],
            )
            .context("cannot update an order")?;
        Ok(())
    }

    pub fn mark_confirmed(&mut self, id: i64) -> Result<(), LedgerError> {
        self.conn
            .execute_cached("UPDATE orders SET confirmed = 1 WHERE id = ?1", [id])
            .context("cannot update an order")?;
        Ok(())
    }

    /// Counts one more block without confirmation; true the first time
    /// the count reaches `limit` (the moment to tell the admins).
    pub fn block_without_confirmation(&mut self, id: i64, limit: i64) -> Result<bool, LedgerError> {
        self.conn
            .execute_cached(
                "UPDATE orders SET blocks_waited = blocks_waited + 1 WHERE id = ?1",
                [id],
            )
            .context("cannot update an order")?;
        let n = self
            .conn
            .execute_cached(
                "UPDATE orders SET stuck_reported = 1 \
                 WHERE id = ?1 AND blocks_waited >= ?2 AND stuck_reported = 0",
                params![id, limit],
            )
            .context("cannot update an order")?;
        Ok(n == 1)
    }
}

/// Gives a withdrawal's hold back to the spendable balance.
fn release(tx: &rusqlite::Connection, order: &Order) -> Result<(), MoneyError> {
    let held = hold_of(order);
    apply(
        tx,
        &Movement {
            user_id: order.user_id,
            kind: Kind::Release,
            amount: held,
            held: -held,
            debt: 0,
            reference: &format!("order:{}", order.id),
            peer: None,
            comment: None,
        },
    )
}

/// What a withdrawal holds: amount and fee reserve.
pub fn hold_of(order: &Order) -> i64 {
    order.amount.0 + order.fee_reserve.0
}

impl Ledger {
    /// Withdrawal step 1: the code is accepted, amount + fee reserve are
    /// held (pending → held), in one transaction.
    pub fn hold_withdrawal(&mut self, order: &Order) -> Result<bool, MoneyError> {
        let tx = self.write("cannot start a withdrawal")?;
        let n = tx
            .execute_cached(
                "UPDATE orders SET state = 'held', updated_at = ?1 WHERE id = ?2 AND state = 'pending'",
                params![now(), order.id],
            )
            .context("cannot update an order")?;
        if n == 0 {
            return Ok(false);
        }
        let held = hold_of(order);
        apply(
            &tx,
            &Movement {
                user_id: order.user_id,
                kind: Kind::Hold,
                amount: -held,
                held,
                debt: 0,
                reference: &format!("order:{}", order.id),
                peer: None,
                comment: None,
            },
        )?;
        tx.commit().context("cannot commit a hold")?;
        Ok(true)
    }

    /// Withdrawal step 4: the node gave a txid (sending/unknown → sent).
    pub fn mark_sent(&mut self, id: i64, txid: &str) -> Result<bool, LedgerError> {
        let n = self
            .conn
            .execute_cached(
                "UPDATE orders SET state = 'sent', txid = ?1, updated_at = ?2 \
                 WHERE id = ?3 AND state IN ('sending', 'unknown')",
                params![txid, now(), id],
            )
            .context("cannot update an order")?;
        Ok(n == 1)
    }

    /// A withdrawal that certainly did not leave (a definite refusal, or
    /// reconciliation found no trace): the hold is released once.
    pub fn fail_withdrawal(&mut self, order: &Order, from: &[State]) -> Result<bool, MoneyError> {
        let tx = self.write("cannot start a release")?;
        // One statement per list of states: the callers have three.
        let states: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
        let n = tx
            .execute_cached(
                &format!(
                    "UPDATE orders SET state = 'failed', updated_at = ?1 \
                     WHERE id = ?2 AND state IN ({})",
                    states.join(", ")
                ),
                params![now(), order.id],
            )
            .context("cannot update an order")?;
        if n == 0 {
            return Ok(false);
        }
        release(&tx, order)?;
        settle_debt(&tx, order.user_id, &format!("order:{}", order.id))?;
        tx.commit().context("cannot commit a release")?;
        Ok(true)
    }

    /// Withdrawal step 5: the fee the network was paid is known. The hold
    /// is released, the amount and the fee are debited (sent → settled).
    /// The user is never charged more than the fee reserve they confirmed;
    /// with `pay all` they pay the amount in all, the recipient getting
    /// `delivered` (the amount less the fee, when the wallet does not say).
    /// Returns the fee charged, which is less than `fee` only if the wallet
    /// paid more than the user could be charged (a fee above the reserve,
    /// or dust change the wallet gave to the miners): the admins must then
    /// know.
    pub fn settle_withdrawal(
        &mut self,
        order: &Order,
        fee: Sats,
        delivered: Option<Sats>,
    ) -> Result<Option<Sats>, MoneyError> {
        let charged = if order.subtract_fee {
            let delivered = delivered.unwrap_or(Sats(order.amount.0 - fee.0));
            Sats((order.amount.0 - delivered.0).clamp(0, order.amount.0))
        } else {
            Sats(fee.0.min(order.fee_reserve.0))
        };
        let tx = self.write("cannot start a settlement")?;
        let reference = format!("order:{}", order.id);
        let n = tx
            .execute_cached(
                "UPDATE orders SET state = 'settled', fee = ?1, network_fee = ?2, updated_at = ?3 \
                 WHERE id = ?4 AND state = 'sent'",
                params![charged.0, fee.0, now(), order.id],
            )
            .context("cannot update an order")?;
        if n == 0 {
            return Ok(None);
        }
        release(&tx, order)?;
        // With subtract_fee the user pays the amount in all, fee included.
        let sent = if order.subtract_fee {
            order.amount.0 - charged.0
        } else {
            order.amount.0
        };
        apply(
            &tx,
            &Movement {
                user_id: order.user_id,
                kind: Kind::Withdrawal,
                amount: -sent,
                held: 0,
                debt: 0,
                reference: &reference,
                peer: None,
                comment: order.comment.as_deref(),
            },
        )?;
        if charged.0 > 0 {
            apply(
                &tx,
                &Movement {
                    user_id: order.user_id,
                    kind: Kind::Fee,
                    amount: -charged.0,
                    held: 0,
                    debt: 0,
                    reference: &reference,
                    peer: None,
                    comment: None,
                },
            )?;
        }
        // The part of the reserve not charged is spendable again: a debt
        // takes it first.
        settle_debt(&tx, order.user_id, &reference)?;
        tx.commit().context("cannot commit a settlement")?;
        Ok(Some(charged))
    }

    /// Withdrawal step 3: marked sending, with the best block of the moment
    /// and the wallet's mark (held → sending).
    pub fn mark_sending(
        &mut self,
        id: i64,
        best_block: &str,
        marker: &str,
    ) -> Result<bool, LedgerError> {
        let n = self
            .conn
            .execute_cached(
                "UPDATE orders SET state = 'sending', sent_block = ?1, marker = ?2, \
                 updated_at = ?3 WHERE id = ?4 AND state = 'held'",
                params![best_block, marker, now(), id],
            )
            .context("cannot update an order")?;
        Ok(n == 1)
    }

    /// Records why reconciliation cannot tell whether a withdrawal was
    /// sent; true the first time (the moment to tell the admins).
    pub fn set_doubt(&mut self, id: i64, why: &str) -> Result<bool, LedgerError> {
        let n = self
            .conn
            .execute_cached(
                "UPDATE orders SET doubt = ?1 WHERE id = ?2 AND doubt IS NULL",
                params![why, id],
            )
            .context("cannot update an order")?;
        Ok(n == 1)
    }

    /// Withdrawals the network was paid more for than their users could be
    /// charged: what the operator absorbed, in all.
    pub fn absorbed_fees(&self) -> Result<Sats, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT coalesce(sum(network_fee - fee), 0) FROM orders \
                 WHERE state = 'settled' AND network_fee > fee",
                [],
                |r| r.get(0),
            )
            .map(Sats)
            .context("cannot sum fees")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::money::Kind;
    use crate::ledger::Registration;

    fn setup() -> (Ledger, i64, i64) {
        let mut l = Ledger::open_in_memory().unwrap();
        let Registration::Created(a) = l.register("a@x", "alice").unwrap() else {
            panic!()
        };
        let Registration::Created(b) = l.register("b@x", "bob").unwrap() else {
            panic!()
        };
        l.conn
            .execute("INSERT INTO ledger (user_id, kind, amount, reference, created_at) VALUES (?1, 'deposit', 1000, 't:0', 0)", [a.id])
            .unwrap();
        l.conn
            .execute("UPDATE users SET balance = 1000 WHERE id = ?1", [a.id])
            .unwrap();
        (l, a.id, b.id)
    }

    fn order(l: &mut Ledger, user: i64, amount: i64, code: &str) -> Order {
        l.create_order(&NewOrder {
            user_id: user,
            code,
            recipient_kind: Recipient::User,
            recipient: "bob",
            recipient_id: None,
            amount: Sats(amount),
            fee_reserve: Sats(0),
            fee_rate: None,
            subtract_fee: false,
            comment: Some("lunch"),
            nonce: None,
            expires_at: now() + 600,
            origin: Origin::Pay,
            tip: None,
        })
        .unwrap()
    }

    #[test]
    fn a_transfer_executes_once() {
        let (mut l, a, b) = setup();
        let o = order(&mut l, a, 400, "abcd");
        assert!(l.execute_transfer(&o, b).unwrap());
        assert!(
            !l.execute_transfer(&o, b).unwrap(),
            "a replay must not pay twice"
        );
        assert_eq!(l.user_by_id(a).unwrap().unwrap().balance, Sats(600));
        assert_eq!(l.user_by_id(b).unwrap().unwrap().balance, Sats(400));
        assert_eq!(l.order(o.id).unwrap().unwrap().state, State::Done);
        assert!(l.check_balances().unwrap().is_empty());
        let h = l.history(b, Some(a), 20).unwrap();
        assert_eq!(h[0].comment.as_deref(), Some("lunch"));
        assert_eq!(h[0].peer.as_deref(), Some("alice"));
    }

    #[test]
    fn insufficient_funds_change_nothing() {
        let (mut l, a, b) = setup();
        let o = order(&mut l, a, 4000, "abcd");
        assert!(matches!(
            l.execute_transfer(&o, b),
            Err(MoneyError::Insufficient { .. })
        ));
        assert_eq!(l.order(o.id).unwrap().unwrap().state, State::Pending);
        assert_eq!(l.user_by_id(a).unwrap().unwrap().balance, Sats(1000));
    }

    fn withdrawal(l: &mut Ledger, user: i64, amount: i64, reserve: i64, subtract: bool) -> Order {
        l.create_order(&NewOrder {
            user_id: user,
            code: "wwww",
            recipient_kind: Recipient::Address,
            recipient: "mAddr",
            recipient_id: None,
            amount: Sats(amount),
            fee_reserve: Sats(reserve),
            fee_rate: Some(20),
            subtract_fee: subtract,
            comment: None,
            nonce: Some("n0nce"),
            expires_at: now() + 600,
            origin: Origin::Pay,
            tip: None,
        })
        .unwrap()
    }

    #[test]
    fn a_withdrawal_holds_then_settles_to_the_actual_fee() {
        let (mut l, a, _) = setup();
        let o = withdrawal(&mut l, a, 500, 100, false);
        assert!(l.hold_withdrawal(&o).unwrap());
        assert!(!l.hold_withdrawal(&o).unwrap(), "held once");
        let u = l.user_by_id(a).unwrap().unwrap();
        assert_eq!((u.balance, u.held), (Sats(400), Sats(600)));
        assert!(l
            .set_order_state(o.id, State::Held, State::Sending)
            .unwrap());
        assert!(l.mark_sent(o.id, "txid1").unwrap());
        assert_eq!(
            l.settle_withdrawal(&o, Sats(45), None).unwrap(),
            Some(Sats(45))
        );
        assert_eq!(
            l.settle_withdrawal(&o, Sats(45), None).unwrap(),
            None,
            "settled once"
        );
        let u = l.user_by_id(a).unwrap().unwrap();
        assert_eq!((u.balance, u.held), (Sats(1000 - 500 - 45), Sats(0)));
        assert!(l.check_balances().unwrap().is_empty());
    }

    #[test]
    fn a_failed_withdrawal_releases_its_hold_once() {
        let (mut l, a, _) = setup();
        let o = withdrawal(&mut l, a, 500, 100, false);
        l.hold_withdrawal(&o).unwrap();
        l.set_order_state(o.id, State::Held, State::Sending)
            .unwrap();
        assert!(l.fail_withdrawal(&o, &[State::Sending]).unwrap());
        assert!(!l.fail_withdrawal(&o, &[State::Sending]).unwrap());
        let u = l.user_by_id(a).unwrap().unwrap();
        assert_eq!((u.balance, u.held), (Sats(1000), Sats(0)));
        assert!(
            !l.mark_sent(o.id, "late").unwrap(),
            "a failed order is never sent"
        );
    }

    #[test]
    fn pay_all_subtracts_the_fee_from_the_amount() {
        let (mut l, a, _) = setup();
        let o = withdrawal(&mut l, a, 1000, 0, true);
        l.hold_withdrawal(&o).unwrap();
        l.set_order_state(o.id, State::Held, State::Sending)
            .unwrap();
        l.mark_sent(o.id, "t").unwrap();
        assert_eq!(
            l.settle_withdrawal(&o, Sats(45), None).unwrap(),
            Some(Sats(45))
        );
        let u = l.user_by_id(a).unwrap().unwrap();
        assert_eq!((u.balance, u.held), (Sats(0), Sats(0)));
        assert!(l.check_balances().unwrap().is_empty());
    }

    // Issue 9, item 7: the user confirmed a reserve of 50; the wallet paid
    // 300. The user is charged 50, never more; the operator absorbed 250.
    #[test]
    fn a_fee_above_the_reserve_is_never_charged_beyond_the_reserve() {
        let (mut l, a, _) = setup();
        let o = withdrawal(&mut l, a, 900, 50, false);
        l.hold_withdrawal(&o).unwrap();
        l.set_order_state(o.id, State::Held, State::Sending)
            .unwrap();
        l.mark_sent(o.id, "t").unwrap();
        assert_eq!(
            l.settle_withdrawal(&o, Sats(300), None).unwrap(),
            Some(Sats(50))
        );
        let u = l.user_by_id(a).unwrap().unwrap();
        assert_eq!((u.balance, u.held), (Sats(50), Sats(0)));
        assert_eq!(l.absorbed_fees().unwrap(), Sats(250));
        let o = l.order(o.id).unwrap().unwrap();
        assert_eq!((o.fee, o.network_fee), (Some(Sats(50)), Some(Sats(300))));
        assert!(l.check_balances().unwrap().is_empty());
    }

    // The failure in the middle of a payment: the order is marked done and
    // the sender's balance lowered, then an entry cannot be written (the
    // recipient does not exist). Nothing of it may stay.
    #[test]
    fn a_transfer_failing_halfway_leaves_nothing() {
        let (mut l, a, _) = setup();
        let o = order(&mut l, a, 400, "abcd");
        assert!(l.execute_transfer(&o, 9999).is_err());
        assert_eq!(l.user_by_id(a).unwrap().unwrap().balance, Sats(1000));
        assert_eq!(l.order(o.id).unwrap().unwrap().state, State::Pending);
        assert!(l
            .history(a, None, 20)
            .unwrap()
            .iter()
            .all(|e| e.kind == Kind::Deposit));
        assert!(l.check_balances().unwrap().is_empty());
    }

    // The failure in the middle of step 1 of a withdrawal: the order is
    // marked held, then the hold is refused for funds. It stays pending.
    #[test]
    fn a_hold_refused_for_funds_leaves_the_order_pending() {
        let (mut l, a, _) = setup();
        let o = withdrawal(&mut l, a, 950, 100, false);
        assert!(matches!(
            l.hold_withdrawal(&o),
            Err(MoneyError::Insufficient { .. })
        ));
        assert_eq!(l.order(o.id).unwrap().unwrap().state, State::Pending);
        let u = l.user_by_id(a).unwrap().unwrap();
        assert_eq!((u.balance, u.held), (Sats(1000), Sats(0)));
    }

    // A settlement whose order is no longer 'sent' (settled already, or
    // failed) moves nothing, even with a fee.
    #[test]
    fn a_settlement_of_an_order_not_sent_moves_nothing() {
        let (mut l, a, _) = setup();
        let o = withdrawal(&mut l, a, 500, 100, false);
        l.hold_withdrawal(&o).unwrap();
        l.set_order_state(o.id, State::Held, State::Sending)
            .unwrap();
        assert_eq!(l.settle_withdrawal(&o, Sats(45), None).unwrap(), None);
        let u = l.user_by_id(a).unwrap().unwrap();
        assert_eq!((u.balance, u.held), (Sats(400), Sats(600)));
    }

    #[test]
    fn expiry_and_wrong_codes() {
        let (mut l, a, _) = setup();
        let o1 = order(&mut l, a, 1, "aaaa");
        let _o2 = order(&mut l, a, 2, "bbbb");
        l.conn
            .execute("UPDATE orders SET expires_at = 0 WHERE id = ?1", [o1.id])
            .unwrap();
        let expired = l.expire_orders(now()).unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].id, o1.id);
        assert!(l.wrong_code(a, 3).unwrap().is_empty());
        assert!(l.wrong_code(a, 3).unwrap().is_empty());
        let cancelled = l.wrong_code(a, 3).unwrap();
        assert_eq!(cancelled.len(), 1);
        assert!(l.pending_orders(a).unwrap().is_empty());
    }
}
