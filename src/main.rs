//! The `bitcoim` command: CLI, logging, wiring. The only place that picks
//! exit codes: 0 success, 1 a failure while running (or a failed
//! `--check`), 2 bad usage or configuration.

use bitcoim::bitcoin::node::{Health, Node};
use bitcoim::config::Config;
use bitcoim::gateway::Gateway;
use bitcoim::ledger::Ledger;
use bitcoim::reactor::{Reactor, Settings};
use bitcoim::stream::Limits;
use std::path::PathBuf;
use std::process::ExitCode;

const DEFAULT_CONFIG: &str = "/etc/bitcoim/bitcoim.conf";

const USAGE: &str = "\
Usage: bitcoim [-c FILE]
       bitcoim --check [-c FILE]

An XMPP component that gives every user of an XMPP server a Bitcoin
wallet driven from their chat client.

Options:
  -c, --config FILE  configuration file (default: /etc/bitcoim/bitcoim.conf)
      --check        validate the configuration, open and migrate the
                     database, reach bitcoind and the XMPP server's
                     component port, print a summary, and exit
  -V, --version      print the version and exit
  -h, --help         print this help and exit

Logging goes to standard error (with syslog priorities when it is the
journal); RUST_LOG overrides [main program] loglevel.
Signals: SIGTERM and SIGINT say goodbye to online users and exit 0;
SIGHUP reloads the settings that can change while running.";

struct Args {
    config: PathBuf,
    check: bool,
}

enum Command {
    Run(Args),
    Help,
    Version,
}

fn parse_args() -> Result<Command, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let mut args = Args {
        config: PathBuf::from(DEFAULT_CONFIG),
        check: false,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Short('c') | Long("config") => args.config = parser.value()?.into(),
            Long("check") => args.check = true,
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::Run(args))
}

/// Files we create (the database and its -wal and -shm files) are for
/// our user only, whatever umask we were started with: they say who owns
/// which coins. Bits the caller already masked stay masked.
fn restrict_umask() {
    // SAFETY: umask(2) cannot fail and touches no memory.
    unsafe {
        let old = libc::umask(0o077);
        libc::umask(old | 0o077);
    }
}

/// The release build aborts on panic (`panic = "abort"`, Cargo.toml, for
/// size). An abort is a SIGABRT, and a SIGABRT leaves a core file with the
/// process's memory in it: the wallet passphrase, bitcoind's password and
/// the component secret. So a panic ends as an unwinding one did (its
/// message, then exit code 101, and systemd restarts the daemon), and no
/// other abort writes a core file either (RLIMIT_CORE 0; systemd-coredump
/// honours it too).
fn no_core_dumps() {
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        print(info);
        std::process::exit(101);
    }));
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit(2) reads the struct we pass and nothing else.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) } != 0 {
        log::warn!(
            "cannot turn core dumps off: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// A line on standard error before logging is up.
fn fail(message: &str) {
    eprintln!(
        "{}",
        bitcoim::logging::stderr_line(log::Level::Error, message)
    );
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("bitcoim {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            fail(&format!("bitcoim: {e}\nTry 'bitcoim --help'."));
            return ExitCode::from(2);
        }
    };
    restrict_umask();
    no_core_dumps();
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            fail(&format!("bitcoim: {e}"));
            return ExitCode::from(2);
        }
    };

    if args.check {
        let mut report = String::new();
        let ok = bitcoim::check::run(&config, &mut report);
        print!("{report}");
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }

    bitcoim::logging::init(config.main.loglevel);
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    log::info!(
        "bitcoIM {} starting as {}",
        env!("CARGO_PKG_VERSION"),
        config.xmpp.jid
    );
    let ledger = match Ledger::open(&config.database.file) {
        Ok(l) => l,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::from(1);
        }
    };
    let mut node = Node::new(
        &config.bitcoin.endpoint(),
        config.bitcoin.network,
        config.bitcoin.passphrase_file.clone(),
    );
    match node.check() {
        Ok(Health::Ready {
            chain,
            blocks,
            wallet,
        }) => {
            log::info!("bitcoind ready: chain {chain}, {blocks} blocks, wallet '{wallet}'");
        }
        Ok(Health::Unavailable(why)) => {
            log::warn!("bitcoind not available yet ({why}); commands that need it will say so");
        }
        Err(e) => {
            log::error!("{e}");
            return ExitCode::from(1);
        }
    }
    let settings = Settings {
        jid: config.xmpp.jid.to_string(),
        secret: config.xmpp.password.clone(),
        server: config.xmpp.server.clone(),
        port: config.xmpp.port,
        keepalive: config.xmpp.keepalive,
        limits: Limits {
            max_stanza_bytes: config.xmpp.max_stanza_size,
            ..Limits::default()
        },
    };
    let mut reactor = match Reactor::new(settings) {
        Ok(r) => r,
        Err(e) => {
            log::error!("cannot start the event loop: {e}");
            return ExitCode::from(1);
        }
    };
    let mut gateway = Gateway::new(config, ledger, node);
    match reactor.run(&mut gateway) {
        Ok(()) => {
            log::info!("bye");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("event loop failed: {e}");
            ExitCode::from(1)
        }
    }
}
