//! XEP-0012: Last Activity. Asked of a server or component, the answer is
//! its uptime (XEP-0012, section 5).

use crate::command::Services;
use crate::xep::{IqHandler, IqResult, Request, State};
use crate::xmpp::ns;
use crate::xmpp::Element;
use std::time::Duration;

pub const HANDLER: IqHandler = IqHandler {
    ns: ns::LAST,
    name: "query",
    feature: Some(ns::LAST),
    get: Some(on_last),
    set: None,
};

pub fn query(uptime: Duration) -> Element {
    Element::new("query", ns::LAST).attr("seconds", &uptime.as_secs().to_string())
}

fn on_last(s: &mut Services, _: &mut State, _: &Request, _: &mut Vec<Element>) -> IqResult {
    Ok(Some(query(s.started.elapsed())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_in_whole_seconds() {
        assert_eq!(
            query(Duration::from_millis(61_900)).to_xml(),
            "<query xmlns='jabber:iq:last' seconds='61'/>"
        );
    }
}
