//! Payment orders, for chat and forms alike: `pay` creates an order and
//! moves no money; `confirm <code>` executes it; `cancel <code>` drops it.
//!
//! Codes are 6 characters from an alphabet without look-alikes, drawn
//! from the operating system's CSPRNG. Only the user who made an order can
//! confirm or cancel it; a few wrong codes cancel the user's waiting
//! orders; a replayed code says "already done" and never pays twice.

use crate::amount::{AmountError, Sats};
use crate::bitcoin::address::{Address, AddressError};
use crate::bitcoin::node::NodeError;
use crate::bitcoin::uri::{self, UriError};
use crate::ledger::money::MoneyError;
use crate::ledger::orders::{NewOrder, Order, Origin, Recipient, State};
use crate::ledger::User;
use crate::wallet::{tips, withdrawals};
use crate::wallet::{News, Wallet};

const CODE_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const CODE_LENGTH: usize = 6;

/// A typical transaction's virtual size, for fee estimates: one or two
/// inputs and two outputs.
const TYPICAL_VSIZE: i64 = 250;
/// The reserve held for the fee is this many times the estimate: the
/// wallet may need more inputs than a typical transaction.
const RESERVE_FACTOR: i64 = 2;

/// How much to pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    All,
    Exactly(Sats),
}

/// Who to pay.
#[derive(Debug, Clone)]
pub enum Target {
    User(User),
    Address(Address),
}

/// Why an order was not made, with what the user needs to know.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    Amount(AmountError),
    Address(AddressError),
    /// A `bitcoin:` URI that cannot be paid as it is.
    Uri(UriError),
    UnknownRecipient(String),
    /// The user named in the recap left or changed their username since.
    RecipientChanged(String),
    ToSelf,
    /// A tip to someone whose server may never open a wallet here: they
    /// could never claim it (by nick, as the tipper named them).
    Unclaimable(String),
    TooManyPending(usize),
    /// Funds: what is spendable, what the payment takes, and the
    /// unconfirmed incoming amount that does not count yet.
    Insufficient {
        balance: Sats,
        needed: Sats,
        incoming: Sats,
    },
    /// Funds for a withdrawal: the fee reserve is what tips it over.
    FeeReserve {
        balance: Sats,
        amount: Sats,
        reserve: Sats,
    },
    BelowMinimum(Sats),
    Frozen,
    NodeDown,
    Internal,
}

/// A new order and what its recap shows.
#[derive(Debug)]
pub struct Recap {
    pub order: Order,
    /// The estimated network fee, for withdrawals.
    pub fee: Option<Sats>,
    /// What leaves the balance (estimate, for withdrawals).
    pub total: Sats,
    pub left: Sats,
    pub low_balance: bool,
}

/// `length` characters of the code alphabet from the CSPRNG.
fn random_word(length: usize) -> Result<String, Refusal> {
    let mut bytes = vec![0u8; length];
    getrandom::fill(&mut bytes).map_err(|e| {
        log::error!("no randomness: {e}");
        Refusal::Internal
    })?;
    // 256 is not a multiple of 31: rejecting high bytes would remove the
    // bias, but the bias is below 1% per character and a code is valid
    // for minutes, not years.
    Ok(bytes
        .iter()
        .map(|b| CODE_ALPHABET[*b as usize % CODE_ALPHABET.len()] as char)
        .collect())
}

/// A fresh confirmation code.
pub(super) fn new_code(wallet: &Wallet) -> Result<String, Refusal> {
    for _ in 0..10 {
        let code = random_word(CODE_LENGTH)?;
        match wallet.ledger.code_in_use(&code) {
            Ok(false) => return Ok(code),
            Ok(true) => continue,
            Err(e) => {
                log::error!("{e}");
                return Err(Refusal::Internal);
            }
        }
    }
    Err(Refusal::Internal)
}

/// Resolves what a user typed as a recipient: a username, an address, or
/// a `bitcoin:` URI (whose amount, if any, is returned too). A URI names
/// an address, never a username.
pub fn parse_target(wallet: &Wallet, typed: &str) -> Result<(Target, Option<Sats>), Refusal> {
    let typed = typed.trim();
    let network = wallet.node.network();
    if let Some(parsed) = uri::parse(typed) {
        let parsed = parsed.map_err(Refusal::Uri)?;
        let address = Address::parse(parsed.address, network).map_err(Refusal::Address)?;
        return Ok((Target::Address(address), parsed.amount));
    }
    let name = typed.to_lowercase();
    if crate::ledger::accounts::is_valid_username(&name) {
        return match wallet.ledger.user_by_username(&name) {
            Ok(Some(user)) => Ok((Target::User(user), None)),
            Ok(None) => Err(Refusal::UnknownRecipient(typed.to_owned())),
            Err(e) => {
                log::error!("{e}");
                Err(Refusal::Internal)
            }
        };
    }
    match Address::parse(typed, network) {
        Ok(address) => Ok((Target::Address(address), None)),
        Err(AddressError::NotAnAddress) => Err(Refusal::UnknownRecipient(typed.to_owned())),
        Err(e) => Err(Refusal::Address(e)),
    }
}

