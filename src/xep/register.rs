//! XEP-0077: In-Band Registration with the gateway, with both the legacy
//! `<username/>` field and an XEP-0004 data form. The work itself is in
//! [`crate::wallet::accounts`], shared with the chat commands.

use crate::gateway::Gateway;
use crate::ledger::accounts::{UnregisterError, UsernameError};
use crate::router::{IqHandler, IqResult, Request};
use crate::wallet::accounts::{self, Refusal};
use crate::xmpp::ns;
use crate::xmpp::stanza::{Condition, StanzaError};
use crate::xmpp::Element;

pub const HANDLER: IqHandler = IqHandler {
    ns: ns::REGISTER,
    name: "query",
    feature: Some(ns::REGISTER),
    get: Some(on_get),
    set: Some(on_set),
};

/// The registration form, filled with the current username if any.
fn form(gateway: &Gateway, lang: &str, username: Option<&str>) -> Element {
    let instructions = gateway.text(lang, "register-instructions", &[]);
    let mut query = Element::new("query", ns::REGISTER);
    if username.is_some() {
        query.push(Element::new("registered", ns::REGISTER));
    }
    query = query.text_child("instructions", &instructions);
    let mut legacy = Element::new("username", ns::REGISTER);
    let mut field = Element::new("field", ns::DATA)
        .attr("type", "text-single")
        .attr("var", "username")
        .attr("label", &gateway.text(lang, "register-field-username", &[]))
        .child(Element::new("required", ns::DATA));
    if let Some(name) = username {
        legacy.push_text(name);
        field.push(Element::new("value", ns::DATA).text(name));
    }
    query.push(legacy);
    query.child(
        Element::new("x", ns::DATA)
            .attr("type", "form")
            .text_child("title", &gateway.text(lang, "register-title", &[]))
            .text_child("instructions", &instructions)
            .child(
                Element::new("field", ns::DATA)
                    .attr("type", "hidden")
                    .attr("var", "FORM_TYPE")
                    .child(Element::new("value", ns::DATA).text(ns::REGISTER)),
            )
            .child(field),
    )
}

fn on_get(gateway: &mut Gateway, request: &Request, _: &mut Vec<Element>) -> IqResult {
    let username = request.sender(gateway).map(|u| u.username.as_str());
    Ok(Some(form(gateway, request.lang(gateway), username)))
}

/// The username of a submitted form or of the legacy field.
fn submitted_username(query: &Element) -> Option<String> {
    if let Some(x) = query.get_child("x", ns::DATA) {
        if x.get_attr("type") == Some("submit") {
            return x
                .elements()
                .find(|f| f.is("field", ns::DATA) && f.get_attr("var") == Some("username"))
                .and_then(|f| f.get_child("value", ns::DATA))
                .map(Element::text_content);
        }
    }
    query
        .get_child("username", ns::REGISTER)
        .map(Element::text_content)
}

fn on_set(gateway: &mut Gateway, request: &Request, out: &mut Vec<Element>) -> IqResult {
    let query = request
        .iq
        .payload
        .ok_or_else(|| StanzaError::new(Condition::BadRequest))?;
    let lang = request.lang(gateway);
    let from = &request.iq.from;
    if query.get_child("remove", ns::REGISTER).is_some() {
        return match accounts::unregister(gateway, from, out) {
            Ok(_) => Ok(None),
            Err(e) => {
                let condition = match e {
                    UnregisterError::NotRegistered => Condition::RegistrationRequired,
                    UnregisterError::NotEmpty { .. } => Condition::NotAllowed,
                    UnregisterError::Db(_) => Condition::InternalServerError,
                };
                Err(StanzaError::with_text(
                    condition,
                    accounts::unregister_error_text(gateway, lang, &e),
                ))
            }
        };
    }
    if let Some(x) = query.get_child("x", ns::DATA) {
        if x.get_attr("type") == Some("cancel") {
            return Ok(None);
        }
    }
    let Some(username) = submitted_username(query) else {
        return Err(StanzaError::with_text(
            Condition::NotAcceptable,
            gateway.text(lang, "register-missing-username", &[]),
        ));
    };
    match accounts::register(gateway, from, &username, out) {
        Ok(_) => Ok(None),
        Err(refusal) => {
            let condition = match &refusal {
                Refusal::NotAUser | Refusal::DomainNotServed => Condition::NotAllowed,
                Refusal::Username {
                    error: UsernameError::Taken,
                    ..
                } => Condition::Conflict,
                Refusal::Username { .. } => Condition::NotAcceptable,
                Refusal::Internal => Condition::InternalServerError,
            };
            Err(StanzaError::with_text(
                condition,
                accounts::refusal_text(gateway, lang, from, &refusal),
            ))
        }
    }
}
