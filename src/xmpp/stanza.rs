//! Stanzas (RFC 6120, section 8): IQ requests, replies, and stanza errors.
//!
//! An IQ `get`/`set` must get exactly one answer; the types here make the
//! answer a value (`Result<Option<Element>, StanzaError>`) that only the
//! router turns into a stanza.

use super::element::{Element, Node};
use super::jid::Jid;
use super::ns;
use std::fmt;

/// Defined conditions of RFC 6120, section 8.3.3, that bitcoIM uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    BadRequest,
    Conflict,
    FeatureNotImplemented,
    Forbidden,
    InternalServerError,
    ItemNotFound,
    JidMalformed,
    NotAcceptable,
    NotAllowed,
    NotAuthorized,
    PolicyViolation,
    RecipientUnavailable,
    RegistrationRequired,
    ResourceConstraint,
    ServiceUnavailable,
    UndefinedCondition,
    UnexpectedRequest,
}

impl Condition {
    pub fn name(self) -> &'static str {
        match self {
            Condition::BadRequest => "bad-request",
            Condition::Conflict => "conflict",
            Condition::FeatureNotImplemented => "feature-not-implemented",
            Condition::Forbidden => "forbidden",
            Condition::InternalServerError => "internal-server-error",
            Condition::ItemNotFound => "item-not-found",
            Condition::JidMalformed => "jid-malformed",
            Condition::NotAcceptable => "not-acceptable",
            Condition::NotAllowed => "not-allowed",
            Condition::NotAuthorized => "not-authorized",
            Condition::PolicyViolation => "policy-violation",
            Condition::RecipientUnavailable => "recipient-unavailable",
            Condition::RegistrationRequired => "registration-required",
            Condition::ResourceConstraint => "resource-constraint",
            Condition::ServiceUnavailable => "service-unavailable",
            Condition::UndefinedCondition => "undefined-condition",
            Condition::UnexpectedRequest => "unexpected-request",
        }
    }

    /// The error type RFC 6120 gives as usual for each condition.
    pub fn default_type(self) -> &'static str {
        match self {
            Condition::BadRequest
            | Condition::JidMalformed
            | Condition::NotAcceptable
            | Condition::PolicyViolation => "modify",
            Condition::Forbidden | Condition::NotAuthorized | Condition::RegistrationRequired => {
                "auth"
            }
            Condition::InternalServerError
            | Condition::RecipientUnavailable
            | Condition::ResourceConstraint
            | Condition::UnexpectedRequest => "wait",
            Condition::Conflict
            | Condition::FeatureNotImplemented
            | Condition::ItemNotFound
            | Condition::NotAllowed
            | Condition::ServiceUnavailable
            | Condition::UndefinedCondition => "cancel",
        }
    }
}

/// A stanza error: a condition and an optional human-readable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    pub condition: Condition,
    pub text: Option<String>,
    /// An application-specific condition: (element name, namespace).
    pub app: Option<(&'static str, &'static str)>,
}

impl StanzaError {
    pub fn new(condition: Condition) -> StanzaError {
        StanzaError {
            condition,
            text: None,
            app: None,
        }
    }

    pub fn with_text(condition: Condition, text: impl Into<String>) -> StanzaError {
        StanzaError {
            condition,
            text: Some(text.into()),
            app: None,
        }
    }

    /// Adds an application-specific condition (RFC 6120, 8.3.2).
    pub fn with_app(mut self, name: &'static str, ns: &'static str) -> StanzaError {
        self.app = Some((name, ns));
        self
    }

    pub fn to_element(&self) -> Element {
        let mut error = Element::new("error", ns::COMPONENT)
            .attr("type", self.condition.default_type())
            .child(Element::new(self.condition.name(), ns::STANZA_ERRORS));
        if let Some(text) = &self.text {
            error.push(
                Element::new("text", ns::STANZA_ERRORS)
                    .attr("xml:lang", "en")
                    .text(text),
            );
        }
        if let Some((name, ns)) = self.app {
            error.push(Element::new(name, ns));
        }
        error
    }
}

impl fmt::Display for StanzaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.condition.name())?;
        if let Some(text) = &self.text {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

/// The error reply to any stanza: addresses swapped, same id, type error.
/// The original payload is not echoed back: it may be large, and the
/// sender has it.
pub fn error_reply(stanza: &Element, error: &StanzaError) -> Element {
    let mut reply = Element::new(&stanza.name, ns::COMPONENT).attr("type", "error");
    if let Some(from) = stanza.get_attr("to") {
        reply.set_attr("from", from);
    }
    if let Some(to) = stanza.get_attr("from") {
        reply.set_attr("to", to);
    }
    if let Some(id) = stanza.get_attr("id") {
        reply.set_attr("id", id);
    }
    reply.child(error.to_element())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IqType {
    Get,
    Set,
    Result,
    Error,
}

/// An IQ as the router sees it, with its addresses already parsed.
#[derive(Debug, Clone)]
pub struct Iq<'a> {
    pub from: Jid,
    pub to: Jid,
    pub id: &'a str,
    pub kind: IqType,
    /// The one child element of a get or set; `None` for results/errors
    /// without a payload.
    pub payload: Option<&'a Element>,
    pub stanza: &'a Element,
}

impl Iq<'_> {
    /// A `result` answering this request, with an optional payload.
    pub fn result(&self, payload: Option<Node>) -> Element {
        // The addresses as the server wrote them (already checked as JIDs).
        let from = self.stanza.get_attr("to").map(str::to_owned);
        let to = self.stanza.get_attr("from").map(str::to_owned);
        let mut reply = Element::new("iq", ns::COMPONENT).attr("type", "result");
        reply.set_attr_string("from", from.unwrap_or_else(|| self.to.to_string()));
        reply.set_attr_string("to", to.unwrap_or_else(|| self.from.to_string()));
        reply.set_attr("id", self.id);
        reply.children.extend(payload);
        reply
    }

    pub fn error(&self, error: &StanzaError) -> Element {
        error_reply(self.stanza, error)
    }
}

impl IqType {
    pub fn parse(s: &str) -> Option<IqType> {
        match s {
            "get" => Some(IqType::Get),
            "set" => Some(IqType::Set),
            "result" => Some(IqType::Result),
            "error" => Some(IqType::Error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_reply_swaps_addresses_and_keeps_id() {
        let iq = Element::new("iq", ns::COMPONENT)
            .attr("from", "a@b/c")
            .attr("to", "bitcoin.b")
            .attr("id", "x1")
            .attr("type", "get")
            .child(Element::new("query", "urn:unknown"));
        let reply = error_reply(
            &iq,
            &StanzaError::with_text(Condition::ServiceUnavailable, "no such service"),
        );
        let mut out = String::new();
        reply.write_to(&mut out, ns::COMPONENT);
        assert_eq!(
            out,
            "<iq type='error' from='bitcoin.b' to='a@b/c' id='x1'><error type='cancel'>\
             <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>no such service</text>\
             </error></iq>"
        );
    }

    #[test]
    fn conditions_have_rfc6120_types() {
        assert_eq!(Condition::BadRequest.default_type(), "modify");
        assert_eq!(Condition::Forbidden.default_type(), "auth");
        assert_eq!(Condition::ResourceConstraint.default_type(), "wait");
        assert_eq!(Condition::ItemNotFound.default_type(), "cancel");
    }
}
