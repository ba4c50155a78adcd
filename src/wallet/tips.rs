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
//!
//! The recipient is always found again by JID when the tip is carried
//! out: the tipper saw a person, not a username. A recipient who renamed
//! themself is still paid; one who left (or registered) since the recap
//! gets the tip the way their JID can take it now.

use crate::amount::Sats;
use crate::ledger::claims::Claim;
use crate::ledger::money::MoneyError;
use crate::ledger::orders::{NewOrder, Order, Origin, Recipient, Tip};
use crate::ledger::User;
use crate::wallet::payments::{self, Confirmed, Recap, Refusal};
use crate::wallet::{accounts, Message, News, Wallet};
use crate::xmpp::Jid;

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

/// The tipper's one-step limit as it applies now: their own, capped by
/// the operator's maximum (lowered by a reload, it caps older limits).
pub fn effective_limit(wallet: &Wallet, user: &User) -> Sats {
    user.tiplimit.min(wallet.settings.rooms.max_tiplimit)
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
    let tipper = wallet.fresh(tipper).unwrap_or_else(|| tipper.clone());
    let jid = match Jid::parse(place.recipient_jid.trim()) {
        Ok(jid) => jid.bare(),
        Err(_) => return Err(Refusal::UnknownRecipient(place.recipient_nick.clone())),
    };
    let bare = jid.to_string().to_lowercase();
    if bare == tipper.jid {
        return Err(Refusal::ToSelf);
    }
    let recipient = wallet
        .ledger
        .user_by_jid(&bare)
        .map_err(payments::internal)?;
    if recipient.is_none() && !accounts::may_open_wallet(wallet, &jid) {
        return Err(Refusal::Unclaimable(place.recipient_nick.clone()));
    }
    payments::room_for_order(wallet, &tipper)?;
    if amount.0 <= 0 || amount > tipper.balance {
        return Err(payments::short_of_funds(
            wallet,
            &tipper,
            tipper.balance,
            amount,
        ));
    }
    let place = Tip {
        recipient_jid: bare,
        ..place.clone()
    };
    let code = payments::new_code(wallet)?;
    let expires_at = payments::order_expiry(wallet);
    let order = wallet
        .ledger
        .create_order(&NewOrder {
            user_id: tipper.id,
            code: &code,
            recipient_kind: Recipient::User,
            recipient: recipient
                .as_ref()
                .map_or(&place.recipient_nick, |r| &r.username),
            recipient_id: recipient.as_ref().map(|r| r.id),
            amount,
            fee_reserve: Sats(0),
            fee_rate: None,
            subtract_fee: false,
            comment,
            nonce: None,
            expires_at,
            origin: Origin::Tip,
            tip: Some(&place),
        })
        .map_err(payments::internal)?;
    log::info!(
        "tip {} by {} in {}: {amount} to {}",
        order.id,
        tipper.username,
        place.room,
        place.recipient_jid
    );
    if amount > effective_limit(wallet, &tipper) {
        let left = Sats(tipper.balance.0 - amount.0);
        return Ok(Tipped::Recap(Recap {
            order,
            fee: None,
            total: amount,
            left,
            low_balance: left < wallet.settings.main.low_balance_warning,
        }));
    }
    match execute(wallet, &tipper, &order, news) {
        Ok(Some(tipped)) => Ok(tipped),
        // Made a moment ago: nobody else can have carried it out.
        Ok(None) => Err(Refusal::Internal),
        Err(refusal) => {
            // Nothing moved: the order made for it must not wait for a code.
            let _ = wallet.ledger.set_order_state(
                order.id,
                crate::ledger::orders::State::Pending,
                crate::ledger::orders::State::Cancelled,
            );
            Err(refusal)
        }
    }
}

/// `confirm <code>` of a waiting tip: carried out, as `payments::confirm`
/// says it.
pub(super) fn confirm(
    wallet: &mut Wallet,
    tipper: &User,
    order: Order,
    news: &mut Vec<News>,
) -> Confirmed {
    match execute(wallet, tipper, &order, news) {
        Ok(Some(tipped)) => Confirmed::Tip(tipped),
        Ok(None) => Confirmed::AlreadyDone(order),
        Err(refusal) => Confirmed::Refused(refusal),
    }
}

