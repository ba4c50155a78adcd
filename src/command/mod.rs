//! The command layer: what a user or an admin can ask, with typed
//! arguments, for both faces (the chat commands of `crate::bot` and the
//! XEP-0050 forms of `crate::xep::adhoc`). Each command calls the wallet
//! services, has their news spoken, and answers with the sentences for
//! the asker.

pub mod requests;

use crate::amount::{AmountError, Sats};
use crate::bitcoin::address::AddressError;
use crate::bitcoin::uri;
use crate::entity::{self, Entity};
use crate::ledger::accounts::{UnregisterError, UsernameError};
use crate::ledger::orders::Order;
use crate::ledger::User;
use crate::notify::{render, BalanceView, Voice};
use crate::wallet::accounts::{self, Refusal as RegisterRefusal, Registered};
use crate::wallet::payments::{self, Amount, Confirmed, Recap, Refusal, Target};
use crate::wallet::tips::{self, Tipped};
use crate::wallet::withdrawals::{self, resolve_by_admin, Outcome, Verdict, VerdictError};
use crate::wallet::{audit, Message, News, Speaker, Wallet};
use crate::xmpp::{Element, Jid};
use std::time::Instant;

/// How many entries `history` shows.
pub const HISTORY_LENGTH: u32 = 20;

/// The services every face works with: the wallet, and the voice that
/// speaks its news.
pub struct Services {
    pub wallet: Wallet,
    pub voice: Voice,
    /// When the daemon started (XEP-0012 uptime).
    pub started: Instant,
}

impl Services {
    pub fn new(wallet: Wallet, voice: Voice) -> Services {
        Services {
            wallet,
            voice,
            started: Instant::now(),
        }
    }

    /// Turns the wallet's news into stanzas on `out`.
    pub fn speak(&mut self, news: Vec<News>, out: &mut Vec<Element>) {
        self.voice.speak(self.wallet.ledger(), news, out);
    }

    /// What a JID under our domain stands for.
    pub fn entity(&self, to: &Jid) -> Entity {
        entity::resolve(self.wallet.ledger(), self.wallet.network(), to)
    }

    /// The language to answer `stanza` from `user` in.
    pub fn lang(&self, stanza: &Element, user: Option<&User>) -> &'static str {
        self.voice.lang(stanza, user)
    }

    /// A catalog text.
    pub fn text(&self, lang: &str, key: &str, args: &[(&str, &str)]) -> String {
        self.voice.text(lang, key, args)
    }

    /// The sentence for a refusal, with the chain's name for address
    /// errors.
    pub fn refusal(&self, lang: &str, refusal: &Refusal) -> String {
        render::refusal(
            self.voice.catalogs(),
            lang,
            refusal,
            self.wallet.network().chain_name(),
        )
    }
}

/// An amount as typed: a number with its unit, or one of the words for
/// "all" (in `lang` or in English).
pub fn parse_amount(voice: &Voice, lang: &str, text: &str) -> Result<Amount, AmountError> {
    let text = text.trim();
    let is_all = voice
        .catalogs()
        .raw(lang, "word-all")
        .split(',')
        .chain(std::iter::once("all"))
        .any(|w| w.trim().eq_ignore_ascii_case(text));
    if is_all {
        return Ok(Amount::All);
    }
    Sats::parse_user(text).map(Amount::Exactly)
}

pub fn balance(s: &Services, lang: &str, user: &User) -> String {
    s.voice
        .balance_text(s.wallet.ledger(), user, lang, BalanceView::Reply)
}

pub fn new_address(s: &mut Services, lang: &str, user: &User, out: &mut Vec<Element>) -> String {
    match accounts::new_address(&mut s.wallet, user) {
        Some(address) => {
            let news = vec![News::NewAddress {
                user: user.clone(),
                address: address.clone(),
            }];
            s.speak(news, out);
            s.voice.text(
                lang,
                "address-new",
                &[
                    ("address", address.as_str()),
                    ("uri", &uri::format(&address, None, None)),
                ],
            )
        }
        None if s.wallet.node_is_down() => s.voice.text(lang, "node-down", &[]),
        None => s.voice.text(lang, "internal-error", &[]),
    }
}

pub fn history(s: &Services, lang: &str, user: &User, with: Option<&Target>) -> String {
    let entries = match with {
        None => s.wallet.ledger().history(user.id, None, HISTORY_LENGTH),
        Some(Target::User(peer)) => {
            s.wallet
                .ledger()
                .history(user.id, Some(peer.id), HISTORY_LENGTH)
        }
        Some(Target::Address(a)) => {
            s.wallet
                .ledger()
                .history_with_address(user.id, a.as_str(), HISTORY_LENGTH)
        }
    };
    let entries = match entries {
        Ok(e) => e,
        Err(e) => {
            log::error!("{e}");
            return s.voice.text(lang, "internal-error", &[]);
        }
    };
    if entries.is_empty() {
        return s.voice.text(lang, "history-empty", &[]);
    }
    let mut text = s.voice.text(lang, "history-intro", &[]);
    for entry in &entries {
        text.push('\n');
        text.push_str(&render::history_line(s.voice.catalogs(), lang, entry));
    }
    text
}

