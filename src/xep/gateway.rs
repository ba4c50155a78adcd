//! XEP-0100 section 6.3: jabber:iq:gateway. The "legacy address" of this
//! gateway is a Bitcoin address (or `bitcoin:` URI) or a username; the
//! answer is its contact JID.

use crate::bitcoin::address::{Address, AddressError};
use crate::bitcoin::uri;
use crate::command::{address_error_text, Services};
use crate::ledger::accounts::is_valid_username;
use crate::xep::{IqHandler, IqResult, Request, State};
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

fn on_get(s: &mut Services, _: &mut State, request: &Request, _: &mut Vec<Element>) -> IqResult {
    Ok(Some(
        Element::new("query", ns::GATEWAY)
            .text_child("desc", &s.text(request.lang(s), "gateway-prompt-desc", &[]))
            .text_child("prompt", &s.text(request.lang(s), "gateway-prompt", &[])),
    ))
}

/// The contact node for what a user typed: an address or a username;
/// else the sentence saying why not.
pub fn contact_node(s: &Services, lang: &str, typed: &str) -> Result<String, String> {
    let text = uri::strip(typed);
    match Address::parse(text, s.wallet.network()) {
        Ok(address) => return Ok(address.to_node()),
        Err(e @ (AddressError::WrongNetwork { .. } | AddressError::Checksum)) => {
            return Err(address_error_text(s, lang, &e))
        }
        Err(_) => {}
    }
    let name = text.to_lowercase();
    if is_valid_username(&name) {
        if let Ok(Some(user)) = s.wallet.ledger().user_by_username(&name) {
            return Ok(user.username);
        }
    }
    Err(s.text(lang, "gateway-prompt-unknown", &[]))
}

fn on_set(s: &mut Services, _: &mut State, request: &Request, _: &mut Vec<Element>) -> IqResult {
    let typed = request
        .iq
        .payload
        .and_then(|q| q.get_child("prompt", ns::GATEWAY))
        .map(Element::text_content)
        .unwrap_or_default();
    match contact_node(s, request.lang(s), &typed) {
        Ok(node) => Ok(Some(
            Element::new("query", ns::GATEWAY)
                .text_child("jid", &s.voice.contact_jid(&node).to_string()),
        )),
        Err(why) => Err(StanzaError::with_text(Condition::ItemNotFound, why)),
    }
}
