//! Chat commands: parsing (pure, in [`command`]) and execution. Every
//! sentence users see lives in the catalogs of [`i18n`], not in code.
//!
//! To the gateway, an unregistered user can only register: whatever else
//! they write gets the welcome, which says how. A registered user's
//! message that is only an address or a `bitcoin:` URI makes that
//! address's contact open a chat with them (a URI with an amount prepares
//! the payment). A contact (user or address) takes `pay`, `history`,
//! `confirm` and `cancel` about itself.

pub mod command;
pub mod i18n;
pub mod render;

use crate::amount::Sats;
use crate::bitcoin::address::{Address, AddressError};
use crate::entity::Entity;
use crate::gateway::Gateway;
use crate::ledger::orders::Order;
use crate::ledger::User;
use crate::presence;
use crate::wallet::payments::{self, Amount, Confirmed, Recap, Refusal, Target};
use crate::wallet::withdrawals::Outcome;
use crate::wallet::{accounts, audit};
use crate::xep::gateway::strip_uri;
use crate::xep::vcard::bip21;
use crate::xmpp::stanza::{error_reply, Condition, StanzaError};
use crate::xmpp::{ns, Element, Jid};
use command::{match_command, Match};

/// The commands of the gateway, in help order.
const GATEWAY_COMMANDS: &[&str] = &[
    "help",
    "register",
    "unregister",
    "balance",
    "address",
    "pay",
    "confirm",
    "cancel",
    "history",
    "language",
];
const ADMIN_COMMANDS: &[&str] = &["audit", "unfreeze", "resolve"];
const CONTACT_COMMANDS: &[&str] = &["help", "pay", "history", "confirm", "cancel"];

/// How many entries `history` shows.
const HISTORY_LENGTH: u32 = 20;

/// A chat message from `from` to `to`.
pub fn chat(from: &Jid, to: &str, lang: &str, body: &str) -> Element {
    Element::new("message", ns::COMPONENT)
        .attr("type", "chat")
        .attr("from", &from.to_string())
        .attr("to", to)
        .attr("xml:lang", lang)
        .text_child("body", body)
}

/// One command being answered.
struct Turn<'a> {
    from: &'a Jid,
    /// Who answers: the gateway or the contact written to.
    me: Jid,
    /// The contact's name as users know it (username or address).
    name: String,
    lang: &'static str,
}

/// Handles a message from `from` to `entity`.
pub fn on_message(
    gateway: &mut Gateway,
    stanza: &Element,
    from: &Jid,
    entity: &Entity,
    out: &mut Vec<Element>,
) {
    if matches!(
        stanza.get_attr("type"),
        Some("error" | "groupchat" | "headline")
    ) {
        return;
    }
    // Chat states, receipts and the like carry no body: nothing to answer.
    let Some(body) = stanza
        .get_child("body", ns::COMPONENT)
        .map(Element::text_content)
    else {
        return;
    };
    let user = gateway.user_of(from);
    let lang = gateway.lang(stanza, user.as_ref());
    let (me, name) = match entity {
        Entity::Gateway => (gateway.jid.clone(), gateway.jid.to_string()),
        Entity::User(u) => (gateway.contact_jid(&u.username), u.username.clone()),
        Entity::Address(a) => (gateway.contact_jid(&a.to_node()), a.to_string()),
        Entity::Unknown => {
            out.push(error_reply(
                stanza,
                &StanzaError::with_text(Condition::ItemNotFound, "no such user or address"),
            ));
            return;
        }
    };
    let turn = Turn {
        from,
        me,
        name,
        lang,
    };
    let replies = match (entity, &user) {
        (Entity::Gateway, _) => to_gateway(gateway, &turn, user.as_ref(), &body, out),
        (_, None) => vec![welcome(gateway, lang)],
        (Entity::User(contact), Some(user)) => {
            let target = Target::User(contact.clone());
            to_contact(gateway, &turn, user, &target, &body, out)
        }
        (Entity::Address(address), Some(user)) => {
            let target = Target::Address(address.clone());
            to_contact(gateway, &turn, user, &target, &body, out)
        }
        (Entity::Unknown, _) => Vec::new(),
    };
    let to = from.to_string();
    for text in replies {
        out.push(chat(&turn.me, &to, lang, &text));
    }
}

