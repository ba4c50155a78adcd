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
    Ok(Some(match request.entity {
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
    }))
}

fn on_set(_: &mut Services, _: &mut State, _: &Request, _: &mut Vec<Element>) -> IqResult {
    Err(StanzaError::with_text(
        Condition::NotAllowed,
        "the vCards of bitcoIM's entities cannot be changed",
    ))
}
