//! XEP-0054: vcard-temp, with XEP-0153 photo hashes for addresses.
//!
//! The gateway's vCard names it; an address's vCard has the address as
//! FN, its explorer page as URL and the QR code of its BIP21 `bitcoin:`
//! URI as PHOTO; a user's vCard has their username as NICKNAME, and their
//! real JID as FN only for themself and for admins.

use crate::bitcoin::address::Address;
use crate::command::Services;
use crate::entity::Entity;
use crate::notify::address_photo_base64;
use crate::xep::{IqHandler, IqResult, Request, State};
use crate::xmpp::ns;
use crate::xmpp::stanza::{Condition, StanzaError};
use crate::xmpp::Element;

pub const HANDLER: IqHandler = IqHandler {
    ns: ns::VCARD,
    name: "vCard",
    feature: Some(ns::VCARD),
    get: Some(on_get),
    set: Some(on_set),
};

/// The gateway's vCard, its description in `lang`.
pub fn gateway_vcard(s: &Services, lang: &str) -> Element {
    let description = s.text(
        lang,
        "vcard-description",
        &[("name", crate::NAME), ("version", crate::VERSION)],
    );
    Element::new("vCard", ns::VCARD)
        .text_child("FN", crate::NAME)
        .text_child("NICKNAME", crate::NAME)
        .text_child("DESC", &description)
        .text_child(
            "PRODID",
            &format!("-//{}//{} {}//EN", crate::NAME, crate::NAME, crate::VERSION),
        )
}

pub fn address_vcard(s: &Services, address: &Address) -> Element {
    let mut vcard = Element::new("vCard", ns::VCARD).text_child("FN", address.as_str());
    if let Some(template) = &s.wallet.settings().bitcoin.explorer {
        vcard = vcard.text_child("URL", &template.replace("{address}", address.as_str()));
    }
    if let Some(photo) = address_photo_base64(address) {
        vcard = vcard.child(
            Element::new("PHOTO", ns::VCARD)
                .text_child("TYPE", "image/png")
                .text_child("BINVAL", &photo),
        );
    }
    vcard
}

fn on_get(s: &mut Services, _: &mut State, request: &Request, _: &mut Vec<Element>) -> IqResult {
    let vcard = match request.entity {
        Entity::Gateway => gateway_vcard(s, request.lang(s)),
        Entity::Address(address) => address_vcard(s, address),
        Entity::User(user) => {
            let mut vcard = Element::new("vCard", ns::VCARD).text_child("NICKNAME", &user.username);
            let is_self = request.sender(s).is_some_and(|s| s.id == user.id);
            if is_self || s.voice.is_admin(&request.iq.from) {
                vcard = vcard.text_child("FN", &user.jid);
            }
            vcard
        }
        Entity::Unknown => return Err(StanzaError::new(Condition::ItemNotFound)),
    };
    Ok(Some(vcard.into()))
}

fn on_set(_: &mut Services, _: &mut State, _: &Request, _: &mut Vec<Element>) -> IqResult {
    Err(StanzaError::with_text(
        Condition::NotAllowed,
        "the vCards of bitcoIM's entities cannot be changed",
    ))
}

#[cfg(test)]
mod tests {
    use crate::testkit::{contact, error_condition, result_payload, Bench, ADMIN, GATEWAY};
    use crate::xmpp::{ns, Element};
    use base64::Engine as _;
    use sha1::{Digest, Sha1};

    const GET: &str = "<vCard xmlns='vcard-temp'/>";
    const ALICE: &str = "alice@example.org/phone";

    fn vcard(answer: &Element) -> &Element {
        let vcard = result_payload(answer).expect("a vCard");
        assert!(vcard.is("vCard", ns::VCARD));
        vcard
    }

    fn field(vcard: &Element, name: &str) -> Option<String> {
        vcard.get_child(name, ns::VCARD).map(Element::text_content)
    }

    #[test]
    fn the_gateway_vcard_names_bitcoim_and_its_version() {
        let mut b = Bench::new();
        let answer = b.ask(ALICE, GATEWAY, "get", GET);
        let vcard = vcard(&answer);
        assert_eq!(field(vcard, "FN").as_deref(), Some("bitcoIM"));
        assert_eq!(field(vcard, "NICKNAME").as_deref(), Some("bitcoIM"));
        let desc = field(vcard, "DESC").unwrap();
        assert!(desc.contains("Type 'help' to start."), "{desc}");
        assert!(
            desc.ends_with(&format!("bitcoIM {}", crate::VERSION)),
            "{desc}"
        );
        assert!(field(vcard, "PHOTO").is_none());
    }

