//! XEP-0077: In-Band Registration with the gateway, with both the legacy
//! `<username/>` field and an XEP-0004 data form. The work itself is in
//! [`crate::wallet::accounts`], shared with the chat commands.

use crate::command::{self, Services};
use crate::ledger::accounts::{UnregisterError, UsernameError};
use crate::wallet::accounts::Refusal;
use crate::xep::{IqHandler, IqResult, Request, State};
use crate::xmpp::ns;
use crate::xmpp::stanza::{Condition, StanzaError};
use crate::xmpp::Element;

pub const HANDLER: IqHandler = IqHandler {
    ns: ns::REGISTER,
    name: "query",
    feature: Some(ns::REGISTER),
    get: Some(on_get),
    set: Some(on_set),
};

/// The registration form, filled with the current username if any.
fn form(s: &Services, lang: &str, username: Option<&str>) -> Element {
    let instructions = s.text(lang, "register-instructions", &[]);
    let mut query = Element::new("query", ns::REGISTER);
    if username.is_some() {
        query.push(Element::new("registered", ns::REGISTER));
    }
    query = query.text_child("instructions", &instructions);
    let mut legacy = Element::new("username", ns::REGISTER);
    let mut field = Element::new("field", ns::DATA)
        .attr("type", "text-single")
        .attr("var", "username")
        .attr("label", &s.text(lang, "register-field-username", &[]))
        .child(Element::new("required", ns::DATA));
    if let Some(name) = username {
        legacy.push_text(name);
        field.push(Element::new("value", ns::DATA).text(name));
    }
    query.push(legacy);
    query.child(
        Element::new("x", ns::DATA)
            .attr("type", "form")
            .text_child("title", &s.text(lang, "register-title", &[]))
            .text_child("instructions", &instructions)
            .child(
                Element::new("field", ns::DATA)
                    .attr("type", "hidden")
                    .attr("var", "FORM_TYPE")
                    .child(Element::new("value", ns::DATA).text(ns::REGISTER)),
            )
            .child(field),
    )
}

fn on_get(s: &mut Services, _: &mut State, request: &Request, _: &mut Vec<Element>) -> IqResult {
    let username = request.sender(s).map(|u| u.username.as_str());
    Ok(Some(form(s, request.lang(s), username).into()))
}

/// The username of a submitted form or of the legacy field.
fn submitted_username(query: &Element) -> Option<String> {
    if let Some(x) = query.get_child("x", ns::DATA) {
        if x.get_attr("type") == Some("submit") {
            return x
                .elements()
                .find(|f| f.is("field", ns::DATA) && f.get_attr("var") == Some("username"))
                .and_then(|f| f.get_child("value", ns::DATA))
                .map(Element::text_content);
        }
    }
    query
        .get_child("username", ns::REGISTER)
        .map(Element::text_content)
}

