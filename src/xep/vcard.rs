//! XEP-0054: vcard-temp, with XEP-0153 photo hashes for addresses.
//!
//! The gateway's vCard names it; an address's vCard has the address as
//! FN, its explorer page as URL and the QR code of its BIP21 `bitcoin:`
//! URI as PHOTO; a user's vCard has their username as NICKNAME, and their
//! real JID as FN only for themself and for admins.

use crate::bitcoin::address::Address;
use crate::entity::Entity;
use crate::gateway::Gateway;
use crate::router::{IqHandler, IqResult, Request};
use crate::xep::version;
use crate::xmpp::ns;
use crate::xmpp::stanza::{Condition, StanzaError};
use crate::xmpp::Element;
use base64::Engine as _;
use sha1::{Digest, Sha1};

pub const HANDLER: IqHandler = IqHandler {
    ns: ns::VCARD,
    name: "vCard",
    feature: Some(ns::VCARD),
    get: Some(on_get),
    set: Some(on_set),
};

pub fn gateway_vcard() -> Element {
    Element::new("vCard", ns::VCARD)
        .text_child("FN", version::NAME)
        .text_child("NICKNAME", version::NAME)
        .text_child(
            "DESC",
            &format!(
                "A Bitcoin wallet in your chat client: register, get deposit addresses, \
                 pay other users by name, withdraw to any address. Type 'help' to start. \
                 {} {}",
                version::NAME,
                version::VERSION
            ),
        )
        .text_child(
            "PRODID",
            &format!(
                "-//{}//{} {}//EN",
                version::NAME,
                version::NAME,
                version::VERSION
            ),
        )
}

/// The BIP21 URI of an address.
pub fn bip21(address: &Address) -> String {
    format!("bitcoin:{address}")
}

/// The QR code PNG of an address's URI.
fn address_photo(address: &Address) -> Option<Vec<u8>> {
    crate::qr::png(&bip21(address))
}

/// XEP-0153: the SHA-1 of the address's photo, for its presence.
pub fn address_photo_hash(address: &Address) -> Option<String> {
    let png = address_photo(address)?;
    Some(
        Sha1::digest(&png)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

pub fn address_vcard(gateway: &Gateway, address: &Address) -> Element {
    let mut vcard = Element::new("vCard", ns::VCARD).text_child("FN", address.as_str());
    if let Some(template) = &gateway.config.bitcoin.explorer {
        vcard = vcard.text_child("URL", &template.replace("{address}", address.as_str()));
    }
    if let Some(png) = address_photo(address) {
        vcard = vcard.child(
            Element::new("PHOTO", ns::VCARD)
                .text_child("TYPE", "image/png")
                .text_child(
                    "BINVAL",
                    &base64::engine::general_purpose::STANDARD.encode(png),
                ),
        );
    }
    vcard
}

fn on_get(gateway: &mut Gateway, request: &Request, _: &mut Vec<Element>) -> IqResult {
    Ok(Some(match request.entity {
        Entity::Gateway => gateway_vcard(),
        Entity::Address(address) => address_vcard(gateway, address),
        Entity::User(user) => {
            let mut vcard = Element::new("vCard", ns::VCARD).text_child("NICKNAME", &user.username);
            let is_self = request.sender(gateway).is_some_and(|s| s.id == user.id);
            if is_self || gateway.is_admin(&request.iq.from) {
                vcard = vcard.text_child("FN", &user.jid);
            }
            vcard
        }
        Entity::Unknown => return Err(StanzaError::new(Condition::ItemNotFound)),
    }))
}

fn on_set(_: &mut Gateway, _: &Request, _: &mut Vec<Element>) -> IqResult {
    Err(StanzaError::with_text(
        Condition::NotAllowed,
        "the vCards of bitcoIM's entities cannot be changed",
    ))
}
