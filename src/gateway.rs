//! The gateway: bitcoIM's state and its answers to the reactor.
//!
//! It owns the services (wallet and voice), the XEPs' state and the rate
//! limiter, hands every stanza to the router, runs the wallet's periodic
//! work and has its news spoken, and on SIGHUP applies what changed in the
//! configuration ([`crate::reload`] says what can change while running).
//! Nothing below reaches back up here.

use crate::bitcoin::node::Node;
use crate::command::Services;
use crate::config::Config;
use crate::ledger::Ledger;
use crate::limits::RateLimiter;
use crate::notify::{Online, Voice};
use crate::reactor::App;
use crate::reload::{self, Change};
use crate::router::{self, Router};
use crate::seen::Seen;
use crate::wallet::{self, Settings, Wallet};
use crate::xmpp::Element;
use crate::{muc, xep};
use std::time::{Duration, Instant};

/// How often a node that was down is checked again (for the deposit
/// addresses of users who registered while it was down).
const NODE_RETRY: Duration = Duration::from_secs(30);

pub struct Gateway {
    services: Services,
    xep: xep::State,
    /// The rooms the gateway is in (XEP-0045).
    muc: muc::State,
    limiter: RateLimiter,
    /// Messages already acted on (resent by clients after a failed
    /// stream resumption).
    seen: Seen,
    /// When the node is looked at again (it was down).
    next_node_retry: Option<Instant>,
    /// When the deposit poller runs next (only while connected).
    next_poll: Option<Instant>,
    poll_interval: Duration,
    /// The settings in force: the file's as loaded at start-up, with the
    /// `[main program]` section of the last reload.
    config: Config,
}

impl Gateway {
    pub fn new(config: Config, ledger: Ledger, node: Node) -> Gateway {
        let limiter = RateLimiter::new(config.main.rate_burst, config.main.rate_per_second);
        let wallet = Wallet::new(ledger, node, Settings::from_config(&config));
        let voice = Voice::new(&config, xep::disco::caps_ver().to_owned());
        Gateway {
            services: Services::new(wallet, voice),
            xep: xep::State::default(),
            muc: muc::State::default(),
            limiter,
            seen: Seen::new(),
            next_node_retry: Some(Instant::now()),
            next_poll: None,
            poll_interval: config.bitcoin.poll_interval,
            config,
        }
    }

    /// Applies a configuration read again: the `[main program]` section
    /// takes effect, other changes are logged as waiting for a restart
    /// and the old values stay. Returns every change found.
    pub fn reload(&mut self, new: Config) -> Vec<Change> {
        let changes = reload::diff(&self.config, &new);
        let main = new.main;
        // The level first: the lines below are then logged as asked.
        if main.loglevel != self.config.main.loglevel {
            if let Err(why) = crate::logging::set_level(main.loglevel) {
                log::warn!("[main program] loglevel not applied: {why}");
            }
        }
        for change in &changes {
            if change.live {
                log::info!("{change}");
            } else if change.secret {
                log::warn!("{change}; needs a restart, the old value stays in use until then");
            } else {
                log::warn!(
                    "{change}; needs a restart, {} stays in use until then",
                    change.old
                );
            }
        }
        let waiting = changes.iter().filter(|c| !c.live).count();
        log::info!(
            "configuration reloaded: {} change(s) applied, {waiting} waiting for a restart",
            changes.len() - waiting
        );
        self.services.voice.set_admins(main.admins.clone());
        self.services.voice.set_languages(main.languages.clone());
        self.limiter
            .set_limits(main.rate_burst, main.rate_per_second);
        self.services.wallet.set_main(main.clone());
        self.config.main = main;
        // The nick stays until a restart: the rooms know the gateway by it.
        let rooms = crate::config::RoomsConfig {
            nick: self.config.rooms.nick.clone(),
            ..new.rooms
        };
        self.services.wallet.set_rooms(rooms.clone());
        self.config.rooms = rooms;
        changes
    }

