//! Routes each incoming stanza to its handler.
//!
//! The key is the stanza kind, then for IQs the type and the payload's
//! namespace, as in Prosody. Every `get`/`set` gets exactly one answer:
//! handlers return an [`IqResult`] and only this module turns it into a
//! stanza; unknown namespaces get `service-unavailable`; results and errors
//! are never answered (RFC 6120, section 8.2.3).

use crate::gateway::Gateway;
use crate::xep;
use crate::xmpp::ns;
use crate::xmpp::stanza::{error_reply, Condition, Iq, IqType, StanzaError};
use crate::xmpp::{Element, Jid};

/// What a handler answers: the payload of the `result`, or the error.
pub type IqResult = Result<Option<Element>, StanzaError>;

pub type IqFn = fn(&mut Gateway, &Iq) -> IqResult;

/// An IQ namespace the gateway handles, with its disco feature.
pub struct IqHandler {
    pub ns: &'static str,
    /// The payload element's name, e.g. `query`.
    pub name: &'static str,
    pub feature: Option<&'static str>,
    pub get: Option<IqFn>,
    pub set: Option<IqFn>,
}

/// The IQs the gateway JID answers.
const GATEWAY_IQS: &[IqHandler] = &[
    xep::disco::INFO,
    xep::disco::ITEMS,
    xep::version::HANDLER,
    xep::last::HANDLER,
    xep::ping::HANDLER,
    xep::vcard::HANDLER,
];

/// The disco features of the gateway, straight from the handler table.
pub fn gateway_features() -> Vec<&'static str> {
    let mut features: Vec<&'static str> = GATEWAY_IQS.iter().filter_map(|h| h.feature).collect();
    features.sort_unstable();
    features.dedup();
    features
}

/// Handles one stanza from the server, pushing any replies on `out`.
pub fn route(gateway: &mut Gateway, stanza: Element, out: &mut Vec<Element>) {
    if stanza.ns != ns::COMPONENT {
        log::debug!("ignoring <{}> in namespace {}", stanza.name, stanza.ns);
        return;
    }
    let (Some(from), Some(to)) = (addr(&stanza, "from"), addr(&stanza, "to")) else {
        log::warn!(
            "dropping a <{}> without valid from and to addresses",
            stanza.name
        );
        return;
    };
    match stanza.name.as_str() {
        "iq" => on_iq(gateway, &stanza, from, to, out),
        "message" | "presence" => {
            log::debug!("{} from {from} to {to} not handled yet", stanza.name);
        }
        other => log::debug!("ignoring a <{other}> from {from}"),
    }
}

fn addr(stanza: &Element, name: &str) -> Option<Jid> {
    Jid::parse(stanza.get_attr(name)?).ok()
}

fn on_iq(gateway: &mut Gateway, stanza: &Element, from: Jid, to: Jid, out: &mut Vec<Element>) {
    let kind = stanza.get_attr("type").and_then(IqType::parse);
    let Some(id) = stanza.get_attr("id") else {
        if matches!(kind, Some(IqType::Get | IqType::Set)) {
            out.push(error_reply(
                stanza,
                &StanzaError::with_text(Condition::BadRequest, "an iq needs an id"),
            ));
        }
        return;
    };
    let kind = match kind {
        Some(IqType::Result | IqType::Error) => {
            log::debug!("iq {id} of type result/error from {from}");
            return;
        }
        Some(kind) => kind,
        None => {
            out.push(error_reply(
                stanza,
                &StanzaError::with_text(
                    Condition::BadRequest,
                    "an iq's type is get, set, result or error",
                ),
            ));
            return;
        }
    };
    let mut payloads = stanza.elements();
    let (Some(payload), None) = (payloads.next(), payloads.next()) else {
        out.push(error_reply(
            stanza,
            &StanzaError::with_text(
                Condition::BadRequest,
                "an iq get or set carries exactly one child element",
            ),
        ));
        return;
    };
    let iq = Iq {
        from,
        to,
        id,
        kind,
        payload: Some(payload),
        stanza,
    };
    let result = dispatch(gateway, &iq, payload);
    out.push(match result {
        Ok(payload) => iq.result(payload),
        Err(error) => iq.error(&error),
    });
}

fn dispatch(gateway: &mut Gateway, iq: &Iq, payload: &Element) -> IqResult {
    if iq.to.node.is_some() {
        return Err(StanzaError::with_text(
            Condition::ItemNotFound,
            format!("no such user or address: {}", iq.to.bare()),
        ));
    }
    let Some(handler) = GATEWAY_IQS.iter().find(|h| h.ns == payload.ns) else {
        return Err(StanzaError::new(Condition::ServiceUnavailable));
    };
    if payload.name != handler.name {
        return Err(StanzaError::with_text(
            Condition::BadRequest,
            format!("expected <{}/> in {}", handler.name, handler.ns),
        ));
    }
    let function = match iq.kind {
        IqType::Get => handler.get,
        _ => handler.set,
    };
    match function {
        Some(f) => f(gateway, iq),
        None => Err(StanzaError::new(Condition::FeatureNotImplemented)),
    }
}
