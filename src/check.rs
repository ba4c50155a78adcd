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
        Err(e) => {
            let parent = path.parent().filter(|d| !d.as_os_str().is_empty());
            let dir = parent.map_or_else(|| ".".to_owned(), |d| d.display().to_string());
            let fix = if parent.is_some_and(|d| d.exists() && !d.is_dir()) {
                format!(
                    "{dir} is not a directory; fix: set [database] file to a path in a directory"
                )
            } else {
                format!(
                    "fix: make {dir} a directory writable by the user bitcoIM runs as \
                     (with the systemd unit: StateDirectory=bitcoim gives /var/lib/bitcoim)"
                )
            };
            Line {
                what: "database",
                ok: false,
                detail: format!("{e}; {fix}"),
            }
        }
    }
}

fn check_bitcoind(config: &Config) -> Line {
    let b = &config.bitcoin;
    let target = format!("{}:{}", b.host, b.port);
    let (ok, detail) = match Node::new(&b.endpoint(), b.network, b.passphrase_file.clone()).check()
    {
        Ok(Health::Ready {
            chain,
            blocks,
            wallet,
        }) => (
            true,
            format!("{target}: chain {chain}, {blocks} blocks, wallet '{wallet}'"),
        ),
        Ok(Health::Unavailable(why)) => {
            let hint = if why.contains("cookie file") {
                "; fix: let bitcoIM's user read it and its directory (bitcoind's group, \
                 rpccookieperms=group in bitcoin.conf, mode 0710 on a network's \
                 subdirectory: see contrib/bitcoind/bitcoin.conf), set [bitcoin] cookie \
                 to where it is, or set [bitcoin] user and password"
            } else if why.contains("authentication") {
                "; fix: set [bitcoin] user/password to bitcoind's rpcauth credentials, or \
                 leave them out to use bitcoind's cookie"
            } else if why.contains("code -28") {
                "; bitcoind is still starting: run --check again in a minute"
            } else {
                "; fix: start bitcoind with server=1, and check [bitcoin] host and port"
            };
            (false, format!("{target}: {why}{hint}"))
        }
        Err(e) => {
            let text = e.to_string();
            let hint = if text.contains("chain but [bitcoin] network") {
                let chain = text
                    .split('\'')
                    .nth(1)
                    .unwrap_or("the node's chain")
                    .to_owned();
                format!("; fix: set [bitcoin] network = {chain}, or point [bitcoin] port at the node of the right network")
            } else {
                String::new()
            };
            (false, format!("{target}: {text}{hint}"))
        }
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
    let (ok, detail) = match handshake(config) {
        Ok(()) => (true, format!("{target}: handshake accepted for {}", x.jid)),
        Err(Refused::Conflict) => (
            true,
            format!(
                "{target}: secret accepted, but another bitcoIM is connected as {} already",
                x.jid
            ),
        ),
        Err(Refused::Unreachable(why)) => (
            false,
            format!(
                "{target}: {why}; fix: start the XMPP server with a component port \
                 (Prosody: component_ports = {{ {} }}), or check [XMPP] server and port",
                x.port
            ),
        ),
        Err(Refused::Condition(condition, text)) => {
            let hint = match condition.as_str() {
                "not-authorized" => format!(
                    "wrong component secret; fix: set [XMPP] password to the \
                     component_secret of Component \"{}\"",
                    x.jid
                ),
                "host-unknown" | "improper-addressing" => format!(
                    "the server has no component {}; fix: declare it (Prosody: \
                     Component \"{}\" with component_secret)",
                    x.jid, x.jid
                ),
                _ => "the server refused the component".to_owned(),
            };
            let text = text.map_or_else(String::new, |t| format!(" ({t})"));
            (false, format!("{target}: {condition}{text}: {hint}"))
        }
    };
    Line {
        what: "XMPP",
        ok,
        detail,
    }
}

/// Why the XMPP server did not take us.
enum Refused {
    Unreachable(String),
    /// Our previous session is still there: the secret was right.
    Conflict,
    Condition(String, Option<String>),
}

/// A real XEP-0114 handshake, then a polite close: the only way to know
/// that the name and the secret are right.
fn handshake(config: &Config) -> Result<(), Refused> {
    use crate::stream::session::{Error as SessionError, Incoming, Session};
    use std::io::{Read, Write};
    let x = &config.xmpp;
    let addrs: Vec<_> = (x.server.as_str(), x.port)
        .to_socket_addrs()
        .map_err(|e| Refused::Unreachable(format!("cannot resolve: {e}")))?
        .collect();
    let mut stream = None;
    let mut last = String::from("no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let mut stream = stream.ok_or(Refused::Unreachable(last))?;
    let unreachable = |e: std::io::Error| Refused::Unreachable(e.to_string());
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(unreachable)?;
    let mut session = Session::new(&x.jid.to_string(), &x.password, Default::default());
    let mut buf = [0u8; 4096];
    loop {
        let out = session.out().pending().to_vec();
        if !out.is_empty() {
            stream.write_all(&out).map_err(unreachable)?;
            session.out().advance(out.len());
        }
        let n = stream
            .read(&mut buf)
            .map_err(|e| Refused::Unreachable(format!("no answer to the handshake: {e}")))?;
        if n == 0 {
            return Err(Refused::Unreachable(
                "the server closed the connection during the handshake".to_owned(),
            ));
        }
        match session.feed(&buf[..n]) {
            Ok(items) if items.contains(&Incoming::Ready) => {
                session.close();
                let bye = session.out().pending().to_vec();
                let _ = stream.write_all(&bye);
                return Ok(());
            }
            Ok(_) => {}
            Err(SessionError::StreamError { condition, .. }) if condition == "conflict" => {
                return Err(Refused::Conflict)
            }
            Err(SessionError::StreamError { condition, text }) => {
                return Err(Refused::Condition(condition, text))
            }
            Err(e) => return Err(Refused::Unreachable(e.to_string())),
        }
    }
}
