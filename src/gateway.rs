//! The gateway: bitcoIM's state and its answers to the reactor.
//!
//! It owns what handlers need (configuration, database, start time) and
//! hands every stanza to the router. Handlers receive it instead of
//! reaching for globals.

use crate::config::Config;
use crate::ledger::Ledger;
use crate::reactor::App;
use crate::router;
use crate::xmpp::Element;
use std::time::Instant;

pub struct Gateway {
    pub config: Config,
    pub ledger: Ledger,
    pub started: Instant,
}

impl Gateway {
    pub fn new(config: Config, ledger: Ledger) -> Gateway {
        Gateway {
            config,
            ledger,
            started: Instant::now(),
        }
    }
}

impl App for Gateway {
    fn on_connected(&mut self, _out: &mut Vec<Element>) {}

    fn on_stanza(&mut self, stanza: Element, out: &mut Vec<Element>) {
        router::route(self, stanza, out);
    }

    fn on_disconnected(&mut self) {}

    fn on_shutdown(&mut self, _out: &mut Vec<Element>) {}

    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    fn on_timer(&mut self, _now: Instant, _out: &mut Vec<Element>) {}
}
