//! The gateway: bitcoIM's state and its answers to the reactor.
//!
//! It owns the services (wallet and voice), the XEPs' state and the rate
//! limiter, hands every stanza to the router, runs the wallet's periodic
//! work and has its news spoken. Nothing below reaches back up here.

use crate::bitcoin::node::Node;
use crate::command::Services;
use crate::config::Config;
use crate::ledger::Ledger;
use crate::limits::RateLimiter;
use crate::notify::{Online, Voice};
use crate::reactor::App;
use crate::router::{self, Router};
use crate::wallet::{self, Settings, Wallet};
use crate::xep;
use crate::xmpp::Element;
use std::time::{Duration, Instant};

/// How often a node that was down is checked again (for the deposit
/// addresses of users who registered while it was down).
const NODE_RETRY: Duration = Duration::from_secs(30);

pub struct Gateway {
    services: Services,
    xep: xep::State,
    limiter: RateLimiter,
    /// When the node is looked at again (it was down).
    next_node_retry: Option<Instant>,
    /// When the deposit poller runs next (only while connected).
    next_poll: Option<Instant>,
    poll_interval: Duration,
}

impl Gateway {
    pub fn new(config: Config, ledger: Ledger, node: Node) -> Gateway {
        let limiter = RateLimiter::new(config.main.rate_burst, config.main.rate_per_second);
        let wallet = Wallet::new(ledger, node, Settings::from_config(&config));
        let voice = Voice::new(&config, xep::disco::caps_ver());
        Gateway {
            services: Services::new(wallet, voice),
            xep: xep::State::default(),
            limiter,
            next_node_retry: Some(Instant::now()),
            next_poll: None,
            poll_interval: config.bitcoin.poll_interval,
        }
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

    /// The XEPs' state, for tests of what lasts between requests.
    #[cfg(test)]
    pub(crate) fn xep_state(&mut self) -> &mut xep::State {
        &mut self.xep
    }
}

impl App for Gateway {
    fn on_connected(&mut self, out: &mut Vec<Element>) {
        crate::presence::on_connected(&mut self.services, out);
        self.next_poll = Some(Instant::now());
    }

    fn on_stanza(&mut self, stanza: Element, out: &mut Vec<Element>) {
        let router = Router {
            services: &mut self.services,
            xep: &mut self.xep,
            limiter: &mut self.limiter,
        };
        router::route(router, stanza, out);
        self.after_node_calls();
    }

    fn on_disconnected(&mut self) {
        // Nobody can be seen online while we cannot hear them.
        self.services.voice.online = Online::default();
    }

    fn on_shutdown(&mut self, out: &mut Vec<Element>) {
        crate::presence::goodbye(&self.services, out);
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