/// Where a tip's money went.
enum Carried {
    Paid(User),
    /// Held for the recipient's JID: the claim's id.
    Held(i64),
}

/// Carries out a tip order: to the account its JID has now, or held for
/// that JID to claim. `Ok(None)` when it was no longer waiting (a
/// replayed code). A refusal moved nothing.
fn execute(
    wallet: &mut Wallet,
    tipper: &User,
    order: &Order,
    news: &mut Vec<News>,
) -> Result<Option<Tipped>, Refusal> {
    let Some(place) = order.tip.clone() else {
        log::error!("tip order {} has no room or recipient", order.id);
        return Err(Refusal::Internal);
    };
    let to = wallet
        .ledger
        .user_by_jid(&place.recipient_jid)
        .map_err(payments::internal)?;
    // The money moves, or nothing does: `None` when the order was no
    // longer waiting.
    let moved = match &to {
        Some(to) => wallet
            .ledger
            .execute_transfer(order, to.id)
            .map(|done| done.then(|| Carried::Paid(to.clone()))),
        None => {
            let expires_at =
                crate::ledger::now() + wallet.settings.rooms.claim_expiry.as_secs() as i64;
            wallet
                .ledger
                .hold_for_claim(order, &place.recipient_jid, expires_at)
                .map(|claim| claim.map(Carried::Held))
        }
    };
    let carried = match moved {
        Ok(Some(carried)) => carried,
        Ok(None) => return Ok(None),
        Err(MoneyError::Insufficient { balance, needed }) => {
            return Err(payments::short_of_funds(wallet, tipper, balance, needed));
        }
        Err(e) => {
            log::error!("tip {}: {e:?}", order.id);
            return Err(Refusal::Internal);
        }
    };
    news.push(News::Room {
        room: place.room.clone(),
        message: room_line(order, &place),
    });
    if let Some(me) = wallet.fresh(tipper) {
        news.push(News::Balance(me));
    }
    let tipped = match carried {
        Carried::Paid(to) => {
            let to = wallet.fresh(&to).unwrap_or(to);
            log::info!("tip {}: paid to {}", order.id, to.username);
            let message = Message::new(if order.comment.is_some() {
                "tip-received-comment"
            } else {
                "tip-received"
            })
            .with("tipper", known_as(&place.tipper_nick, &tipper.username))
            .with("amount", order.amount)
            .with("room", &place.room)
            .with("comment", order.comment.as_deref().unwrap_or_default())
            .with("balance", to.balance);
            news.push(News::tell(&to, message));
            news.push(News::Balance(to.clone()));
            Tipped::Paid {
                order: order.clone(),
                to,
            }
        }
        Carried::Held(claim_id) => {
            log::info!(
                "tip {}: held for {} (claim {claim_id})",
                order.id,
                place.recipient_jid
            );
            let message = Message::new("tip-held-for-you")
                .with("tipper", &place.tipper_nick)
                .with("amount", order.amount)
                .with("room", &place.room)
                .with("days", claim_days(wallet))
                .with("gateway", &wallet.settings.domain);
            news.push(News::TellJid {
                jid: place.recipient_jid.clone(),
                message,
            });
            Tipped::Held {
                order: order.clone(),
                claim_id,
            }
        }
    };
    Ok(Some(tipped))
}

/// The room's line for a tip carried out, with the nicks as the tipper
/// saw them.
fn room_line(order: &Order, place: &Tip) -> Message {
    Message::new(if order.comment.is_some() {
        "tip-room-line-comment"
    } else {
        "tip-room-line"
    })
    .with("tipper", &place.tipper_nick)
    .with("recipient", &place.recipient_nick)
    .with("amount", order.amount)
    .with("comment", order.comment.as_deref().unwrap_or_default())
}

/// How many days a held tip waits for its claim.
pub fn claim_days(wallet: &Wallet) -> u64 {
    wallet.settings.rooms.claim_expiry.as_secs() / 86_400
}

