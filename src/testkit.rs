//! The application layer's test bench: a whole gateway over an in-memory
//! ledger and the simulated node (`bitcoin::sim`, Bitcoin Core's wallet
//! semantics), fed stanzas as the server would send them. Fast (no
//! socket, no process) so that every face and command has tests beside
//! it.

use crate::bitcoin::network::Network;
use crate::bitcoin::node::Node;
use crate::bitcoin::sim::{Chain, SimTransport};
use crate::command::Services;
use crate::config::Config;
use crate::gateway::Gateway;
use crate::ledger::{Ledger, User};
use crate::reactor::App;
use crate::stream::parser::{Event, Limits, Parser};
use crate::xmpp::{ns, Element, Jid};
use std::cell::RefCell;
use std::rc::Rc;

/// The component's JID in every bench.
pub const GATEWAY: &str = "bitcoin.example.org";
/// The admin of every bench.
pub const ADMIN: &str = "admin@example.org";

/// A configuration for benches: regtest, one confirmation, the admin,
/// fast polls; `extra` lines go to `[main program]`.
pub fn config(extra: &str) -> Config {
    let text = format!(
        "[XMPP]\njid = {GATEWAY}\npassword = x\n\
         [database]\nfile = /nonexistent/bitcoim.db\n\
         [bitcoin]\nuser = u\npassword = p\nnetwork = regtest\n\
         poll_interval = 1\ntimeout = 1\nfallback_fee_rate = 5\nmin_withdrawal = 1000 sat\n\
         [main program]\nadmins = {ADMIN}\n{extra}"
    );
    Config::parse(&text, std::path::Path::new("bench.conf")).expect("a bench config")
}

/// A node answering from the simulated chain.
pub fn node(chain: &Rc<RefCell<Chain>>) -> Node {
    Node::with_transport(
        Box::new(SimTransport(chain.clone())),
        Network::Regtest,
        None,
        None,
    )
}

/// A gateway, its simulated chain, and what it sent.
pub struct Bench {
    pub gateway: Gateway,
    pub chain: Rc<RefCell<Chain>>,
    /// Messages chatted so far: each gets its own id, as from a client.
    chatted: u64,
}

impl Bench {
    pub fn new() -> Bench {
        Bench::with("")
    }

    /// A bench whose `[main program]` has `extra` lines too.
    pub fn with(extra: &str) -> Bench {
        let chain = Rc::new(RefCell::new(Chain::new()));
        let ledger = Ledger::open_in_memory().expect("an in-memory ledger");
        Bench {
            gateway: Gateway::new(config(extra), ledger, node(&chain)),
            chain,
            chatted: 0,
        }
    }

    pub fn services(&mut self) -> &mut Services {
        self.gateway.services()
    }

    /// Parses `xml` as it would arrive on the stream, routes it, and
    /// returns what the gateway sent.
    pub fn send(&mut self, xml: &str) -> Vec<Element> {
        let mut out = Vec::new();
        self.gateway.on_stanza(stanza(xml), &mut out);
        out
    }

    /// `body` chatted from `from` (a full JID) to `to`; the bodies of the
    /// messages sent back, in order.
    pub fn chat(&mut self, from: &str, to: &str, body: &str) -> Vec<String> {
        self.chatted += 1;
        let xml = format!(
            "<message type='chat' from='{from}' to='{to}' id='m{}'><body>{}</body></message>",
            self.chatted,
            escape(body)
        );
        bodies(&self.send(&xml))
    }

    /// `body` chatted from `local@example.org/phone` to the gateway.
    pub fn say(&mut self, local: &str, body: &str) -> Vec<String> {
        self.chat(&format!("{local}@example.org/phone"), GATEWAY, body)
    }

    /// Registers `local@example.org` as `name` by chat.
    pub fn register(&mut self, local: &str, name: &str) -> User {
        self.say(local, &format!("register {name}"));
        self.user(local).expect("registered")
    }

    /// The account of `local@example.org`, as it is now.
    pub fn user(&mut self, local: &str) -> Option<User> {
        let jid = Jid::parse(&format!("{local}@example.org")).expect("a JID");
        self.services().wallet.user_of(&jid)
    }

    /// The world pays `sats` to `user`'s first address, mined, polled.
    pub fn deposit(&mut self, user: &User, sats: i64) -> String {
        let address = self
            .services()
            .wallet
            .ledger()
            .addresses_of(user.id)
            .expect("addresses")[0]
            .clone();
        let txid = self
            .chain
            .borrow_mut()
            .pay_from_world(vec![(address, sats)]);
        self.chain.borrow_mut().mine_mempool();
        self.tick();
        txid
    }

    /// The bulk output waiting (probes, announcements), every page of it,
    /// as the reactor asks for it while the socket drains.
    pub fn backlog(&mut self) -> Vec<Element> {
        let mut out = Vec::new();
        while self.gateway.has_backlog() {
            self.gateway.on_writable(&mut out);
        }
        out
    }

    /// The wallet's periodic work; what the gateway sent.
    pub fn tick(&mut self) -> Vec<Element> {
        crate::ledger::clock::advance(10);
        let mut out = Vec::new();
        self.gateway.tick(&mut out);
        out
    }
}