pub fn make_order(
    s: &mut Services,
    lang: &str,
    user: &User,
    amount: Amount,
    target: &Target,
    comment: Option<&str>,
) -> String {
    match payments::create(&mut s.wallet, user, amount, target, comment) {
        Ok(recap) => recap_text(s, lang, &recap),
        Err(r) => s.refusal(lang, &r),
    }
}

pub fn recap_text(s: &Services, lang: &str, recap: &Recap) -> String {
    render::recap(
        s.voice.catalogs(),
        lang,
        recap,
        s.wallet.settings().main.order_expiry.as_secs() / 60,
        s.wallet.settings().main.low_balance_warning,
    )
}

/// A tip in a room (`tip <amount> <nick> [comment]`, the nick resolved to
/// its real JID in `place` by the room face): its news (the room's line,
/// the recipient's message) spoken on `out`, and what the tipper is told
/// in private: the recap, the tip carried out, or why it was refused.
pub fn tip(
    s: &mut Services,
    lang: &str,
    tipper: &User,
    place: &crate::ledger::orders::Tip,
    amount: Sats,
    comment: Option<&str>,
    out: &mut Vec<Element>,
) -> String {
    let mut news = Vec::new();
    let outcome = tips::tip(&mut s.wallet, tipper, place, amount, comment, &mut news);
    s.speak(news, out);
    match outcome {
        Ok(tipped) => tip_text(s, lang, &tipped),
        Err(refusal) => s.refusal(lang, &refusal),
    }
}

/// What the tipper is told, in private, of a tip: its recap, or that it
/// was paid or is held for its claim (the room has its own line).
pub fn tip_text(s: &Services, lang: &str, tipped: &Tipped) -> String {
    let (order, key) = match tipped {
        Tipped::Recap(recap) => return recap_text(s, lang, recap),
        Tipped::Paid { order, .. } => (order, "tip-done"),
        Tipped::Held { order, .. } => (order, "tip-done-held"),
    };
    let nick = order.tip.as_ref().map_or("", |t| t.recipient_nick.as_str());
    let room = order.tip.as_ref().map_or("", |t| t.room.as_str());
    let balance = s
        .wallet
        .ledger()
        .user_by_id(order.user_id)
        .ok()
        .flatten()
        .map_or(Sats(0), |u| u.balance);
    s.voice.text(
        lang,
        key,
        &[
            ("amount", &order.amount.to_string()),
            ("recipient", nick),
            ("room", room),
            ("days", &tips::claim_days(&s.wallet).to_string()),
            ("balance", &balance.to_string()),
        ],
    )
}

fn pending_list(s: &Services, lang: &str, user: &User) -> String {
    let orders = s.wallet.pending_orders(user);
    if orders.is_empty() {
        return s.voice.text(lang, "no-pending", &[]);
    }
    let now = crate::ledger::now();
    let mut text = s.voice.text(lang, "pending-intro", &[]);
    for o in orders {
        text.push('\n');
        text.push_str(&s.voice.text(
            lang,
            "pending-line",
            &[
                ("code", &o.code),
                ("amount", &o.amount.to_string()),
                ("recipient", &o.recipient),
                // Whole minutes rounded up: 10 for an order just made.
                (
                    "minutes",
                    &(((o.expires_at - now).max(0) + 59) / 60).to_string(),
                ),
            ],
        ));
    }
    text
}

