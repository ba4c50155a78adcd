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
    Ok(Some(query()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VERSION;

    #[test]
    fn names_bitcoim_and_its_version() {
        assert_eq!(
            query().to_xml(),
            format!("<query xmlns='jabber:iq:version'><name>bitcoIM</name><version>{VERSION}</version></query>")
        );
    }
}
