//! bitcoIM: an XMPP component (XEP-0114) that gives every user of an XMPP
//! server a Bitcoin wallet driven from their chat client.
//!
//! Imports between the top-level modules point one way, from the daemon
//! down to the I/O-free types (`contrib/dev/module_graph.py` prints the
//! graph and fails on a cycle):
//!
//! - `main` wires the [`reactor`] (socket, signals, timers) to the
//!   [`gateway`], which owns the state and runs the periodic work;
//! - the [`router`] hands each stanza to a face: the chat commands
//!   ([`bot`]), the XEP handlers and forms ([`xep`]), or [`presence`];
//! - the faces share one [`command`] layer, which calls the [`wallet`]
//!   services and has their news spoken by [`notify`];
//! - the wallet works on the [`ledger`] (SQLite) and the [`bitcoin`] node;
//! - [`amount`], [`xmpp`], [`i18n`], [`limits`], [`qr`] and [`stream`]
//!   do no I/O of their own; [`config`] reads its one file, [`reload`]
//!   compares two of them, [`logging`] writes standard error.
//!
//! The crate is a library so that the benchmark, the fuzz target and the
//! tests reach the same code as the daemon.

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
pub mod logging;
pub mod muc;
pub mod notify;
pub mod presence;
pub mod qr;
pub mod reactor;
pub mod reload;
pub mod router;
pub mod seen;
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