/// `confirm [code]`. With `living`, a withdrawal under way is announced
/// by a message of its own (corrected as it confirms) instead of a reply.
pub fn confirm(
    s: &mut Services,
    lang: &str,
    user: &User,
    code: &str,
    living: bool,
    out: &mut Vec<Element>,
) -> Vec<String> {
    let code = code.split_whitespace().next().unwrap_or_default();
    if code.is_empty() {
        return vec![pending_list(s, lang, user)];
    }
    let mut news = Vec::new();
    let outcome = payments::confirm(&mut s.wallet, user, code, &mut news);
    let me = s.wallet.fresh(user);
    let text = match outcome {
        Confirmed::Paid { order, to } => {
            let me = me.unwrap_or_else(|| user.clone());
            match requests::paid_news(s, user, &order) {
                Some(told) => news.extend(told),
                None => news.extend(recipient_news(&s.wallet, user, &to, &order)),
            }
            news.push(News::Balance(me.clone()));
            s.voice.text(
                lang,
                "confirm-paid",
                &[
                    ("amount", &order.amount.to_string()),
                    ("recipient", &to.username),
                    ("balance", &me.balance.to_string()),
                ],
            )
        }
        Confirmed::Withdrawal(outcome) => {
            let balance = me.as_ref().map_or(user.balance, |u| u.balance);
            news.extend(me.map(News::Balance));
            match withdrawal_message(&outcome, balance) {
                // A withdrawal under way is told by a living message that
                // later news corrects (confirmations, reconciliation).
                Some(message) => match &outcome {
                    Outcome::Sent { order, .. } | Outcome::Unknown(order) if living => {
                        withdrawals::announce(&mut s.wallet, order, message, &mut news);
                        s.speak(news, out);
                        return Vec::new();
                    }
                    _ => s.voice.say(lang, &message),
                },
                None => withdrawal_refusal(s, lang, &outcome),
            }
        }
        Confirmed::Tip(tipped) => tip_text(s, lang, &tipped),
        Confirmed::AlreadyDone(_) => s.voice.text(lang, "confirm-already", &[]),
        Confirmed::Expired(_) => s.voice.text(lang, "confirm-expired", &[]),
        Confirmed::Cancelled(_) => s.voice.text(lang, "confirm-cancelled", &[]),
        Confirmed::WrongCode { left: Some(0) } => {
            s.voice.text(lang, "confirm-wrong-cancelled", &[])
        }
        Confirmed::WrongCode { left: Some(left) } => {
            s.voice
                .text(lang, "confirm-wrong", &[("left", &left.to_string())])
        }
        Confirmed::WrongCode { left: None } => s.voice.text(lang, "confirm-wrong-none", &[]),
        Confirmed::Refused(r) => s.refusal(lang, &r),
    };
    s.speak(news, out);
    vec![text]
}

/// What the owner of a withdrawal that went out (or may have) is told,
/// with their balance after it; `None` when it did not go out.
fn withdrawal_message(outcome: &Outcome, balance: Sats) -> Option<Message> {
    match outcome {
        Outcome::Sent { order, txid, fee } => Some(
            Message::new(if fee.is_some() {
                "withdraw-sent"
            } else {
                "withdraw-sent-fee-later"
            })
            .with("amount", withdrawals::net_amount(order, *fee))
            .with("recipient", &order.recipient)
            .with("txid", txid)
            .with("fee", fee.unwrap_or_default())
            .with("balance", balance),
        ),
        Outcome::Unknown(_) => Some(Message::new("withdraw-unknown")),
        _ => None,
    }
}

/// Why a confirmed withdrawal did not go out.
fn withdrawal_refusal(s: &Services, lang: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Refused { message, code, .. } => s.voice.text(
            lang,
            "withdraw-refused",
            &[("message", message), ("code", &code.to_string())],
        ),
        Outcome::NodeDown(_) => s.voice.text(lang, "withdraw-node-down", &[]),
        Outcome::Insufficient { balance, needed } => s.refusal(
            lang,
            &Refusal::Insufficient {
                balance: *balance,
                needed: *needed,
                incoming: Sats(0),
            },
        ),
        Outcome::Frozen => s.voice.text(lang, "pay-frozen", &[]),
        Outcome::RateLimited => s.voice.text(lang, "withdraw-rate-limited", &[]),
        Outcome::AlreadyDone(_) => s.voice.text(lang, "confirm-already", &[]),
        Outcome::Sent { .. } | Outcome::Unknown(_) | Outcome::Internal | Outcome::Crashed => {
            s.voice.text(lang, "internal-error", &[])
        }
    }
}

/// The recipient of an internal payment hears it from the sender's
/// username contact, with the comment, and sees their new balance.
fn recipient_news(wallet: &Wallet, sender: &User, to: &User, order: &Order) -> Vec<News> {
    let Some(to) = wallet.fresh(to) else {
        return Vec::new();
    };
    let message = Message::new(if order.comment.is_some() {
        "payment-received-comment"
    } else {
        "payment-received"
    })
    .with("sender", &sender.username)
    .with("amount", order.amount)
    .with("comment", order.comment.as_deref().unwrap_or_default())
    .with("balance", to.balance);
    vec![
        News::Tell {
            user: to.clone(),
            from: Speaker::User(sender.username.clone()),
            message,
            living: None,
        },
        News::Balance(to),
    ]
}

/// `cancel [code]`; a request cancelled is declined, and its requester
/// told on `out`.
pub fn cancel(
    s: &mut Services,
    lang: &str,
    user: &User,
    code: &str,
    out: &mut Vec<Element>,
) -> Vec<String> {
    let code = code.split_whitespace().next().unwrap_or_default();
    if code.is_empty() {
        return vec![pending_list(s, lang, user)];
    }
    match payments::cancel(&mut s.wallet, user, code) {
        Some(order) => {
            let mut news = Vec::new();
            crate::wallet::requests::declined(&s.wallet, user, &order, &mut news);
            s.speak(news, out);
            // Declining a request is not cancelling a payment of one's own.
            let key = match order.origin {
                crate::ledger::orders::Origin::Request => "cancel-done-request",
                _ => "cancel-done",
            };
            let args = [("code", order.code.as_str()), ("user", &order.recipient)];
            vec![s.voice.text(lang, key, &args)]
        }
        None => vec![s.voice.text(lang, "cancel-none", &[("code", code)])],
    }
}

