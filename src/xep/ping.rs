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

#[cfg(test)]
mod tests {
    use crate::testkit::{contact, error_condition, result_payload, Bench, GATEWAY};

    const PING: &str = "<ping xmlns='urn:xmpp:ping'/>";
    const ALICE: &str = "alice@example.org/phone";

    #[test]
    fn the_gateway_answers_a_ping_with_an_empty_result() {
        let mut b = Bench::new();
        let answer = b.ask(ALICE, GATEWAY, "get", PING);
        assert!(result_payload(&answer).is_none(), "{}", answer.to_xml());
        assert_eq!(answer.get_attr("from"), Some(GATEWAY));
    }

    #[test]
    fn users_and_addresses_answer_pings_too() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        let address = b.address_of(&alice);
        for to in [format!("alice@{GATEWAY}"), contact(&address)] {
            let answer = b.ask("bob@example.org/x", &to, "get", PING);
            assert!(result_payload(&answer).is_none(), "{to}");
            assert_eq!(answer.get_attr("from"), Some(to.as_str()));
        }
    }

    #[test]
    fn a_ping_to_nobody_is_item_not_found() {
        let mut b = Bench::new();
        let answer = b.ask(ALICE, &format!("nobody@{GATEWAY}"), "get", PING);
        assert_eq!(error_condition(&answer), "item-not-found");
    }

    #[test]
    fn a_ping_set_is_not_implemented() {
        let mut b = Bench::new();
        let answer = b.ask(ALICE, GATEWAY, "set", PING);
        assert_eq!(error_condition(&answer), "feature-not-implemented");
    }
}
