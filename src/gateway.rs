//! The gateway: bitcoIM's state and its answers to the reactor.
//!
//! It owns what handlers need (configuration, database, node, catalogs,
//! who is online) and hands every stanza to the router. Handlers receive
//! it instead of reaching for globals.

use crate::bitcoin::node::Node;
use crate::bot::i18n::Catalogs;
use crate::config::Config;
use crate::ledger::{Ledger, User};
use crate::limits::{RateLimiter, Verdict};
use crate::presence::{self, Online};
use crate::reactor::App;
use crate::router;
use crate::wallet::accounts;
use crate::xmpp::{Element, Jid};
use std::time::{Duration, Instant};

/// How often a node that was down is checked again (for the deposit
/// addresses of users who registered while it was down).
const NODE_RETRY: Duration = Duration::from_secs(30);

pub struct Gateway {
    pub config: Config,
    pub ledger: Ledger,
    pub node: Node,
    pub catalogs: Catalogs,
    pub online: Online,
    pub limiter: RateLimiter,
    /// XEP-0050 sessions in progress.
    pub adhoc: crate::xep::adhoc::Sessions,
    pub started: Instant,
    /// When the daemon started, in Unix seconds (for people).
    pub started_at: i64,
    /// Whether the node's wallet was compared with the one this database
    /// used (once, when the node first answers).
    pub wallet_checked: bool,
    /// Whether the Python bitcoIM's addresses were looked for (once).
    pub python_imported: bool,
    /// The deposit poller's health, for the stall alert.
    pub poller: crate::wallet::deposits::PollerHealth,
    /// The component's own JID.
    pub jid: Jid,
    next_node_retry: Option<Instant>,
    /// When the deposit poller runs next (only while connected).
    next_poll: Option<Instant>,
}

impl Gateway {
    pub fn new(config: Config, ledger: Ledger, node: Node) -> Gateway {
        let jid = config.xmpp.jid.clone();
        let limiter = RateLimiter::new(config.main.rate_burst, config.main.rate_per_second);
        Gateway {
            limiter,
            adhoc: Default::default(),
            config,
            ledger,
            node,
            catalogs: Catalogs::new(),
            online: Online::default(),
            started: Instant::now(),
            started_at: crate::ledger::now(),
            poller: Default::default(),
            wallet_checked: false,
            python_imported: false,
            jid,
            next_node_retry: Some(Instant::now()),
            next_poll: None,
        }
    }

    /// The language to answer `stanza` from `user` in.
    pub fn lang(&self, stanza: &Element, user: Option<&User>) -> &'static str {
        self.catalogs.pick(
            stanza.get_attr("xml:lang"),
            user.and_then(|u| u.language.as_deref()),
            &self.config.main.languages,
        )
    }

    /// A catalog text.
    pub fn text(&self, lang: &str, key: &str, args: &[(&str, &str)]) -> String {
        self.catalogs.text(lang, key, args)
    }

    /// The registered account of a JID's bare form. A database failure is
    /// logged and reads as "not registered": the caller's answer is then a
    /// refusal, never a wrong action.
    pub fn user_of(&self, jid: &Jid) -> Option<User> {
        match self.ledger.user_by_jid(&jid.bare().to_string()) {
            Ok(user) => user,
            Err(e) => {
                log::error!("{e}");
                None
            }
        }
    }

    pub fn is_admin(&self, jid: &Jid) -> bool {
        self.config.is_admin(jid)
    }

    /// Whether withdrawals are frozen by a failed audit. A database that
    /// cannot tell reads as frozen: money never leaves on a guess.
    pub fn is_frozen(&self) -> bool {
        match self.ledger.state(crate::wallet::audit::FROZEN) {
            Ok(frozen) => frozen.is_some(),
            Err(e) => {
                log::error!("{e}; withdrawals refused until the database answers");
                true
            }
        }
    }

    /// Whether a stanza from `from` may be handled; users only (the
    /// server itself is not limited).
    pub fn rate(&mut self, from: &Jid) -> Verdict {
        if from.node.is_none() {
            return Verdict::Allow;
        }
        self.limiter.check(&from.bare().to_string(), Instant::now())
    }

    /// A JID under the component's domain.
    pub fn contact_jid(&self, node: &str) -> Jid {
        self.jid.with_node(node)
    }
}

impl App for Gateway {
    fn on_connected(&mut self, out: &mut Vec<Element>) {
        presence::on_connected(self, out);
        self.next_poll = Some(Instant::now());
    }

    fn on_stanza(&mut self, stanza: Element, out: &mut Vec<Element>) {
        router::route(self, stanza, out);
    }

    fn on_disconnected(&mut self) {
        // Nobody can be seen online while we cannot hear them.
        self.online = Online::default();
    }

    fn on_shutdown(&mut self, out: &mut Vec<Element>) {
        presence::goodbye(self, out);
    }

    fn next_deadline(&self) -> Option<Instant> {
        match (self.next_node_retry, self.next_poll) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_timer(&mut self, now: Instant, out: &mut Vec<Element>) {
        if self.next_poll.is_some_and(|t| t <= now) {
            crate::wallet::tick(self, out);
            self.next_poll = Some(Instant::now() + self.config.bitcoin.poll_interval);
        }
        // The node is back: no need to wait for the retry timer.
        let back = self.next_node_retry.is_some() && !self.node.is_down();
        if back || self.next_node_retry.is_some_and(|t| t <= now) {
            accounts::create_missing_addresses(self, out);
            self.next_node_retry = if self.node.is_down() {
                Some(now + NODE_RETRY)
            } else {
                None
            };
        }
    }
}

impl Gateway {
    /// Asks for another look at the node soon (after it failed a request).
    pub fn retry_node_later(&mut self) {
        if self.next_node_retry.is_none() {
            self.next_node_retry = Some(Instant::now() + NODE_RETRY);
        }
    }
}