/// `tiplimit [amount]`: shows or sets the user's one-step tip limit,
/// never above the operator's maximum.
pub fn tiplimit(s: &mut Services, lang: &str, user: &User, typed: &str) -> String {
    let max = s.wallet.settings().rooms.max_tiplimit;
    let typed = typed.trim();
    if typed.is_empty() {
        let own = user.tiplimit;
        let key = if own.0 == 0 {
            "tiplimit-off"
        } else if own > max {
            "tiplimit-capped"
        } else {
            "tiplimit-show"
        };
        return s.voice.text(
            lang,
            key,
            &[("limit", &own.to_string()), ("max", &max.to_string())],
        );
    }
    let limit = match Sats::parse_user(typed) {
        Ok(limit) => limit,
        // 0 turns it off: the one place a zero amount means something.
        Err(AmountError::Zero) => Sats(0),
        Err(e) => return s.refusal(lang, &Refusal::Amount(e)),
    };
    match tips::set_limit(&mut s.wallet, user, limit) {
        Ok(()) if limit.0 == 0 => s.voice.text(lang, "tiplimit-set-off", &[]),
        Ok(()) => s
            .voice
            .text(lang, "tiplimit-set", &[("limit", &limit.to_string())]),
        Err(tips::LimitRefusal::TooHigh(max)) => {
            s.voice
                .text(lang, "tiplimit-too-high", &[("max", &max.to_string())])
        }
        Err(tips::LimitRefusal::Internal) => s.voice.text(lang, "internal-error", &[]),
    }
}

/// `language [code]`: shows or sets the language of the user's replies
/// (it then wins over the client's xml:lang); `language default` forgets
/// it.
pub fn language(s: &mut Services, lang: &str, user: &User, code: &str) -> String {
    let available: Vec<&str> = s.voice.catalogs().languages().collect();
    let list = available.join(", ");
    let code = code.trim().to_lowercase();
    if code.is_empty() {
        let current = user.language.clone().unwrap_or_else(|| lang.to_owned());
        return s.voice.text(
            lang,
            "language-current",
            &[("language", &current), ("available", &list)],
        );
    }
    let is_default = s
        .voice
        .catalogs()
        .languages()
        .flat_map(|l| s.voice.catalogs().raw(l, "word-default").split(','))
        .any(|w| w.trim() == code);
    let chosen = if is_default {
        None
    } else if available.contains(&code.as_str()) {
        Some(code.as_str())
    } else {
        return s.voice.text(
            lang,
            "language-unknown",
            &[("language", &code), ("available", &list)],
        );
    };
    if let Err(e) = s.wallet.ledger_mut().set_language(user.id, chosen) {
        log::error!("{e}");
        return s.voice.text(lang, "internal-error", &[]);
    }
    let new_lang = chosen.unwrap_or_else(|| s.voice.default_lang());
    s.voice
        .text(new_lang, "language-set", &[("language", new_lang)])
}

/// What the admin hears after `unfreeze`.
fn unfrozen_text(s: &Services, lang: &str, unfrozen: &audit::Unfrozen) -> String {
    match unfrozen {
        audit::Unfrozen::Open | audit::Unfrozen::Unaudited => {
            s.voice.text(lang, "unfreeze-done", &[])
        }
        audit::Unfrozen::StillShort(r) => s.voice.text(
            lang,
            "unfreeze-still-short",
            &[
                ("wallet", &r.wallet.to_string()),
                ("owed", &r.owed().to_string()),
                ("debts", &r.debts.to_string()),
            ],
        ),
        audit::Unfrozen::Internal => s.voice.text(lang, "internal-error", &[]),
    }
}

/// `resolve <order> sent <txid>` / `resolve <order> notsent`: an admin
/// settles a withdrawal reconciliation could not.
pub fn resolve(
    s: &mut Services,
    lang: &str,
    order: i64,
    verdict: Verdict,
    out: &mut Vec<Element>,
) -> String {
    let id = order.to_string();
    match resolve_by_admin(&mut s.wallet, order, &verdict) {
        Ok(result) => {
            let mut news = Vec::new();
            crate::wallet::tell_reconciled(&mut s.wallet, &result, &mut news);
            s.speak(news, out);
            match verdict {
                Verdict::Sent(txid) => {
                    s.voice
                        .text(lang, "resolve-sent", &[("order", &id), ("txid", &txid)])
                }
                Verdict::NotSent => s.voice.text(lang, "resolve-not-sent", &[("order", &id)]),
            }
        }
        Err(VerdictError::NotInDoubt) => {
            s.voice
                .text(lang, "resolve-not-in-doubt", &[("order", &id)])
        }
        Err(VerdictError::UnknownTransaction) => {
            let txid = match &verdict {
                Verdict::Sent(t) => t.as_str(),
                Verdict::NotSent => "",
            };
            s.voice.text(lang, "resolve-unknown-tx", &[("txid", txid)])
        }
        Err(VerdictError::NodeDown) => s.voice.text(lang, "node-down", &[]),
        Err(VerdictError::Internal) => s.voice.text(lang, "internal-error", &[]),
    }
}

