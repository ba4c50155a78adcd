//! SIGHUP: what differs between the configuration in force and the file
//! read again, and which differences can take effect while running.
//!
//! What can: the `[main program]` section (admins, languages, rate
//! limits, log level, the limits on orders and withdrawals). What needs a
//! restart: the XMPP connection, the database file and everything in
//! `[bitcoin]` (the node's connection and network, and the chain rules
//! the deposit poller was started with); those keep their old values
//! until then. Pure: the gateway applies what [`diff`] finds.

use crate::config::{BitcoinConfig, Config, DatabaseConfig, MainConfig, RoomsConfig, XmppConfig};
use std::fmt;
use std::time::Duration;

/// One setting whose value changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `[section] option`, as in the file.
    pub setting: &'static str,
    pub old: String,
    pub new: String,
    /// Takes effect now; otherwise only after a restart.
    pub live: bool,
    /// A secret: its values are never shown.
    pub secret: bool,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            write!(f, "{}: changed", self.setting)
        } else {
            write!(f, "{}: {} -> {}", self.setting, self.old, self.new)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Live,
    Restart,
    /// Needs a restart, and is never shown.
    Secret,
}

/// The settings that differ between `old` and `new`, in the file's order.
pub fn diff(old: &Config, new: &Config) -> Vec<Change> {
    settings(old)
        .into_iter()
        .zip(settings(new))
        .filter(|(a, b)| a.1 != b.1)
        .map(|((setting, old, kind), (_, new, _))| Change {
            setting,
            old,
            new,
            live: kind == Kind::Live,
            secret: kind == Kind::Secret,
        })
        .collect()
}

