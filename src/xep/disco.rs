//! XEP-0030: Service Discovery on the gateway. The feature list is built
//! from the router's handler table, so it can only list what is handled.

use crate::gateway::Gateway;
use crate::router::{self, IqHandler, IqResult};
use crate::xep::version;
use crate::xmpp::ns;
use crate::xmpp::stanza::{Condition, Iq, StanzaError};
use crate::xmpp::Element;

pub const INFO: IqHandler = IqHandler {
    ns: ns::DISCO_INFO,
    name: "query",
    feature: Some(ns::DISCO_INFO),
    get: Some(on_info),
    set: None,
};

pub const ITEMS: IqHandler = IqHandler {
    ns: ns::DISCO_ITEMS,
    name: "query",
    feature: Some(ns::DISCO_ITEMS),
    get: Some(on_items),
    set: None,
};

/// The gateway's disco#info: identity `gateway/bitcoin` (XEP-0030's
/// registry has a `gateway` category; `bitcoin` names the network it
/// bridges to) and one feature per handled namespace.
pub fn gateway_info() -> Element {
    let mut query = Element::new("query", ns::DISCO_INFO).child(
        Element::new("identity", ns::DISCO_INFO)
            .attr("category", "gateway")
            .attr("type", "bitcoin")
            .attr("name", version::NAME),
    );
    for feature in router::gateway_features() {
        query.push(Element::new("feature", ns::DISCO_INFO).attr("var", feature));
    }
    query
}

/// Only the root node exists for now: asking for any other is an
/// item-not-found, as XEP-0030 section 3.1 requires.
fn check_node(iq: &Iq) -> Result<(), StanzaError> {
    match iq.payload.and_then(|p| p.get_attr("node")) {
        None => Ok(()),
        Some(node) => Err(StanzaError::with_text(
            Condition::ItemNotFound,
            format!("no such node: {node}"),
        )),
    }
}

fn on_info(_: &mut Gateway, iq: &Iq) -> IqResult {
    check_node(iq)?;
    Ok(Some(gateway_info()))
}

fn on_items(_: &mut Gateway, iq: &Iq) -> IqResult {
    check_node(iq)?;
    Ok(Some(Element::new("query", ns::DISCO_ITEMS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_identity_and_every_handled_feature_once() {
        let info = gateway_info();
        let identity = info.get_child("identity", ns::DISCO_INFO).unwrap();
        assert_eq!(identity.get_attr("category"), Some("gateway"));
        assert_eq!(identity.get_attr("type"), Some("bitcoin"));
        let features: Vec<&str> = info
            .elements()
            .filter(|e| e.name == "feature")
            .filter_map(|e| e.get_attr("var"))
            .collect();
        for expected in [
            ns::DISCO_INFO,
            ns::DISCO_ITEMS,
            ns::VERSION,
            ns::LAST,
            ns::PING,
            ns::VCARD,
        ] {
            assert_eq!(
                features.iter().filter(|f| **f == expected).count(),
                1,
                "{expected}"
            );
        }
    }
}
