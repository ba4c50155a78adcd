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
    Ok(Some(query(s.started.elapsed()).into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{error_condition, result_payload, Bench, GATEWAY};
    use std::time::Instant;

    const LAST: &str = "<query xmlns='jabber:iq:last'/>";
    const ALICE: &str = "alice@example.org/phone";

    #[test]
    fn uptime_in_whole_seconds() {
        assert_eq!(
            query(Duration::from_millis(61_900)).to_xml(),
            "<query xmlns='jabber:iq:last' seconds='61'/>"
        );
    }

    /// The `seconds` of a jabber:iq:last answer.
    fn seconds(answer: &Element) -> u64 {
        result_payload(answer)
            .expect("a query")
            .get_attr("seconds")
            .expect("seconds")
            .parse()
            .expect("a number")
    }

    #[test]
    fn the_gateway_answers_with_its_uptime() {
        let mut b = Bench::new();
        b.services().started = Instant::now()
            .checked_sub(Duration::from_secs(3600))
            .expect("an hour of monotonic clock");
        let answer = b.ask(ALICE, GATEWAY, "get", LAST);
        let seconds = seconds(&answer);
        // A second more if the test is slow; never the idle time of a user.
        assert!((3600..3610).contains(&seconds), "{seconds}");
    }

    #[test]
    fn contacts_do_not_answer_last_activity() {
        // A user's last activity would reveal when they were around.
        let mut b = Bench::new();
        b.register("bob", "bob");
        let answer = b.ask(ALICE, &format!("bob@{GATEWAY}"), "get", LAST);
        assert_eq!(error_condition(&answer), "service-unavailable");
    }

    #[test]
    fn last_activity_cannot_be_set() {
        let mut b = Bench::new();
        let answer = b.ask(ALICE, GATEWAY, "set", LAST);
        assert_eq!(error_condition(&answer), "feature-not-implemented");
    }
}
