//! The chat face: a message's words become a command (matching in
//! `parse`, pure) of the command layer, `crate::command`, which answers
//! with sentences from the catalogs.
//!
//! To the gateway, an unregistered user can only register: whatever else
//! they write gets the welcome, which says how. A registered user's
//! message that is only an address or a `bitcoin:` URI makes that
//! address's contact open a chat with them (a URI with an amount prepares
//! the payment). A contact (user or address) takes `pay`, `history`,
//! `confirm` and `cancel` about itself; a user contact also takes
//! `request` (asking that user for money).
//!
//! An end-to-end encrypted message (OMEMO, OpenPGP, OTR) is answered with
//! one sentence asking to turn encryption off for this chat: its body is
//! a fallback text, not what the user typed.

mod parse;
mod requests;

use crate::amount::{AmountError, Sats};
use crate::bitcoin::address::{Address, AddressError};
use crate::bitcoin::uri;
use crate::command::{self, Services};
use crate::entity::Entity;
use crate::ledger::User;
use crate::notify::chat;
use crate::seen::Seen;
use crate::wallet::payments::{self, Amount, Refusal, Target};
use crate::xmpp::stanza::{error_reply, Condition, StanzaError};
use crate::xmpp::{ns, Element, Jid};
use parse::{match_command, Match};
use std::time::Instant;

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
    "request",
    "block",
    "unblock",
    // Said in a room; said here, where to say it. Listed so that `tip`
    // is not read as the prefix of `tiplimit`.
    "room-tip",
    "tiplimit",
];
const ADMIN_COMMANDS: &[&str] = &["audit", "unfreeze", "resolve"];
const CONTACT_COMMANDS: &[&str] = &["help", "pay", "history", "confirm", "cancel"];
/// A user contact takes `request` too: asking that person for money.
const USER_CONTACT_COMMANDS: &[&str] = &["help", "pay", "request", "history", "confirm", "cancel"];

/// One command being answered.
struct Turn<'a> {
    from: &'a Jid,
    /// Who answers: the gateway or the contact written to.
    me: Jid,
    /// The contact's name as users know it (username or address).
    name: String,
    lang: &'static str,
}

