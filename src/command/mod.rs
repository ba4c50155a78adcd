//! The command layer: what a user or an admin can ask, with typed
//! arguments, for both faces (the chat commands of `crate::bot` and the
//! XEP-0050 forms of `crate::xep::adhoc`). Each command calls the wallet
//! services, has their news spoken, and answers with the sentences for
//! the asker.

use crate::amount::{AmountError, Sats};
use crate::bitcoin::address::AddressError;
use crate::bitcoin::uri;
use crate::ledger::accounts::{UnregisterError, UsernameError};
use crate::ledger::orders::Order;
use crate::ledger::User;
use crate::notify::{render, Voice};
use crate::wallet::accounts::{self, Refusal as RegisterRefusal, Registered};
use crate::wallet::payments::{self, Amount, Confirmed, Recap, Refusal, Target};
use crate::wallet::withdrawals::{self, Outcome};
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
    let mut text = s.voice.text(
        lang,
        "balance-reply",
        &[("balance", &user.balance.to_string())],
    );
    let incoming = s.wallet.ledger().incoming_of(user.id).unwrap_or_default();
    if incoming.0 > 0 {
        text.push('\n');
        text.push_str(&s.voice.text(
            lang,
            "balance-incoming",
            &[("amount", &incoming.to_string())],
        ));
    }
    if user.held.0 > 0 {
        text.push('\n');
        text.push_str(
            &s.voice
                .text(lang, "balance-held", &[("amount", &user.held.to_string())]),
        );
    }
    if user.debt.0 > 0 {
        text.push('\n');
        text.push_str(
            &s.voice
                .text(lang, "balance-debt", &[("amount", &user.debt.to_string())]),
        );
    }
    text
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

fn pending_list(s: &Services, lang: &str, user: &User) -> String {
    let orders = s
        .wallet
        .ledger()
        .pending_orders(user.id)
        .unwrap_or_default();
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
            news.extend(recipient_news(&s.wallet, user, &to, &order));
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

pub fn cancel(s: &mut Services, lang: &str, user: &User, code: &str) -> Vec<String> {
    let code = code.split_whitespace().next().unwrap_or_default();
    if code.is_empty() {
        return vec![pending_list(s, lang, user)];
    }
    match payments::cancel(&mut s.wallet, user, code) {
        Some(order) => vec![s.voice.text(lang, "cancel-done", &[("code", &order.code)])],
        None => vec![s.voice.text(lang, "cancel-none", &[("code", code)])],
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
    let chosen = if code == "default" || code == "défaut" || code == "defaut" {
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
    let new_lang = chosen.unwrap_or_else(|| {
        s.voice
            .catalogs()
            .pick(None, None, &s.wallet.settings().main.languages)
    });
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
pub fn resolve(s: &mut Services, lang: &str, args: &str, out: &mut Vec<Element>) -> String {
    use crate::wallet::withdrawals::{resolve_by_admin, Verdict, VerdictError};
    let words: Vec<&str> = args.split_whitespace().collect();
    let order: Option<i64> = words.first().and_then(|w| w.parse().ok());
    let verdict = match words.get(1).map(|w| w.to_lowercase()).as_deref() {
        Some("sent") if words.len() == 3 => Some(Verdict::Sent(words[2].to_lowercase())),
        Some("notsent") if words.len() == 2 => Some(Verdict::NotSent),
        _ => None,
    };
    let (Some(order), Some(verdict)) = (order, verdict) else {
        return s.voice.text(lang, "resolve-usage", &[]);
    };
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
            let state = match s.wallet.ledger().state(audit::FROZEN) {
                Ok(Some(why)) => s.voice.text(lang, "audit-frozen", &[("why", &why)]),
                _ => s.voice.text(lang, "audit-open", &[]),
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