/// The replies of the gateway to `body`.
fn to_gateway(
    gateway: &mut Gateway,
    turn: &Turn,
    user: Option<&User>,
    body: &str,
    out: &mut Vec<Element>,
) -> Vec<String> {
    let lang = turn.lang;
    let Some(user) = user else {
        return match match_command(&gateway.catalogs, lang, &["register"], body) {
            Match::Command("register", name) => register(gateway, turn, name, out),
            _ => vec![welcome(gateway, lang)],
        };
    };
    let mut ids: Vec<&'static str> = GATEWAY_COMMANDS.to_vec();
    if gateway.is_admin(turn.from) {
        ids.extend_from_slice(ADMIN_COMMANDS);
    }
    match match_command(&gateway.catalogs, lang, &ids, body) {
        Match::Command("help", topic) => vec![help(gateway, lang, &ids, topic)],
        Match::Command("register", name) => register(gateway, turn, name, out),
        Match::Command("unregister", _) => match accounts::unregister(gateway, turn.from, out) {
            Ok(_) => vec![gateway.text(lang, "unregistered", &[])],
            Err(e) => vec![accounts::unregister_error_text(gateway, lang, &e)],
        },
        Match::Command("balance", _) => vec![balance(gateway, lang, user)],
        Match::Command("address", _) => vec![new_address(gateway, lang, user, out)],
        Match::Command("pay", args) => pay(gateway, turn, user, None, args),
        Match::Command("confirm", code) => confirm(gateway, lang, user, code, true, out),
        Match::Command("cancel", code) => cancel(gateway, lang, user, code),
        Match::Command("history", _) => vec![history(gateway, lang, user, None)],
        Match::Command("language", code) => vec![language(gateway, lang, user, code)],
        Match::Command("audit", _) => vec![audit_report(gateway, lang)],
        Match::Command("unfreeze", _) => {
            let by = turn.from.bare().to_string();
            let unfrozen = audit::unfreeze(gateway, &by, out);
            vec![unfrozen_text(gateway, lang, &unfrozen)]
        }
        Match::Command("resolve", args) => vec![resolve(gateway, lang, args, out)],
        Match::Command(other, _) => {
            log::error!("command {other} has no implementation");
            vec![gateway.text(lang, "internal-error", &[])]
        }
        Match::Unknown(word) => match looks_like_address(gateway, body) {
            Some(Ok((address, None))) => {
                let contact = gateway.contact_jid(&address.to_node());
                out.push(chat(
                    &contact,
                    &turn.from.to_string(),
                    lang,
                    &gateway.text(lang, "address-hello", &[("address", address.as_str())]),
                ));
                Vec::new()
            }
            // A URI with an amount prepares the payment.
            Some(Ok((address, Some(amount)))) => {
                let target = Target::Address(address);
                vec![make_order(
                    gateway,
                    lang,
                    user,
                    Amount::Exactly(amount),
                    &target,
                    None,
                )]
            }
            Some(Err(e)) => vec![address_error_text(gateway, lang, &e)],
            None => vec![gateway.text(lang, "unknown-command", &[("input", word)])],
        },
        Match::Ambiguous(candidates) => vec![ambiguous(gateway, lang, body, &candidates)],
        Match::Empty => Vec::new(),
    }
}