/// Creates an order from `user` and returns its recap. Moves no money.
pub fn create(
    wallet: &mut Wallet,
    user: &User,
    amount: Amount,
    target: &Target,
    comment: Option<&str>,
) -> Result<Recap, Refusal> {
    room_for_order(wallet, user)?;
    let incoming = wallet.ledger.incoming_of(user.id).unwrap_or_default();
    let balance = user.balance;
    let (recipient_kind, recipient, recipient_id, amount, fee, rate, reserve, subtract) =
        match target {
            Target::User(to) => {
                if to.id == user.id {
                    return Err(Refusal::ToSelf);
                }
                let amount = match amount {
                    Amount::Exactly(a) => a,
                    Amount::All => balance,
                };
                if amount.0 <= 0 || amount > balance {
                    return Err(Refusal::Insufficient {
                        balance,
                        needed: amount,
                        incoming,
                    });
                }
                (
                    Recipient::User,
                    to.username.clone(),
                    Some(to.id),
                    amount,
                    None,
                    None,
                    Sats(0),
                    false,
                )
            }
            Target::Address(address) => {
                if wallet.is_frozen() {
                    return Err(Refusal::Frozen);
                }
                let rate = match wallet
                    .node
                    .fee_rate(wallet.settings.bitcoin.fallback_fee_rate)
                {
                    Ok(rate) => rate,
                    Err(NodeError::Down(_)) => return Err(Refusal::NodeDown),
                    Err(e) => {
                        log::error!("fee estimate: {e}");
                        return Err(Refusal::Internal);
                    }
                };
                let estimate = Sats(rate * TYPICAL_VSIZE);
                let (amount, reserve, subtract) = match amount {
                    // The whole balance leaves; the fee comes out of it.
                    Amount::All => (balance, Sats(0), true),
                    Amount::Exactly(a) => (a, Sats(estimate.0 * RESERVE_FACTOR), false),
                };
                let min = wallet.settings.bitcoin.min_withdrawal;
                let net = if subtract {
                    amount.0 - estimate.0
                } else {
                    amount.0
                };
                if amount.0 <= 0 || net < min.0 {
                    if amount > balance || (subtract && balance.0 < min.0 + estimate.0) {
                        return Err(Refusal::Insufficient {
                            balance,
                            needed: Sats(min.0 + if subtract { estimate.0 } else { 0 }),
                            incoming,
                        });
                    }
                    return Err(Refusal::BelowMinimum(min));
                }
                if amount > balance {
                    return Err(Refusal::Insufficient {
                        balance,
                        needed: amount,
                        incoming,
                    });
                }
                if amount.0 + reserve.0 > balance.0 {
                    return Err(Refusal::FeeReserve {
                        balance,
                        amount,
                        reserve,
                    });
                }
                (
                    Recipient::Address,
                    address.as_str().to_owned(),
                    None,
                    amount,
                    Some(estimate),
                    Some(rate),
                    reserve,
                    subtract,
                )
            }
        };
    let code = new_code(wallet)?;
    let nonce = match recipient_kind {
        Recipient::Address => Some(random_word(8)?),
        Recipient::User => None,
    };
    let expires_at = order_expiry(wallet);
    let order = wallet
        .ledger
        .create_order(&NewOrder {
            user_id: user.id,
            code: &code,
            recipient_kind,
            recipient: &recipient,
            recipient_id,
            amount,
            fee_reserve: reserve,
            fee_rate: rate,
            subtract_fee: subtract,
            comment,
            nonce: nonce.as_deref(),
            expires_at,
            origin: Origin::Pay,
            tip: None,
        })
        .map_err(internal)?;
    let total = match (fee, subtract) {
        (Some(fee), false) => Sats(amount.0 + fee.0),
        _ => amount,
    };
    let left = Sats(balance.0 - total.0);
    log::info!(
        "order {} by {}: {} to {}",
        order.id,
        user.username,
        amount,
        order.recipient
    );
    Ok(Recap {
        order,
        fee,
        total,
        left,
        low_balance: left < wallet.settings.main.low_balance_warning,
    })
}

/// Refuses one more order waiting for `user`'s code beyond
/// `max_pending_orders`, whatever made it (pay, tip or a request to them).
pub(super) fn room_for_order(wallet: &Wallet, user: &User) -> Result<(), Refusal> {
    let pending = wallet.ledger.pending_orders(user.id).map_err(internal)?;
    let max = wallet.settings.main.max_pending_orders;
    if pending.len() >= max {
        return Err(Refusal::TooManyPending(max));
    }
    Ok(())
}

/// The refusal of a movement the ledger found `user` short for, with the
/// unconfirmed incoming amount that does not count yet.
pub(super) fn short_of_funds(wallet: &Wallet, user: &User, balance: Sats, needed: Sats) -> Refusal {
    Refusal::Insufficient {
        balance,
        needed,
        incoming: wallet.ledger.incoming_of(user.id).unwrap_or_default(),
    }
}