    /// The wallet's periodic work, its news spoken on `out`.
    pub fn tick(&mut self, out: &mut Vec<Element>) {
        let mut news = Vec::new();
        wallet::tick(&mut self.services.wallet, &mut news);
        self.services.speak(news, out);
        self.after_node_calls();
    }

    /// Asks for another look at the node soon if a call found it down.
    fn after_node_calls(&mut self) {
        if self.services.wallet.take_node_wanted() && self.next_node_retry.is_none() {
            self.next_node_retry = Some(Instant::now() + NODE_RETRY);
        }
    }

    /// The services, for tests that drive the wallet directly.
    #[cfg(test)]
    pub(crate) fn services(&mut self) -> &mut Services {
        &mut self.services
    }

    #[cfg(test)]
    pub(crate) fn services_ref(&self) -> &Services {
        &self.services
    }

    /// The rooms, for tests of the room face.
    #[cfg(test)]
    pub(crate) fn rooms(&self) -> &muc::State {
        &self.muc
    }

    /// The XEPs' state, for tests of what lasts between requests.
    #[cfg(test)]
    pub(crate) fn xep_state(&mut self) -> &mut xep::State {
        &mut self.xep
    }
}

impl App for Gateway {
    fn on_connected(&mut self, out: &mut Vec<Element>) {
        crate::presence::on_connected(&mut self.services);
        muc::on_connected(&mut self.services, &mut self.muc, out);
        self.next_poll = Some(Instant::now());
    }

    fn has_backlog(&self) -> bool {
        self.services.voice.has_backlog()
    }

    fn on_writable(&mut self, out: &mut Vec<Element>) {
        let Services { wallet, voice, .. } = &mut self.services;
        voice.next_page(wallet.ledger(), out);
    }

    fn on_stanza(&mut self, stanza: Element, out: &mut Vec<Element>) {
        let router = Router {
            services: &mut self.services,
            xep: &mut self.xep,
            muc: &mut self.muc,
            limiter: &mut self.limiter,
            seen: &mut self.seen,
        };
        router::route(router, stanza, out);
        self.after_node_calls();
    }

    fn on_disconnected(&mut self) {
        // Nobody can be seen online while we cannot hear them.
        self.services.voice.online = Online::default();
        self.muc.clear();
    }

    fn on_shutdown(&mut self, out: &mut Vec<Element>) {
        crate::presence::goodbye(&self.services, out);
        muc::goodbye(&self.services, &self.muc, out);
    }