/// The replies of a contact (a user or an address) to `body`.
fn to_contact(
    gateway: &mut Gateway,
    turn: &Turn,
    user: &User,
    target: &Target,
    body: &str,
    out: &mut Vec<Element>,
) -> Vec<String> {
    let lang = turn.lang;
    match match_command(&gateway.catalogs, lang, CONTACT_COMMANDS, body) {
        Match::Command("help", _) | Match::Empty => vec![contact_help(gateway, lang, turn)],
        Match::Command("pay", args) => pay(gateway, turn, user, Some(target), args),
        Match::Command("history", _) => vec![history(gateway, lang, user, Some(target))],
        Match::Command("confirm", code) => confirm(gateway, lang, user, code, true, out),
        Match::Command("cancel", code) => cancel(gateway, lang, user, code),
        Match::Ambiguous(candidates) => vec![ambiguous(gateway, lang, body, &candidates)],
        Match::Command(..) | Match::Unknown(_) => {
            let word = body.split_whitespace().next().unwrap_or_default();
            vec![
                gateway.text(lang, "unknown-command", &[("input", word)]),
                contact_help(gateway, lang, turn),
            ]
        }
    }
}

fn register(gateway: &mut Gateway, turn: &Turn, name: &str, out: &mut Vec<Element>) -> Vec<String> {
    let lang = turn.lang;
    if name.is_empty() {
        return vec![gateway.text(lang, "register-usage", &[])];
    }
    match accounts::register(gateway, turn.from, name, out) {
        Ok(registered) => vec![accounts::registered_text(gateway, lang, &registered)],
        Err(refusal) => vec![accounts::refusal_text(gateway, lang, turn.from, &refusal)],
    }
}

fn ambiguous(gateway: &Gateway, lang: &str, body: &str, candidates: &[String]) -> String {
    gateway.text(
        lang,
        "ambiguous-command",
        &[
            ("input", body.split_whitespace().next().unwrap_or_default()),
            ("candidates", &candidates.join(", ")),
        ],
    )
}

pub(crate) fn balance(gateway: &Gateway, lang: &str, user: &User) -> String {
    let mut text = gateway.text(
        lang,
        "balance-reply",
        &[("balance", &user.balance.to_string())],
    );
    let incoming = gateway.ledger.incoming_of(user.id).unwrap_or_default();
    if incoming.0 > 0 {
        text.push('\n');
        text.push_str(&gateway.text(
            lang,
            "balance-incoming",
            &[("amount", &incoming.to_string())],
        ));
    }
    if user.held.0 > 0 {
        text.push('\n');
        text.push_str(&gateway.text(lang, "balance-held", &[("amount", &user.held.to_string())]));
    }
    if user.debt.0 > 0 {
        text.push('\n');
        text.push_str(&gateway.text(lang, "balance-debt", &[("amount", &user.debt.to_string())]));
    }
    text
}

pub(crate) fn new_address(
    gateway: &mut Gateway,
    lang: &str,
    user: &User,
    out: &mut Vec<Element>,
) -> String {
    match accounts::new_address(gateway, user) {
        Some(address) => {
            presence::subscribe_address(gateway, user, &address, out);
            gateway.text(
                lang,
                "address-new",
                &[("address", address.as_str()), ("uri", &bip21(&address))],
            )
        }
        None if gateway.node.is_down() => gateway.text(lang, "node-down", &[]),
        None => gateway.text(lang, "internal-error", &[]),
    }
}

fn history(gateway: &Gateway, lang: &str, user: &User, with: Option<&Target>) -> String {
    let entries = match with {
        None => gateway.ledger.history(user.id, None, HISTORY_LENGTH),
        Some(Target::User(peer)) => gateway
            .ledger
            .history(user.id, Some(peer.id), HISTORY_LENGTH),
        Some(Target::Address(a)) => {
            gateway
                .ledger
                .history_with_address(user.id, a.as_str(), HISTORY_LENGTH)
        }
    };
    let entries = match entries {
        Ok(e) => e,
        Err(e) => {
            log::error!("{e}");
            return gateway.text(lang, "internal-error", &[]);
        }
    };
    if entries.is_empty() {
        return gateway.text(lang, "history-empty", &[]);
    }
    let mut text = gateway.text(lang, "history-intro", &[]);
    for entry in &entries {
        text.push('\n');
        text.push_str(&render::history_line(&gateway.catalogs, lang, entry));
    }
    text
}