/// Every setting, rendered. The structs are taken apart field by field:
/// an option added to `config.rs` does not compile until it is listed
/// here, live or not.
fn settings(c: &Config) -> Vec<(&'static str, String, Kind)> {
    use Kind::*;
    let Config {
        path: _,
        xmpp,
        database,
        bitcoin,
        main,
        rooms,
        warnings: _,
    } = c;
    let XmppConfig {
        jid,
        password,
        server,
        port,
        keepalive,
        max_stanza_size,
    } = xmpp;
    let DatabaseConfig { file } = database;
    let BitcoinConfig {
        auth,
        host,
        port: rpc_port,
        wallet,
        network,
        timeout,
        passphrase_file,
        confirmations,
        fallback_fee_rate,
        min_withdrawal,
        stuck_after_blocks,
        poll_interval,
        explorer,
    } = bitcoin;
    let MainConfig {
        order_expiry,
        max_pending_orders,
        max_wrong_codes,
        low_balance_warning,
        max_withdrawals_per_hour,
        rate_burst,
        rate_per_second,
        loglevel,
        admins,
        languages,
        allowed_domains,
    } = main;
    let RoomsConfig {
        nick,
        invites,
        max_tiplimit,
        claim_expiry,
        services,
    } = rooms;
    let (rpc_user, rpc_password, cookie) = match auth {
        crate::bitcoin::rpc::RpcAuth::UserPassword { user, password } => {
            (Some(user), Some(password), None)
        }
        crate::bitcoin::rpc::RpcAuth::Cookie(path) => (None, None, Some(path.display())),
    };
    vec![
        ("[XMPP] jid", jid.to_string(), Restart),
        ("[XMPP] password", password.clone(), Secret),
        ("[XMPP] server", server.clone(), Restart),
        ("[XMPP] port", port.to_string(), Restart),
        ("[XMPP] keepalive", seconds(*keepalive), Restart),
        (
            "[XMPP] max_stanza_size",
            max_stanza_size.to_string(),
            Restart,
        ),
        ("[database] file", file.display().to_string(), Restart),
        ("[bitcoin] user", optional(rpc_user), Restart),
        ("[bitcoin] password", optional(rpc_password), Secret),
        ("[bitcoin] cookie", optional(cookie), Restart),
        ("[bitcoin] host", host.clone(), Restart),
        ("[bitcoin] port", rpc_port.to_string(), Restart),
        ("[bitcoin] wallet", optional(wallet.as_ref()), Restart),
        (
            "[bitcoin] network",
            network.chain_name().to_owned(),
            Restart,
        ),
        ("[bitcoin] timeout", seconds(*timeout), Restart),
        (
            "[bitcoin] passphrase_file",
            optional(passphrase_file.as_ref().map(|p| p.display())),
            Restart,
        ),
        (
            "[bitcoin] confirmations",
            confirmations.to_string(),
            Restart,
        ),
        (
            "[bitcoin] fallback_fee_rate",
            fallback_fee_rate.to_string(),
            Restart,
        ),
        (
            "[bitcoin] min_withdrawal",
            min_withdrawal.to_string(),
            Restart,
        ),
        (
            "[bitcoin] stuck_after_blocks",
            stuck_after_blocks.to_string(),
            Restart,
        ),
        ("[bitcoin] poll_interval", seconds(*poll_interval), Restart),
        ("[bitcoin] explorer", optional(explorer.as_ref()), Restart),
        (
            "[main program] loglevel",
            loglevel.to_string().to_lowercase(),
            Live,
        ),
        ("[main program] admins", list(admins), Live),
        ("[main program] languages", list(languages), Live),
        (
            "[main program] order_expiry",
            format!("{} min", order_expiry.as_secs() / 60),
            Live,
        ),
        (
            "[main program] max_pending_orders",
            max_pending_orders.to_string(),
            Live,
        ),
        (
            "[main program] max_wrong_codes",
            max_wrong_codes.to_string(),
            Live,
        ),
        (
            "[main program] low_balance_warning",
            low_balance_warning.to_string(),
            Live,
        ),
        (
            "[main program] max_withdrawals_per_hour",
            max_withdrawals_per_hour.to_string(),
            Live,
        ),
        ("[main program] rate_burst", rate_burst.to_string(), Live),
        (
            "[main program] rate_per_second",
            rate_per_second.to_string(),
            Live,
        ),
        (
            "[main program] allowed_domains",
            list(allowed_domains),
            Live,
        ),
        ("[rooms] nick", nick.clone(), Restart),
        ("[rooms] services", list(services), Live),
        (
            "[rooms] invites",
            format!("{invites:?}").to_lowercase(),
            Live,
        ),
        ("[rooms] max_tiplimit", max_tiplimit.to_string(), Live),
        (
            "[rooms] claim_days",
            (claim_expiry.as_secs() / 86_400).to_string(),
            Live,
        ),
    ]
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

fn optional(value: Option<impl fmt::Display>) -> String {
    value.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
}

fn list(items: &[impl fmt::Display]) -> String {
    if items.is_empty() {
        return "(none)".to_owned();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const BASE: &str = "[XMPP]\njid = bitcoin.example.org\npassword = s3cret\n\
                        [database]\nfile = /var/lib/bitcoim/bitcoim.db\n\
                        [bitcoin]\nuser = u\npassword = rpc-s3cret\n\
                        [main program]\nadmins = a@example.org\n";

    fn parse(text: &str) -> Config {
        Config::parse(text, Path::new("bitcoim.conf")).unwrap()
    }

    #[test]
    fn the_same_file_changes_nothing() {
        assert_eq!(diff(&parse(BASE), &parse(BASE)), []);
    }

    #[test]
    fn main_program_changes_are_live_the_others_wait_for_a_restart() {
        let new = format!(
            "{}[XMPP]\nport = 5348\n[bitcoin]\nnetwork = regtest\n\
             [main program]\nadmins = a@example.org, b@example.org\nloglevel = debug\n",
            BASE.replace("password = s3cret", "password = other")
                .replace("password = rpc-s3cret", "password = rpc-other")
        );
        let lines: Vec<(String, bool)> = diff(&parse(BASE), &parse(&new))
            .iter()
            .map(|c| (c.to_string(), c.live))
            .collect();
        assert_eq!(
            lines,
            [
                ("[XMPP] password: changed".to_owned(), false),
                ("[XMPP] port: 5347 -> 5348".to_owned(), false),
                ("[bitcoin] password: changed".to_owned(), false),
                ("[bitcoin] port: 8332 -> 18443".to_owned(), false),
                ("[bitcoin] network: main -> regtest".to_owned(), false),
                (
                    "[bitcoin] explorer: https://mempool.space/address/{address} -> (none)"
                        .to_owned(),
                    false
                ),
                ("[main program] loglevel: info -> debug".to_owned(), true),
                (
                    "[main program] admins: a@example.org -> a@example.org, b@example.org"
                        .to_owned(),
                    true
                ),
            ]
        );
    }

    #[test]
    fn secrets_are_never_shown() {
        let new = BASE.replace("password = s3cret", "password = other");
        let change = &diff(&parse(BASE), &parse(&new))[0];
        assert!(change.secret && !change.live);
        assert!(!change.to_string().contains("s3cret"));
        assert!(!change.to_string().contains("other"));
    }

    #[test]
    fn empty_lists_and_options_are_named() {
        let new = format!("{BASE}admins =\n[bitcoin]\ncookie = /run/.cookie\n");
        let new = new.replace("user = u\npassword = rpc-s3cret\n", "");
        let lines: Vec<String> = diff(&parse(BASE), &parse(&new))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "[bitcoin] user: u -> (none)",
                "[bitcoin] password: changed",
                "[bitcoin] cookie: (none) -> /run/.cookie",
                "[main program] admins: a@example.org -> (none)",
            ]
        );
    }
}