fn on_set(s: &mut Services, _: &mut State, request: &Request, out: &mut Vec<Element>) -> IqResult {
    let query = request
        .iq
        .payload
        .ok_or_else(|| StanzaError::new(Condition::BadRequest))?;
    let lang = request.lang(s);
    let from = &request.iq.from;
    if query.get_child("remove", ns::REGISTER).is_some() {
        return match command::unregister(s, lang, from, out) {
            Ok(_) => Ok(None),
            Err((e, why)) => {
                let condition = match e {
                    UnregisterError::NotRegistered => Condition::RegistrationRequired,
                    UnregisterError::NotEmpty { .. } => Condition::NotAllowed,
                    UnregisterError::Db(_) => Condition::InternalServerError,
                };
                Err(StanzaError::with_text(condition, why))
            }
        };
    }
    if let Some(x) = query.get_child("x", ns::DATA) {
        if x.get_attr("type") == Some("cancel") {
            return Ok(None);
        }
    }
    let Some(username) = submitted_username(query) else {
        return Err(StanzaError::with_text(
            Condition::NotAcceptable,
            s.text(lang, "register-missing-username", &[]),
        ));
    };
    match command::register(s, lang, from, &username, out) {
        Ok(_) => Ok(None),
        Err((refusal, why)) => {
            let condition = match &refusal {
                Refusal::NotAUser | Refusal::DomainNotServed => Condition::NotAllowed,
                Refusal::Username {
                    error: UsernameError::Taken,
                    ..
                } => Condition::Conflict,
                Refusal::Username { .. } => Condition::NotAcceptable,
                Refusal::Internal => Condition::InternalServerError,
            };
            Err(StanzaError::with_text(condition, why))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::{
        contact, error_condition, error_text, form_values, form_vars, result_payload, xml, Bench,
        GATEWAY,
    };
    use crate::xmpp::{ns, Element};

    const GET: &str = "<query xmlns='jabber:iq:register'/>";
    const BOB: &str = "bob@example.org/laptop";

    fn legacy(name: &str) -> String {
        format!("<query xmlns='jabber:iq:register'><username>{name}</username></query>")
    }

    fn submitted(name: &str) -> String {
        format!(
            "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>jabber:iq:register</value></field>\
             <field var='username'><value>{name}</value></field></x></query>"
        )
    }

    fn x(query: &Element) -> &Element {
        query.get_child("x", ns::DATA).expect("a data form")
    }

    #[test]
    fn an_unregistered_user_gets_an_empty_form() {
        let mut b = Bench::new();
        let answer = b.ask(BOB, GATEWAY, "get", GET);
        let query = result_payload(&answer).expect("a query");
        assert!(query.get_child("registered", ns::REGISTER).is_none());
        assert!(query.get_child("instructions", ns::REGISTER).is_some());
        let username = query
            .get_child("username", ns::REGISTER)
            .expect("<username/>");
        assert_eq!(username.text_content(), "");
        let x = x(query);
        assert_eq!(x.get_attr("type"), Some("form"));
        assert_eq!(form_vars(x), vec!["FORM_TYPE", "username"]);
        assert_eq!(form_values(x, "FORM_TYPE"), vec![ns::REGISTER]);
        assert!(form_values(x, "username").is_empty());
        let field = x
            .elements()
            .find(|f| f.get_attr("var") == Some("username"))
            .unwrap();
        assert!(field.get_child("required", ns::DATA).is_some());
    }

    #[test]
    fn a_registered_user_gets_the_form_with_their_username() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        let answer = b.ask("alice@example.org/phone", GATEWAY, "get", GET);
        let query = result_payload(&answer).expect("a query");
        assert!(query.get_child("registered", ns::REGISTER).is_some());
        let username = query.get_child("username", ns::REGISTER).unwrap();
        assert_eq!(username.text_content(), "alice");
        assert_eq!(form_values(x(query), "username"), vec!["alice"]);
    }

    #[test]
    fn the_legacy_field_registers_and_subscriptions_follow_the_result() {
        let mut b = Bench::new();
        let out = b.iq(BOB, GATEWAY, "set", &legacy("Bob"));
        assert!(result_payload(&out[0]).is_none(), "{:?}", xml(&out));
        let bob = b.user("bob").expect("registered");
        assert_eq!(bob.username, "bob");
        // Then the gateway and the first address ask to be in the roster.
        let address = b.address_of(&bob);
        let subscribers: Vec<_> = out[1..]
            .iter()
            .filter(|p| p.name == "presence" && p.get_attr("type") == Some("subscribe"))
            .map(|p| (p.get_attr("from").unwrap(), p.get_attr("to").unwrap()))
            .collect();
        let address_jid = contact(&address);
        assert_eq!(
            subscribers,
            vec![
                (GATEWAY, "bob@example.org"),
                (address_jid.as_str(), "bob@example.org")
            ]
        );
    }

    #[test]
    fn a_submitted_form_registers() {
        let mut b = Bench::new();
        let answer = b.ask(BOB, GATEWAY, "set", &submitted("bob"));
        assert!(result_payload(&answer).is_none());
        assert_eq!(b.user("bob").expect("registered").username, "bob");
    }

    #[test]
    fn registering_again_under_another_name_renames() {
        let mut b = Bench::new();
        b.register("bob", "bob");
        let answer = b.ask(BOB, GATEWAY, "set", &submitted("robert"));
        assert!(result_payload(&answer).is_none());
        assert_eq!(b.user("bob").unwrap().username, "robert");
    }

    #[test]
    fn a_taken_username_is_a_conflict() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        let answer = b.ask(BOB, GATEWAY, "set", &legacy("alice"));
        assert_eq!(error_condition(&answer), "conflict");
        assert_eq!(
            error_text(&answer).as_deref(),
            Some("The username alice is taken; choose another one.")
        );
        assert!(b.user("bob").is_none());
    }

    #[test]
    fn the_refusal_speaks_the_language_of_the_request() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        let out = b.send(&format!(
            "<iq type='set' id='r' xml:lang='fr' from='{BOB}' to='{GATEWAY}'>{}</iq>",
            legacy("alice")
        ));
        assert_eq!(
            error_text(&out[0]).as_deref(),
            Some("Le nom alice est déjà pris ; choisissez-en un autre.")
        );
    }

    #[test]
    fn a_bad_username_is_not_acceptable() {
        let mut b = Bench::new();
        for (name, why) in [
            ("b", "A username has at least 2 characters."),
            ("2bob", "A username starts with a letter (a to z)."),
            (
                "bob!",
                "A username may only contain a to z, 0 to 9, - and _, not '!'.",
            ),
        ] {
            let answer = b.ask(BOB, GATEWAY, "set", &submitted(name));
            assert_eq!(error_condition(&answer), "not-acceptable", "{name}");
            assert_eq!(error_text(&answer).as_deref(), Some(why), "{name}");
        }
        assert!(b.user("bob").is_none());
    }

    #[test]
    fn a_missing_username_is_not_acceptable() {
        let mut b = Bench::new();
        let answer = b.ask(BOB, GATEWAY, "set", GET);
        assert_eq!(error_condition(&answer), "not-acceptable");
        assert_eq!(
            error_text(&answer).as_deref(),
            Some("A username is required.")
        );
    }

    #[test]
    fn a_cancelled_form_registers_nobody() {
        let mut b = Bench::new();
        let answer = b.ask(
            BOB,
            GATEWAY,
            "set",
            "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='cancel'/></query>",
        );
        assert!(result_payload(&answer).is_none());
        assert!(b.user("bob").is_none());
    }

    #[test]
    fn servers_and_services_cannot_register() {
        let mut b = Bench::new();
        let answer = b.ask("conference.example.org", GATEWAY, "set", &legacy("rooms"));
        assert_eq!(error_condition(&answer), "not-allowed");
        assert_eq!(
            error_text(&answer).as_deref(),
            Some(
                "Only user accounts can register: conference.example.org is a server \
                 or service address."
            )
        );
    }

    const REMOVE: &str = "<query xmlns='jabber:iq:register'><remove/></query>";

    #[test]
    fn removal_is_refused_while_the_wallet_holds_money() {
        let mut b = Bench::new();
        let bob = b.register("bob", "bob");
        b.deposit(&bob, 50_000);
        let answer = b.ask(BOB, GATEWAY, "set", REMOVE);
        assert_eq!(error_condition(&answer), "not-allowed");
        assert_eq!(
            error_text(&answer).as_deref(),
            Some(
                "Your wallet is not empty: balance 0.0005 BTC, held for withdrawals 0 BTC. \
                 Withdraw or pay it out first, so that no coins are left behind."
            )
        );
        assert_eq!(b.user("bob").expect("still registered").balance.0, 50_000);
    }

    #[test]
    fn an_empty_wallet_can_be_removed() {
        let mut b = Bench::new();
        b.register("bob", "bob");
        let answer = b.ask(BOB, GATEWAY, "set", REMOVE);
        assert!(result_payload(&answer).is_none(), "{}", answer.to_xml());
        assert!(b.user("bob").is_none());
        let form = b.ask(BOB, GATEWAY, "get", GET);
        let query = result_payload(&form).unwrap();
        assert!(query.get_child("registered", ns::REGISTER).is_none());
    }

    #[test]
    fn removal_without_an_account_is_registration_required() {
        let mut b = Bench::new();
        let answer = b.ask(BOB, GATEWAY, "set", REMOVE);
        assert_eq!(error_condition(&answer), "registration-required");
        assert_eq!(
            answer
                .get_child("error", ns::COMPONENT)
                .unwrap()
                .get_attr("type"),
            Some("auth")
        );
    }
}
