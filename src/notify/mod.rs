//! The one layer that speaks: it turns the wallet's [`News`] and the
//! faces' answers into stanzas and sentences. It owns the catalogs and the
//! choice of language, the message builders (plain and living, XEP-0308),
//! the admin alerts, and the presences that carry a user's balance.
//!
//! Language: the one the user chose with `language`, else the stanza's
//! `xml:lang` when a catalog exists for it, else the first configured
//! language that has one, else English (see [`crate::i18n`]).

mod bulk;
pub mod online;
pub mod render;

use crate::amount::Sats;
use crate::bitcoin::address::Address;
use crate::config::Config;
use crate::entity::Entity;
use crate::i18n::Catalogs;
use crate::ledger::{Ledger, User};
use crate::wallet::{Living, Message, News, Speaker};
use crate::xmpp::{ns, Element, Jid};
use base64::Engine as _;
use sha1::{Digest, Sha1};

pub use bulk::Bulk;
pub use online::Online;

/// XEP-0115's node: a URI naming the software.
pub const CAPS_NODE: &str = "https://crates.io/crates/bitcoim";
pub const NS_CORRECT: &str = ns::CORRECT;
const NS_NICK: &str = "http://jabber.org/protocol/nick";
const NS_CAPS: &str = "http://jabber.org/protocol/caps";
const NS_VCARD_UPDATE: &str = "vcard-temp:x:update";

/// Where a balance is shown: the reply to `balance` (with the debt), or
/// the gateway's presence status (short).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceView {
    Reply,
    Status,
}

/// What speaking needs: who we are, the catalogs and languages, the
/// admins, who is online, and the gateway's capabilities hash.
pub struct Voice {
    jid: Jid,
    catalogs: Catalogs,
    languages: Vec<String>,
    admins: Vec<Jid>,
    /// XEP-0115 verification string of the gateway's disco#info.
    caps_ver: String,
    pub online: Online,
    /// Output for every user, waiting to be made a page at a time.
    bulk: std::collections::VecDeque<Bulk>,
    /// XEP-0153 photo hashes of address contacts, by address: a QR code,
    /// a PNG and a SHA-1 are made once, not at every presence.
    photo_hashes: std::cell::RefCell<std::collections::HashMap<String, Option<String>>>,
}

/// Photo hashes kept; the cache starts again when it is full.
const PHOTO_HASHES: usize = 4096;

impl Voice {
    pub fn new(config: &Config, caps_ver: String) -> Voice {
        Voice {
            jid: config.xmpp.jid.clone(),
            catalogs: Catalogs::new(),
            languages: config.main.languages.clone(),
            admins: config.main.admins.clone(),
            caps_ver,
            online: Online::default(),
            bulk: Default::default(),
            photo_hashes: Default::default(),
        }
    }

    /// The component's own JID.
    pub fn jid(&self) -> &Jid {
        &self.jid
    }

    /// A JID under the component's domain.
    pub fn contact_jid(&self, node: &str) -> Jid {
        self.jid.with_node(node)
    }

    pub fn catalogs(&self) -> &Catalogs {
        &self.catalogs
    }

    pub fn is_admin(&self, jid: &Jid) -> bool {
        self.admins.contains(&jid.bare())
    }

    /// New admins (SIGHUP).
    pub fn set_admins(&mut self, admins: Vec<Jid>) {
        self.admins = admins;
    }

    /// New configured languages (SIGHUP); users' own choices stay.
    pub fn set_languages(&mut self, languages: Vec<String>) {
        self.languages = languages;
    }