/// `pay <amount|all> <recipient> [comment]`, or `pay <amount|all>
/// [comment]` to a contact.
fn pay(
    gateway: &mut Gateway,
    turn: &Turn,
    user: &User,
    contact: Option<&Target>,
    args: &str,
) -> Vec<String> {
    let lang = turn.lang;
    let usage = if contact.is_some() {
        "pay-usage-contact"
    } else {
        "pay-usage"
    };
    let mut words = args.split_whitespace().peekable();
    let Some(first) = words.next() else {
        return vec![gateway.text(lang, usage, &[])];
    };
    let is_all = gateway
        .catalogs
        .raw(lang, "word-all")
        .split(',')
        .chain(std::iter::once("all"))
        .any(|w| w.trim().eq_ignore_ascii_case(first));
    let amount = if is_all {
        Amount::All
    } else {
        // `1000 sat`: the unit may be a word of its own.
        let mut text = first.to_owned();
        if let Some(unit) = words.peek() {
            if unit.eq_ignore_ascii_case("sat") || unit.eq_ignore_ascii_case("sats") {
                text.push(' ');
                text.push_str(unit);
                words.next();
            }
        }
        match Sats::parse_user(&text) {
            Ok(a) => Amount::Exactly(a),
            Err(e) => {
                return vec![render::refusal(
                    &gateway.catalogs,
                    lang,
                    &Refusal::Amount(e),
                    gateway.node.network().chain_name(),
                )]
            }
        }
    };
    let target = match contact {
        Some(t) => t.clone(),
        None => {
            let Some(recipient) = words.next() else {
                return vec![gateway.text(lang, usage, &[])];
            };
            match payments::parse_target(gateway, recipient) {
                Ok((t, _)) => t,
                Err(r) => {
                    return vec![render::refusal(
                        &gateway.catalogs,
                        lang,
                        &r,
                        gateway.node.network().chain_name(),
                    )]
                }
            }
        }
    };
    let comment: Vec<&str> = words.collect();
    let comment = comment.join(" ");
    let comment = (!comment.is_empty()).then_some(comment.as_str());
    vec![make_order(gateway, lang, user, amount, &target, comment)]
}

fn make_order(
    gateway: &mut Gateway,
    lang: &str,
    user: &User,
    amount: Amount,
    target: &Target,
    comment: Option<&str>,
) -> String {
    match payments::create(gateway, user, amount, target, comment) {
        Ok(recap) => recap_text(gateway, lang, &recap),
        Err(r) => render::refusal(
            &gateway.catalogs,
            lang,
            &r,
            gateway.node.network().chain_name(),
        ),
    }
}

pub(crate) fn recap_text(gateway: &Gateway, lang: &str, recap: &Recap) -> String {
    render::recap(
        &gateway.catalogs,
        lang,
        recap,
        gateway.config.main.order_expiry.as_secs() / 60,
        gateway.config.main.low_balance_warning,
    )
}

fn pending_list(gateway: &Gateway, lang: &str, user: &User) -> String {
    let orders = gateway.ledger.pending_orders(user.id).unwrap_or_default();
    if orders.is_empty() {
        return gateway.text(lang, "no-pending", &[]);
    }
    let now = crate::ledger::now();
    let mut text = gateway.text(lang, "pending-intro", &[]);
    for o in orders {
        text.push('\n');
        text.push_str(&gateway.text(
            lang,
            "pending-line",
            &[
                ("code", &o.code),
                ("amount", &o.amount.to_string()),
                ("recipient", &o.recipient),
                (
                    "minutes",
                    &((o.expires_at - now).max(0) / 60 + 1).to_string(),
                ),
            ],
        ));
    }
    text
}

