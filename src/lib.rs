//! bitcoIM: an XMPP component (XEP-0114) that gives every user of an XMPP
//! server a Bitcoin wallet driven from their chat client.
//!
//! Dependencies point one way: `main` → [`reactor`] → [`stream`] /
//! [`router`] → [`xep`] → [`ledger`] / [`bitcoin`] / [`xmpp`]. The crate is
//! a library so that the benchmark, the fuzz target and the tests reach
//! the same code as the daemon.

pub mod amount;
pub mod bitcoin;
pub mod bot;
pub mod check;
pub mod command;
pub mod config;
pub mod entity;
pub mod gateway;
pub mod i18n;
pub mod ledger;
pub mod limits;
pub mod notify;
pub mod presence;
pub mod qr;
pub mod reactor;
pub mod router;
pub mod stream;
#[cfg(test)]
mod test_rng;
#[cfg(test)]
mod testkit;
pub mod wallet;
pub mod xep;
pub mod xmpp;

/// The software's name, as the gateway introduces itself.
pub const NAME: &str = "bitcoIM";
/// The software's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