/// Handles a message from `from` to `entity`. A message is acted on once
/// (SPEC, "Group chats and requests"): a correction (XEP-0308) is never
/// read as a new command, and a message sent again (`seen`) is ignored.
pub fn on_message(
    s: &mut Services,
    seen: &mut Seen,
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
    let body = stanza
        .get_child("body", ns::COMPONENT)
        .map(Element::text_content);
    let encrypted = is_encrypted(stanza, body.as_deref());
    // Chat states, receipts and the like carry no body: nothing to answer.
    if body.is_none() && !encrypted {
        return;
    }
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
    let to = from.to_string();
    // The body of an encrypted message is only a fallback ("I sent you an
    // OMEMO encrypted message..."): never read it as a command.
    let Some(body) = body.filter(|_| !encrypted) else {
        out.push(chat(
            &me,
            &to,
            lang,
            &s.text(lang, "encrypted-unreadable", &[]),
        ));
        return;
    };
    // A corrected `pay 10 bob` must not become a second payment, and
    // guessing what a correction changes is no better: say so.
    if stanza.get_child("replace", ns::CORRECT).is_some() {
        out.push(chat(
            &me,
            &to,
            lang,
            &s.text(lang, "correction-not-acted", &[]),
        ));
        return;
    }
    let fresh = seen.first_time(
        &from.bare_string(),
        &me.to_string(),
        message_id(stanza),
        &body,
        Instant::now(),
    );
    if !fresh {
        log::info!(
            "{} sent message {} again: not acted on twice",
            from.bare(),
            message_id(stanza).unwrap_or_default()
        );
        return;
    }
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
        Match::Command("cancel", code) => command::cancel(s, lang, user, code, out),
        Match::Command("history", _) => vec![command::history(s, lang, user, None)],
        Match::Command("language", code) => vec![command::language(s, lang, user, code)],
        Match::Command("request", args) => requests::request(s, turn, user, None, args, out),
        Match::Command("block", args) => requests::block(s, turn, user, args, out),
        Match::Command("unblock", args) => requests::unblock(s, turn, user, args, out),
        Match::Command("room-tip", _) => vec![s.text(
            lang,
            "room-tip-in-chat",
            &[("gateway", &s.voice.jid().to_string())],
        )],
        Match::Command("tiplimit", typed) => vec![command::tiplimit(s, lang, user, typed)],
        Match::Command("audit", _) => vec![command::audit_report(s, lang)],
        Match::Command("unfreeze", _) => {
            let by = turn.from.bare().to_string();
            vec![command::unfreeze(s, lang, &by, out).unwrap_or_else(|why| why)]
        }
        Match::Command("resolve", args) => match parse::verdict(args) {
            Some((order, verdict)) => vec![command::resolve(s, lang, order, verdict, out)],
            None => vec![s.text(lang, "resolve-usage", &[])],
        },
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
    let ids = match target {
        Target::User(_) => USER_CONTACT_COMMANDS,
        Target::Address(_) => CONTACT_COMMANDS,
    };
    match match_command(s.voice.catalogs(), lang, ids, body) {
        Match::Command("help", _) | Match::Empty => vec![contact_help(s, lang, turn, target)],
        Match::Command("pay", args) => pay(s, turn, user, Some(target), args),
        Match::Command("request", args) => match target {
            Target::User(contact) => requests::request(s, turn, user, Some(contact), args, out),
            Target::Address(_) => vec![contact_help(s, lang, turn, target)],
        },
        Match::Command("history", _) => vec![command::history(s, lang, user, Some(target))],
        Match::Command("confirm", code) => command::confirm(s, lang, user, code, true, out),
        Match::Command("cancel", code) => command::cancel(s, lang, user, code, out),
        Match::Ambiguous(candidates) => vec![ambiguous(s, lang, body, &candidates)],
        Match::Command(..) | Match::Unknown(_) => {
            let word = body.split_whitespace().next().unwrap_or_default();
            vec![
                s.text(lang, "unknown-command", &[("input", word)]),
                contact_help(s, lang, turn, target),
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
    let amount = match take_amount(s, lang, &mut words) {
        None => return vec![s.text(lang, usage, &[])],
        Some(Ok(amount)) => amount,
        Some(Err(e)) => return vec![s.refusal(lang, &Refusal::Amount(e))],
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

/// The amount the next words give (`1000 sat`: the unit may be a word of
/// its own); `None` when there are no more words.
fn take_amount(
    s: &Services,
    lang: &str,
    words: &mut std::iter::Peekable<std::str::SplitWhitespace>,
) -> Option<Result<Amount, AmountError>> {
    let first = words.next()?;
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
    Some(command::parse_amount(&s.voice, lang, &text))
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

/// Whether `stanza` is end-to-end encrypted, which the gateway, holding
/// no key, cannot read: OMEMO (a payload, or a fallback body: key
/// exchanges carry neither and need no answer), OpenPGP (XEP-0373 or the
/// legacy XEP-0027), anything labelled by XEP-0380, or OTR, which lives
/// in the body itself and always starts with `?OTR`.
/// What tells a message from another: its XEP-0359 origin-id (set by
/// the sender's client, kept by every server on the way), else its `id`.
fn message_id(stanza: &Element) -> Option<&str> {
    stanza
        .get_child("origin-id", ns::SID)
        .and_then(|o| o.get_attr("id"))
        .or_else(|| stanza.get_attr("id"))
}

fn is_encrypted(stanza: &Element, body: Option<&str>) -> bool {
    let omemo = [ns::OMEMO_LEGACY, ns::OMEMO].into_iter().any(|omemo| {
        stanza
            .get_child("encrypted", omemo)
            .is_some_and(|e| body.is_some() || e.get_child("payload", omemo).is_some())
    });
    omemo
        || stanza.get_child("openpgp", ns::OPENPGP).is_some()
        || stanza.get_child("x", ns::PGP_LEGACY).is_some()
        || stanza.get_child("encryption", ns::EME).is_some()
        || body.is_some_and(|b| b.trim_start().starts_with("?OTR"))
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

fn contact_help(s: &Services, lang: &str, turn: &Turn, target: &Target) -> String {
    let mut text = s.text(lang, "help-contact", &[("contact", &turn.name)]);
    let request = matches!(target, Target::User(_)).then_some("help-contact-request");
    for key in ["help-contact-pay"].into_iter().chain(request).chain([
        "help-contact-history",
        "help-confirm",
        "help-cancel",
    ]) {
        text.push('\n');
        text.push_str(&s.text(lang, key, &[]));
    }
    text
}

#[cfg(test)]
mod tests {
    use crate::bitcoin::sim::Fault;
    use crate::testkit::{attrs, bodies, code_in, contact, xml, Bench, GATEWAY};
    use crate::xmpp::ns;

    const BTC: i64 = 100_000_000;
    const ALICE: &str = "alice@example.org/phone";
    const ALICE_CONTACT: &str = "alice@bitcoin.example.org";
    const BOB_CONTACT: &str = "bob@bitcoin.example.org";

    /// alice with 1 BTC, and bob with nothing.
    fn alice_and_bob() -> Bench {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        b.register("bob", "bob");
        b.deposit(&alice, BTC);
        b
    }

    #[test]
    fn help_lists_the_commands_then_how_to_write_amounts() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        let help = b.say("alice", "help");
        assert_eq!(help.len(), 1);
        let lines: Vec<&str> = help[0].lines().collect();
        assert_eq!(lines[0], "Commands (a unique prefix is enough):");
        let names: Vec<&str> = lines[1..lines.len() - 1]
            .iter()
            .map(|l| l.split([' ', ':']).next().unwrap())
            .collect();
        assert_eq!(
            names,
            [
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
                "request",
                "block",
                "unblock",
                "tip",
                "tiplimit",
            ]
        );
        assert_eq!(
            lines.last().unwrap(),
            &"Amounts: 0.5 or .25 (BTC, at most 8 decimals) or 5000 sat."
        );
    }

    #[test]
    fn help_with_a_command_explains_that_command_only() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        assert_eq!(
            b.say("alice", "help pay"),
            [
                "pay <amount|all> <username|address|bitcoin:URI> [comment]: \
              prepare a payment; nothing moves before confirm"
            ]
        );
        // A prefix is enough there too.
        assert_eq!(
            b.say("alice", "help bal"),
            [
                "balance: your spendable balance, incoming amounts not confirmed yet, \
              and what is held for withdrawals"
            ]
        );
        assert_eq!(
            b.say("alice", "help fly"),
            ["There is no command 'fly'. Type help for the list."]
        );
    }

    #[test]
    fn register_opens_a_wallet_and_both_contacts_ask_to_be_in_the_roster() {
        let mut b = Bench::new();
        let out = b.send(
            "<message type='chat' from='alice@example.org/phone' to='bitcoin.example.org' \
             id='r'><body>register Alice</body></message>",
        );
        let alice = b.user("alice").expect("registered");
        assert_eq!(alice.username, "alice", "stored lowercase");
        let address = b.addresses(&alice)[0].clone();
        assert_eq!(
            bodies(&out),
            [format!(
                "Welcome, alice! Your wallet is open.\n\
                 Your first deposit address is {address} (it is now in your contacts).\n\
                 Type help to see what you can do."
            )]
        );
        let presences: Vec<_> = out.iter().filter(|e| e.name == "presence").collect();
        assert_eq!(presences.len(), 2);
        let x = xml(&out);
        assert_eq!(
            x[0],
            "<presence from='bitcoin.example.org' to='alice@example.org' type='subscribe'>\
             <nick xmlns='http://jabber.org/protocol/nick'>bitcoIM</nick></presence>"
        );
        assert_eq!(
            x[1],
            format!(
                "<presence from='{}' to='alice@example.org' type='subscribe'>\
                 <nick xmlns='http://jabber.org/protocol/nick'>deposit 1 ({}…{})</nick></presence>",
                contact(&address),
                &address[..4],
                &address[address.len() - 2..]
            )
        );
        // The reply goes to the resource that asked.
        assert_eq!(attrs(&out[2..], "to"), ["alice@example.org/phone"]);
    }

    #[test]
    fn register_again_renames_or_says_it_is_already_done() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        b.register("bob", "bob");
        assert_eq!(
            b.say("alice", "register alice"),
            ["You are already registered as alice."]
        );
        assert_eq!(
            b.say("alice", "register bob"),
            ["The username bob is taken; choose another one."]
        );
        assert_eq!(
            b.say("alice", "register alicia"),
            ["You are now known as alicia (you were alice)."]
        );
        assert_eq!(b.user("alice").unwrap().username, "alicia");
    }

    #[test]
    fn register_without_a_good_name_says_what_a_name_is() {
        let mut b = Bench::new();
        // Unregistered, then registered: the same usage.
        assert_eq!(
            b.say("alice", "register"),
            ["Choose a username: register <username>"]
        );
        assert_eq!(
            b.say("alice", "register 1alice"),
            ["A username starts with a letter (a to z)."]
        );
        assert_eq!(
            b.say("alice", "register al!ce"),
            ["A username may only contain a to z, 0 to 9, - and _, not '!'."]
        );
        assert!(b.user("alice").is_none());
        b.register("alice", "alice");
        assert_eq!(
            b.say("alice", "register"),
            ["Choose a username: register <username>"]
        );
    }

    #[test]
    fn unregister_is_refused_while_the_wallet_holds_money() {
        let mut b = alice_and_bob();
        assert_eq!(
            b.say("alice", "unregister"),
            [
                "Your wallet is not empty: balance 1 BTC, held for withdrawals 0 BTC. \
              Withdraw or pay it out first, so that no coins are left behind."
            ]
        );
        assert!(b.user("alice").is_some());
    }

    #[test]
    fn unregister_closes_an_empty_wallet_and_its_contacts_say_goodbye() {
        let mut b = Bench::new();
        let bob = b.register("bob", "bob");
        let address = b.addresses(&bob)[0].clone();
        let out = b.send(
            "<message type='chat' from='bob@example.org/phone' to='bitcoin.example.org' \
             id='u'><body>unregister</body></message>",
        );
        assert_eq!(
            bodies(&out),
            ["Your wallet is closed. Your history is kept; \
              register again from this address to reopen it."]
        );
        let goodbyes: Vec<(&str, &str)> = out
            .iter()
            .filter(|e| e.name == "presence")
            .map(|p| (p.get_attr("from").unwrap(), p.get_attr("type").unwrap()))
            .collect();
        let from_address = contact(&address);
        assert_eq!(
            goodbyes,
            [
                (GATEWAY, "unavailable"),
                (GATEWAY, "unsubscribe"),
                (GATEWAY, "unsubscribed"),
                (from_address.as_str(), "unavailable"),
                (from_address.as_str(), "unsubscribe"),
                (from_address.as_str(), "unsubscribed"),
            ]
        );
        assert!(b.user("bob").is_none());
        assert_eq!(
            b.say("bob", "unregister"),
            [welcome()],
            "a closed wallet is unregistered"
        );
    }

    #[test]
    fn balance_of_a_new_wallet_is_zero() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        assert_eq!(b.say("alice", "balance"), ["Spendable balance: 0 BTC"]);
    }

    #[test]
    fn balance_shows_what_is_incoming_but_not_confirmed() {
        let mut b = alice_and_bob();
        let alice = b.user("alice").unwrap();
        let address = b.addresses(&alice)[0].clone();
        b.chain
            .borrow_mut()
            .pay_from_world(vec![(address, 20_000_000)]);
        b.tick();
        assert_eq!(
            b.say("alice", "balance"),
            ["Spendable balance: 1 BTC\nIncoming, not confirmed yet: 0.2 BTC"]
        );
    }

    #[test]
    fn balance_shows_what_is_held_for_a_withdrawal_in_doubt() {
        let mut b = alice_and_bob();
        let to = b.chain.borrow_mut().world_address();
        let code = b.order("alice", &format!("0.5 {to}"));
        // The node fails in a way that does not say whether it sent.
        b.chain
            .borrow_mut()
            .fail_next(Some("sendtoaddress"), Fault::Error(-1, "odd"));
        b.say("alice", &format!("confirm {code}"));
        let alice = b.user("alice").unwrap();
        assert!(alice.held.0 > 50_000_000, "{alice:?}");
        assert_eq!(
            b.say("alice", "balance"),
            [format!(
                "Spendable balance: {}\nHeld for withdrawals in progress: {}",
                alice.balance, alice.held
            )]
        );
    }

    #[test]
    fn balance_shows_a_debt_left_by_a_reversed_deposit() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        b.register("bob", "bob");
        let txid = b.deposit(&alice, BTC);
        let code = b.order("alice", "0.6 bob");
        b.say("alice", &format!("confirm {code}"));
        // The deposit's block is replaced by one holding a double spend.
        let spend = b.chain.borrow_mut().double_spend(&txid).unwrap();
        b.chain.borrow_mut().reorg(1, &[spend], &[]);
        b.tick();
        assert_eq!(
            b.say("alice", "balance"),
            ["Spendable balance: 0 BTC\n\
              Owed after a reversed deposit: 0.6 BTC (your next deposits repay it first)"]
        );
    }

    #[test]
    fn address_gives_a_fresh_address_its_uri_and_its_contact() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        let first = b.addresses(&alice)[0].clone();
        let out = b.send(
            "<message type='chat' from='alice@example.org/phone' to='bitcoin.example.org' \
             id='a'><body>address</body></message>",
        );
        let addresses = b.addresses(&alice);
        assert_eq!(addresses.len(), 2);
        let new = addresses.iter().find(|a| **a != first).unwrap();
        assert_eq!(
            bodies(&out),
            [format!(
                "Your new deposit address: {new}\nbitcoin:{new}\n\
                 It is now in your contacts; its vCard has the QR code."
            )]
        );
        let x = xml(&out);
        assert_eq!(
            x[0],
            format!(
                "<presence from='{}' to='alice@example.org' type='subscribe'>\
                 <nick xmlns='http://jabber.org/protocol/nick'>deposit 2 ({}…{})</nick></presence>",
                contact(new),
                &new[..4],
                &new[new.len() - 2..]
            )
        );
    }

    #[test]
    fn address_while_the_node_is_down_says_so() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        b.chain.borrow_mut().fail_next(None, Fault::Down);
        assert_eq!(
            b.say("alice", "address"),
            ["The Bitcoin node is unreachable right now; this needs it. Try again in a moment."]
        );
    }

    #[test]
    fn a_payment_to_a_user_is_heard_by_both_once_confirmed() {
        let mut b = alice_and_bob();
        let recap = b.say("alice", "pay 0.1 bob for the lunch");
        let code = code_in(&recap[0]);
        assert_eq!(
            recap,
            [format!(
                "Pay 0.1 BTC to bob «for the lunch».\nBalance left: 0.9 BTC.\n\
                 To confirm, type: confirm {code}\n(valid 10 minutes; cancel {code} drops it)"
            )]
        );
        assert_eq!(
            b.user("bob").unwrap().balance.0,
            0,
            "pay alone moves nothing"
        );
        b.online("bob");
        let out = b.send(&format!(
            "<message type='chat' from='{ALICE}' to='{GATEWAY}' id='c'>\
             <body>confirm {code}</body></message>"
        ));
        // bob is online: the gateway's status shows him his new balance.
        let statuses: Vec<String> = out
            .iter()
            .filter(|e| e.name == "presence")
            .map(|p| {
                let status = p.get_child("status", ns::COMPONENT).unwrap();
                format!("{} {}", p.get_attr("to").unwrap(), status.text_content())
            })
            .collect();
        assert_eq!(statuses, ["bob@example.org Balance: 0.1 BTC"]);
        let messages: Vec<(&str, &str, String)> = out
            .iter()
            .filter(|e| e.name == "message")
            .map(|m| {
                (
                    m.get_attr("from").unwrap(),
                    m.get_attr("to").unwrap(),
                    bodies(std::slice::from_ref(m)).remove(0),
                )
            })
            .collect();
        assert_eq!(
            messages,
            [
                (
                    ALICE_CONTACT,
                    "bob@example.org",
                    "alice paid you 0.1 BTC: «for the lunch». Your balance is 0.1 BTC.".into()
                ),
                (
                    GATEWAY,
                    ALICE,
                    "Paid 0.1 BTC to bob. Your balance is 0.9 BTC.".into()
                ),
            ]
        );
        // Replaying the code pays nothing more.
        assert_eq!(
            b.say("alice", &format!("confirm {code}")),
            ["This payment was already carried out: nothing more was paid."]
        );
        assert_eq!(b.user("bob").unwrap().balance.0, BTC / 10);
    }

    #[test]
    fn pay_all_to_a_user_offers_the_whole_balance() {
        let mut b = alice_and_bob();
        let recap = b.say("alice", "pay all bob");
        let code = code_in(&recap[0]);
        assert!(
            recap[0].starts_with("Pay 1 BTC to bob.\nBalance left: 0 BTC.\n"),
            "{recap:?}"
        );
        b.say("alice", &format!("confirm {code}"));
        assert_eq!(b.user("alice").unwrap().balance.0, 0);
        assert_eq!(b.user("bob").unwrap().balance.0, BTC);
    }

    #[test]
    fn pay_takes_sat_as_a_word_of_its_own() {
        let mut b = alice_and_bob();
        let recap = b.say("alice", "pay 1000 sat bob thanks");
        assert!(
            recap[0].starts_with("Pay 0.00001 BTC to bob «thanks».\n"),
            "{recap:?}"
        );
        let recap = b.say("alice", "pay 2500 SATS bob");
        assert!(
            recap[0].starts_with("Pay 0.000025 BTC to bob.\n"),
            "{recap:?}"
        );
    }

    #[test]
    fn pay_to_an_unknown_recipient_is_refused() {
        let mut b = alice_and_bob();
        assert_eq!(
            b.say("alice", "pay 0.1 carol"),
            ["carol is neither a registered user nor a Bitcoin address."]
        );
        assert_eq!(b.say("alice", "confirm"), ["You have no payments waiting."]);
    }

    #[test]
    fn pay_without_its_words_gives_the_usage() {
        let mut b = alice_and_bob();
        let usage = "Usage: pay <amount|all> <username|address> [comment], \
                     for example: pay 0.001 alice lunch";
        assert_eq!(b.say("alice", "pay"), [usage]);
        assert_eq!(b.say("alice", "pay 0.1"), [usage]);
    }

    #[test]
    fn pay_with_a_bad_amount_says_what_is_wrong() {
        let mut b = alice_and_bob();
        assert_eq!(
            b.say("alice", "pay 0,5 bob"),
            ["Use a dot as the decimal separator: 0.5, not 0,5. \
              Amounts: 0.5 or .25 (BTC, at most 8 decimals) or 5000 sat."]
        );
        assert_eq!(
            b.say("alice", "pay -1 bob"),
            ["An amount cannot be negative. \
              Amounts: 0.5 or .25 (BTC, at most 8 decimals) or 5000 sat."]
        );
        assert_eq!(
            b.say("alice", "pay 2 bob"),
            ["Not enough funds: your spendable balance is 1 BTC and this takes 2 BTC."]
        );
        assert_eq!(
            b.say("alice", "pay 0.1 alice"),
            ["You cannot pay yourself."]
        );
    }

    #[test]
    fn a_wrong_code_says_how_many_tries_are_left() {
        let mut b = alice_and_bob();
        let code = b.order("alice", "0.1 bob");
        assert_eq!(
            b.say("alice", "confirm zzzz"),
            ["There is no payment waiting with this code. \
              2 more wrong code(s) will cancel your waiting payments."]
        );
        assert_eq!(
            b.say("alice", "confirm zzzz"),
            ["There is no payment waiting with this code. \
              1 more wrong code(s) will cancel your waiting payments."]
        );
        assert_eq!(
            b.say("alice", "confirm zzzz"),
            ["Too many wrong codes: your waiting payments are cancelled."]
        );
        assert_eq!(
            b.say("alice", &format!("confirm {code}")),
            ["This payment was cancelled or failed; make a new one with pay."]
        );
        assert_eq!(b.user("bob").unwrap().balance.0, 0);
    }

    #[test]
    fn a_wrong_code_without_waiting_payments_says_only_that() {
        let mut b = alice_and_bob();
        assert_eq!(
            b.say("alice", "confirm zzzz"),
            ["There is no payment waiting with this code."]
        );
    }

    #[test]
    fn confirm_or_cancel_without_a_code_lists_the_waiting_payments() {
        let mut b = alice_and_bob();
        assert_eq!(b.say("alice", "confirm"), ["You have no payments waiting."]);
        let code = b.order("alice", "0.1 bob");
        let listed = [format!(
            "Payments waiting (confirm <code> carries one out, cancel <code> drops it):\n\
             {code}: 0.1 BTC to bob, 10 min left"
        )];
        assert_eq!(b.say("alice", "confirm"), listed);
        assert_eq!(b.say("alice", "cancel"), listed);
    }

    #[test]
    fn cancel_drops_a_waiting_payment() {
        let mut b = alice_and_bob();
        let code = b.order("alice", "0.1 bob");
        assert_eq!(
            b.say("alice", &format!("cancel {code}")),
            [format!("Payment {code} cancelled.")]
        );
        assert_eq!(
            b.say("alice", &format!("cancel {code}")),
            [format!("You have no payment waiting with the code {code}.")]
        );
        assert_eq!(
            b.say("alice", &format!("confirm {code}")),
            ["This payment was cancelled or failed; make a new one with pay."]
        );
        assert_eq!(b.user("alice").unwrap().balance.0, BTC);
    }

    #[test]
    fn only_the_user_who_made_an_order_can_confirm_or_cancel_it() {
        let mut b = alice_and_bob();
        let code = b.order("alice", "0.1 bob");
        assert_eq!(
            b.say("bob", &format!("cancel {code}")),
            [format!("You have no payment waiting with the code {code}.")]
        );
        assert_eq!(
            b.say("bob", &format!("confirm {code}")),
            ["There is no payment waiting with this code."]
        );
        let replies = b.say("alice", &format!("confirm {code}"));
        assert_eq!(
            replies.last().unwrap(),
            "Paid 0.1 BTC to bob. Your balance is 0.9 BTC."
        );
    }

    #[test]
    fn history_shows_the_last_movements_newest_first() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        assert_eq!(b.say("alice", "history"), ["No movements yet."]);
        let mut b = alice_and_bob();
        let code = b.order("alice", "0.1 bob lunch");
        b.say("alice", &format!("confirm {code}"));
        let history = b.say("alice", "hi");
        let lines: Vec<&str> = history[0].lines().collect();
        assert_eq!(lines.len(), 3, "{history:?}");
        assert_eq!(lines[0], "Your last movements, newest first:");
        assert!(
            lines[1].ends_with(" -0.1 BTC to bob «lunch»"),
            "{history:?}"
        );
        assert!(lines[2].contains(" +1 BTC deposit "), "{history:?}");
        let theirs = b.say("bob", "history");
        assert!(
            theirs[0].ends_with(" +0.1 BTC from alice «lunch»"),
            "{theirs:?}"
        );
    }

    #[test]
    fn language_shows_sets_and_forgets_the_language_of_replies() {
        let mut b = alice_and_bob();
        assert_eq!(
            b.say("alice", "language"),
            ["I answer you in en. Available: en, fr. Type language <code> to change."]
        );
        assert_eq!(
            b.say("alice", "language fr"),
            ["Désormais je vous réponds en fr."]
        );
        // French names and English names both work now; replies are French.
        assert_eq!(b.say("alice", "solde"), ["Solde disponible : 1 BTC"]);
        assert_eq!(b.say("alice", "balance"), ["Solde disponible : 1 BTC"]);
        assert_eq!(
            b.say("alice", "langue"),
            ["Je vous réponds en fr. Disponibles : en, fr. Tapez langue <code> pour changer."]
        );
        assert_eq!(
            b.say("alice", "langue défaut"),
            ["From now on I answer you in en."]
        );
        assert_eq!(b.say("alice", "balance"), ["Spendable balance: 1 BTC"]);
        assert_eq!(
            b.say("alice", "language xx"),
            ["There is no 'xx' catalog. Available: en, fr."]
        );
    }

    #[test]
    fn a_french_client_is_answered_in_french() {
        let mut b = alice_and_bob();
        let out = b.send(&format!(
            "<message type='chat' from='{ALICE}' to='{GATEWAY}' xml:lang='fr' id='f'>\
             <body>solde</body></message>"
        ));
        assert_eq!(bodies(&out), ["Solde disponible : 1 BTC"]);
        assert_eq!(attrs(&out, "xml:lang"), ["fr"]);
    }

    #[test]
    fn admin_commands_are_unknown_to_other_users() {
        let mut b = alice_and_bob();
        for (typed, word) in [
            ("audit", "audit"),
            ("unfreeze", "unfreeze"),
            ("resolve 1 notsent", "resolve"),
        ] {
            assert_eq!(
                b.say("alice", typed),
                [format!(
                    "I don't know '{word}'. Type help for the list of commands."
                )]
            );
        }
        assert!(!b.say("alice", "help")[0].contains("audit"));
        assert_eq!(
            b.say("alice", "help audit"),
            ["There is no command 'audit'. Type help for the list."]
        );
    }

    #[test]
    fn admins_have_their_commands_too() {
        let mut b = Bench::new();
        b.register("admin", "boss");
        let help = b.say("admin", "help");
        assert!(help[0].contains("\naudit: (admins)"), "{help:?}");
        assert!(b.say("admin", "audit")[0].starts_with("Wallet: 0 BTC\n"));
        assert_eq!(
            b.say("admin", "resolve"),
            ["Type: resolve <order> sent <txid>, or resolve <order> notsent."]
        );
        assert_eq!(
            b.say("admin", "unfreeze"),
            ["Withdrawals are allowed again."]
        );
    }

    #[test]
    fn an_address_alone_opens_a_chat_with_its_contact() {
        let mut b = alice_and_bob();
        let to = b.chain.borrow_mut().world_address();
        for typed in [
            to.clone(),
            format!("bitcoin:{to}"),
            format!(" bitcoin:{to}?label=shop "),
        ] {
            let out = b.send(&format!(
                "<message type='chat' from='{ALICE}' to='{GATEWAY}' id='a'>\
                 <body>{typed}</body></message>"
            ));
            assert_eq!(attrs(&out, "from"), [contact(&to)], "{typed}");
            assert_eq!(attrs(&out, "to"), [ALICE]);
            assert_eq!(
                bodies(&out),
                [format!(
                    "I am {to}. Write here to deal with this address: \
                     pay <amount> sends it bitcoins, history shows what went between us."
                )]
            );
        }
    }

    #[test]
    fn a_mistyped_address_alone_is_refused() {
        let mut b = alice_and_bob();
        let to = b.chain.borrow_mut().world_address();
        let last = if to.ends_with('a') { 'b' } else { 'a' };
        let typo = format!("{}{last}", &to[..to.len() - 1]);
        assert_eq!(
            b.say("alice", &typo),
            ["This address's checksum is wrong: check it for a typo."]
        );
    }

    #[test]
    fn a_bitcoin_uri_with_an_amount_prepares_the_payment() {
        let mut b = alice_and_bob();
        let to = b.chain.borrow_mut().world_address();
        let recap = b.say("alice", &format!("bitcoin:{to}?amount=0.01"));
        let code = code_in(&recap[0]);
        assert!(
            recap[0].starts_with(&format!("Send 0.01 BTC to {to}.\nEstimated network fee: ")),
            "{recap:?}"
        );
        let listed = b.say("alice", "confirm");
        assert!(
            listed[0].ends_with(&format!("{code}: 0.01 BTC to {to}, 10 min left")),
            "{listed:?}"
        );
    }

    #[test]
    fn a_user_contact_takes_pay_history_and_help() {
        let mut b = alice_and_bob();
        let recap = b.chat(ALICE, BOB_CONTACT, "pay 1000 sat thanks");
        let code = code_in(&recap[0]);
        assert!(
            recap[0].starts_with("Pay 0.00001 BTC to bob «thanks».\n"),
            "{recap:?}"
        );
        let out = b.send(&format!(
            "<message type='chat' from='{ALICE}' to='{BOB_CONTACT}' id='c'>\
             <body>confirm {code}</body></message>"
        ));
        // The contact answers, and bob hears it from alice's contact.
        assert!(xml(&out).iter().any(|m| m.starts_with(&format!(
            "<message type='chat' from='{BOB_CONTACT}' to='{ALICE}'"
        ))));
        assert!(
            bodies(&out).contains(&"Paid 0.00001 BTC to bob. Your balance is 0.99999 BTC.".into())
        );
        let history = b.chat(ALICE, BOB_CONTACT, "history");
        assert_eq!(history[0].lines().count(), 2, "only what went with bob");
        assert!(history[0].ends_with(" to bob «thanks»"), "{history:?}");
        let help = b.chat(ALICE, BOB_CONTACT, "help");
        assert_eq!(
            help,
            ["Commands here, about bob (a unique prefix is enough):\n\
              pay <amount|all> [comment]: prepare a payment to this contact\n\
              request <amount> [comment]: ask this contact for money\n\
              history: your movements with this contact\n\
              confirm [code]: carry out a waiting payment; without a code, list them\n\
              cancel [code]: drop a waiting payment; without a code, list them"]
        );
        // Anything else gets the same help after saying so.
        let other = b.chat(ALICE, BOB_CONTACT, "balance");
        assert_eq!(
            other,
            [
                "I don't know 'balance'. Type help for the list of commands.".to_owned(),
                help[0].clone()
            ]
        );
        assert_eq!(
            b.chat(ALICE, BOB_CONTACT, "pay"),
            ["Usage: pay <amount|all> [comment], for example: pay 0.001 thanks"]
        );
    }

    #[test]
    fn an_address_contact_takes_pay_history_and_help() {
        let mut b = alice_and_bob();
        let to = b.chain.borrow_mut().world_address();
        let jid = contact(&to);
        let help = b.chat(ALICE, &jid, "help");
        assert!(
            help[0].starts_with(&format!(
                "Commands here, about {to} (a unique prefix is enough):\n"
            )),
            "{help:?}"
        );
        assert_eq!(b.chat(ALICE, &jid, "history"), ["No movements yet."]);
        let recap = b.chat(ALICE, &jid, "pay 0.01 rent");
        assert!(
            recap[0].starts_with(&format!("Send 0.01 BTC to {to} «rent».\n")),
            "{recap:?}"
        );
        let code = code_in(&recap[0]);
        let out = b.send(&format!(
            "<message type='chat' from='{ALICE}' to='{jid}' id='c'>\
             <body>confirm {code}</body></message>"
        ));
        // The withdrawal is announced by the gateway, as a living message.
        let living: Vec<_> = out
            .iter()
            .filter(|e| e.name == "message" && e.get_attr("id").is_some())
            .collect();
        assert_eq!(living.len(), 1, "{:?}", xml(&out));
        assert_eq!(living[0].get_attr("from"), Some(GATEWAY));
        let history = b.chat(ALICE, &jid, "history");
        assert_eq!(history[0].lines().count(), 3, "{history:?}");
        assert!(history[0].contains(" -0.01 BTC withdrawal"), "{history:?}");
    }

    #[test]
    fn unregistered_users_get_the_welcome() {
        let mut b = alice_and_bob();
        for typed in ["hello", "balance", "pay 1 alice", "help"] {
            assert_eq!(b.say("carol", typed), [welcome()], "{typed}");
        }
        // Also when they write to a contact.
        assert_eq!(
            b.chat("carol@example.org/pc", ALICE_CONTACT, "pay 1"),
            [welcome()]
        );
    }

    fn welcome() -> String {
        "Hello, I am bitcoin.example.org: a Bitcoin wallet for the users of this server.\n\
         To open yours, choose a username (2 to 24 letters, digits, - or _, \
         starting with a letter) and type:\nregister <username>\n\
         The link that opens this chat in any client: xmpp:bitcoin.example.org?message"
            .to_owned()
    }

    #[test]
    fn the_welcome_gives_the_link_that_opens_the_chat_in_each_language() {
        let mut b = Bench::new();
        assert!(b.say("carol", "hello")[0].ends_with(
            "\nThe link that opens this chat in any client: xmpp:bitcoin.example.org?message"
        ));
        let out = b.send(&format!(
            "<message type='chat' from='carol@example.org/pc' to='{GATEWAY}' xml:lang='fr' \
             id='w'><body>bonjour</body></message>"
        ));
        assert!(bodies(&out)[0].ends_with(
            "\nLe lien qui ouvre cette discussion dans n'importe quel client : \
             xmpp:bitcoin.example.org?message"
        ));
    }

    const UNREADABLE: &str = "I cannot read encrypted messages (OMEMO, OpenPGP, OTR): \
        I am a program, not a person, and I hold no key. \
        Turn encryption off for this chat, then write again.";

    /// The payloads of encrypted messages as clients send them, each with
    /// the fallback body `address` that must not be taken as a command.
    fn encrypted_messages(from: &str, to: &str) -> Vec<String> {
        let message = |inner: &str| {
            format!("<message type='chat' from='{from}' to='{to}' id='e'>{inner}</message>")
        };
        let fallback = "<body>address</body>";
        vec![
            // Conversations' OMEMO, with its fallback body and EME label.
            message(&format!(
                "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'>\
                 <key rid='2'>a2V5</key><iv>aXY=</iv></header><payload>cGF5</payload>\
                 </encrypted>{fallback}\
                 <encryption xmlns='urn:xmpp:eme:0' namespace='eu.siacs.conversations.axolotl'/>"
            )),
            // OMEMO 2, without any body.
            message(
                "<encrypted xmlns='urn:xmpp:omemo:2'><header sid='1'><keys jid='a@b'>\
                 <key rid='2'>a2V5</key></keys></header><payload>cGF5</payload></encrypted>",
            ),
            // XEP-0380 alone labels a scheme we do not even know.
            message(&format!(
                "{fallback}<encryption xmlns='urn:xmpp:eme:0' namespace='urn:example:e2e'/>"
            )),
            message("<openpgp xmlns='urn:xmpp:openpgp:0'>QmFzZTY0</openpgp>"),
            message(&format!(
                "{fallback}<x xmlns='jabber:x:encrypted'>QmFzZTY0</x>"
            )),
            message("<body>?OTR:AAMDJ+MVmSfjFZcAAAAAAQAAAAIAAADA</body>"),
            message("<body>?OTRv23? alice would like a private conversation</body>"),
        ]
    }

    /// A chat message from alice's phone with the given id attribute
    /// and payload.
    fn message(id: &str, inner: &str) -> String {
        format!("<message type='chat' from='{ALICE}' to='{GATEWAY}' id='{id}'>{inner}</message>")
    }

    #[test]
    fn a_message_sent_again_is_acted_on_once() {
        let mut b = alice_and_bob();
        let pay = "<body>pay 1000 sat bob</body>";
        let out = b.send(&message("p1", pay));
        let pending = |b: &mut Bench| {
            let alice = b.user("alice").unwrap();
            b.services().wallet.pending_orders(&alice).len()
        };
        assert_eq!(pending(&mut b), 1);
        let code = code_in(&bodies(&out)[0]);
        // Resent after a failed stream resumption, from another resource:
        // no second order, no answer.
        let again = message("p1", pay).replace("/phone", "/laptop");
        assert!(bodies(&b.send(&again)).is_empty());
        assert_eq!(pending(&mut b), 1);
        // The origin-id wins over the id attribute, which the server may
        // have changed.
        let confirm = format!(
            "<body>confirm {code}</body><origin-id xmlns='{}' id='c1'/>",
            ns::SID
        );
        let out = b.send(&message("x1", &confirm));
        assert!(
            bodies(&out)
                .iter()
                .any(|b| b.starts_with("Paid 0.00001 BTC to bob")),
            "{:?}",
            bodies(&out)
        );
        assert!(bodies(&b.send(&message("x2", &confirm))).is_empty());
        assert_eq!(b.user("bob").unwrap().balance.0, 1000);
        // A client that numbers its messages from 1 again at each
        // connection: the same id with another text is another message.
        let out = b.send(&message("p1", "<body>balance</body>"));
        assert_eq!(bodies(&out).len(), 1);
    }

    #[test]
    fn tip_said_in_a_private_chat_says_where_tips_are_made() {
        let mut b = alice_and_bob();
        let answer = b.say("alice", "tip 1000 sat bob thanks");
        assert_eq!(answer.len(), 1);
        assert!(
            answer[0].starts_with("Tips are made in a room: invite me"),
            "{answer:?}"
        );
        assert_eq!(b.user("bob").unwrap().balance.0, 0);
        // The limit keeps its prefix.
        let answer = b.say("alice", "tipl 5000 sat");
        assert_eq!(b.user("alice").unwrap().tiplimit.0, 5000, "{answer:?}");
    }

    #[test]
    fn a_correction_is_never_read_as_a_new_command() {
        let mut b = alice_and_bob();
        let corrected = format!(
            "<body>pay 2000 sat bob</body><replace xmlns='{}' id='p1'/>",
            ns::CORRECT
        );
        let out = b.send(&message("p2", &corrected));
        assert_eq!(
            bodies(&out),
            [
                "I do not act on corrected messages: a correction could pay twice. \
              Send the command again as a new message."
            ]
        );
        let alice = b.user("alice").unwrap();
        assert!(b.services().wallet.pending_orders(&alice).is_empty());
    }

    #[test]
    fn an_encrypted_message_is_answered_once_and_never_read_as_a_command() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        let bob = b.register("bob", "bob");
        let address = contact(&b.address_of(&bob));
        for to in [GATEWAY, BOB_CONTACT, address.as_str()] {
            for message in encrypted_messages(ALICE, to) {
                let out = b.send(&message);
                assert_eq!(bodies(&out), [UNREADABLE], "{message}");
                assert_eq!(attrs(&out, "from"), [to]);
                assert_eq!(attrs(&out, "to"), [ALICE]);
            }
        }
        assert_eq!(b.addresses(&alice).len(), 1, "no address was made");
        // Newcomers get the sentence too rather than the welcome, in French
        // for a French client.
        let mut message = encrypted_messages("carol@example.org/pc", GATEWAY).remove(0);
        message = message.replacen("id='e'", "id='e' xml:lang='fr'", 1);
        let out = b.send(&message);
        assert_eq!(bodies(&out).len(), 1);
        assert!(
            bodies(&out)[0].starts_with("Je ne peux pas lire les messages chiffrés"),
            "{:?}",
            bodies(&out)
        );
    }

    #[test]
    fn an_encrypted_message_still_gets_its_receipt() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        let message = encrypted_messages(ALICE, GATEWAY).remove(0).replace(
            "</message>",
            "<request xmlns='urn:xmpp:receipts'/></message>",
        );
        let out = b.send(&message);
        assert_eq!(bodies(&out), [UNREADABLE]);
        let received: Vec<_> = out
            .iter()
            .filter_map(|m| m.get_child("received", "urn:xmpp:receipts"))
            .map(|r| r.get_attr("id"))
            .collect();
        assert_eq!(received, [Some("e")]);
    }

    #[test]
    fn an_omemo_key_exchange_carries_nothing_to_answer() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        let out = b.send(&format!(
            "<message type='chat' from='{ALICE}' to='{GATEWAY}' id='k'>\
             <encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'>\
             <key rid='2' prekey='true'>a2V5</key><iv>aXY=</iv></header></encrypted>\
             <store xmlns='urn:xmpp:hints'/></message>"
        ));
        assert!(out.is_empty(), "{:?}", xml(&out));
    }

    #[test]
    fn an_ambiguous_prefix_lists_the_candidates() {
        let mut b = alice_and_bob();
        assert_eq!(
            b.say("alice", "h"),
            ["'h' could be: help, history. Type a few more letters."]
        );
        assert_eq!(
            b.say("alice", "c 1234"),
            ["'c' could be: confirm, cancel. Type a few more letters."]
        );
        assert!(b.say("alice", "hi")[0].starts_with("Your last movements"));
    }

    #[test]
    fn an_unknown_command_is_named_back() {
        let mut b = alice_and_bob();
        assert_eq!(
            b.say("alice", "fly away"),
            ["I don't know 'fly'. Type help for the list of commands."]
        );
        assert!(
            b.say("alice", "   ").is_empty(),
            "an empty body is no command"
        );
    }

    #[test]
    fn errors_groupchats_headlines_and_bodiless_messages_are_not_answered() {
        let mut b = alice_and_bob();
        for kind in ["error", "groupchat", "headline"] {
            let out = b.send(&format!(
                "<message type='{kind}' from='{ALICE}' to='{GATEWAY}' id='x'>\
                 <body>balance</body></message>"
            ));
            assert!(out.is_empty(), "{kind}: {:?}", xml(&out));
        }
        let out = b.send(&format!(
            "<message type='chat' from='{ALICE}' to='{GATEWAY}' id='x'>\
             <composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
        ));
        assert!(out.is_empty(), "{:?}", xml(&out));
        // A message without a type is a normal message: answered.
        let out = b.send(&format!(
            "<message from='{ALICE}' to='{GATEWAY}' id='x'><body>balance</body></message>"
        ));
        assert_eq!(bodies(&out), ["Spendable balance: 1 BTC"]);
    }

    #[test]
    fn a_message_to_nobody_is_item_not_found() {
        let mut b = alice_and_bob();
        let out = b.send(&format!(
            "<message type='chat' from='{ALICE}' to='carol@{GATEWAY}' id='n'>\
             <body>pay 1</body></message>"
        ));
        assert_eq!(attrs(&out, "type"), ["error"]);
        assert!(xml(&out)[0].contains("<item-not-found "), "{:?}", xml(&out));
    }

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