pub fn audit_report(s: &mut Services, lang: &str) -> String {
    match audit::report(&mut s.wallet) {
        Ok(r) => {
            let state = match audit::frozen_because(&s.wallet) {
                Some(why) => {
                    let why = why.map_or_else(|raw| raw, |m| s.voice.say(lang, &m));
                    s.voice.text(lang, "audit-frozen", &[("why", &why)])
                }
                None => s.voice.text(lang, "audit-open", &[]),
            };
            let covered = s.voice.text(
                lang,
                if r.covered() { "audit-yes" } else { "audit-no" },
                &[],
            );
            let mut text = s.voice.text(
                lang,
                "audit-reply",
                &[
                    ("wallet", &r.wallet.to_string()),
                    ("owed", &r.owed().to_string()),
                    ("balances", &r.balances.to_string()),
                    ("held", &r.held.to_string()),
                    ("in_flight", &r.in_flight.to_string()),
                    ("debts", &r.debts.to_string()),
                    ("absorbed", &r.absorbed.to_string()),
                    ("covered", &covered),
                    ("state", &state),
                ],
            );
            if !r.drifted.is_empty() {
                text.push('\n');
                text.push_str(&s.voice.text(
                    lang,
                    "audit-drift",
                    &[("users", &r.drifted.join(", "))],
                ));
            }
            text
        }
        Err(_) => s.voice.text(lang, "node-down", &[]),
    }
}

pub fn address_error_text(s: &Services, lang: &str, e: &AddressError) -> String {
    s.refusal(lang, &Refusal::Address(e.clone()))
}

/// `register <name>`: opens, renames or brings back `from`'s account;
/// the sentence saying what happened, `Err` when refused.
pub fn register(
    s: &mut Services,
    lang: &str,
    from: &Jid,
    name: &str,
    out: &mut Vec<Element>,
) -> Result<String, (RegisterRefusal, String)> {
    let mut news = Vec::new();
    let result = accounts::register(&mut s.wallet, from, name, &mut news);
    s.speak(news, out);
    match result {
        Ok(registered) => Ok(registered_text(s, lang, &registered)),
        Err(refusal) => {
            let text = refusal_text(s, lang, from, &refusal);
            Err((refusal, text))
        }
    }
}

/// `unregister`: closes `from`'s account, refused while it holds money.
pub fn unregister(
    s: &mut Services,
    lang: &str,
    from: &Jid,
    out: &mut Vec<Element>,
) -> Result<String, (UnregisterError, String)> {
    let mut news = Vec::new();
    let result = accounts::unregister(&mut s.wallet, from, &mut news);
    s.speak(news, out);
    match result {
        Ok(_) => Ok(s.voice.text(lang, "unregistered", &[])),
        Err(e) => {
            let text = unregister_error_text(s, lang, &e);
            Err((e, text))
        }
    }
}

/// `unfreeze`: an admin lifts the freeze of withdrawals; `Err` when they
/// are frozen again at once (or the database failed).
pub fn unfreeze(
    s: &mut Services,
    lang: &str,
    by: &str,
    out: &mut Vec<Element>,
) -> Result<String, String> {
    let mut news = Vec::new();
    let unfrozen = audit::unfreeze(&mut s.wallet, by, &mut news);
    s.speak(news, out);
    let text = unfrozen_text(s, lang, &unfrozen);
    match unfrozen {
        audit::Unfrozen::Open | audit::Unfrozen::Unaudited => Ok(text),
        audit::Unfrozen::StillShort(_) | audit::Unfrozen::Internal => Err(text),
    }
}

/// The user-facing sentence for a refusal, in `lang`.
fn refusal_text(s: &Services, lang: &str, from: &Jid, refusal: &RegisterRefusal) -> String {
    match refusal {
        RegisterRefusal::NotAUser => s.voice.text(
            lang,
            "register-not-allowed",
            &[("jid", &from.bare().to_string())],
        ),
        RegisterRefusal::DomainNotServed => s.voice.text(
            lang,
            "register-domain-not-served",
            &[
                ("jid", &from.bare().to_string()),
                (
                    "domains",
                    &s.wallet.settings().main.allowed_domains.join(", "),
                ),
            ],
        ),
        RegisterRefusal::Username { error, name } => {
            let c = match error {
                UsernameError::BadCharacter(c) => c.to_string(),
                _ => String::new(),
            };
            s.voice.text(
                lang,
                error.message_key(),
                &[("username", name), ("char", &c)],
            )
        }
        RegisterRefusal::Internal => s.voice.text(lang, "internal-error", &[]),
    }
}

