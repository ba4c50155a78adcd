//! `bitcoim --check`: validates what the daemon needs before it runs, and
//! says in plain words what is wrong.

use crate::bitcoin::node::{Health, Node};
use crate::config::Config;
use crate::ledger::Ledger;
use std::fmt::Write as _;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// One line of the summary.
struct Line {
    what: &'static str,
    ok: bool,
    detail: String,
}

/// Runs every check, writes the summary to `report` and tells whether all
/// passed. The configuration itself was validated when it was loaded.
pub fn run(config: &Config, report: &mut String) -> bool {
    let mut lines = vec![Line {
        what: "config",
        ok: true,
        detail: format!("{}: component {}", config.path.display(), config.xmpp.jid),
    }];
    for warning in &config.warnings {
        lines.push(Line {
            what: "config",
            ok: true,
            detail: format!("warning: {warning}"),
        });
    }
    lines.push(check_database(config));
    lines.push(check_bitcoind(config));
    lines.push(check_xmpp(config));

    let _ = writeln!(report, "bitcoIM {} check", env!("CARGO_PKG_VERSION"));
    for line in &lines {
        let status = if line.ok { "ok  " } else { "FAIL" };
        let _ = writeln!(report, "  {status} {:<9} {}", line.what, line.detail);
    }
    let failed = lines.iter().filter(|l| !l.ok).count();
    if failed == 0 {
        let _ = writeln!(report, "all checks passed");
    } else {
        let _ = writeln!(report, "{failed} check(s) failed");
    }
    failed == 0
}

fn check_database(config: &Config) -> Line {
    let path = &config.database.file;
    let result = Ledger::open(path).and_then(|l| Ok((l.schema_version()?, l.user_count()?)));
    match result {
        Ok((version, users)) => Line {
            what: "database",
            ok: true,
            detail: format!(
                "{}: schema version {version}, {users} registered users",
                path.display()
            ),
        },
        Err(e) => Line {
            what: "database",
            ok: false,
            detail: e.to_string(),
        },
    }
}

fn check_bitcoind(config: &Config) -> Line {
    let b = &config.bitcoin;
    let target = format!("{}:{}", b.host, b.port);
    let (ok, detail) = match Node::new(b).check() {
        Ok(Health::Ready {
            chain,
            blocks,
            wallet,
        }) => (
            true,
            format!("{target}: chain {chain}, {blocks} blocks, wallet '{wallet}'"),
        ),
        Ok(Health::Unavailable(why)) => {
            let hint = if why.contains("authentication") {
                "; check [bitcoin] user/password or cookie"
            } else {
                "; is bitcoind running with server=1?"
            };
            (false, format!("{target}: {why}{hint}"))
        }
        Err(e) => (false, format!("{target}: {e}")),
    };
    Line {
        what: "bitcoind",
        ok,
        detail,
    }
}

fn check_xmpp(config: &Config) -> Line {
    let x = &config.xmpp;
    let target = format!("{}:{}", x.server, x.port);
    let addrs = match (x.server.as_str(), x.port).to_socket_addrs() {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => {
            return Line {
                what: "XMPP",
                ok: false,
                detail: format!("{target}: cannot resolve: {e}"),
            }
        }
    };
    let mut last_error = String::from("no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(_) => {
                return Line {
                    what: "XMPP",
                    ok: true,
                    detail: format!("{target}: component port reachable"),
                }
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    Line {
        what: "XMPP",
        ok: false,
        detail: format!(
            "{target}: {last_error}; is the XMPP server running with a component port for {}?",
            x.jid
        ),
    }
}
