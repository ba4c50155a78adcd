//! The wallet services: what users do with their money, once, for every
//! way of asking (the chat commands and the XEP forms both come here
//! through `crate::command`), and the periodic work on the chain.
//!
//! A service takes the [`Wallet`] (the ledger, the node and the settings
//! it uses) and returns a typed outcome; what someone must be told is
//! pushed as [`News`] and spoken by `crate::notify`. Nothing here builds a
//! stanza or picks a language.

pub mod accounts;
pub mod audit;
pub mod deposits;
mod news;
pub mod payments;
pub mod tips;
pub mod withdrawals;

#[cfg(test)]
mod chain_tests;
#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod scenario_tests;
#[cfg(test)]
mod tip_tests;

pub use news::{Living, Message, News, Speaker};

use crate::bitcoin::network::Network;
use crate::bitcoin::node::Node;
use crate::config::{BitcoinConfig, Config, MainConfig, RoomsConfig};
use crate::ledger::{Ledger, User};
use crate::xmpp::Jid;
use withdrawals::Reconciled;

/// The settings the wallet services read: the `[bitcoin]` and `[main
/// program]` sections, and the gateway's domain (whose users, and
/// subdomains, cannot hold accounts).
#[derive(Debug, Clone)]
pub struct Settings {
    pub bitcoin: BitcoinConfig,
    pub main: MainConfig,
    pub rooms: RoomsConfig,
    pub domain: String,
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            bitcoin: config.bitcoin.clone(),
            main: config.main.clone(),
            rooms: config.rooms.clone(),
            domain: config.xmpp.jid.domain.clone(),
        }
    }
}

/// The wallet: its ledger, its node, and what the periodic work remembers
/// between two runs.
pub struct Wallet {
    ledger: Ledger,
    node: Node,
    settings: Settings,
    /// When the daemon started, in Unix seconds (for people).
    started_at: i64,
    /// Whether the node's wallet was compared with the one this database
    /// used (once, when the node first answers).
    identity_checked: bool,
    /// Whether the Python bitcoIM's addresses were looked for (once).
    python_imported: bool,
    /// The deposit poller's health, for the stall alert.
    poller: deposits::PollerHealth,
    /// A node call failed for want of the node: look again soon.
    node_wanted: bool,
}

impl Wallet {
    pub fn new(ledger: Ledger, node: Node, settings: Settings) -> Wallet {
        Wallet {
            ledger,
            node,
            settings,
            started_at: crate::ledger::now(),
            identity_checked: false,
            python_imported: false,
            poller: Default::default(),
            node_wanted: false,
        }
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn ledger_mut(&mut self) -> &mut Ledger {
        &mut self.ledger
    }

    pub fn node(&mut self) -> &mut Node {
        &mut self.node
    }

    pub fn node_is_down(&self) -> bool {
        self.node.is_down()
    }

    pub fn network(&self) -> Network {
        self.node.network()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A new `[main program]` section (SIGHUP): the limits on orders and
    /// withdrawals apply from the next request.
    pub fn set_main(&mut self, main: MainConfig) {
        self.settings.main = main;
    }

    /// The `[rooms]` settings after a reload.
    pub fn set_rooms(&mut self, rooms: RoomsConfig) {
        self.settings.rooms = rooms;
    }

    /// Whether a node call failed for want of the node since last asked;
    /// the flag is cleared.
    pub fn take_node_wanted(&mut self) -> bool {
        std::mem::take(&mut self.node_wanted)
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

    /// An account as it is now (after a payment changed it), or `None`.
    pub fn fresh(&self, user: &User) -> Option<User> {
        self.ledger.user_by_id(user.id).ok().flatten()
    }

    /// The orders of `user` waiting for their code, oldest first; none if
    /// the database cannot tell (logged).
    pub fn pending_orders(&self, user: &User) -> Vec<crate::ledger::orders::Order> {
        self.ledger.pending_orders(user.id).unwrap_or_else(|e| {
            log::error!("{e}");
            Vec::new()
        })
    }

    /// Whether withdrawals are frozen by a failed audit. A database that
    /// cannot tell reads as frozen: money never leaves on a guess.
    pub fn is_frozen(&self) -> bool {
        match self.ledger.state(audit::FROZEN) {
            Ok(frozen) => frozen.is_some(),
            Err(e) => {
                log::error!("{e}; withdrawals refused until the database answers");
                true
            }
        }
    }
}

/// The wallet's periodic work: deposits, expired orders, withdrawals
/// caught mid-flight, and the audit after each new block.
pub fn tick(wallet: &mut Wallet, news: &mut Vec<News>) {
    if !wallet.identity_checked {
        wallet.identity_checked = withdrawals::check_wallet_identity(wallet, news);
    }
    // The Python bitcoIM's addresses come before the first poll, which
    // must not credit what was deposited before the upgrade.
    let imported = wallet.python_imported
        || match accounts::import_python_addresses(wallet, news) {
            Ok(()) => true,
            Err(why) => {
                log::warn!("{why}");
                deposits::stalled(wallet, &why, news);
                false
            }
        };
    wallet.python_imported = imported;
    let new_block = imported && deposits::poll(wallet, news);
    match wallet.ledger.expire_orders(crate::ledger::now()) {
        Ok(expired) => {
            for order in expired {
                if let Some(user) = withdrawals::owner(wallet, &order) {
                    let message = Message::new("order-expired")
                        .with("code", &order.code)
                        .with("amount", order.amount)
                        .with("recipient", &order.recipient);
                    news.push(News::tell(&user, message));
                }
            }
        }
        Err(e) => log::error!("{e}"),
    }
    tips::return_expired(wallet, news);
    for result in withdrawals::reconcile(wallet, news) {
        tell_reconciled(wallet, &result, news);
    }
    if new_block {
        withdrawals::watch_unconfirmed(wallet, news);
        audit::run(wallet, news);
    }
}

/// Tells the owner of a withdrawal what reconciliation found.
pub fn tell_reconciled(wallet: &mut Wallet, result: &Reconciled, news: &mut Vec<News>) {
    let (order, key, txid, fee) = match result {
        Reconciled::Sent { order, txid } => (order, "withdraw-reconciled-sent", txid.clone(), None),
        Reconciled::NotSent(order) => (order, "withdraw-reconciled-not-sent", String::new(), None),
        Reconciled::Settled { order, fee } => (
            order,
            "withdraw-settled",
            order.txid.clone().unwrap_or_default(),
            Some(*fee),
        ),
    };
    let Some(user) = withdrawals::owner(wallet, order) else {
        return;
    };
    let message = Message::new(key)
        .with("amount", withdrawals::net_amount(order, fee))
        .with("recipient", &order.recipient)
        .with("txid", txid)
        .with("fee", fee.unwrap_or_default())
        .with("balance", user.balance);
    withdrawals::announce(wallet, order, message, news);
    news.push(News::Balance(user));
}

/// Tells the admins something that needs a human.
pub fn alert(news: &mut Vec<News>, key: &'static str, args: &[(&'static str, &str)]) {
    let mut message = Message::new(key);
    for (name, value) in args {
        message = message.with(name, value);
    }
    news.push(News::Alert(message));
}