/// The sentence for a successful registration.
fn registered_text(s: &Services, lang: &str, registered: &Registered) -> String {
    match registered {
        Registered::Created {
            user,
            address: Some(address),
        } => s.voice.text(
            lang,
            "registered",
            &[("username", &user.username), ("address", address.as_str())],
        ),
        Registered::Created {
            user,
            address: None,
        } => s.voice.text(
            lang,
            "registered-no-address",
            &[("username", &user.username)],
        ),
        Registered::Renamed { user, old } => s.voice.text(
            lang,
            "renamed",
            &[("username", &user.username), ("old", old)],
        ),
        Registered::Unchanged(user) => {
            s.voice
                .text(lang, "already-registered", &[("username", &user.username)])
        }
    }
}

/// The sentence for a refused unregistration.
fn unregister_error_text(s: &Services, lang: &str, e: &UnregisterError) -> String {
    match e {
        UnregisterError::NotRegistered => s.voice.text(lang, "not-registered", &[]),
        UnregisterError::NotEmpty { balance, held } => s.voice.text(
            lang,
            "unregister-not-empty",
            &[
                ("balance", &balance.to_string()),
                ("held", &held.to_string()),
            ],
        ),
        UnregisterError::Db(e) => {
            log::error!("{e}");
            s.voice.text(lang, "internal-error", &[])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitcoin::sim::Fault;
    use crate::testkit::{bodies, xml, Bench};

    const BTC: i64 = 100_000_000;

    /// alice with 1 BTC, an order of 0.01 BTC to an address of the world,
    /// and its code.
    fn withdrawal() -> (Bench, User, String, String) {
        let mut b = Bench::new();
        // A chain long enough for the poller to see each new block (its
        // cursor stays WATCH_DEPTH blocks behind the tip).
        for _ in 0..crate::wallet::deposits::WATCH_DEPTH {
            b.chain.borrow_mut().mine(&[], None);
        }
        let alice = b.register("alice", "alice");
        b.deposit(&alice, BTC);
        let to = b.chain.borrow_mut().world_address();
        let code = b.order("alice", &format!("0.01 {to}"));
        let alice = b.user("alice").unwrap();
        (b, alice, to, code)
    }

    #[test]
    fn the_words_for_all_are_english_and_the_users_own() {
        let b = Bench::new();
        let voice = &b.gateway.services_ref().voice;
        for typed in ["all", "ALL", " All "] {
            assert_eq!(parse_amount(voice, "en", typed), Ok(Amount::All), "{typed}");
            assert_eq!(parse_amount(voice, "fr", typed), Ok(Amount::All), "{typed}");
        }
        for typed in ["tout", "Tout", "TOUT"] {
            assert_eq!(parse_amount(voice, "fr", typed), Ok(Amount::All), "{typed}");
        }
        // French words are French only.
        assert_eq!(
            parse_amount(voice, "en", "tout"),
            Err(AmountError::NotANumber)
        );
    }

    #[test]
    fn amounts_are_btc_or_whole_satoshis() {
        let b = Bench::new();
        let voice = &b.gateway.services_ref().voice;
        for (typed, sats) in [
            ("1", BTC),
            ("0.5", BTC / 2),
            (".25", BTC / 4),
            ("0.00000001", 1),
            ("21000000", 21_000_000 * BTC),
            ("5000 sat", 5000),
            ("5000sats", 5000),
            ("1 SAT", 1),
            (" 2 ", 2 * BTC),
        ] {
            assert_eq!(
                parse_amount(voice, "en", typed),
                Ok(Amount::Exactly(Sats(sats))),
                "{typed}"
            );
        }
    }

    #[test]
    fn amounts_that_are_not_amounts_say_why() {
        let b = Bench::new();
        let voice = &b.gateway.services_ref().voice;
        for (typed, error) in [
            ("", AmountError::Empty),
            ("-1", AmountError::Negative),
            ("0", AmountError::Zero),
            ("0 sat", AmountError::Zero),
            ("1e3", AmountError::Exponent),
            ("0.123456789", AmountError::TooManyDecimals),
            ("21000000.00000001", AmountError::TooLarge),
            ("1,5", AmountError::Comma),
            ("1.5 sat", AmountError::FractionalSats),
            ("١", AmountError::NonAsciiDigit),
            ("lots", AmountError::NotANumber),
            ("sat", AmountError::NotANumber),
        ] {
            assert_eq!(parse_amount(voice, "fr", typed), Err(error), "{typed:?}");
        }
    }

    #[test]
    fn a_withdrawal_confirmed_without_living_messages_is_answered_in_the_reply() {
        let (mut b, alice, to, code) = withdrawal();
        let mut out = Vec::new();
        let replies = confirm(b.services(), "en", &alice, &code, false, &mut out);
        let order = b.chain.borrow().sends.last().cloned().expect("sent");
        let txid = order.1;
        let me = b.user("alice").unwrap();
        assert_eq!(replies.len(), 1);
        let fee = replies[0]
            .split("Network fee: ")
            .nth(1)
            .and_then(|rest| rest.split(". ").next())
            .expect("a fee");
        let fee_sats = Sats::parse_user(fee.strip_suffix(" BTC").unwrap()).unwrap();
        assert_eq!(
            replies[0],
            format!(
                "Sent 0.01 BTC to {to}: transaction {txid}. Network fee: {fee}. \
                 Your balance is {}.",
                me.balance
            )
        );
        assert_eq!(
            fee_sats.0 + BTC / 100 + me.balance.0,
            BTC,
            "the fee is on top of the amount"
        );
        assert!(bodies(&out).is_empty(), "{:?}", xml(&out));
    }

    #[test]
    fn a_withdrawal_confirmed_with_living_messages_is_told_by_one_that_later_corrects_itself() {
        let (mut b, alice, to, code) = withdrawal();
        let mut out = Vec::new();
        let replies = confirm(b.services(), "en", &alice, &code, true, &mut out);
        assert!(replies.is_empty(), "{replies:?}");
        let messages: Vec<&Element> = out.iter().filter(|e| e.name == "message").collect();
        assert_eq!(messages.len(), 1, "{:?}", xml(&out));
        let first = messages[0];
        assert_eq!(first.get_attr("from"), Some("bitcoin.example.org"));
        assert_eq!(first.get_attr("to"), Some("alice@example.org"));
        let id = first.get_attr("id").expect("an id to correct").to_owned();
        assert!(first
            .get_child("replace", crate::notify::NS_CORRECT)
            .is_none());
        let body = bodies(&out).remove(0);
        assert!(
            body.starts_with(&format!("Sent 0.01 BTC to {to}: transaction ")),
            "{body}"
        );
        // A block later the same message says it confirmed.
        b.chain.borrow_mut().mine_mempool();
        let out = b.tick();
        let corrections: Vec<&Element> = out
            .iter()
            .filter(|e| e.name == "message" && e.get_attr("to") == Some("alice@example.org"))
            .collect();
        assert_eq!(corrections.len(), 1, "{:?}", xml(&out));
        let replace = corrections[0]
            .get_child("replace", crate::notify::NS_CORRECT)
            .expect("a correction");
        assert_eq!(replace.get_attr("id"), Some(id.as_str()));
        assert_ne!(corrections[0].get_attr("id"), Some(id.as_str()));
        let corrected = bodies(&out).remove(0);
        let txid = b.chain.borrow().sends[0].1.clone();
        assert!(
            corrected.starts_with(&format!(
                "Sent 0.01 BTC to {to}: transaction {txid}, confirmed. Network fee: "
            )),
            "{corrected}"
        );
    }

    #[test]
    fn a_withdrawal_the_node_refuses_frees_the_funds_and_says_why() {
        let (mut b, alice, _, code) = withdrawal();
        b.chain.borrow_mut().fail_next(
            Some("sendtoaddress"),
            Fault::Error(-6, "Insufficient funds"),
        );
        let mut out = Vec::new();
        let replies = confirm(b.services(), "en", &alice, &code, true, &mut out);
        assert_eq!(
            replies,
            [
                "The Bitcoin node refused this withdrawal (Insufficient funds, code -6); \
              nothing was sent and your funds are free again."
            ]
        );
        let me = b.user("alice").unwrap();
        assert_eq!((me.balance.0, me.held.0), (BTC, 0));
    }

    #[test]
    fn a_withdrawal_while_the_node_is_down_frees_the_funds() {
        let (mut b, alice, _, code) = withdrawal();
        b.chain.borrow_mut().fail_next(None, Fault::Down);
        let mut out = Vec::new();
        let replies = confirm(b.services(), "en", &alice, &code, true, &mut out);
        assert_eq!(
            replies,
            [
                "The Bitcoin node cannot be reached: nothing was sent and your funds are \
              free again. Try again in a moment."
            ]
        );
        assert_eq!(b.user("alice").unwrap().balance.0, BTC);
    }

    #[test]
    fn a_withdrawal_in_doubt_keeps_its_hold_and_says_so() {
        for living in [false, true] {
            let (mut b, alice, _, code) = withdrawal();
            b.chain
                .borrow_mut()
                .fail_next(Some("sendtoaddress"), Fault::Error(-1, "odd"));
            let mut out = Vec::new();
            let replies = confirm(b.services(), "en", &alice, &code, living, &mut out);
            let doubt = "The Bitcoin node did not answer clearly. Your funds stay held \
                         while I check whether it went out; you will be told. \
                         Nothing is ever sent twice.";
            if living {
                assert!(replies.is_empty());
                assert_eq!(bodies(&out), [doubt]);
                assert!(out[0].get_attr("id").is_some());
            } else {
                assert_eq!(replies, [doubt]);
                assert!(bodies(&out).is_empty());
            }
            assert!(b.user("alice").unwrap().held.0 > BTC / 100);
        }
    }

    #[test]
    fn withdrawals_are_refused_while_frozen_but_payments_to_users_work() {
        let (mut b, alice, _, code) = withdrawal();
        b.register("bob", "bob");
        b.services()
            .wallet
            .ledger_mut()
            .set_state(audit::FROZEN, "test")
            .unwrap();
        let mut out = Vec::new();
        let replies = confirm(b.services(), "en", &alice, &code, true, &mut out);
        assert_eq!(
            replies,
            [
                "Withdrawals are frozen while the administrators check the wallet; \
              payments to users still work."
            ]
        );
        let code = b.order("alice", "0.1 bob");
        let replies = confirm(b.services(), "en", &alice, &code, true, &mut out);
        assert_eq!(replies, ["Paid 0.1 BTC to bob. Your balance is 0.9 BTC."]);
    }

    #[test]
    fn an_admin_resolves_a_withdrawal_in_doubt() {
        let (mut b, alice, to, code) = withdrawal();
        b.chain
            .borrow_mut()
            .fail_next(Some("sendtoaddress"), Fault::Error(-1, "odd"));
        confirm(b.services(), "en", &alice, &code, true, &mut Vec::new());
        let order = b
            .services()
            .wallet
            .ledger()
            .order_by_code(alice.id, &code)
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        let s = b.services();
        assert_eq!(
            resolve(s, "en", 999, Verdict::NotSent, &mut out),
            "Order 999 is not a withdrawal in doubt."
        );
        assert!(out.is_empty());
        assert_eq!(
            resolve(s, "en", order.id, Verdict::NotSent, &mut out),
            format!(
                "Order {} is recorded as not sent; its funds are free again.",
                order.id
            )
        );
        assert_eq!(
            bodies(&out),
            [format!(
                "Your withdrawal of 0.01 BTC to {to} did not go out; \
                 the funds are free again. Your balance is 1 BTC."
            )]
        );
        assert_eq!(b.user("alice").unwrap().held.0, 0);
    }

    #[test]
    fn the_audit_report_says_what_the_wallet_covers() {
        let (mut b, ..) = withdrawal();
        let report = audit_report(b.services(), "en");
        assert_eq!(
            report,
            "Wallet: 1 BTC\nOwed to users: 1 BTC (balances 1 BTC + held 0 BTC)\n\
             Known holes: owed by users after reversed deposits 0 BTC; \
             fees the operator absorbed 0 BTC\nWithdrawals in flight: 0 BTC\n\
             Covered: yes. Withdrawals: open."
        );
    }

    #[test]
    fn language_takes_default_in_english_and_french() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        for word in ["default", "défaut", "defaut", "DÉFAUT"] {
            language(b.services(), "en", &alice, "fr");
            assert_eq!(b.user("alice").unwrap().language.as_deref(), Some("fr"));
            assert_eq!(
                language(b.services(), "fr", &alice, word),
                "From now on I answer you in en.",
                "{word}"
            );
            assert_eq!(b.user("alice").unwrap().language, None, "{word}");
        }
    }

    #[test]
    fn the_default_language_is_the_first_configured_one() {
        let mut b = Bench::with("languages = fr, en");
        let alice = b.register("alice", "alice");
        assert_eq!(
            language(b.services(), "en", &alice, "default"),
            "Désormais je vous réponds en fr."
        );
    }

    #[test]
    fn only_users_of_the_served_domains_can_register() {
        let mut b = Bench::new();
        let mut out = Vec::new();
        let from = Jid::parse("carol@elsewhere.net/pc").unwrap();
        let (_, why) = register(b.services(), "en", &from, "carol", &mut out).unwrap_err();
        assert_eq!(
            why,
            "This gateway opens wallets for users of example.org only; \
             carol@elsewhere.net cannot register here."
        );
        let server = Jid::parse("example.org").unwrap();
        let (_, why) = register(b.services(), "en", &server, "server", &mut out).unwrap_err();
        assert_eq!(
            why,
            "Only user accounts can register: example.org is a server or service address."
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_recap_warns_when_little_is_left() {
        let mut b = Bench::with("low_balance_warning = 0.5");
        let alice = b.register("alice", "alice");
        b.register("bob", "bob");
        b.deposit(&alice, BTC);
        let recap = b.say("alice", "pay 0.6 bob");
        assert!(
            recap[0].contains("Note: this leaves you less than 0.5 BTC."),
            "{recap:?}"
        );
        let recap = b.say("alice", "pay 0.4 bob");
        assert!(recap[0].starts_with("Pay 0.4 BTC to bob."), "{recap:?}");
        assert!(!recap[0].contains("Note:"), "{recap:?}");
    }
}
