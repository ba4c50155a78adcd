//! Tips in rooms: `tip <amount> <nick> [comment]` from an occupant pays
//! the person behind that nick, by the real JID the room showed.
//!
//! A tip is a payment order of `payments` with origin `tip`: its recap
//! and code go to the tipper privately, unless the amount is at most the
//! tipper's own one-step limit (`tiplimit`, capped by `[rooms]
//! max_tiplimit`), in which case it is carried out at once. A tip carried
//! out tells the room one line (a [`News::Room`]). A tip to someone
//! without a wallet is held (a claim) for that real JID to claim by
//! registering within `[rooms] claim_days`; an unclaimed tip goes back to
//! the tipper.

use crate::amount::Sats;
use crate::ledger::orders::{Order, Tip};
use crate::ledger::User;
use crate::wallet::payments::{Recap, Refusal};
use crate::wallet::{News, Wallet};

/// What a tip became.
#[derive(Debug)]
pub enum Tipped {
    /// It waits for the tipper's code: the recap goes to them privately.
    Recap(Recap),
    /// Carried out at once (within the tipper's limit), to a wallet.
    Paid { order: Order, to: User },
    /// Carried out at once to someone without a wallet: held for them.
    Held { order: Order, claim_id: i64 },
}

/// Makes a tip of `amount` from `tipper` to the person `place` names.
/// What the room, the recipient and the balances must show is pushed on
/// `news`; the caller answers the tipper (the recap, or a refusal) in
/// private, never in the room.
pub fn tip(
    wallet: &mut Wallet,
    tipper: &User,
    place: &Tip,
    amount: Sats,
    comment: Option<&str>,
    news: &mut Vec<News>,
) -> Result<Tipped, Refusal> {
    let _ = (wallet, tipper, place, amount, comment, news);
    Err(Refusal::Internal)
}
