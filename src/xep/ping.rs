//! XEP-0199: XMPP Ping, answered on the gateway. The keep-alive pings we
//! send to the server live in the reactor.

use crate::gateway::Gateway;
use crate::router::{IqHandler, IqResult};
use crate::xmpp::ns;
use crate::xmpp::stanza::Iq;

pub const HANDLER: IqHandler = IqHandler {
    ns: ns::PING,
    name: "ping",
    feature: Some(ns::PING),
    get: Some(on_ping),
    set: None,
};

fn on_ping(_: &mut Gateway, _: &Iq) -> IqResult {
    Ok(None)
}
