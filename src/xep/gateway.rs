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
            .text_child("prompt", &s.text(request.lang(s), "gateway-prompt", &[]))
            .into(),
    ))
}

/// The contact node for what a user typed: an address or a username;
/// else the sentence saying why not.
pub fn contact_node(s: &Services, lang: &str, typed: &str) -> Result<String, String> {
    let text = uri::strip(typed);
    let unknown = || s.text(lang, "gateway-prompt-unknown", &[]);
    // A username first: it is never an address (at most 24 characters,
    // addresses at least 26), but many are base58 letters that would fail
    // as an address on their checksum.
    let name = text.to_lowercase();
    if is_valid_username(&name) {
        return match s.wallet.ledger().user_by_username(&name) {
            Ok(Some(user)) => Ok(user.username),
            _ => Err(unknown()),
        };
    }
    match Address::parse(text, s.wallet.network()) {
        Ok(address) => Ok(address.to_node()),
        Err(e @ (AddressError::WrongNetwork { .. } | AddressError::Checksum)) => {
            Err(address_error_text(s, lang, &e))
        }
        Err(_) => Err(unknown()),
    }
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
                .text_child("jid", &s.voice.contact_jid(&node).to_string())
                .into(),
        )),
        Err(why) => Err(StanzaError::with_text(Condition::ItemNotFound, why)),
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::{contact, error_condition, error_text, result_payload, Bench, GATEWAY};
    use crate::xmpp::{ns, Element};

    const ALICE: &str = "alice@example.org/phone";

    /// What the gateway answers to `typed` in its prompt.
    fn set(b: &mut Bench, typed: &str) -> Element {
        b.ask(
            ALICE,
            GATEWAY,
            "set",
            &format!("<query xmlns='jabber:iq:gateway'><prompt>{typed}</prompt></query>"),
        )
    }

    /// The JID of a successful answer.
    fn jid(answer: &Element) -> String {
        result_payload(answer)
            .expect("a query")
            .get_child("jid", ns::GATEWAY)
            .expect("a <jid/>")
            .text_content()
    }

    #[test]
    fn the_prompt_asks_for_an_address_or_a_username() {
        let mut b = Bench::new();
        let answer = b.ask(ALICE, GATEWAY, "get", "<query xmlns='jabber:iq:gateway'/>");
        let query = result_payload(&answer).expect("a query");
        let text = |name| {
            query
                .get_child(name, ns::GATEWAY)
                .map(Element::text_content)
        };
        assert_eq!(
            text("desc").as_deref(),
            Some("Enter a Bitcoin address or a username to get its contact.")
        );
        assert_eq!(
            text("prompt").as_deref(),
            Some("Bitcoin address or username")
        );
    }

    #[test]
    fn an_address_becomes_its_contact_jid() {
        let mut b = Bench::new();
        let bob = b.register("bob", "bob");
        let address = b.address_of(&bob);
        let expected = contact(&address);
        assert_eq!(jid(&set(&mut b, &address)), expected);
        // The JID leads back to the same address.
        let answer = b.ask(ALICE, &expected, "get", "<vCard xmlns='vcard-temp'/>");
        let fn_ = result_payload(&answer)
            .unwrap()
            .get_child("FN", ns::VCARD)
            .map(Element::text_content);
        assert_eq!(fn_, Some(address));
    }

    #[test]
    fn a_bitcoin_uri_becomes_the_contact_of_its_address() {
        let mut b = Bench::new();
        let bob = b.register("bob", "bob");
        let address = b.address_of(&bob);
        let expected = contact(&address);
        let typed = format!("bitcoin:{address}?amount=0.1&amp;label=bob");
        assert_eq!(jid(&set(&mut b, &typed)), expected);
    }

    #[test]
    fn a_username_becomes_the_user_contact_whatever_its_case() {
        let mut b = Bench::new();
        b.register("bob", "bob");
        assert_eq!(jid(&set(&mut b, "Bob")), format!("bob@{GATEWAY}"));
    }

    // "robert" is made of base58 letters only: read as an address first,
    // it failed on its checksum and the user was told of a typo.
    #[test]
    fn a_username_of_base58_letters_is_not_taken_for_a_mistyped_address() {
        let mut b = Bench::new();
        b.register("robert", "robert");
        assert_eq!(jid(&set(&mut b, "robert")), format!("robert@{GATEWAY}"));
        let answer = set(&mut b, "nobody");
        assert_eq!(
            error_text(&answer).as_deref(),
            Some("This is neither a Bitcoin address nor a registered username.")
        );
    }

    #[test]
    fn an_unknown_name_is_item_not_found() {
        let mut b = Bench::new();
        for typed in ["not an address", ""] {
            let answer = set(&mut b, typed);
            assert_eq!(error_condition(&answer), "item-not-found", "{typed}");
            assert_eq!(
                error_text(&answer).as_deref(),
                Some("This is neither a Bitcoin address nor a registered username."),
                "{typed}"
            );
        }
    }

    #[test]
    fn an_address_of_another_network_is_refused_as_such() {
        let mut b = Bench::new();
        let answer = set(&mut b, "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2");
        assert_eq!(error_condition(&answer), "item-not-found");
        assert_eq!(
            error_text(&answer).as_deref(),
            Some("This is a mainnet address, but this gateway works on regtest.")
        );
    }

    #[test]
    fn a_mistyped_address_is_told_by_its_checksum() {
        let mut b = Bench::new();
        let bob = b.register("bob", "bob");
        let mut address = b.address_of(&bob);
        let last = address.pop().unwrap();
        address.push(if last == 'z' { 'y' } else { 'z' });
        let answer = set(&mut b, &address);
        assert_eq!(error_condition(&answer), "item-not-found");
        assert_eq!(
            error_text(&answer).as_deref(),
            Some("This address's checksum is wrong: check it for a typo.")
        );
    }
}