    /// The language to answer `stanza` from `user` in.
    pub fn lang(&self, stanza: &Element, user: Option<&User>) -> &'static str {
        self.catalogs.pick(
            stanza.get_attr("xml:lang"),
            user.and_then(|u| u.language.as_deref()),
            &self.languages,
        )
    }

    /// The language of a message nobody asked for (news, alerts).
    pub fn user_lang(&self, user: &User) -> &'static str {
        self.catalogs
            .pick(None, user.language.as_deref(), &self.languages)
    }

    /// The configured default language.
    pub fn default_lang(&self) -> &'static str {
        self.catalogs.pick(None, None, &self.languages)
    }

    /// A catalog text.
    pub fn text(&self, lang: &str, key: &str, args: &[(&str, &str)]) -> String {
        self.catalogs.text(lang, key, args)
    }

    /// A [`Message`] in `lang`.
    pub fn say(&self, lang: &str, message: &Message) -> String {
        self.catalogs.text(lang, message.key, &message.arg_refs())
    }

    /// The JID a [`Speaker`] speaks from.
    pub fn speaker_jid(&self, speaker: &Speaker) -> Jid {
        match speaker {
            Speaker::Gateway => self.jid.clone(),
            Speaker::Address(a) => self.contact_jid(&a.to_node()),
            Speaker::User(username) => self.contact_jid(username),
        }
    }

    /// The JID an entity speaks from.
    pub fn entity_jid(&self, entity: &Entity) -> Jid {
        match entity {
            Entity::Gateway | Entity::Unknown => self.jid.clone(),
            Entity::Address(a) => self.contact_jid(&a.to_node()),
            Entity::User(u) => self.contact_jid(&u.username),
        }
    }

    /// Turns news into stanzas.
    pub fn speak(&mut self, ledger: &Ledger, news: Vec<News>, out: &mut Vec<Element>) {
        for item in news {
            self.speak_one(ledger, item, out);
        }
    }

    fn speak_one(&mut self, ledger: &Ledger, news: News, out: &mut Vec<Element>) {
        match news {
            News::Tell {
                user,
                from,
                message,
                living,
            } => {
                let lang = self.user_lang(&user);
                let body = self.say(lang, &message);
                let from = self.speaker_jid(&from);
                out.push(match living {
                    Some(living) => living_message(&from, &user.jid, lang, &living, &body),
                    None => chat(&from, &user.jid, lang, &body),
                });
            }
            News::Balance(user) => self.send_balance(ledger, &user, out),
            News::Alert(message) => self.alert_admins(ledger, &message, out),
            News::Registered { user, address } => {
                out.push(subscribe(&self.jid, &user.jid, crate::NAME));
                if let Some(address) = address {
                    self.subscribe_address(ledger, &user, &address, out);
                }
            }
            News::NewAddress { user, address } => {
                self.subscribe_address(ledger, &user, &address, out)
            }
            News::Unregistered { user, addresses } => {
                self.online.forget_announced(&user.jid);
                let contacts = std::iter::once(self.jid.clone())
                    .chain(addresses.iter().map(|a| self.contact_jid(&a.to_node())));
                for contact in contacts {
                    for kind in ["unavailable", "unsubscribe", "unsubscribed"] {
                        out.push(presence(&contact, &user.jid, Some(kind)));
                    }
                }
            }
            News::TellJid { jid, message } => {
                let lang = self.default_lang();
                out.push(chat(&self.jid, &jid, lang, &self.say(lang, &message)));
            }
            News::Room { room, message } => {
                let lang = self.default_lang();
                out.push(groupchat(&self.jid, &room, lang, &self.say(lang, &message)));
            }
        }
    }

    /// The address's photo hash, from the cache.
    fn photo_hash(&self, address: &Address) -> Option<String> {
        let mut cache = self.photo_hashes.borrow_mut();
        if let Some(hash) = cache.get(address.as_str()) {
            return hash.clone();
        }
        if cache.len() >= PHOTO_HASHES {
            cache.clear();
        }
        let hash = address_photo_hash(address);
        cache.insert(address.as_str().to_owned(), hash.clone());
        hash
    }

    /// Tells every admin something that needs a human, in their language.
    fn alert_admins(&self, ledger: &Ledger, message: &Message, out: &mut Vec<Element>) {
        log::warn!("admin alert: {}", self.say("en", message));
        for admin in &self.admins {
            let language = ledger
                .user_by_jid(&admin.to_string())
                .ok()
                .flatten()
                .and_then(|u| u.language);
            let lang = self
                .catalogs
                .pick(None, language.as_deref(), &self.languages);
            out.push(chat(
                &self.jid,
                &admin.to_string(),
                lang,
                &self.say(lang, message),
            ));
        }
    }

    /// A deposit address asks to be in its owner's roster, under a name
    /// that tells a user's addresses apart at a glance.
    fn subscribe_address(
        &self,
        ledger: &Ledger,
        user: &User,
        address: &Address,
        out: &mut Vec<Element>,
    ) {
        let from = self.contact_jid(&address.to_node());
        let nick = self.address_nick(ledger, user, address);
        out.push(subscribe(&from, &user.jid, &nick));
    }

    /// "deposit 2 (bc1q…x7)": the address's rank among the user's
    /// addresses, oldest first, and enough of it to match what a payer
    /// shows (the whole address is the contact's JID and vCard). Without
    /// the rank, the whole address.
    fn address_nick(&self, ledger: &Ledger, user: &User, address: &Address) -> String {
        let text = address.as_str();
        let rank = match ledger.addresses_of(user.id) {
            Ok(addresses) => addresses.iter().position(|a| a == text),
            Err(e) => {
                log::error!("{e}");
                None
            }
        };
        let Some(rank) = rank else {
            return text.to_owned();
        };
        let chars: Vec<char> = text.chars().collect();
        let start: String = chars.iter().take(4).collect();
        let end: String = chars[chars.len().saturating_sub(2)..].iter().collect();
        let n = (rank + 1).to_string();
        self.text(
            self.user_lang(user),
            "address-nick",
            &[("n", &n), ("start", &start), ("end", &end)],
        )
    }

    /// Tells an online user their new balance, in the gateway's status.
    fn send_balance(&self, ledger: &Ledger, user: &User, out: &mut Vec<Element>) {
        if !self.online.is_online(&user.jid) {
            return;
        }
        let lang = self.user_lang(user);
        if let Some(p) = self.available(ledger, &Entity::Gateway, &user.jid, Some(user), lang) {
            out.push(p);
        }
    }

    /// The gateway's status for `user`: balance, incoming and held amounts.
    pub fn gateway_status(&self, ledger: &Ledger, user: Option<&User>, lang: &str) -> String {
        match user {
            Some(user) => self.balance_text(ledger, user, lang, BalanceView::Status),
            None => self.text(lang, "status-not-registered", &[]),
        }
    }

    /// A user's balance, with what is on its way (deposits not credited
    /// yet), held (withdrawals under way) and, in a reply, owed.
    pub fn balance_text(
        &self,
        ledger: &Ledger,
        user: &User,
        lang: &str,
        view: BalanceView,
    ) -> String {
        let status = view == BalanceView::Status;
        let key = |reply: &'static str, in_status: &'static str| {
            if status {
                in_status
            } else {
                reply
            }
        };
        let incoming = ledger.incoming_of(user.id).unwrap_or_default();
        // Part of the held amount may wait for tips' claims, not for a
        // withdrawal: the reply says how much.
        let for_tips = if status || user.held.0 == 0 {
            Sats(0)
        } else {
            ledger.held_for_others(user.id).unwrap_or_default()
        };
        let lines = [
            (
                key("balance-reply", "status-balance"),
                "balance",
                user.balance,
                true,
            ),
            (
                key("balance-incoming", "status-incoming"),
                "amount",
                incoming,
                incoming.0 > 0,
            ),
            (
                key("balance-held", "status-held"),
                "amount",
                user.held,
                user.held.0 > 0,
            ),
            ("balance-held-tips", "amount", for_tips, for_tips.0 > 0),
            (
                "balance-debt",
                "amount",
                user.debt,
                !status && user.debt.0 > 0,
            ),
        ];
        lines
            .iter()
            .filter(|(_, _, _, shown)| *shown)
            .map(|(key, name, amount, _)| self.text(lang, key, &[(name, &amount.to_string())]))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The available presence of `entity` for the user `to` (a bare or full
    /// JID) whose account is `user`.
    pub fn available(
        &self,
        ledger: &Ledger,
        entity: &Entity,
        to: &str,
        user: Option<&User>,
        lang: &str,
    ) -> Option<Element> {
        match entity {
            Entity::Gateway => {
                let status = self.gateway_status(ledger, user, lang);
                Some(
                    presence(&self.jid, to, None)
                        .text_child("status", &status)
                        .child(
                            Element::new("c", NS_CAPS)
                                .attr("hash", "sha-1")
                                .attr("node", CAPS_NODE)
                                .attr("ver", &self.caps_ver),
                        ),
                )
            }
            Entity::Address(address) => {
                let from = self.contact_jid(&address.to_node());
                let mut p = presence(&from, to, None);
                let owner = ledger.address_owner(address.as_str()).ok().flatten();
                if let (Some(user), Some(owner)) = (user, owner) {
                    if user.id == owner {
                        let received = ledger.received_on(address.as_str()).unwrap_or_default();
                        p.push(Element::new("status", ns::COMPONENT).text(&self.text(
                            lang,
                            "status-address-mine",
                            &[("amount", &received.to_string())],
                        )));
                    }
                }
                if let Some(hash) = self.photo_hash(address) {
                    p.push(
                        Element::new("x", NS_VCARD_UPDATE)
                            .child(Element::new("photo", NS_VCARD_UPDATE).text(&hash)),
                    );
                }
                Some(p)
            }
            Entity::User(contact) => Some(presence(&self.contact_jid(&contact.username), to, None)),
            Entity::Unknown => None,
        }
    }
}

/// A chat message from `from` to `to`.
pub fn chat(from: &Jid, to: &str, lang: &str, body: &str) -> Element {
    Element::new("message", ns::COMPONENT)
        .attr("type", "chat")
        .attr("from", &from.to_string())
        .attr("to", to)
        .attr("xml:lang", lang)
        .text_child("body", body)
}

/// A message to everyone in a room (XEP-0045, section 7.4), from the
/// gateway's own JID: the room shows it under the gateway's nick.
pub fn groupchat(from: &Jid, room: &str, lang: &str, body: &str) -> Element {
    Element::new("message", ns::COMPONENT)
        .attr("type", "groupchat")
        .attr("from", &from.to_string())
        .attr("to", room)
        .attr("xml:lang", lang)
        .text_child("body", body)
}

/// A chat message with an id, correcting its first one (XEP-0308) when
/// there is one.
pub fn living_message(from: &Jid, to: &str, lang: &str, living: &Living, body: &str) -> Element {
    let mut m = chat(from, to, lang, body).attr("id", &living.id);
    if let Some(original) = &living.replaces {
        m.push(Element::new("replace", NS_CORRECT).attr("id", original));
    }
    m
}

/// A presence from `from` to `to`, of type `kind` (`None`: available).
pub fn presence(from: &Jid, to: &str, kind: Option<&str>) -> Element {
    let mut p = Element::new("presence", ns::COMPONENT)
        .attr("from", &from.to_string())
        .attr("to", to);
    if let Some(kind) = kind {
        p.set_attr("type", kind);
    }
    p
}

/// A subscription request with an XEP-0172 nick.
fn subscribe(from: &Jid, to: &str, nick: &str) -> Element {
    presence(from, to, Some("subscribe")).child(Element::new("nick", NS_NICK).text(nick))
}

/// The QR code PNG of an address's BIP21 URI.
pub fn address_photo(address: &Address) -> Option<Vec<u8>> {
    crate::qr::png(&crate::bitcoin::uri::format(address, None, None))
}

/// XEP-0153: the SHA-1 of the address's photo, for its presence.
pub fn address_photo_hash(address: &Address) -> Option<String> {
    let png = address_photo(address)?;
    Some(
        Sha1::digest(&png)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// The address's photo in base64, for its vCard.
pub fn address_photo_base64(address: &Address) -> Option<String> {
    address_photo(address).map(|png| base64::engine::general_purpose::STANDARD.encode(png))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::Sats;
    use crate::bitcoin::network::Network;
    use crate::reactor::App;
    use crate::testkit::{attrs, bodies, contact, xml, Bench, GATEWAY};

    fn speak(b: &mut Bench, news: Vec<News>) -> Vec<Element> {
        let mut out = Vec::new();
        b.services().speak(news, &mut out);
        out
    }

    fn address(text: &str) -> Address {
        Address::parse(text, Network::Regtest).expect("a regtest address")
    }

    fn received(sender: &str) -> Message {
        Message::new("payment-received")
            .with("sender", sender)
            .with("amount", Sats(5000))
            .with("balance", Sats(15000))
    }

    #[test]
    fn news_for_a_user_is_told_in_their_language() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        b.say("alice", "language fr");
        let alice = b.user("alice").unwrap();
        let out = speak(&mut b, vec![News::tell(&alice, received("bob"))]);
        assert_eq!(
            xml(&out),
            [
                "<message type='chat' from='bitcoin.example.org' to='alice@example.org' \
              xml:lang='fr'><body>bob vous a payé 0.00005 BTC. \
              Votre solde est de 0.00015 BTC.</body></message>"
            ]
        );
    }

    #[test]
    fn news_is_told_by_its_speaker() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        let mine = b.addresses(&alice)[0].clone();
        let news = [
            Speaker::Gateway,
            Speaker::User("bob".into()),
            Speaker::Address(address(&mine)),
        ]
        .into_iter()
        .map(|from| News::Tell {
            user: alice.clone(),
            from,
            message: received("bob"),
            living: None,
        })
        .collect();
        let out = speak(&mut b, news);
        assert_eq!(
            attrs(&out, "from"),
            [GATEWAY, "bob@bitcoin.example.org", contact(&mine).as_str()]
        );
        assert_eq!(attrs(&out, "to"), ["alice@example.org"; 3]);
        assert_eq!(attrs(&out, "xml:lang"), ["en"; 3]);
    }

    #[test]
    fn a_living_message_has_an_id_and_its_corrections_replace_the_first() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        let living = |id: &str, replaces: Option<&str>| News::Tell {
            user: alice.clone(),
            from: Speaker::Gateway,
            message: Message::new("withdraw-unknown"),
            living: Some(Living {
                id: id.into(),
                replaces: replaces.map(Into::into),
            }),
        };
        let out = speak(
            &mut b,
            vec![living("wd-7-1", None), living("wd-7-2", Some("wd-7-1"))],
        );
        let body = "The Bitcoin node did not answer clearly. Your funds stay held while I \
                    check whether it went out; you will be told. Nothing is ever sent twice.";
        assert_eq!(
            xml(&out),
            [
                format!(
                    "<message type='chat' from='bitcoin.example.org' to='alice@example.org' \
                     xml:lang='en' id='wd-7-1'><body>{body}</body></message>"
                ),
                format!(
                    "<message type='chat' from='bitcoin.example.org' to='alice@example.org' \
                     xml:lang='en' id='wd-7-2'><body>{body}</body>\
                     <replace xmlns='urn:xmpp:message-correct:0' id='wd-7-1'/></message>"
                ),
            ]
        );
    }

    #[test]
    fn an_alert_goes_to_every_admin_in_their_language() {
        let mut b = Bench::with("admins = admin@example.org, boss@example.org");
        b.register("boss", "boss");
        b.say("boss", "language fr");
        b.register("alice", "alice");
        let out = speak(&mut b, vec![News::Alert(Message::new("admin-poller-back"))]);
        assert_eq!(attrs(&out, "from"), [GATEWAY, GATEWAY]);
        assert_eq!(attrs(&out, "to"), ["admin@example.org", "boss@example.org"]);
        assert_eq!(attrs(&out, "xml:lang"), ["en", "fr"]);
        assert_eq!(
            bodies(&out),
            [
                "Deposits are watched again.",
                "Les dépôts sont de nouveau surveillés."
            ]
        );
    }

    #[test]
    fn a_new_balance_is_shown_to_online_users_only() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        let out = speak(&mut b, vec![News::Balance(alice.clone())]);
        assert!(out.is_empty(), "offline: {:?}", xml(&out));
        b.online("alice");
        let out = speak(&mut b, vec![News::Balance(alice)]);
        assert_eq!(attrs(&out, "from"), [GATEWAY]);
        assert_eq!(attrs(&out, "to"), ["alice@example.org"]);
        assert_eq!(attrs(&out, "type"), [""], "available");
        assert_eq!(
            out[0]
                .get_child("status", ns::COMPONENT)
                .map(Element::text_content)
                .as_deref(),
            Some("Balance: 0 BTC")
        );
    }

    #[test]
    fn a_new_user_is_asked_to_add_the_gateway_and_the_first_address() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        let mine = b.addresses(&alice)[0].clone();
        let out = speak(
            &mut b,
            vec![
                News::Registered {
                    user: alice.clone(),
                    address: Some(address(&mine)),
                },
                News::Registered {
                    user: alice,
                    address: None,
                },
            ],
        );
        let nick = |p: &Element| p.get_child("nick", NS_NICK).map(Element::text_content);
        assert_eq!(
            attrs(&out, "from"),
            [GATEWAY, contact(&mine).as_str(), GATEWAY]
        );
        assert_eq!(attrs(&out, "type"), ["subscribe"; 3]);
        let short = format!("{}…{}", &mine[..4], &mine[mine.len() - 2..]);
        assert_eq!(
            out.iter().map(nick).collect::<Vec<_>>(),
            [
                Some("bitcoIM".into()),
                Some(format!("deposit 1 ({short})")),
                Some("bitcoIM".into())
            ]
        );
    }

    #[test]
    fn each_address_is_named_by_its_rank_and_its_ends_in_the_users_language() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        b.say("alice", "address");
        let mine = b.addresses(&alice);
        let nick = |out: &[Element]| {
            out[0]
                .get_child("nick", NS_NICK)
                .map(Element::text_content)
                .unwrap()
        };
        let new_address = |alice: &User, n: usize| News::NewAddress {
            user: alice.clone(),
            address: address(&mine[n]),
        };
        let ends = |a: &str| format!("{}…{}", &a[..4], &a[a.len() - 2..]);
        let out = speak(&mut b, vec![new_address(&alice, 0)]);
        assert_eq!(nick(&out), format!("deposit 1 ({})", ends(&mine[0])));
        let out = speak(&mut b, vec![new_address(&alice, 1)]);
        assert_eq!(nick(&out), format!("deposit 2 ({})", ends(&mine[1])));
        b.say("alice", "language fr");
        let alice = b.user("alice").unwrap();
        let out = speak(&mut b, vec![new_address(&alice, 1)]);
        assert_eq!(nick(&out), format!("dépôt 2 ({})", ends(&mine[1])));
        // An address the ledger does not give the user keeps its full name.
        let bob = b.register("bob", "bob");
        let out = speak(&mut b, vec![new_address(&bob, 0)]);
        assert_eq!(nick(&out), mine[0]);
    }

    #[test]
    fn a_user_who_leaves_is_unsubscribed_from_the_gateway_and_each_address() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        b.say("alice", "address");
        let mine = b.addresses(&alice);
        b.online("alice");
        let out = speak(
            &mut b,
            vec![News::Unregistered {
                user: alice,
                addresses: mine.iter().map(|a| address(a)).collect(),
            }],
        );
        let seen: Vec<(&str, &str, &str)> = out
            .iter()
            .map(|p| {
                (
                    p.get_attr("from").unwrap(),
                    p.get_attr("to").unwrap(),
                    p.get_attr("type").unwrap(),
                )
            })
            .collect();
        let mut expected = Vec::new();
        let contacts = [GATEWAY.to_owned(), contact(&mine[0]), contact(&mine[1])];
        for from in &contacts {
            for kind in ["unavailable", "unsubscribe", "unsubscribed"] {
                expected.push((from.as_str(), "alice@example.org", kind));
            }
        }
        assert_eq!(seen, expected);
        // Goodbyes were said: nothing more at shutdown.
        let mut out = Vec::new();
        b.gateway.on_shutdown(&mut out);
        assert!(out.is_empty(), "{:?}", xml(&out));
    }
}
