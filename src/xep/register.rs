//! XEP-0077: In-Band Registration with the gateway, with both the legacy
//! `<username/>` field and an XEP-0004 data form. The work itself is in
//! [`crate::wallet::accounts`], shared with the chat commands.

use crate::command::{self, Services};
use crate::ledger::accounts::{UnregisterError, UsernameError};
use crate::wallet::accounts::Refusal;
use crate::xep::{IqHandler, IqResult, Request, State};
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
fn form(s: &Services, lang: &str, username: Option<&str>) -> Element {
    let instructions = s.text(lang, "register-instructions", &[]);
    let mut query = Element::new("query", ns::REGISTER);
    if username.is_some() {
        query.push(Element::new("registered", ns::REGISTER));
    }
    query = query.text_child("instructions", &instructions);
    let mut legacy = Element::new("username", ns::REGISTER);
    let mut field = Element::new("field", ns::DATA)
        .attr("type", "text-single")
        .attr("var", "username")
        .attr("label", &s.text(lang, "register-field-username", &[]))
        .child(Element::new("required", ns::DATA));
    if let Some(name) = username {
        legacy.push_text(name);
        field.push(Element::new("value", ns::DATA).text(name));
    }
    query.push(legacy);
    query.child(
        Element::new("x", ns::DATA)
            .attr("type", "form")
            .text_child("title", &s.text(lang, "register-title", &[]))
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

fn on_get(s: &mut Services, _: &mut State, request: &Request, _: &mut Vec<Element>) -> IqResult {
    let username = request.sender(s).map(|u| u.username.as_str());
    Ok(Some(form(s, request.lang(s), username)))
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

fn on_set(s: &mut Services, _: &mut State, request: &Request, out: &mut Vec<Element>) -> IqResult {
    let query = request
        .iq
        .payload
        .ok_or_else(|| StanzaError::new(Condition::BadRequest))?;
    let lang = request.lang(s);
    let from = &request.iq.from;
    if query.get_child("remove", ns::REGISTER).is_some() {
        return match command::unregister(s, lang, from, out) {
            Ok(_) => Ok(None),
            Err((e, why)) => {
                let condition = match e {
                    UnregisterError::NotRegistered => Condition::RegistrationRequired,
                    UnregisterError::NotEmpty { .. } => Condition::NotAllowed,
                    UnregisterError::Db(_) => Condition::InternalServerError,
                };
                Err(StanzaError::with_text(condition, why))
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
            s.text(lang, "register-missing-username", &[]),
        ));
    };
    match command::register(s, lang, from, &username, out) {
        Ok(_) => Ok(None),
        Err((refusal, why)) => {
            let condition = match &refusal {
                Refusal::NotAUser | Refusal::DomainNotServed => Condition::NotAllowed,
                Refusal::Username {
                    error: UsernameError::Taken,
                    ..
                } => Condition::Conflict,
                Refusal::Username { .. } => Condition::NotAcceptable,
                Refusal::Internal => Condition::InternalServerError,
            };
            Err(StanzaError::with_text(condition, why))
        }
    }
}