/// When an order made now expires unconfirmed.
pub(super) fn order_expiry(wallet: &Wallet) -> i64 {
    crate::ledger::now() + wallet.settings.main.order_expiry.as_secs() as i64
}

pub(super) fn internal(e: crate::ledger::LedgerError) -> Refusal {
    log::error!("{e}");
    Refusal::Internal
}

/// What `confirm <code>` did.
#[derive(Debug)]
pub enum Confirmed {
    /// An internal payment was made.
    Paid {
        order: Order,
        to: User,
    },
    /// A withdrawal went through one of its outcomes.
    Withdrawal(withdrawals::Outcome),
    /// A tip was carried out (paid, or held for its claim).
    Tip(tips::Tipped),
    AlreadyDone(Order),
    Expired(Order),
    Cancelled(Order),
    /// No such code for this user: `left` tries before the user's
    /// waiting orders are cancelled (0: they just were; `None`: the user
    /// has no waiting orders).
    WrongCode {
        left: Option<i64>,
    },
    /// The payment could not be made: funds or recipient.
    Refused(Refusal),
}

/// Executes the order with `code`, if it is the user's and still waiting.
pub fn confirm(wallet: &mut Wallet, user: &User, code: &str, news: &mut Vec<News>) -> Confirmed {
    let code = code.trim().to_lowercase();
    let order = match wallet.ledger.order_by_code(user.id, &code) {
        Ok(Some(o)) => o,
        Ok(None) => return wrong_code(wallet, user, news),
        Err(e) => {
            log::error!("{e}");
            return Confirmed::Refused(Refusal::Internal);
        }
    };
    match order.state {
        State::Pending if order.expires_at <= crate::ledger::now() => {
            let _ = wallet
                .ledger
                .set_order_state(order.id, State::Pending, State::Expired);
            Confirmed::Expired(order)
        }
        State::Pending if order.origin == Origin::Tip => tips::confirm(wallet, user, order, news),
        State::Pending => match order.recipient_kind {
            Recipient::User => pay_user(wallet, user, order),
            Recipient::Address => Confirmed::Withdrawal(withdrawals::execute(wallet, &order, news)),
        },
        State::Expired => Confirmed::Expired(order),
        State::Cancelled | State::Failed => Confirmed::Cancelled(order),
        _ => Confirmed::AlreadyDone(order),
    }
}

fn wrong_code(wallet: &mut Wallet, user: &User, news: &mut Vec<News>) -> Confirmed {
    let limit = wallet.settings.main.max_wrong_codes;
    match wallet.ledger.wrong_code(user.id, limit) {
        Ok(cancelled) => {
            crate::wallet::requests::dropped(wallet, &cancelled, news);
            if !cancelled.is_empty() {
                log::warn!(
                    "{} gave {limit} wrong codes: {} orders cancelled",
                    user.username,
                    cancelled.len()
                );
                return Confirmed::WrongCode { left: Some(0) };
            }
            let pending = wallet.ledger.pending_orders(user.id).unwrap_or_default();
            let worst = pending.iter().map(|o| o.wrong_codes).max();
            Confirmed::WrongCode {
                left: worst.map(|w| (limit - w).max(1)),
            }
        }
        Err(e) => {
            log::error!("{e}");
            Confirmed::Refused(Refusal::Internal)
        }
    }
}

/// Pays the account the recap named. A recipient who left or renamed
/// themself since is refused: the name in the recap may belong to a
/// stranger by now, and the payer confirmed a payment to that name.
fn pay_user(wallet: &mut Wallet, user: &User, order: Order) -> Confirmed {
    let account = match order.recipient_id {
        Some(id) => wallet.ledger.user_by_id(id),
        None => Ok(None),
    };
    let to = match account {
        Ok(Some(to)) if to.username == order.recipient && !to.removed => to,
        Ok(_) => return Confirmed::Refused(Refusal::RecipientChanged(order.recipient)),
        Err(e) => {
            log::error!("{e}");
            return Confirmed::Refused(Refusal::Internal);
        }
    };
    match wallet.ledger.execute_transfer(&order, to.id) {
        Ok(true) => {
            log::info!(
                "order {}: {} paid {} to {}",
                order.id,
                user.username,
                order.amount,
                to.username
            );
            Confirmed::Paid { order, to }
        }
        Ok(false) => Confirmed::AlreadyDone(order),
        Err(MoneyError::Insufficient { balance, needed }) => {
            Confirmed::Refused(short_of_funds(wallet, user, balance, needed))
        }
        Err(e) => {
            log::error!("order {}: {e:?}", order.id);
            Confirmed::Refused(Refusal::Internal)
        }
    }
}

/// Cancels a waiting order of `user`; `None` if there is no such order.
pub fn cancel(wallet: &mut Wallet, user: &User, code: &str) -> Option<Order> {
    let code = code.trim().to_lowercase();
    let order = wallet.ledger.order_by_code(user.id, &code).ok().flatten()?;
    if order.state != State::Pending {
        return None;
    }
    match wallet
        .ledger
        .set_order_state(order.id, State::Pending, State::Cancelled)
    {
        Ok(true) => Some(order),
        _ => None,
    }
}