/// The stanza `xml` as the stream parser gives it.
pub fn stanza(xml: &str) -> Element {
    let mut parser = Parser::new(Limits::default());
    parser.feed(
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
          xmlns='jabber:component:accept' id='x'>",
    );
    parser.feed(xml.as_bytes());
    assert!(matches!(parser.next_event(), Ok(Some(Event::Open(_)))));
    match parser.next_event() {
        Ok(Some(Event::Stanza(stanza))) => stanza,
        other => panic!("{xml} is not a stanza: {other:?}"),
    }
}

/// The `<body/>` texts of the messages among `out`.
pub fn bodies(out: &[Element]) -> Vec<String> {
    out.iter()
        .filter(|e| e.name == "message")
        .filter_map(|m| m.get_child("body", ns::COMPONENT))
        .map(Element::text_content)
        .collect()
}

/// `out` as XML, one stanza a string.
pub fn xml(out: &[Element]) -> Vec<String> {
    out.iter()
        .map(|e| {
            let mut s = String::new();
            e.write_to(&mut s, ns::COMPONENT);
            s
        })
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
}

// Helpers of the face, command, presence and notify tests.

impl Bench {
    /// `local@example.org/phone` comes online: its available presence to
    /// the gateway; what the gateway sent.
    pub fn online(&mut self, local: &str) -> Vec<Element> {
        self.send(&format!(
            "<presence from='{local}@example.org/phone' to='{GATEWAY}'/>"
        ))
    }

    /// `local` types `pay <args>` to the gateway; the code its recap asks
    /// to confirm.
    pub fn order(&mut self, local: &str, args: &str) -> String {
        let replies = self.say(local, &format!("pay {args}"));
        assert_eq!(replies.len(), 1, "{replies:?}");
        code_in(&replies[0])
    }

    /// The deposit addresses of `user`, oldest first.
    pub fn addresses(&mut self, user: &User) -> Vec<String> {
        self.services()
            .wallet
            .ledger()
            .addresses_of(user.id)
            .expect("addresses")
    }

    /// The first deposit address of `user`.
    pub fn address_of(&mut self, user: &User) -> String {
        self.addresses(user)[0].clone()
    }

    /// An IQ of type `kind` from `from` (a full JID) to `to` carrying
    /// `payload`; everything sent back, the answer first.
    pub fn iq(&mut self, from: &str, to: &str, kind: &str, payload: &str) -> Vec<Element> {
        self.send(&format!(
            "<iq type='{kind}' id='iq1' from='{from}' to='{to}'>{payload}</iq>"
        ))
    }

    /// The answer to that IQ, checked to be one, addressed back.
    pub fn ask(&mut self, from: &str, to: &str, kind: &str, payload: &str) -> Element {
        let out = self.iq(from, to, kind, payload);
        let answer = out.first().expect("an answer").clone();
        assert_eq!(answer.name, "iq", "{:?}", xml(&out));
        assert_eq!(answer.get_attr("id"), Some("iq1"));
        assert_eq!(answer.get_attr("to"), Some(from));
        answer
    }
}

/// The JID of the contact of `address`, an address of the bench's chain.
pub fn contact(address: &str) -> String {
    let address = crate::bitcoin::address::Address::parse(address, Network::Regtest)
        .expect("a regtest address");
    format!("{}@{GATEWAY}", address.to_node())
}

/// The code a payment recap asks to confirm (the word after "confirm ",
/// or "confirmer " in French).
pub fn code_in(recap: &str) -> String {
    let (_, after) = recap
        .split_once("confirm ")
        .or_else(|| recap.split_once("confirmer "))
        .unwrap_or_else(|| panic!("no code in {recap:?}"));
    after.split_whitespace().next().expect("a code").to_owned()
}

/// The attribute `name` of each stanza of `out` ("" where it has none).
pub fn attrs<'a>(out: &'a [Element], name: &str) -> Vec<&'a str> {
    out.iter()
        .map(|e| e.get_attr(name).unwrap_or_default())
        .collect()
}

/// The payload of an IQ result, checked to be one.
pub fn result_payload(answer: &Element) -> Option<&Element> {
    assert_eq!(
        answer.get_attr("type"),
        Some("result"),
        "{}",
        answer.to_xml()
    );
    answer.elements().next()
}

/// The defined condition of an IQ error, checked to be one
/// (`item-not-found`...).
pub fn error_condition(answer: &Element) -> String {
    assert_eq!(
        answer.get_attr("type"),
        Some("error"),
        "{}",
        answer.to_xml()
    );
    let error = answer.get_child("error", ns::COMPONENT).expect("<error/>");
    error
        .elements()
        .find(|e| e.ns == ns::STANZA_ERRORS && e.name != "text")
        .map(|e| e.name.clone())
        .expect("a defined condition")
}

/// The human-readable text of an IQ error, if any.
pub fn error_text(answer: &Element) -> Option<String> {
    answer
        .get_child("error", ns::COMPONENT)?
        .get_child("text", ns::STANZA_ERRORS)
        .map(Element::text_content)
}

/// The `var`s of a data form's fields, in order.
pub fn form_vars(x: &Element) -> Vec<String> {
    x.elements()
        .filter(|f| f.is("field", ns::DATA))
        .filter_map(|f| f.get_attr("var").map(str::to_owned))
        .collect()
}

/// The values of a data form's field `var`.
pub fn form_values(x: &Element, var: &str) -> Vec<String> {
    x.elements()
        .filter(|f| f.is("field", ns::DATA) && f.get_attr("var") == Some(var))
        .flat_map(|f| f.elements().filter(|v| v.is("value", ns::DATA)))
        .map(Element::text_content)
        .collect()
}
