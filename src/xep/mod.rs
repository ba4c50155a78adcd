//! The XEP face: one module per XEP the component answers. Each declares
//! its [`IqHandler`] next to the handler itself, and the tables below say
//! which entity answers which, so that service discovery lists exactly
//! what is handled. Every `get`/`set` gets exactly one answer: handlers
//! return an [`IqResult`]; unknown namespaces get `service-unavailable`.
//! Features of messages rather than IQs (receipts) are listed beside the
//! tables, for every entity.

pub mod adhoc;
pub mod disco;
pub mod gateway;
pub mod last;
pub mod ping;
pub mod receipts;
pub mod register;
pub mod vcard;
pub mod version;

use crate::command::Services;
use crate::entity::Entity;
use crate::ledger::User;
use crate::xmpp::element::Node;
use crate::xmpp::stanza::{Condition, Iq, IqType, StanzaError};
use crate::xmpp::Element;
use std::cell::OnceCell;

/// What a handler answers: the payload of the `result`, or the error.
pub type IqResult = Result<Option<Node>, StanzaError>;

/// An IQ with what the router learnt about it. The sender's account and
/// language are looked up only by handlers that need them: ping, version
/// and disco answer without touching the database.
pub struct Request<'a> {
    pub iq: &'a Iq<'a>,
    /// What the IQ is addressed to.
    pub entity: &'a Entity,
    sender: OnceCell<Option<User>>,
}

impl<'a> Request<'a> {
    pub fn new(iq: &'a Iq<'a>, entity: &'a Entity) -> Request<'a> {
        Request {
            iq,
            entity,
            sender: OnceCell::new(),
        }
    }

    /// The sender's account, if registered.
    pub fn sender(&self, s: &Services) -> Option<&User> {
        self.sender
            .get_or_init(|| s.wallet.user_of(&self.iq.from))
            .as_ref()
    }

    /// The language to answer in.
    pub fn lang(&self, s: &Services) -> &'static str {
        s.lang(self.iq.stanza, self.sender(s))
    }
}

/// Each XEP's own state, kept between requests.
#[derive(Default)]
pub struct State {
    /// XEP-0050 sessions in progress.
    pub adhoc: adhoc::Sessions,
}

pub type IqFn = fn(&mut Services, &mut State, &Request, &mut Vec<Element>) -> IqResult;

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
    disco::INFO,
    disco::ITEMS,
    version::HANDLER,
    last::HANDLER,
    ping::HANDLER,
    vcard::HANDLER,
    register::HANDLER,
    gateway::HANDLER,
    adhoc::HANDLER,
];

/// The IQs a user or an address contact answers.
const CONTACT_IQS: &[IqHandler] = &[disco::INFO, disco::ITEMS, ping::HANDLER, vcard::HANDLER];

/// What every entity does with the messages it takes, beside its IQs:
/// the router acknowledges them (XEP-0184).
const MESSAGE_FEATURES: &[&str] = &[receipts::FEATURE];

/// What the gateway alone does beside its IQ handlers: it takes
/// invitations into rooms (XEP-0249; the room face, `crate::muc`, handles
/// them), and its disco#items pages the admins' list of users (XEP-0059,
/// `disco::USERS_PER_PAGE`).
const GATEWAY_EXTRA_FEATURES: &[&str] = &[crate::xmpp::ns::CONFERENCE, crate::xmpp::ns::RSM];

fn table(entity: &Entity) -> &'static [IqHandler] {
    match entity {
        Entity::Gateway => GATEWAY_IQS,
        Entity::User(_) | Entity::Address(_) | Entity::Unknown => CONTACT_IQS,
    }
}

/// The disco features of an entity, straight from its handler table.
pub fn features(entity: &Entity) -> Vec<&'static str> {
    let mut features: Vec<&'static str> = table(entity)
        .iter()
        .filter_map(|h| h.feature)
        .chain(MESSAGE_FEATURES.iter().copied())
        .chain(
            match entity {
                Entity::Gateway => GATEWAY_EXTRA_FEATURES,
                _ => &[],
            }
            .iter()
            .copied(),
        )
        .collect();
    features.sort_unstable();
    features.dedup();
    features
}

/// The disco features of the gateway.
pub fn gateway_features() -> Vec<&'static str> {
    features(&Entity::Gateway)
}

/// Answers an IQ get or set addressed to `request.entity`.
pub fn dispatch(
    s: &mut Services,
    state: &mut State,
    request: &Request,
    payload: &Element,
    out: &mut Vec<Element>,
) -> IqResult {
    let iq = request.iq;
    if let Entity::Unknown = request.entity {
        return Err(StanzaError::with_text(
            Condition::ItemNotFound,
            format!("no such user or address: {}", iq.to.bare()),
        ));
    }
    let Some(handler) = table(request.entity).iter().find(|h| h.ns == payload.ns) else {
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
        Some(f) => f(s, state, request, out),
        None => Err(StanzaError::new(Condition::FeatureNotImplemented)),
    }
}
