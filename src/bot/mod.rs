//! Chat commands: parsing (pure, in [`command`]) and execution. Every
//! sentence users see lives in the catalogs of [`i18n`], not in code.
//!
//! To the gateway, an unregistered user can only register: whatever else
//! they write gets the welcome, which says how. A registered user's
//! message that is only an address or a `bitcoin:` URI makes that
//! address's contact open a chat with them.

pub mod command;
pub mod i18n;

use crate::bitcoin::address::{Address, AddressError};
use crate::entity::Entity;
use crate::gateway::Gateway;
use crate::ledger::User;
use crate::wallet::accounts;
use crate::xep::gateway::strip_uri;
use crate::xmpp::stanza::{error_reply, Condition, StanzaError};
use crate::xmpp::{ns, Element, Jid};
use command::{match_command, Match};

/// The commands of the gateway, in help order.
const GATEWAY_COMMANDS: &[&str] = &["help", "register", "unregister"];

/// A chat message from `from` (as `to`) to `to`.
fn chat(from: &Jid, to: &Jid, lang: &str, body: &str) -> Element {
    Element::new("message", ns::COMPONENT)
        .attr("type", "chat")
        .attr("from", &from.to_string())
        .attr("to", &to.to_string())
        .attr("xml:lang", lang)
        .text_child("body", body)
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
    let reply_from = match entity {
        Entity::Gateway => gateway.jid.clone(),
        Entity::User(u) => gateway.contact_jid(&u.username),
        Entity::Address(a) => gateway.contact_jid(&a.to_node()),
        Entity::Unknown => {
            out.push(error_reply(
                stanza,
                &StanzaError::with_text(Condition::ItemNotFound, "no such user or address"),
            ));
            return;
        }
    };
    let replies = match entity {
        Entity::Gateway => to_gateway(gateway, from, user.as_ref(), lang, &body, out),
        _ => vec![gateway.text(
            lang,
            "help-contact",
            &[("gateway", &gateway.jid.to_string())],
        )],
    };
    for text in replies {
        out.push(chat(&reply_from, from, lang, &text));
    }
}

/// The replies of the gateway to `body`.
fn to_gateway(
    gateway: &mut Gateway,
    from: &Jid,
    user: Option<&User>,
    lang: &str,
    body: &str,
    out: &mut Vec<Element>,
) -> Vec<String> {
    let ids: &[&'static str] = if user.is_some() {
        GATEWAY_COMMANDS
    } else {
        &["register"]
    };
    let matched = match_command(&gateway.catalogs, lang, ids, body);
    if user.is_none() && !matches!(matched, Match::Command("register", _)) {
        return vec![welcome(gateway, lang)];
    }
    match matched {
        Match::Command("help", topic) => vec![help(gateway, lang, topic)],
        Match::Command("register", name) => {
            if name.is_empty() {
                return vec![gateway.text(lang, "register-usage", &[])];
            }
            match accounts::register(gateway, from, name, out) {
                Ok(registered) => vec![accounts::registered_text(gateway, lang, &registered)],
                Err(refusal) => vec![accounts::refusal_text(gateway, lang, from, &refusal)],
            }
        }
        Match::Command("unregister", _) => match accounts::unregister(gateway, from, out) {
            Ok(_) => vec![gateway.text(lang, "unregistered", &[])],
            Err(e) => vec![accounts::unregister_error_text(gateway, lang, &e)],
        },
        Match::Command(other, _) => {
            log::error!("command {other} has no implementation");
            vec![gateway.text(lang, "internal-error", &[])]
        }
        Match::Unknown(word) => match looks_like_address(gateway, body) {
            Some(Ok(address)) => {
                let contact = gateway.contact_jid(&address.to_node());
                out.push(chat(
                    &contact,
                    from,
                    lang,
                    &gateway.text(lang, "address-hello", &[("address", address.as_str())]),
                ));
                Vec::new()
            }
            Some(Err(e)) => vec![address_error_text(gateway, lang, &e)],
            None => vec![gateway.text(lang, "unknown-command", &[("input", word)])],
        },
        Match::Ambiguous(candidates) => vec![gateway.text(
            lang,
            "ambiguous-command",
            &[
                ("input", body.split_whitespace().next().unwrap_or_default()),
                ("candidates", &candidates.join(", ")),
            ],
        )],
        Match::Empty => Vec::new(),
    }
}

/// `Some` when the whole message is meant as an address (one word that is
/// a `bitcoin:` URI, or that looks like an address even if invalid).
fn looks_like_address(gateway: &Gateway, body: &str) -> Option<Result<Address, AddressError>> {
    let body = body.trim();
    if body.split_whitespace().count() != 1 {
        return None;
    }
    let text = strip_uri(body);
    let is_uri = text.len() != body.len();
    match Address::parse(text, gateway.node.network()) {
        Ok(a) => Some(Ok(a)),
        // A long word of base58 or bech32 characters is a mistyped
        // address; anything else is a mistyped command.
        Err(e) if is_uri || (text.len() >= 26 && !matches!(e, AddressError::NotAnAddress)) => {
            Some(Err(e))
        }
        Err(_) => None,
    }
}

pub fn address_error_text(gateway: &Gateway, lang: &str, e: &AddressError) -> String {
    match e {
        AddressError::Empty | AddressError::NotAnAddress => {
            gateway.text(lang, "address-not-an-address", &[])
        }
        AddressError::Checksum => gateway.text(lang, "address-checksum", &[]),
        AddressError::WrongNetwork { found } => gateway.text(
            lang,
            "address-wrong-network",
            &[
                ("network", found),
                ("ours", gateway.node.network().chain_name()),
            ],
        ),
        AddressError::Unsupported => gateway.text(lang, "address-unsupported", &[]),
    }
}

fn welcome(gateway: &Gateway, lang: &str) -> String {
    gateway.text(lang, "welcome", &[("gateway", &gateway.jid.to_string())])
}

/// The list of commands, or the usage of one.
fn help(gateway: &Gateway, lang: &str, topic: &str) -> String {
    if !topic.is_empty() {
        return match match_command(&gateway.catalogs, lang, GATEWAY_COMMANDS, topic) {
            Match::Command(id, _) => gateway.text(lang, &format!("help-{id}"), &[]),
            _ => gateway.text(lang, "help-unknown", &[("command", topic)]),
        };
    }
    let mut text = gateway.text(lang, "help-intro", &[]);
    for id in GATEWAY_COMMANDS {
        text.push('\n');
        text.push_str(&gateway.text(lang, &format!("help-{id}"), &[]));
    }
    text
}