    fn on_reload(&mut self) {
        let path = self.config.path.clone();
        log::info!("SIGHUP: reading {} again", path.display());
        match Config::load(&path) {
            Ok(new) => {
                for warning in &new.warnings {
                    log::warn!("{warning}");
                }
                self.reload(new);
            }
            Err(e) => log::error!("configuration not reloaded, nothing changed: {e}"),
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        match (self.next_node_retry, self.next_poll) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_timer(&mut self, now: Instant, out: &mut Vec<Element>) {
        if self.next_poll.is_some_and(|t| t <= now) {
            self.tick(out);
            self.next_poll = Some(Instant::now() + self.poll_interval);
        }
        // The node is back: no need to wait for the retry timer.
        let back = self.next_node_retry.is_some() && !self.services.wallet.node_is_down();
        if back || self.next_node_retry.is_some_and(|t| t <= now) {
            let mut news = Vec::new();
            wallet::accounts::create_missing_addresses(&mut self.services.wallet, &mut news);
            self.services.speak(news, out);
            self.services.wallet.take_node_wanted();
            self.next_node_retry = if self.services.wallet.node_is_down() {
                Some(now + NODE_RETRY)
            } else {
                None
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitcoin::sim::Fault;
    use crate::limits::Verdict;
    use crate::testkit::{attrs, bodies, contact, xml, Bench};
    use crate::wallet::News;
    use crate::xmpp::Jid;

    fn timer(b: &mut Bench, now: Instant) -> Vec<Element> {
        let mut out = Vec::new();
        b.gateway.on_timer(now, &mut out);
        out
    }

    fn connect(b: &mut Bench) -> Vec<Element> {
        let mut out = Vec::new();
        b.gateway.on_connected(&mut out);
        out
    }

    #[test]
    fn the_node_is_looked_at_first_and_the_poller_waits_for_the_connection() {
        let mut b = Bench::new();
        let deadline = b.gateway.next_deadline().expect("the node's first look");
        assert!(deadline <= Instant::now());
        // The node answers and nobody lacks an address: no more timers
        // until the server connection starts the poller.
        timer(&mut b, Instant::now());
        assert_eq!(b.gateway.next_deadline(), None);
        let before = Instant::now();
        connect(&mut b);
        let deadline = b.gateway.next_deadline().expect("the first poll");
        assert!(deadline <= Instant::now() && deadline >= before);
    }

    #[test]
    fn a_due_poll_runs_and_the_next_one_is_one_interval_later() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        let address = b.addresses(&alice)[0].clone();
        b.chain
            .borrow_mut()
            .pay_from_world(vec![(address, 100_000_000)]);
        // Not connected: no poll, whatever the time.
        let later = Instant::now() + Duration::from_secs(3600);
        assert!(bodies(&timer(&mut b, later)).is_empty());
        connect(&mut b);
        let before = Instant::now();
        let out = timer(&mut b, Instant::now());
        let told = bodies(&out);
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(
            told[0].starts_with("Incoming: 1 BTC (transaction "),
            "{told:?}"
        );
        let next = b.gateway.next_deadline().expect("the next poll");
        assert!(next >= before + Duration::from_secs(1), "poll_interval = 1");
        assert!(next <= Instant::now() + Duration::from_secs(1));
        // Not due yet: nothing runs.
        b.chain.borrow_mut().mine_mempool();
        assert!(timer(&mut b, Instant::now()).is_empty());
        let out = timer(&mut b, next);
        assert!(
            bodies(&out)
                .iter()
                .any(|t| t.starts_with("Received: 1 BTC")),
            "{:?}",
            xml(&out)
        );
    }

    #[test]
    fn addresses_missing_while_the_node_was_down_come_when_it_is_back() {
        let mut b = Bench::new();
        b.chain.borrow_mut().fail_next(None, Fault::Down);
        assert_eq!(
            b.say("alice", "register alice"),
            [
                "Welcome, alice! Your wallet is open.\nThe Bitcoin node is unreachable right now, \
              so your first deposit address will come as soon as it is back."
            ]
        );
        let alice = b.user("alice").unwrap();
        assert!(b.addresses(&alice).is_empty());
        // Still down at the first look: looked at again 30 s later.
        b.chain.borrow_mut().fail_next(None, Fault::Down);
        let now = Instant::now();
        assert!(timer(&mut b, now).is_empty());
        assert!(b.addresses(&alice).is_empty());
        assert_eq!(b.gateway.next_deadline(), Some(now + NODE_RETRY));
        // A poll finds the node back: no need to wait for that timer.
        connect(&mut b);
        let out = timer(&mut b, Instant::now());
        let addresses = b.addresses(&alice);
        assert_eq!(addresses.len(), 1);
        let from = contact(&addresses[0]);
        assert_eq!(attrs(&out, "from"), [from.as_str()]);
        assert_eq!(attrs(&out, "type"), ["subscribe"]);
        assert!(
            b.gateway.next_deadline().unwrap() > Instant::now(),
            "retry over"
        );
    }

    #[test]
    fn a_node_found_down_by_a_command_is_looked_at_again_later() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        timer(&mut b, Instant::now());
        assert_eq!(b.gateway.next_deadline(), None);
        b.chain.borrow_mut().fail_next(None, Fault::Down);
        let before = Instant::now();
        b.say("alice", "address");
        let retry = b.gateway.next_deadline().expect("a retry");
        assert!(retry >= before + NODE_RETRY && retry <= Instant::now() + NODE_RETRY);
    }

    fn reload_lines(b: &mut Bench, extra: &str) -> Vec<String> {
        let new = crate::testkit::config(extra);
        b.gateway
            .reload(new)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    // Issue 12, item 3: admins, languages and limits needed a restart.
    #[test]
    fn a_reload_applies_the_main_program_section_and_keeps_the_rest() {
        let mut b = Bench::new();
        let boss = Jid::parse("boss@example.org").unwrap();
        assert!(!b.gateway.services_ref().voice.is_admin(&boss));
        let lines = reload_lines(
            &mut b,
            "admins = admin@example.org, boss@example.org
languages = fr
             rate_burst = 1
max_pending_orders = 1
[XMPP]
port = 5348
",
        );
        assert_eq!(
            lines,
            [
                "[XMPP] port: 5347 -> 5348",
                "[main program] admins: admin@example.org -> admin@example.org, boss@example.org",
                "[main program] languages: en -> fr",
                "[main program] max_pending_orders: 5 -> 1",
                "[main program] rate_burst: 30 -> 1",
            ]
        );
        let services = b.gateway.services_ref();
        assert!(services.voice.is_admin(&boss));
        assert_eq!(services.voice.default_lang(), "fr");
        assert_eq!(services.wallet.settings().main.max_pending_orders, 1);
        let now = Instant::now();
        assert_eq!(b.gateway.limiter.check("eve@x", now), Verdict::Allow);
        assert_ne!(b.gateway.limiter.check("eve@x", now), Verdict::Allow);
        assert_eq!(b.gateway.config.xmpp.port, 5347, "needs a restart");
        // Against what is in force: the port still differs, nothing else.
        let lines = reload_lines(
            &mut b,
            "admins = admin@example.org, boss@example.org
languages = fr
             rate_burst = 1
max_pending_orders = 1
[XMPP]
port = 5348
",
        );
        assert_eq!(lines, ["[XMPP] port: 5347 -> 5348"]);
    }

    #[test]
    fn sighup_rereads_the_file_and_an_invalid_one_changes_nothing() {
        let mut b = Bench::new();
        let dir = std::env::temp_dir().join(format!("bitcoim-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bitcoim.conf");
        b.gateway.config.path = path.clone();
        let boss = Jid::parse("boss@example.org").unwrap();
        let base = "[XMPP]\njid = bitcoin.example.org\npassword = x\n\
                    [database]\nfile = /nonexistent/bitcoim.db\n\
                    [bitcoin]\nuser = u\npassword = p\nnetwork = regtest\n\
                    poll_interval = 1\ntimeout = 1\nfallback_fee_rate = 5\nmin_withdrawal = 1000 sat\n\
                    [main program]\n";
        std::fs::write(
            &path,
            format!("{base}admins = admin@example.org, boss@example.org\nrate_burst = lots\n"),
        )
        .unwrap();
        b.gateway.on_reload();
        assert!(
            !b.gateway.services_ref().voice.is_admin(&boss),
            "nothing changed"
        );
        std::fs::write(
            &path,
            format!("{base}admins = admin@example.org, boss@example.org\n"),
        )
        .unwrap();
        b.gateway.on_reload();
        assert!(b.gateway.services_ref().voice.is_admin(&boss));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn after_a_disconnection_nobody_is_online() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        b.online("alice");
        b.gateway.on_disconnected();
        let mut out = Vec::new();
        b.services().speak(vec![News::Balance(alice)], &mut out);
        assert!(out.is_empty(), "{:?}", xml(&out));
        b.gateway.on_shutdown(&mut out);
        assert!(out.is_empty(), "no goodbye to whom we cannot hear");
        // Coming back online is seen again.
        assert_eq!(b.online("alice").len(), 1);
    }
}
