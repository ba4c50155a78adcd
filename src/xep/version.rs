//! XEP-0092: Software Version. The operating system is not disclosed: it
//! helps an attacker more than it helps a user.

use crate::command::Services;
use crate::xep::{IqHandler, IqResult, Request, State};
use crate::xmpp::ns;
use crate::xmpp::Element;

pub const HANDLER: IqHandler = IqHandler {
    ns: ns::VERSION,
    name: "query",
    feature: Some(ns::VERSION),
    get: Some(on_version),
    set: None,
};

pub fn query() -> Element {
    Element::new("query", ns::VERSION)
        .text_child("name", crate::NAME)
        .text_child("version", crate::VERSION)
}

fn on_version(_: &mut Services, _: &mut State, _: &Request, _: &mut Vec<Element>) -> IqResult {
    Ok(Some(query().into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{error_condition, result_payload, Bench, GATEWAY};
    use crate::VERSION;

    const QUERY: &str = "<query xmlns='jabber:iq:version'/>";
    const ALICE: &str = "alice@example.org/phone";

    #[test]
    fn names_bitcoim_and_its_version() {
        assert_eq!(
            query().to_xml(),
            format!("<query xmlns='jabber:iq:version'><name>bitcoIM</name><version>{VERSION}</version></query>")
        );
    }

    #[test]
    fn the_gateway_tells_its_name_and_version_but_not_its_system() {
        let mut b = Bench::new();
        let answer = b.ask(ALICE, GATEWAY, "get", QUERY);
        let query = result_payload(&answer).expect("a query");
        assert!(query.is("query", ns::VERSION));
        let child = |name| {
            query
                .get_child(name, ns::VERSION)
                .map(Element::text_content)
        };
        assert_eq!(child("name").as_deref(), Some("bitcoIM"));
        assert_eq!(child("version").as_deref(), Some(VERSION));
        assert_eq!(child("os"), None);
    }

    #[test]
    fn contacts_do_not_answer_software_version() {
        let mut b = Bench::new();
        b.register("bob", "bob");
        let answer = b.ask(ALICE, &format!("bob@{GATEWAY}"), "get", QUERY);
        assert_eq!(error_condition(&answer), "service-unavailable");
    }

    #[test]
    fn the_version_cannot_be_set() {
        let mut b = Bench::new();
        let answer = b.ask(ALICE, GATEWAY, "set", QUERY);
        assert_eq!(error_condition(&answer), "feature-not-implemented");
    }
}
