//! XEP-0054: vcard-temp, for the gateway itself. Users' and addresses'
//! vCards come with the accounts.

use crate::gateway::Gateway;
use crate::router::{IqHandler, IqResult};
use crate::xep::version;
use crate::xmpp::ns;
use crate::xmpp::stanza::{Condition, Iq, StanzaError};
use crate::xmpp::Element;

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

fn on_get(_: &mut Gateway, _: &Iq) -> IqResult {
    Ok(Some(gateway_vcard()))
}

fn on_set(_: &mut Gateway, _: &Iq) -> IqResult {
    Err(StanzaError::with_text(
        Condition::NotAllowed,
        "the gateway's vCard cannot be changed",
    ))
}