/// `confirm [code]`. With `living`, a withdrawal under way is announced
/// by a message of its own (corrected as it confirms) instead of a reply.
pub(crate) fn confirm(
    gateway: &mut Gateway,
    lang: &str,
    user: &User,
    code: &str,
    living: bool,
    out: &mut Vec<Element>,
) -> Vec<String> {
    let code = code.split_whitespace().next().unwrap_or_default();
    if code.is_empty() {
        return vec![pending_list(gateway, lang, user)];
    }
    let outcome = payments::confirm(gateway, user, code, out);
    let fresh = |g: &Gateway| g.ledger.user_by_id(user.id).ok().flatten();
    let text = match outcome {
        Confirmed::Paid { order, to } => {
            let me = fresh(gateway).unwrap_or_else(|| user.clone());
            notify_recipient(gateway, user, &to, &order, out);
            presence::send_balance(gateway, &me, out);
            gateway.text(
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
            let text = withdrawal_text(gateway, lang, user, &outcome);
            if let Some(me) = fresh(gateway) {
                presence::send_balance(gateway, &me, out);
            }
            // A withdrawal under way is told by a living message that
            // later news corrects (confirmations, reconciliation).
            if let (true, Outcome::Sent { order, .. } | Outcome::Unknown(order)) =
                (living, &outcome)
            {
                crate::wallet::withdrawals::announce(gateway, order, &text, out);
                return Vec::new();
            }
            text
        }
        Confirmed::AlreadyDone(_) => gateway.text(lang, "confirm-already", &[]),
        Confirmed::Expired(_) => gateway.text(lang, "confirm-expired", &[]),
        Confirmed::Cancelled(_) => gateway.text(lang, "confirm-cancelled", &[]),
        Confirmed::WrongCode { left: Some(0) } => {
            gateway.text(lang, "confirm-wrong-cancelled", &[])
        }
        Confirmed::WrongCode { left: Some(left) } => {
            gateway.text(lang, "confirm-wrong", &[("left", &left.to_string())])
        }
        Confirmed::WrongCode { left: None } => gateway.text(lang, "confirm-wrong-none", &[]),
        Confirmed::Refused(r) => render::refusal(
            &gateway.catalogs,
            lang,
            &r,
            gateway.node.network().chain_name(),
        ),
    };
    vec![text]
}

fn withdrawal_text(gateway: &Gateway, lang: &str, user: &User, outcome: &Outcome) -> String {
    let balance = gateway
        .ledger
        .user_by_id(user.id)
        .ok()
        .flatten()
        .map_or(user.balance, |u| u.balance);
    match outcome {
        Outcome::Sent { order, txid, fee } => {
            let sent = crate::wallet::withdrawals::net_amount(order, *fee);
            let args = [
                ("amount", sent.to_string()),
                ("recipient", order.recipient.clone()),
                ("txid", txid.clone()),
                ("fee", fee.unwrap_or_default().to_string()),
                ("balance", balance.to_string()),
            ];
            let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let key = if fee.is_some() {
                "withdraw-sent"
            } else {
                "withdraw-sent-fee-later"
            };
            gateway.text(lang, key, &args)
        }
        Outcome::Refused { message, code, .. } => gateway.text(
            lang,
            "withdraw-refused",
            &[("message", &format!("{message}, code {code}"))],
        ),
        Outcome::Unknown(_) => gateway.text(lang, "withdraw-unknown", &[]),
        Outcome::NodeDown(_) => gateway.text(lang, "withdraw-node-down", &[]),
        Outcome::Insufficient { balance, needed } => render::refusal(
            &gateway.catalogs,
            lang,
            &Refusal::Insufficient {
                balance: *balance,
                needed: *needed,
                incoming: Sats(0),
            },
            "",
        ),
        Outcome::Frozen => gateway.text(lang, "pay-frozen", &[]),
        Outcome::RateLimited => gateway.text(lang, "withdraw-rate-limited", &[]),
        Outcome::AlreadyDone(_) => gateway.text(lang, "confirm-already", &[]),
        Outcome::Internal | Outcome::Crashed => gateway.text(lang, "internal-error", &[]),
    }
}

/// The recipient of an internal payment hears it from the sender's
/// username contact, with the comment, and sees their new balance.
fn notify_recipient(
    gateway: &mut Gateway,
    sender: &User,
    to: &User,
    order: &Order,
    out: &mut Vec<Element>,
) {
    let Ok(Some(to)) = gateway.ledger.user_by_id(to.id) else {
        return;
    };
    let lang = crate::wallet::deposits::user_lang(gateway, &to);
    let comment = order
        .comment
        .as_deref()
        .map_or_else(String::new, |c| format!(": «{c}»"));
    let text = gateway.text(
        lang,
        "payment-received",
        &[
            ("sender", &sender.username),
            ("amount", &order.amount.to_string()),
            ("comment", &comment),
            ("balance", &to.balance.to_string()),
        ],
    );
    out.push(chat(
        &gateway.contact_jid(&sender.username),
        &to.jid,
        lang,
        &text,
    ));
    presence::send_balance(gateway, &to, out);
}

pub(crate) fn cancel(gateway: &mut Gateway, lang: &str, user: &User, code: &str) -> Vec<String> {
    let code = code.split_whitespace().next().unwrap_or_default();
    if code.is_empty() {
        return vec![pending_list(gateway, lang, user)];
    }
    match payments::cancel(gateway, user, code) {
        Some(order) => vec![gateway.text(lang, "cancel-done", &[("code", &order.code)])],
        None => vec![gateway.text(lang, "cancel-none", &[("code", code)])],
    }
}

/// `language [code]`: shows or sets the language of the user's replies
/// (it then wins over the client's xml:lang); `language default` forgets
/// it.
pub(crate) fn language(gateway: &mut Gateway, lang: &str, user: &User, code: &str) -> String {
    let available: Vec<&str> = gateway.catalogs.languages().collect();
    let list = available.join(", ");
    let code = code.trim().to_lowercase();
    if code.is_empty() {
        let current = user.language.clone().unwrap_or_else(|| lang.to_owned());
        return gateway.text(
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
        return gateway.text(
            lang,
            "language-unknown",
            &[("language", &code), ("available", &list)],
        );
    };
    if let Err(e) = gateway.ledger.set_language(user.id, chosen) {
        log::error!("{e}");
        return gateway.text(lang, "internal-error", &[]);
    }
    let new_lang = chosen.unwrap_or_else(|| {
        gateway
            .catalogs
            .pick(None, None, &gateway.config.main.languages)
    });
    gateway.text(new_lang, "language-set", &[("language", new_lang)])
}

/// What the admin hears after `unfreeze`.
pub(crate) fn unfrozen_text(gateway: &Gateway, lang: &str, unfrozen: &audit::Unfrozen) -> String {
    match unfrozen {
        audit::Unfrozen::Open | audit::Unfrozen::Unaudited => {
            gateway.text(lang, "unfreeze-done", &[])
        }
        audit::Unfrozen::StillShort(r) => gateway.text(
            lang,
            "unfreeze-still-short",
            &[
                ("wallet", &r.wallet.to_string()),
                ("owed", &r.owed().to_string()),
                ("debts", &r.debts.to_string()),
            ],
        ),
        audit::Unfrozen::Internal => gateway.text(lang, "internal-error", &[]),
    }
}

/// `resolve <order> sent <txid>` / `resolve <order> notsent`: an admin
/// settles a withdrawal reconciliation could not.
fn resolve(gateway: &mut Gateway, lang: &str, args: &str, out: &mut Vec<Element>) -> String {
    use crate::wallet::withdrawals::{resolve_by_admin, Verdict, VerdictError};
    let words: Vec<&str> = args.split_whitespace().collect();
    let order: Option<i64> = words.first().and_then(|w| w.parse().ok());
    let verdict = match words.get(1).map(|w| w.to_lowercase()).as_deref() {
        Some("sent") if words.len() == 3 => Some(Verdict::Sent(words[2].to_lowercase())),
        Some("notsent") if words.len() == 2 => Some(Verdict::NotSent),
        _ => None,
    };
    let (Some(order), Some(verdict)) = (order, verdict) else {
        return gateway.text(lang, "resolve-usage", &[]);
    };
    let id = order.to_string();
    match resolve_by_admin(gateway, order, &verdict) {
        Ok(result) => {
            crate::wallet::tell_reconciled(gateway, &result, out);
            match verdict {
                Verdict::Sent(txid) => {
                    gateway.text(lang, "resolve-sent", &[("order", &id), ("txid", &txid)])
                }
                Verdict::NotSent => gateway.text(lang, "resolve-not-sent", &[("order", &id)]),
            }
        }
        Err(VerdictError::NotInDoubt) => {
            gateway.text(lang, "resolve-not-in-doubt", &[("order", &id)])
        }
        Err(VerdictError::UnknownTransaction) => {
            let txid = match &verdict {
                Verdict::Sent(t) => t.as_str(),
                Verdict::NotSent => "",
            };
            gateway.text(lang, "resolve-unknown-tx", &[("txid", txid)])
        }
        Err(VerdictError::NodeDown) => gateway.text(lang, "node-down", &[]),
        Err(VerdictError::Internal) => gateway.text(lang, "internal-error", &[]),
    }
}

pub(crate) fn audit_report(gateway: &mut Gateway, lang: &str) -> String {
    match audit::report(gateway) {
        Ok(r) => {
            let state = match gateway.ledger.state(audit::FROZEN) {
                Ok(Some(why)) => gateway.text(lang, "audit-frozen", &[("why", &why)]),
                _ => gateway.text(lang, "audit-open", &[]),
            };
            let covered = gateway.text(
                lang,
                if r.covered() { "audit-yes" } else { "audit-no" },
                &[],
            );
            let mut text = gateway.text(
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
                text.push_str(&gateway.text(
                    lang,
                    "audit-drift",
                    &[("users", &r.drifted.join(", "))],
                ));
            }
            text
        }
        Err(_) => gateway.text(lang, "node-down", &[]),
    }
}

/// `Some` when the whole message is meant as an address (one word that is
/// a `bitcoin:` URI, or that looks like an address even if invalid), with
/// the URI's amount.
fn looks_like_address(
    gateway: &Gateway,
    body: &str,
) -> Option<Result<(Address, Option<Sats>), AddressError>> {
    let body = body.trim();
    if body.split_whitespace().count() != 1 {
        return None;
    }
    let text = strip_uri(body);
    let is_uri = text.len() != body.len();
    match Address::parse(text, gateway.node.network()) {
        Ok(a) => {
            let amount = body
                .split_once('?')
                .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("amount=")))
                .and_then(|a| Sats::parse_user(a).ok());
            Some(Ok((a, amount)))
        }
        // A long word of base58 or bech32 characters is a mistyped
        // address; anything else is a mistyped command.
        Err(e) if is_uri || (text.len() >= 26 && !matches!(e, AddressError::NotAnAddress)) => {
            Some(Err(e))
        }
        Err(_) => None,
    }
}