/// The nick a held tip's recipient had for its tipper, or their JID.
fn recipient_seen_as(wallet: &Wallet, claim: &Claim) -> String {
    match wallet.ledger.order(claim.order_id) {
        Ok(Some(Order { tip: Some(t), .. })) => t.recipient_nick,
        _ => claim.jid.clone(),
    }
}

/// Pays `user`, who just registered (or came back), the tips held for
/// their JID, each in one transaction; both sides are told.
pub fn claim_held(wallet: &mut Wallet, user: &User, news: &mut Vec<News>) {
    let claims = match wallet.ledger.held_claims_for(&user.jid) {
        Ok(claims) => claims,
        Err(e) => {
            log::error!("{e}");
            return;
        }
    };
    for claim in claims {
        match wallet.ledger.pay_claim(&claim, user.id) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                log::error!("claim {} by {}: {e:?}", claim.id, user.username);
                continue;
            }
        }
        log::info!("claim {}: {} to {}", claim.id, claim.amount, user.username);
        let tipper = wallet.ledger.user_by_id(claim.tipper_id).ok().flatten();
        let tipper_name = tipper.as_ref().map_or("", |t| t.username.as_str());
        let room = claim.room.clone().unwrap_or_default();
        if let Some(me) = wallet.fresh(user) {
            let message = Message::new("tip-claimed-by-you")
                .with("amount", claim.amount)
                .with("tipper", tipper_name)
                .with("room", &room)
                .with("balance", me.balance);
            news.push(News::tell(&me, message));
            news.push(News::Balance(me));
        }
        if let Some(tipper) = tipper {
            let message = Message::new("tip-claimed")
                .with("amount", claim.amount)
                .with("recipient", recipient_seen_as(wallet, &claim))
                .with("username", &user.username)
                .with("room", &room);
            news.push(News::tell(&tipper, message));
            news.push(News::Balance(tipper));
        }
    }
}

/// Gives the tips nobody claimed in time back to their tippers (the
/// wallet's tick), each once.
pub fn return_expired(wallet: &mut Wallet, news: &mut Vec<News>) {
    let claims = match wallet.ledger.expired_claims(crate::ledger::now()) {
        Ok(claims) => claims,
        Err(e) => {
            log::error!("{e}");
            return;
        }
    };
    for claim in claims {
        match wallet.ledger.return_claim(&claim) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                log::error!("claim {} not returned: {e:?}", claim.id);
                continue;
            }
        }
        log::info!("claim {}: {} back to its tipper", claim.id, claim.amount);
        let Some(tipper) = wallet.ledger.user_by_id(claim.tipper_id).ok().flatten() else {
            continue;
        };
        let message = Message::new("tip-returned")
            .with("amount", claim.amount)
            .with("recipient", recipient_seen_as(wallet, &claim))
            .with("room", claim.room.clone().unwrap_or_default())
            .with("days", claim_days(wallet))
            .with("balance", tipper.balance);
        news.push(News::tell(&tipper, message));
        news.push(News::Balance(tipper));
    }
}

/// Why a tip limit was not set.
#[derive(Debug, PartialEq, Eq)]
pub enum LimitRefusal {
    /// Above `[rooms] max_tiplimit`, which it names.
    TooHigh(Sats),
    Internal,
}

/// Sets `user`'s one-step tip limit (0: every tip asks for a code).
pub fn set_limit(wallet: &mut Wallet, user: &User, limit: Sats) -> Result<(), LimitRefusal> {
    let max = wallet.settings.rooms.max_tiplimit;
    if limit > max || limit.0 < 0 {
        return Err(LimitRefusal::TooHigh(max));
    }
    wallet.ledger.set_tiplimit(user.id, limit).map_err(|e| {
        log::error!("{e}");
        LimitRefusal::Internal
    })?;
    log::info!("{} set a tip limit of {limit}", user.username);
    Ok(())
}

/// The tipper as the recipient should know them: their nick in the room,
/// and their username (what `pay` and history show) when it differs.
fn known_as(nick: &str, username: &str) -> String {
    if nick.eq_ignore_ascii_case(username) {
        nick.to_owned()
    } else {
        format!("{nick} ({username})")
    }
}
