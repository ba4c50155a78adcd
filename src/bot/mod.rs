//! The chat face: a message's words become a command (matching in
//! [`parse`], pure) of the command layer, `crate::command`, which answers
//! with sentences from the catalogs.
//!
//! To the gateway, an unregistered user can only register: whatever else
//! they write gets the welcome, which says how. A registered user's
//! message that is only an address or a `bitcoin:` URI makes that
//! address's contact open a chat with them (a URI with an amount prepares
//! the payment). A contact (user or address) takes `pay`, `history`,
//! `confirm` and `cancel` about itself.

mod parse;

use crate::amount::Sats;
use crate::bitcoin::address::{Address, AddressError};
use crate::bitcoin::uri;
use crate::command::{self, Services};
use crate::entity::Entity;
use crate::ledger::User;
use crate::notify::chat;
use crate::wallet::payments::{self, Amount, Refusal, Target};
use crate::xmpp::stanza::{error_reply, Condition, StanzaError};
use crate::xmpp::{ns, Element, Jid};
use parse::{match_command, Match};

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
    s: &mut Services,
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
    let user = s.wallet.user_of(from);
    let lang = s.lang(stanza, user.as_ref());
    let (me, name) = match entity {
        Entity::Gateway => (s.voice.jid().clone(), s.voice.jid().to_string()),
        Entity::User(u) => (s.voice.contact_jid(&u.username), u.username.clone()),
        Entity::Address(a) => (s.voice.contact_jid(&a.to_node()), a.to_string()),
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
        (Entity::Gateway, _) => to_gateway(s, &turn, user.as_ref(), &body, out),
        (_, None) => vec![welcome(s, lang)],
        (Entity::User(contact), Some(user)) => {
            let target = Target::User(contact.clone());
            to_contact(s, &turn, user, &target, &body, out)
        }
        (Entity::Address(address), Some(user)) => {
            let target = Target::Address(address.clone());
            to_contact(s, &turn, user, &target, &body, out)
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
    s: &mut Services,
    turn: &Turn,
    user: Option<&User>,
    body: &str,
    out: &mut Vec<Element>,
) -> Vec<String> {
    let lang = turn.lang;
    let Some(user) = user else {
        return match match_command(s.voice.catalogs(), lang, &["register"], body) {
            Match::Command("register", name) => vec![register(s, turn, name, out)],
            _ => vec![welcome(s, lang)],
        };
    };
    let mut ids: Vec<&'static str> = GATEWAY_COMMANDS.to_vec();
    if s.voice.is_admin(turn.from) {
        ids.extend_from_slice(ADMIN_COMMANDS);
    }
    match match_command(s.voice.catalogs(), lang, &ids, body) {
        Match::Command("help", topic) => vec![help(s, lang, &ids, topic)],
        Match::Command("register", name) => vec![register(s, turn, name, out)],
        Match::Command("unregister", _) => {
            vec![command::unregister(s, lang, turn.from, out).unwrap_or_else(|(_, why)| why)]
        }
        Match::Command("balance", _) => vec![command::balance(s, lang, user)],
        Match::Command("address", _) => vec![command::new_address(s, lang, user, out)],
        Match::Command("pay", args) => pay(s, turn, user, None, args),
        Match::Command("confirm", code) => command::confirm(s, lang, user, code, true, out),
        Match::Command("cancel", code) => command::cancel(s, lang, user, code),
        Match::Command("history", _) => vec![command::history(s, lang, user, None)],
        Match::Command("language", code) => vec![command::language(s, lang, user, code)],
        Match::Command("audit", _) => vec![command::audit_report(s, lang)],
        Match::Command("unfreeze", _) => {
            let by = turn.from.bare().to_string();
            vec![command::unfreeze(s, lang, &by, out).unwrap_or_else(|why| why)]
        }
        Match::Command("resolve", args) => vec![command::resolve(s, lang, args, out)],
        Match::Command(other, _) => {
            log::error!("command {other} has no implementation");
            vec![s.text(lang, "internal-error", &[])]
        }
        Match::Unknown(word) => match looks_like_address(s, body) {
            Some(Ok((address, None))) => {
                let contact = s.voice.contact_jid(&address.to_node());
                out.push(chat(
                    &contact,
                    &turn.from.to_string(),
                    lang,
                    &s.text(lang, "address-hello", &[("address", address.as_str())]),
                ));
                Vec::new()
            }
            // A URI with an amount prepares the payment.
            Some(Ok((address, Some(amount)))) => {
                let target = Target::Address(address);
                vec![command::make_order(
                    s,
                    lang,
                    user,
                    Amount::Exactly(amount),
                    &target,
                    None,
                )]
            }
            Some(Err(r)) => vec![s.refusal(lang, &r)],
            None => vec![s.text(lang, "unknown-command", &[("input", word)])],
        },
        Match::Ambiguous(candidates) => vec![ambiguous(s, lang, body, &candidates)],
        Match::Empty => Vec::new(),
    }
}

/// The replies of a contact (a user or an address) to `body`.
fn to_contact(
    s: &mut Services,
    turn: &Turn,
    user: &User,
    target: &Target,
    body: &str,
    out: &mut Vec<Element>,
) -> Vec<String> {
    let lang = turn.lang;
    match match_command(s.voice.catalogs(), lang, CONTACT_COMMANDS, body) {
        Match::Command("help", _) | Match::Empty => vec![contact_help(s, lang, turn)],
        Match::Command("pay", args) => pay(s, turn, user, Some(target), args),
        Match::Command("history", _) => vec![command::history(s, lang, user, Some(target))],
        Match::Command("confirm", code) => command::confirm(s, lang, user, code, true, out),
        Match::Command("cancel", code) => command::cancel(s, lang, user, code),
        Match::Ambiguous(candidates) => vec![ambiguous(s, lang, body, &candidates)],
        Match::Command(..) | Match::Unknown(_) => {
            let word = body.split_whitespace().next().unwrap_or_default();
            vec![
                s.text(lang, "unknown-command", &[("input", word)]),
                contact_help(s, lang, turn),
            ]
        }
    }
}

/// `register <name>` (an empty name gets the usage).
fn register(s: &mut Services, turn: &Turn, name: &str, out: &mut Vec<Element>) -> String {
    if name.is_empty() {
        return s.text(turn.lang, "register-usage", &[]);
    }
    command::register(s, turn.lang, turn.from, name, out).unwrap_or_else(|(_, why)| why)
}

fn ambiguous(s: &Services, lang: &str, body: &str, candidates: &[String]) -> String {
    s.text(
        lang,
        "ambiguous-command",
        &[
            ("input", body.split_whitespace().next().unwrap_or_default()),
            ("candidates", &candidates.join(", ")),
        ],
    )
}

/// `pay <amount|all> <recipient> [comment]`, or `pay <amount|all>
/// [comment]` to a contact.
fn pay(
    s: &mut Services,
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
        return vec![s.text(lang, usage, &[])];
    };
    // `1000 sat`: the unit may be a word of its own.
    let mut text = first.to_owned();
    let is_all = matches!(
        command::parse_amount(&s.voice, lang, first),
        Ok(Amount::All)
    );
    if let (false, Some(unit)) = (is_all, words.peek()) {
        if unit.eq_ignore_ascii_case("sat") || unit.eq_ignore_ascii_case("sats") {
            text.push(' ');
            text.push_str(unit);
            words.next();
        }
    }
    let amount = match command::parse_amount(&s.voice, lang, &text) {
        Ok(amount) => amount,
        Err(e) => return vec![s.refusal(lang, &Refusal::Amount(e))],
    };
    let target = match contact {
        Some(t) => t.clone(),
        None => {
            let Some(recipient) = words.next() else {
                return vec![s.text(lang, usage, &[])];
            };
            match payments::parse_target(&s.wallet, recipient) {
                Ok((t, _)) => t,
                Err(r) => return vec![s.refusal(lang, &r)],
            }
        }
    };
    let comment: Vec<&str> = words.collect();
    let comment = comment.join(" ");
    let comment = (!comment.is_empty()).then_some(comment.as_str());
    vec![command::make_order(s, lang, user, amount, &target, comment)]
}

