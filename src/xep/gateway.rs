//! XEP-0100 section 6.3: jabber:iq:gateway. The "legacy address" of this
//! gateway is a Bitcoin address (or `bitcoin:` URI) or a username; the
//! answer is its contact JID.

use crate::bitcoin::address::{Address, AddressError};
use crate::bot::address_error_text;
use crate::gateway::Gateway;
use crate::ledger::accounts::is_valid_username;
use crate::router::{IqHandler, IqResult, Request};
use crate::xmpp::ns;
use crate::xmpp::stanza::{Condition, StanzaError};
use crate::xmpp::Element;

pub const HANDLER: IqHandler = IqHandler {
    ns: ns::GATEWAY,
    name: "query",
    feature: Some(ns::GATEWAY),
    get: Some(on_get),
    set: Some(on_set),
};

fn on_get(gateway: &mut Gateway, request: &Request, _: &mut Vec<Element>) -> IqResult {
    Ok(Some(
        Element::new("query", ns::GATEWAY)
            .text_child(
                "desc",
                &gateway.text(request.lang(gateway), "gateway-prompt-desc", &[]),
            )
            .text_child(
                "prompt",
                &gateway.text(request.lang(gateway), "gateway-prompt", &[]),
            ),
    ))
}

/// The address of a `bitcoin:` URI, or the text itself.
pub fn strip_uri(text: &str) -> &str {
    let text = text.trim();
    match text.get(..8) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bitcoin:") => {
            let rest = &text[8..];
            rest.split('?').next().unwrap_or(rest)
        }
        _ => text,
    }
}

/// The contact node for what a user typed: an address or a username;
/// else the sentence saying why not.
pub fn contact_node(gateway: &Gateway, lang: &str, typed: &str) -> Result<String, String> {
    let text = strip_uri(typed);
    match Address::parse(text, gateway.node.network()) {
        Ok(address) => return Ok(address.to_node()),
        Err(e @ (AddressError::WrongNetwork { .. } | AddressError::Checksum)) => {
            return Err(address_error_text(gateway, lang, &e))
        }
        Err(_) => {}
    }
    let name = text.to_lowercase();
    if is_valid_username(&name) {
        if let Ok(Some(user)) = gateway.ledger.user_by_username(&name) {
            return Ok(user.username);
        }
    }
    Err(gateway.text(lang, "gateway-prompt-unknown", &[]))
}

fn on_set(gateway: &mut Gateway, request: &Request, _: &mut Vec<Element>) -> IqResult {
    let typed = request
        .iq
        .payload
        .and_then(|q| q.get_child("prompt", ns::GATEWAY))
        .map(Element::text_content)
        .unwrap_or_default();
    match contact_node(gateway, request.lang(gateway), &typed) {
        Ok(node) => Ok(Some(
            Element::new("query", ns::GATEWAY)
                .text_child("jid", &gateway.contact_jid(&node).to_string()),
        )),
        Err(why) => Err(StanzaError::with_text(Condition::ItemNotFound, why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_bitcoin_uris() {
        assert_eq!(strip_uri(" bitcoin:1abc?amount=1 "), "1abc");
        assert_eq!(strip_uri("BITCOIN:BC1QXY"), "BC1QXY");
        assert_eq!(strip_uri("alice"), "alice");
        assert_eq!(strip_uri("bitcoin:"), "");
    }
}