    /// An address's vCard, and the address.
    fn address_vcard(b: &mut Bench) -> (Element, String) {
        let alice = b.register("alice", "alice");
        let address = b.address_of(&alice);
        let jid = contact(&address);
        (b.ask(ALICE, &jid, "get", GET), address)
    }

    #[test]
    fn an_address_vcard_has_the_address_and_the_qr_code_of_its_uri() {
        let mut b = Bench::new();
        let (answer, address) = address_vcard(&mut b);
        let vcard = vcard(&answer);
        // The address as it is spelt, not the JID's lowercase node.
        assert_eq!(field(vcard, "FN"), Some(address.clone()));
        // Regtest has no public explorer.
        assert_eq!(field(vcard, "URL"), None);
        let photo = vcard.get_child("PHOTO", ns::VCARD).expect("a PHOTO");
        assert_eq!(field(photo, "TYPE").as_deref(), Some("image/png"));
        let png = base64::engine::general_purpose::STANDARD
            .decode(field(photo, "BINVAL").unwrap())
            .expect("base64");
        assert_eq!(crate::qr::tests::decode(&png), format!("bitcoin:{address}"));
    }

    // XEP-0153: clients fetch the vCard again only when the hash in the
    // contact's presence changes, so it must be the hash of this photo.
    #[test]
    fn an_address_presence_carries_the_hash_of_its_vcard_photo() {
        let mut b = Bench::new();
        let (answer, address) = address_vcard(&mut b);
        let binval = field(
            vcard(&answer).get_child("PHOTO", ns::VCARD).unwrap(),
            "BINVAL",
        )
        .unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(binval)
            .unwrap();
        let expected: String = Sha1::digest(&png)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let jid = contact(&address);
        let out = b.send(&format!(
            "<presence type='probe' from='alice@example.org' to='{jid}'/>"
        ));
        let hash = out
            .iter()
            .filter_map(|p| p.get_child("x", "vcard-temp:x:update"))
            .filter_map(|x| x.get_child("photo", "vcard-temp:x:update"))
            .map(Element::text_content)
            .next();
        assert_eq!(hash, Some(expected));
    }

    #[test]
    fn an_address_vcard_links_to_the_configured_explorer() {
        let mut b =
            Bench::with("[bitcoin]\nexplorer = https://explorer.example/address/{address}\n");
        let (answer, address) = address_vcard(&mut b);
        assert_eq!(
            field(vcard(&answer), "URL"),
            Some(format!("https://explorer.example/address/{address}"))
        );
    }

    #[test]
    fn a_user_vcard_shows_the_real_jid_only_to_themself_and_admins() {
        let mut b = Bench::new();
        b.register("bob", "bob");
        b.register("alice", "alice");
        let bob = format!("bob@{GATEWAY}");
        for (asker, real_jid) in [
            ("bob@example.org/laptop", true),
            (&format!("{ADMIN}/desk"), true),
            (ALICE, false),
            ("stranger@example.org/x", false),
        ] {
            let answer = b.ask(asker, &bob, "get", GET);
            let vcard = vcard(&answer);
            assert_eq!(field(vcard, "NICKNAME").as_deref(), Some("bob"), "{asker}");
            let expected = real_jid.then(|| "bob@example.org".to_owned());
            assert_eq!(field(vcard, "FN"), expected, "{asker}");
        }
    }

    #[test]
    fn vcards_cannot_be_set() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        for to in [GATEWAY.to_owned(), format!("alice@{GATEWAY}")] {
            let answer = b.ask(
                ALICE,
                &to,
                "set",
                "<vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>",
            );
            assert_eq!(error_condition(&answer), "not-allowed", "{to}");
        }
        let answer = b.ask(ALICE, &format!("alice@{GATEWAY}"), "get", GET);
        assert_eq!(
            field(vcard(&answer), "FN").as_deref(),
            Some("alice@example.org")
        );
    }

    #[test]
    fn the_vcard_of_nobody_is_item_not_found() {
        let mut b = Bench::new();
        let answer = b.ask(ALICE, &format!("nobody@{GATEWAY}"), "get", GET);
        assert_eq!(error_condition(&answer), "item-not-found");
    }
}
