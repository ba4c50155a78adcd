//! XEP-0199: XMPP Ping, answered on the gateway. The keep-alive pings we
//! send to the server live in the reactor.

use crate::command::Services;
use crate::xep::{IqHandler, IqResult, Request, State};
use crate::xmpp::ns;
use crate::xmpp::Element;

pub const HANDLER: IqHandler = IqHandler {
    ns: ns::PING,
    name: "ping",
    feature: Some(ns::PING),
    get: Some(on_ping),
    set: None,
};

fn on_ping(_: &mut Services, _: &mut State, _: &Request, _: &mut Vec<Element>) -> IqResult {
    Ok(None)
}