/// `Some` when the whole message is meant as an address (one word that is
/// a `bitcoin:` URI, or that looks like an address even if invalid), with
/// the URI's amount; `Err` says why it cannot be used.
fn looks_like_address(
    s: &Services,
    body: &str,
) -> Option<Result<(Address, Option<Sats>), Refusal>> {
    let body = body.trim();
    if body.split_whitespace().count() != 1 {
        return None;
    }
    let network = s.wallet.network();
    if let Some(parsed) = uri::parse(body) {
        return Some(parsed.map_err(Refusal::Uri).and_then(|u| {
            let address = Address::parse(u.address, network).map_err(Refusal::Address)?;
            Ok((address, u.amount))
        }));
    }
    match Address::parse(body, network) {
        Ok(a) => Some(Ok((a, None))),
        // A long word of base58 or bech32 characters is a mistyped
        // address; anything else is a mistyped command.
        Err(e) if body.len() >= 26 && !matches!(e, AddressError::NotAnAddress) => {
            Some(Err(Refusal::Address(e)))
        }
        Err(_) => None,
    }
}

fn welcome(s: &Services, lang: &str) -> String {
    s.text(lang, "welcome", &[("gateway", &s.voice.jid().to_string())])
}

/// The list of commands, or the usage of one.
fn help(s: &Services, lang: &str, ids: &[&'static str], topic: &str) -> String {
    if !topic.is_empty() {
        return match match_command(s.voice.catalogs(), lang, ids, topic) {
            Match::Command(id, _) => s.text(lang, &format!("help-{id}"), &[]),
            _ => s.text(lang, "help-unknown", &[("command", topic)]),
        };
    }
    let mut text = s.text(lang, "help-intro", &[]);
    for id in ids {
        text.push('\n');
        text.push_str(&s.text(lang, &format!("help-{id}"), &[]));
    }
    text.push('\n');
    text.push_str(&s.text(lang, "amounts-help", &[]));
    text
}

fn contact_help(s: &Services, lang: &str, turn: &Turn) -> String {
    let mut text = s.text(lang, "help-contact", &[("contact", &turn.name)]);
    for key in [
        "help-contact-pay",
        "help-contact-history",
        "help-confirm",
        "help-cancel",
    ] {
        text.push('\n');
        text.push_str(&s.text(lang, key, &[]));
    }
    text
}

#[cfg(test)]
mod tests {
    use crate::testkit::Bench;

    #[test]
    fn a_bitcoin_uri_with_an_unknown_required_parameter_is_refused() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        b.deposit(&alice, 100_000_000);
        let address = b.services().wallet.ledger().addresses_of(alice.id).unwrap()[0].clone();
        let replies = b.say("alice", &format!("bitcoin:{address}?amount=0.1&req-pop=x"));
        assert_eq!(
            replies,
            vec![
                "This bitcoin: URI requires req-pop, which this gateway does not support: \
                  it cannot be paid here."
            ]
        );
        // Nothing was prepared.
        assert_eq!(
            b.say("alice", "confirm"),
            vec!["You have no payments waiting."]
        );
    }
}