pub fn address_error_text(gateway: &Gateway, lang: &str, e: &AddressError) -> String {
    render::refusal(
        &gateway.catalogs,
        lang,
        &Refusal::Address(e.clone()),
        gateway.node.network().chain_name(),
    )
}

fn welcome(gateway: &Gateway, lang: &str) -> String {
    gateway.text(lang, "welcome", &[("gateway", &gateway.jid.to_string())])
}

/// The list of commands, or the usage of one.
fn help(gateway: &Gateway, lang: &str, ids: &[&'static str], topic: &str) -> String {
    if !topic.is_empty() {
        return match match_command(&gateway.catalogs, lang, ids, topic) {
            Match::Command(id, _) => gateway.text(lang, &format!("help-{id}"), &[]),
            _ => gateway.text(lang, "help-unknown", &[("command", topic)]),
        };
    }
    let mut text = gateway.text(lang, "help-intro", &[]);
    for id in ids {
        text.push('\n');
        text.push_str(&gateway.text(lang, &format!("help-{id}"), &[]));
    }
    text.push('\n');
    text.push_str(&gateway.text(lang, "amounts-help", &[]));
    text
}

fn contact_help(gateway: &Gateway, lang: &str, turn: &Turn) -> String {
    let mut text = gateway.text(lang, "help-contact", &[("contact", &turn.name)]);
    for key in [
        "help-contact-pay",
        "help-contact-history",
        "help-confirm",
        "help-cancel",
    ] {
        text.push('\n');
        text.push_str(&gateway.text(lang, key, &[]));
    }
    text
}
