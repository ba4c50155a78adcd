//! XEP-0199: XMPP Ping, answered on the gateway. The keep-alive pings we
//! send to the server live in the reactor.

use crate::gateway::Gateway;
use crate::router::{IqHandler, IqResult, Request};
use crate::xmpp::ns;
use crate::xmpp::Element;

pub const HANDLER: IqHandler = IqHandler {
    ns: ns::PING,
    name: "ping",
    feature: Some(ns::PING),
    get: Some(on_ping),
    set: None,
};

fn on_ping(_: &mut Gateway, _: &Request, _: &mut Vec<Element>) -> IqResult {
    Ok(None)
}
