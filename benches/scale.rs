//! Scale benchmark: how bitcoIM's costs grow with its number of users.
//!
//! `cargo bench --bench scale -- [OPTIONS]` (see `--help`).
//!
//! For each database size (1 000, 10 000 and 100 000 registered users by
//! default, each with one deposit address and one credited deposit) the
//! bench builds the database, starts the daemon on it with bitcoind
//! unreachable, plays the XMPP server (XEP-0114) on loopback and measures:
//! the start-up probes (one `<presence type='probe'/>` per registered
//! user), the time per stanza of bursts of 1 000 stanzas from distinct
//! users (available presence, chat `balance`, `history`, `pay`,
//! `confirm`), the latency of one ping (XEP-0199) queued behind 10 000
//! available presences, and the daemon's resident memory. Then it prints
//! how each figure grows from the smallest size to the largest, beside the
//! targets of issue 11.
//!
//! A burst is written by a second thread while this one reads the replies:
//! a thousand stanzas and their replies do not fit the loopback socket
//! buffers together, so a single thread that writes everything first would
//! deadlock against a daemon blocked on its own writes.
//!
//! The database is built with SQL in one transaction (the crate's own API
//! commits, with `synchronous=FULL`, once per movement: minutes for 100 000
//! users), after `Ledger::open` has run the migrations; the crate's own
//! balance check then verifies it, as the daemon's audit would.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bitcoim::ledger::Ledger;
use sha1::{Digest, Sha1};

use common::{
    accept_until, attr, element_name, find, hex, mib, proc_cpu, proc_status_kib, tag_end, Conn,
    Daemon, Item, RssParts, TempDir, BITCOIM_DB, USER_DOMAIN,
};

/// The component JID the daemon serves.
const JID: &str = "bitcoin.localhost";
/// Stanzas per measured burst, each from a distinct user.
const BURST: usize = 1000;
/// Available presences queued in front of the ping.
const FLOOD: usize = 10_000;
/// Every user's one credited deposit, in satoshis.
const DEPOSIT: i64 = 100_000;
/// What each payer pays, in satoshis.
const PAYMENT: i64 = 1000;
/// Silence after which a phase's trailing stanzas (notifications that
/// follow the last expected reply) are taken as all there is.
const SETTLE: Duration = Duration::from_millis(300);
/// Silence after the last start-up probe after which fewer probes than
/// users are taken as all the daemon sends.
const PROBE_QUIET: Duration = Duration::from_secs(10);

/// The targets.
const MAX_GROWTH: f64 = 2.0;
const MAX_PEAK_RSS_KIB: u64 = 32 * 1024;
const PEAK_RSS_AT: usize = 100_000;
const MAX_IDLE_RSS_KIB: u64 = 4 * 1024;
const IDLE_RSS_AT: usize = 1000;

const HELP: &str = "\
scale: how bitcoIM's per-stanza costs and memory grow with its users

USAGE: cargo bench --bench scale -- [OPTIONS]

For each size the bench builds a database of that many registered users
(one deposit address and one credited deposit each), starts the daemon on
it with bitcoind unreachable, plays the XMPP server on 127.0.0.1 and
measures: start-up probes, time per stanza of bursts of 1000 stanzas from
distinct users (presence, balance, history, pay, confirm), the latency of
a ping sent right after 10000 available presences, idle and peak RSS.
Then it prints the growth from the smallest size to the largest beside
the targets (PASS/FAIL). It exits 0 unless a daemon fails, answers
wrongly or a run times out: the targets are reported, not enforced.

OPTIONS:
      --sizes N,N,...  numbers of registered users, each at least 1000
                       (default 1000,10000,100000)
      --bitcoim PATH   daemon to test (default: the bitcoim binary cargo
                       built with this bench, i.e. target/release/bitcoim);
                       a wrapper script must exec the daemon, as only the
                       process the bench starts is killed at the end
      --timeout SECS   limit per size, database build included; past it
                       the bench prints what it has and exits non-zero
                       (default 600)
      --keep           keep the temporary directory (configs, logs, DBs)
  -h, --help           this help
";

fn main() -> ExitCode {
    common::main("scale", HELP, Options::parse, run_all)
}

// ---------------------------------------------------------------------------
// Options

struct Options {
    sizes: Vec<usize>,
    bitcoim: PathBuf,
    timeout: Duration,
    keep: bool,
}

impl Options {
    /// `Ok(None)` when help was asked for.
    fn parse() -> Result<Option<Options>, String> {
        use lexopt::prelude::*;

        let mut opts = Options {
            sizes: Vec::new(),
            // Cargo builds the package's binaries, with the bench profile
            // (which inherits `release`), before it builds a bench.
            bitcoim: PathBuf::from(env!("CARGO_BIN_EXE_bitcoim")),
            timeout: Duration::from_secs(600),
            keep: false,
        };
        let mut parser = lexopt::Parser::from_env();
        let num = |v: &str, what: &str| -> Result<usize, String> {
            v.trim()
                .replace('_', "")
                .parse::<usize>()
                .map_err(|_| format!("{what}: expected a non-negative integer, got '{v}'"))
        };
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                // `cargo bench` passes --bench to harness-less benches.
                Long("bench") => {}
                Long("sizes") => {
                    let v = value(&mut parser)?;
                    for part in v.to_str().ok_or("--sizes: not UTF-8")?.split(',') {
                        let n = num(part, "--sizes")?;
                        if n < BURST {
                            return Err(format!(
                                "--sizes: {n} is too small, a burst needs {BURST} distinct users"
                            ));
                        }
                        opts.sizes.push(n);
                    }
                }
                Long("bitcoim") => opts.bitcoim = PathBuf::from(value(&mut parser)?),
                Long("timeout") => {
                    let v = value(&mut parser)?;
                    let secs = num(v.to_str().unwrap_or_default(), "--timeout")?.max(1);
                    opts.timeout = Duration::from_secs(secs as u64);
                }
                Long("keep") => opts.keep = true,
                Short('h') | Long("help") => return Ok(None),
                _ => return Err(arg.unexpected().to_string()),
            }
        }
        if opts.sizes.is_empty() {
            opts.sizes = vec![1000, 10_000, 100_000];
        }
        Ok(Some(opts))
    }
}

fn value(parser: &mut lexopt::Parser) -> Result<OsString, String> {
    parser.value().map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------
// Orchestration

/// `Ok(false)` when a run failed or timed out; `Err` when the bench could
/// not start at all.
fn run_all(opts: &Options) -> Result<bool, String> {
    if !opts.bitcoim.is_file() {
        return Err(format!(
            "bitcoim binary not found at {}; build it with `cargo build --release` \
             or pass --bitcoim PATH",
            opts.bitcoim.display()
        ));
    }
    let tmp = TempDir::new("bitcoim-scale", opts.keep)?;
    eprintln!(
        "scale: sizes {:?}, bursts of {BURST}, ping after {FLOOD} presences, timeout {} s per size",
        opts.sizes,
        opts.timeout.as_secs()
    );
    let mut results = Vec::new();
    for &users in &opts.sizes {
        eprint!("  {users} users ... ");
        let _ = io::stderr().flush();
        let dir = tmp.path.join(format!("users-{users}"));
        let r = run_size(users, opts, &dir);
        match &r.failure {
            None => eprintln!("done in {:.1} s", r.wall.as_secs_f64()),
            Some(f) => eprintln!("FAILED: {f}"),
        }
        results.push(r);
    }
    if opts.keep {
        eprintln!("kept: {}", tmp.path.display());
    }
    println!();
    print_table(&results);
    print_notes(&results);
    println!();
    print_growth(&results);
    Ok(results.iter().all(|r| r.failure.is_none()))
}

/// The measured kinds of burst, in the order they run.
const KINDS: [&str; 5] = ["presence", "balance", "history", "pay", "confirm"];

/// What one size gave.
struct SizeResult {
    users: usize,
    db_build: Option<Duration>,
    /// Probes received, and from the handshake to the last of them.
    probes: usize,
    startup: Option<Duration>,
    connected_rss_kib: Option<u64>,
    idle_rss_kib: Option<u64>,
    idle_rss_parts: Option<RssParts>,
    /// Per kind of [`KINDS`]: the burst, once it completed.
    bursts: [Option<Burst>; 5],
    /// From the ping's send to its result, and the gateway presences the
    /// flood in front of it produced by then.
    ping: Option<Duration>,
    flood_replies: usize,
    peak_rss_kib: Option<u64>,
    cpu: Option<Duration>,
    /// Replies that were not what the command answers.
    wrong: usize,
    /// Stanzas besides the expected replies, per phase.
    others: Vec<(&'static str, BTreeMap<String, usize>)>,
    wall: Duration,
    failure: Option<String>,
}

/// A completed burst.
struct Burst {
    /// From the first byte sent to the last expected reply.
    elapsed: Duration,
}

impl Burst {
    fn per_stanza_us(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e6 / BURST as f64
    }
}

fn run_size(users: usize, opts: &Options, dir: &Path) -> SizeResult {
    let started = Instant::now();
    let mut r = SizeResult {
        users,
        db_build: None,
        probes: 0,
        startup: None,
        connected_rss_kib: None,
        idle_rss_kib: None,
        idle_rss_parts: None,
        bursts: Default::default(),
        ping: None,
        flood_replies: 0,
        peak_rss_kib: None,
        cpu: None,
        wrong: 0,
        others: Vec::new(),
        wall: Duration::ZERO,
        failure: None,
    };
    let deadline = started + opts.timeout;
    let mut daemon = None;
    if let Err(mut msg) = drive(users, opts, dir, deadline, &mut r, &mut daemon) {
        if let Some(d) = &mut daemon {
            let (peak, cpu) = d.post_mortem("bitcoim", &mut msg);
            if r.peak_rss_kib.is_none() {
                (r.peak_rss_kib, r.cpu) = (peak, cpu);
            }
        }
        r.failure = Some(msg);
    }
    // Dropping the guard kills the daemon.
    drop(daemon);
    r.wall = started.elapsed();
    r
}

fn drive(
    users: usize,
    opts: &Options,
    dir: &Path,
    deadline: Instant,
    r: &mut SizeResult,
    daemon_slot: &mut Option<Daemon>,
) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    r.db_build = Some(build_database(&dir.join(BITCOIM_DB), users)?);

    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding 127.0.0.1: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let daemon = daemon_slot.insert(Daemon::bitcoim(&opts.bitcoim, JID, port, dir)?);
    let pid = daemon.child.id();
    let sock = accept_until(&listener, daemon, deadline)?;
    drop(listener);
    // It connects once its database is open: what it holds before any
    // stanza, to tell from what the start-up probes cost.
    r.connected_rss_kib = proc_status_kib(pid, "VmRSS");
    let mut conn = Conn::new(sock, JID)?;
    conn.handshake(deadline)?;
    // The daemon starts its probes when our <handshake/> arrives.
    let handshake_done = Instant::now();

    // Start-up: one probe per registered user.
    let mut others = BTreeMap::new();
    let startup = exchange(
        &mut conn,
        Script::default(),
        users,
        deadline,
        Some(PROBE_QUIET),
        &mut others,
        |el| seen(element_name(el) == b"presence" && head_attr(el, "type") == Some(b"probe")),
    )?;
    r.probes = startup.matched;
    r.startup = startup
        .last_match
        .map(|t| t.saturating_duration_since(handshake_done));
    r.idle_rss_kib = proc_status_kib(pid, "VmRSS");
    r.idle_rss_parts = RssParts::read(pid);
    settle(&mut conn, deadline, &mut others)?;
    r.others.push(("start-up", others));

    // The same BURST users, spread over the database, for every kind:
    // every size then does the same work (the payers and payees are online
    // after the presence burst at every size).
    let stride = users / BURST;
    let user = |k: usize| k * stride;
    let script = Script::stanzas((0..BURST).map(|k| presence(user(k), "res")));
    burst(&mut conn, 0, script, deadline, r, |el| {
        if element_name(el) != b"presence"
            || head_attr(el, "from") != Some(JID.as_bytes())
            || head_attr(el, "type").is_some()
        {
            return Seen::Other;
        }
        let status = child_text(el, "status").unwrap_or_default();
        expect(status.starts_with("Balance: "), "status", &status)
    })?;
    for (i, command, answer) in [
        (1, "balance", "Spendable balance: "),
        (2, "history", "Your last movements"),
    ] {
        let script = Script::stanzas((0..BURST).map(|k| chat(user(k), command)));
        burst(&mut conn, i, script, deadline, r, |el| {
            match message_body(el) {
                Some(text) => expect(text.starts_with(answer), "body", &text),
                None => Seen::Other,
            }
        })?;
    }
    // Each pays the next one round the circle.
    let script = Script::stanzas((0..BURST).map(|k| {
        let payee = user((k + 1) % BURST);
        chat(user(k), &format!("pay {PAYMENT} sat user{payee}"))
    }));
    let mut codes = HashMap::new();
    burst(&mut conn, 3, script, deadline, r, |el| {
        let Some(text) = message_body(el) else {
            return Seen::Other;
        };
        match (to_user(el), code_in(&text)) {
            (Some(u), Some(code)) if text.starts_with("Pay ") => {
                expect(codes.insert(u, code).is_none(), "second recap", &text)
            }
            _ => expect(false, "body", &text),
        }
    })?;
    let mut confirms = Vec::with_capacity(BURST);
    for k in 0..BURST {
        let code = codes
            .get(&user(k))
            .ok_or_else(|| format!("no confirmation code came back for user{}", user(k)))?;
        confirms.push(chat(user(k), &format!("confirm {code}")));
    }
    burst(&mut conn, 4, Script::stanzas(confirms), deadline, r, |el| {
        match message_body(el) {
            // The payee's notice is expected too, but not waited for.
            Some(text) if text.contains(" paid you ") => Seen::Other,
            Some(text) => expect(text.starts_with("Paid "), "body", &text),
            None => Seen::Other,
        }
    })?;

    // One ping queued behind FLOOD available presences: from distinct
    // users while there are enough, else several resources each.
    let flood = (0..FLOOD).map(|k| {
        if users >= FLOOD {
            presence(k * (users / FLOOD), "flood")
        } else {
            presence(k % users, &format!("flood{}", k / users))
        }
    });
    let mut script = Script::stanzas(flood);
    script.tail = format!(
        "<iq type='get' id='scale-ping' from='pinger@{USER_DOMAIN}/bench' to='{JID}'>\
         <ping xmlns='urn:xmpp:ping'/></iq>"
    )
    .into_bytes();
    let mut others = BTreeMap::new();
    let mut flood_replies = 0;
    let ping = exchange(
        &mut conn,
        script,
        1,
        deadline,
        None,
        &mut others,
        |el| match element_name(el) {
            b"iq" if head_attr(el, "id") == Some(b"scale-ping") => {
                let ty = head_attr(el, "type").unwrap_or_default();
                expect(ty == b"result", "type", &String::from_utf8_lossy(ty))
            }
            b"presence" if head_attr(el, "from") == Some(JID.as_bytes()) => {
                flood_replies += 1;
                Seen::Known
            }
            _ => Seen::Other,
        },
    )?;
    r.flood_replies = flood_replies;
    r.wrong += ping.wrong;
    r.ping = match (ping.tail_sent, ping.last_match) {
        (Some(sent), Some(got)) => Some(got.saturating_duration_since(sent)),
        _ => None,
    };
    r.others.push(("ping after flood", others));

    r.peak_rss_kib = proc_status_kib(pid, "VmHWM");
    r.cpu = proc_cpu(pid);
    conn.close();
    if r.wrong > 0 {
        return Err(format!(
            "{} replies were not what the command answers (listed in the notes): \
             those figures measure something else",
            r.wrong
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The database

/// Builds a database of `users` registered users, each with one deposit
/// address and one credited deposit of [`DEPOSIT`], consistent as the
/// daemon's checks want it: every cached balance equals its entries, every
/// deposit is credited by one entry, every address has its owner.
fn build_database(path: &Path, users: usize) -> Result<Duration, String> {
    let started = Instant::now();
    let what = |e: &dyn std::fmt::Display| format!("building {}: {e}", path.display());
    // The crate's own migrations make the schema (and the database id).
    drop(Ledger::open(path).map_err(|e| what(&e))?);

    let mut conn = rusqlite::Connection::open(path).map_err(|e| what(&e))?;
    // A bench database needs no durability: one unsynced transaction.
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON;")
        .map_err(|e| what(&e))?;
    let tx = conn.transaction().map_err(|e| what(&e))?;
    {
        let mut user = tx
            .prepare(
                "INSERT INTO users (id, jid, username, balance, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(|e| what(&e))?;
        let mut address = tx
            .prepare("INSERT INTO addresses (address, user_id, created_at) VALUES (?1, ?2, ?3)")
            .map_err(|e| what(&e))?;
        // Six confirmations, no longer watched: what the poller leaves
        // behind for an old deposit.
        let mut deposit = tx
            .prepare(
                "INSERT INTO deposits (txid, vout, address, user_id, amount, confirmations, \
                 state, first_seen_at, coinbase, watched) \
                 VALUES (?1, 0, ?2, ?3, ?4, 6, 'credited', ?5, 0, 0)",
            )
            .map_err(|e| what(&e))?;
        let mut entry = tx
            .prepare(
                "INSERT INTO ledger (user_id, kind, amount, debt, reference, created_at) \
                 VALUES (?1, 'deposit', ?2, 0, ?3, ?4)",
            )
            .map_err(|e| what(&e))?;
        let now = bitcoim::ledger::now();
        for i in 0..users {
            let id = i as i64 + 1;
            let name = format!("user{i}");
            let jid = format!("{name}@{USER_DOMAIN}");
            let addr = regtest_address(i);
            let txid = txid(i);
            user.execute(rusqlite::params![id, jid, name, DEPOSIT, now])
                .map_err(|e| what(&e))?;
            address
                .execute(rusqlite::params![addr, id, now])
                .map_err(|e| what(&e))?;
            deposit
                .execute(rusqlite::params![txid, addr, id, DEPOSIT, now])
                .map_err(|e| what(&e))?;
            entry
                .execute(rusqlite::params![id, DEPOSIT, format!("{txid}:0"), now])
                .map_err(|e| what(&e))?;
        }
    }
    tx.commit().map_err(|e| what(&e))?;
    drop(conn);

    // The crate's own balance check, as the daemon's audit runs it.
    let ledger = Ledger::open(path).map_err(|e| what(&e))?;
    let wrong = ledger.check_balances().map_err(|e| what(&e))?;
    if !wrong.is_empty() {
        return Err(what(&format!(
            "{} balances disagree with their entries",
            wrong.len()
        )));
    }
    let count = ledger.user_count().map_err(|e| what(&e))?;
    if count != users as u64 {
        return Err(what(&format!("{count} users instead of {users}")));
    }
    Ok(started.elapsed())
}

/// A valid regtest P2WPKH address, distinct for each `i`.
fn regtest_address(i: usize) -> String {
    let program = Sha1::digest(format!("scale address {i}").as_bytes());
    bech32::segwit::encode_v0(bech32::hrp::BCRT, &program).expect("a 20-byte witness program")
}

/// A transaction id (64 hex digits), distinct for each `i`.
fn txid(i: usize) -> String {
    let a = Sha1::digest(format!("scale tx {i}").as_bytes());
    let b = Sha1::digest(format!("scale tx {i} again").as_bytes());
    let mut id = hex(&a);
    id.push_str(&hex(&b)[..24]);
    id
}

// ---------------------------------------------------------------------------
// Stanzas

fn presence(user: usize, resource: &str) -> String {
    format!("<presence from='user{user}@{USER_DOMAIN}/{resource}' to='{JID}'/>")
}

fn chat(user: usize, text: &str) -> String {
    format!(
        "<message type='chat' from='user{user}@{USER_DOMAIN}/res' to='{JID}'>\
         <body>{text}</body></message>"
    )
}

/// An attribute of the element's start tag (not of its children).
fn head_attr<'a>(el: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let head = &el[..tag_end(el, 1).map_or(el.len(), |e| e + 1)];
    attr(head, name)
}

/// The text of the element's first `<name/>` child, entities left as
/// they are.
fn child_text(el: &[u8], name: &str) -> Option<String> {
    let open = find(el, format!("<{name}").as_bytes())?;
    let start = tag_end(el, open + 1)? + 1;
    let len = find(&el[start..], format!("</{name}>").as_bytes())?;
    Some(String::from_utf8_lossy(&el[start..start + len]).into_owned())
}

/// The body of a `<message/>`.
fn message_body(el: &[u8]) -> Option<String> {
    (element_name(el) == b"message")
        .then(|| child_text(el, "body"))
        .flatten()
}

/// The user number N of a stanza addressed to `userN@...`.
fn to_user(el: &[u8]) -> Option<usize> {
    let to = head_attr(el, "to")?;
    let digits = to.strip_prefix(b"user")?;
    let end = digits.iter().position(|&b| b == b'@')?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// The code of the recap's literal `confirm <code>`.
fn code_in(text: &str) -> Option<String> {
    let at = text.find("confirm ")? + "confirm ".len();
    let code: String = text[at..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    (!code.is_empty()).then_some(code)
}

// ---------------------------------------------------------------------------
// Sending and counting

/// What a writer thread sends: `bytes`, then `tail` (timed on its own).
#[derive(Default)]
struct Script {
    bytes: Vec<u8>,
    tail: Vec<u8>,
}

impl Script {
    fn stanzas(stanzas: impl IntoIterator<Item = String>) -> Script {
        let mut bytes = Vec::new();
        for s in stanzas {
            bytes.extend_from_slice(s.as_bytes());
        }
        Script {
            bytes,
            tail: Vec::new(),
        }
    }
}

struct Exchange {
    /// Replies, wrong ones included.
    matched: usize,
    wrong: usize,
    /// When the exchange started (its writer was about to write).
    started: Instant,
    last_match: Option<Instant>,
    /// When the tail was handed to the socket.
    tail_sent: Option<Instant>,
}

impl Exchange {
    fn elapsed(&self) -> Duration {
        self.last_match.map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(self.started)
        })
    }
}

/// What an exchange makes of a stanza from the daemon.
enum Seen {
    /// One of the replies it waits for.
    Reply,
    /// A reply, but not the one the command gives (an error, a refusal):
    /// counted as a reply, so that the burst ends, and reported with its
    /// text, as the figure then measures something else.
    Wrong(String),
    /// Counted by the caller, not a reply.
    Known,
    /// Counted among the phase's other stanzas.
    Other,
}

fn seen(reply: bool) -> Seen {
    if reply {
        Seen::Reply
    } else {
        Seen::Other
    }
}

/// A reply: the right one when `ok`, else a wrong one, its `what` shown
/// (shortened: one line in the notes per distinct text).
fn expect(ok: bool, what: &str, text: &str) -> Seen {
    if ok {
        return Seen::Reply;
    }
    let short: String = text.chars().take(60).collect();
    Seen::Wrong(format!("WRONG reply, {what} '{short}'"))
}

/// Runs burst `kind` (an index of [`KINDS`]): sends `script`, waits for
/// [`BURST`] replies, lets the phase's trailing stanzas come, and records
/// the time into `r`.
fn burst(
    conn: &mut Conn,
    kind: usize,
    script: Script,
    deadline: Instant,
    r: &mut SizeResult,
    matches: impl FnMut(&[u8]) -> Seen,
) -> Result<(), String> {
    let mut others = BTreeMap::new();
    let outcome = exchange(conn, script, BURST, deadline, None, &mut others, matches)?;
    settle(conn, deadline, &mut others)?;
    r.others.push((KINDS[kind], others));
    r.bursts[kind] = Some(Burst {
        elapsed: outcome.elapsed(),
    });
    r.wrong += outcome.wrong;
    Ok(())
}

/// Sends `script` from a writer thread while reading the daemon's stanzas
/// here, until `expected` of them match (or, with `quiet`, until that long
/// passed without a match after the first one). Stanzas that do not match
/// are counted in `others`; the daemon's own IQ gets and sets (a
/// keep-alive ping) are answered as a server would, once the writer is
/// done with the socket.
fn exchange(
    conn: &mut Conn,
    script: Script,
    expected: usize,
    deadline: Instant,
    quiet: Option<Duration>,
    others: &mut BTreeMap<String, usize>,
    mut matches: impl FnMut(&[u8]) -> Seen,
) -> Result<Exchange, String> {
    let mut writer_sock = conn.sock.try_clone().map_err(|e| format!("socket: {e}"))?;
    let left = deadline.saturating_duration_since(Instant::now());
    writer_sock
        .set_write_timeout(Some(left.max(Duration::from_millis(1))))
        .map_err(|e| format!("socket: {e}"))?;
    let started = Instant::now();
    let mut ex = Exchange {
        matched: 0,
        wrong: 0,
        started,
        last_match: None,
        tail_sent: None,
    };
    let mut pending_iqs: Vec<(String, String)> = Vec::new();
    std::thread::scope(|scope| {
        let mut writer = Some(scope.spawn(move || -> Result<Option<Instant>, String> {
            let write = |bytes: &[u8], sock: &mut std::net::TcpStream| {
                sock.write_all(bytes)
                    .map_err(|e| format!("writing to the daemon: {e}"))
            };
            write(&script.bytes, &mut writer_sock)?;
            if script.tail.is_empty() {
                return Ok(None);
            }
            let at = Instant::now();
            write(&script.tail, &mut writer_sock)?;
            Ok(Some(at))
        }));
        let mut last_seen = started;
        loop {
            if writer.as_ref().is_some_and(|w| w.is_finished()) {
                let w = writer.take().expect("checked above");
                ex.tail_sent = w.join().map_err(|_| "the writer thread panicked")??;
            }
            if writer.is_none() {
                for (id, from) in pending_iqs.drain(..) {
                    let _ = write!(
                        conn.out,
                        "<iq type='result' id='{id}' from='{USER_DOMAIN}' to='{from}'/>"
                    );
                }
                conn.flush()?;
                if ex.matched >= expected {
                    return Ok(());
                }
            }
            let now = Instant::now();
            if let Some(q) = quiet {
                if ex.matched > 0 && now.saturating_duration_since(last_seen) >= q {
                    return Ok(());
                }
            }
            if now >= deadline {
                return Err(format!(
                    "timeout: {} of {expected} expected replies after {:.1} s",
                    ex.matched,
                    now.saturating_duration_since(started).as_secs_f64()
                ));
            }
            if !conn.fill()? {
                continue;
            }
            let now = Instant::now();
            loop {
                let el = match conn.next_item()? {
                    None => break,
                    Some(Item::StreamEnd) => {
                        return Err("the daemon closed its stream (</stream:stream>)".into())
                    }
                    Some(Item::Element(el)) => el,
                };
                match matches(el) {
                    Seen::Reply => {
                        ex.matched += 1;
                        ex.last_match = Some(now);
                        last_seen = now;
                        continue;
                    }
                    Seen::Wrong(what) => {
                        ex.matched += 1;
                        ex.wrong += 1;
                        ex.last_match = Some(now);
                        last_seen = now;
                        *others.entry(what).or_default() += 1;
                        continue;
                    }
                    Seen::Known => continue,
                    Seen::Other => {}
                }
                match classify(el) {
                    Other::StreamError(text) => {
                        return Err(format!("stream error from the daemon: {text}"))
                    }
                    Other::ServerIq { id, from } => pending_iqs.push((id, from)),
                    Other::Kind(kind) => *others.entry(kind).or_default() += 1,
                }
            }
        }
    })?;
    Ok(ex)
}

/// Reads until the daemon has been silent for [`SETTLE`], counting what
/// comes in `others`: the notifications that follow a phase's last
/// expected reply belong to that phase.
fn settle(
    conn: &mut Conn,
    deadline: Instant,
    others: &mut BTreeMap<String, usize>,
) -> Result<(), String> {
    let mut quiet_since = Instant::now();
    loop {
        let now = Instant::now();
        if now.saturating_duration_since(quiet_since) >= SETTLE {
            return Ok(());
        }
        if now >= deadline {
            return Err("timeout: the daemon kept talking after a phase".into());
        }
        if !conn.fill()? {
            continue;
        }
        quiet_since = Instant::now();
        let mut answers = Vec::new();
        while let Some(item) = conn.next_item()? {
            let Item::Element(el) = item else {
                return Err("the daemon closed its stream (</stream:stream>)".into());
            };
            match classify(el) {
                Other::StreamError(text) => {
                    return Err(format!("stream error from the daemon: {text}"))
                }
                Other::ServerIq { id, from } => answers.push((id, from)),
                Other::Kind(kind) => *others.entry(kind).or_default() += 1,
            }
        }
        for (id, from) in answers {
            let _ = write!(
                conn.out,
                "<iq type='result' id='{id}' from='{USER_DOMAIN}' to='{from}'/>"
            );
        }
        conn.flush()?;
    }
}

/// A stanza that is not an expected reply.
enum Other {
    StreamError(String),
    /// A get/set from the daemon to the server.
    ServerIq {
        id: String,
        from: String,
    },
    /// Name and type, e.g. `message type='chat'`.
    Kind(String),
}

fn classify(el: &[u8]) -> Other {
    let name = String::from_utf8_lossy(element_name(el)).into_owned();
    let ty = head_attr(el, "type").map(|t| String::from_utf8_lossy(t).into_owned());
    match (name.as_str(), ty.as_deref()) {
        ("stream:error", _) => Other::StreamError(String::from_utf8_lossy(el).into_owned()),
        ("iq", Some("get" | "set")) => Other::ServerIq {
            id: String::from_utf8_lossy(head_attr(el, "id").unwrap_or_default()).into_owned(),
            from: String::from_utf8_lossy(head_attr(el, "from").unwrap_or_default()).into_owned(),
        },
        (_, Some(ty)) => Other::Kind(format!("{name} type='{ty}'")),
        (_, None) => Other::Kind(name),
    }
}

// ---------------------------------------------------------------------------
// Report

fn print_table(results: &[SizeResult]) {
    let mut head = format!("{:<40}", "users");
    for r in results {
        head.push_str(&format!(" {:>12}", r.users));
    }
    println!("{head}");
    let row = |label: &str, cell: &dyn Fn(&SizeResult) -> Option<String>| {
        let mut line = format!("{label:<40}");
        for r in results {
            line.push_str(&format!(" {:>12}", cell(r).unwrap_or_else(|| "-".into())));
        }
        println!("{line}");
    };
    let secs = |d: Duration| format!("{:.2}", d.as_secs_f64());
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
    row("database build, s", &|r| r.db_build.map(secs));
    row("start-up probes received", &|r| {
        r.startup.map(|_| r.probes.to_string())
    });
    row("start-up, handshake to last probe, ms", &|r| {
        r.startup.map(ms)
    });
    row("  µs per probe", &|r| {
        r.startup
            .filter(|_| r.probes > 0)
            .map(|d| format!("{:.2}", d.as_secs_f64() * 1e6 / r.probes as f64))
    });
    row("RSS on connecting (VmRSS)", &|r| {
        r.connected_rss_kib.as_ref().map(mib)
    });
    row("idle RSS after start-up (VmRSS)", &|r| {
        r.idle_rss_kib.as_ref().map(mib)
    });
    for (i, kind) in KINDS.iter().enumerate() {
        row(&format!("{kind}, µs per stanza"), &|r| {
            r.bursts[i]
                .as_ref()
                .map(|b| format!("{:.1}", b.per_stanza_us()))
        });
    }
    row(&format!("ping after {FLOOD} presences, ms"), &|r| {
        r.ping.map(ms)
    });
    row("  gateway presences before its result", &|r| {
        r.ping.map(|_| r.flood_replies.to_string())
    });
    row("peak RSS (VmHWM)", &|r| r.peak_rss_kib.as_ref().map(mib));
    row("daemon CPU, s", &|r| r.cpu.map(secs));
    println!(
        "per stanza = burst of {BURST} stanzas from distinct users, first byte sent to last \
         expected reply, / {BURST};\n\
         presence: available presence to the gateway -> the gateway's presence; balance, \
         history: chat -> chat reply;\n\
         pay: 'pay {PAYMENT} sat userM' -> recap; confirm: 'confirm <code>' -> 'Paid ...' \
         (the payee's notice and both\n\
         balance presences come too, not waited for); ping: one XEP-0199 ping written right \
         after the presences, send to result."
    );
    for r in results {
        if let Some(parts) = &r.idle_rss_parts {
            println!("idle RSS at {} users: {}", r.users, parts.describe());
        }
    }
}

fn print_notes(results: &[SizeResult]) {
    let mut first = true;
    let mut say = |line: String| {
        if first {
            println!();
            first = false;
        }
        println!("{line}");
    };
    for r in results {
        if r.startup.is_some() && r.probes != r.users {
            say(format!(
                "{} users: {} start-up probes, not one per user",
                r.users, r.probes
            ));
        }
        for (phase, others) in &r.others {
            if others.is_empty() {
                continue;
            }
            let list: Vec<String> = others
                .iter()
                .map(|(k, n)| {
                    if k.starts_with("WRONG") {
                        format!("{n} {k}")
                    } else {
                        format!("{n} <{k}>")
                    }
                })
                .collect();
            say(format!(
                "{} users, {phase}: also {}",
                r.users,
                list.join(", ")
            ));
        }
        if let Some(f) = &r.failure {
            say(format!("{} users: FAILED: {f}", r.users));
        }
    }
}

fn print_growth(results: &[SizeResult]) {
    let done: Vec<&SizeResult> = results.iter().filter(|r| r.failure.is_none()).collect();
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    match (done.first(), done.last()) {
        (Some(a), Some(b)) if b.users > a.users => {
            let title = format!("growth from {} to {} users", a.users, b.users);
            println!("{title:<34} {:>6}   target", "ratio");
            let line = |label: &str, x: Option<f64>, y: Option<f64>, target: Option<f64>| {
                let Some((x, y)) = x.zip(y).filter(|(x, _)| *x > 0.0) else {
                    println!("  {label:<32} -");
                    return;
                };
                let ratio = y / x;
                match target {
                    Some(t) => println!(
                        "  {label:<32} {ratio:>5.2}x   <= {t}x    {}",
                        verdict(ratio <= t)
                    ),
                    None => println!("  {label:<32} {ratio:>5.2}x"),
                }
            };
            for (i, kind) in KINDS.iter().enumerate() {
                let per = |r: &SizeResult| r.bursts[i].as_ref().map(Burst::per_stanza_us);
                line(
                    &format!("{kind}, per stanza"),
                    per(a),
                    per(b),
                    Some(MAX_GROWTH),
                );
            }
            let f = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
            line(
                &format!("ping after {FLOOD} presences"),
                f(a.ping),
                f(b.ping),
                None,
            );
            let kib = |k: Option<u64>| k.map(|k| k as f64);
            line("peak RSS", kib(a.peak_rss_kib), kib(b.peak_rss_kib), None);
        }
        _ => println!("growth: needs two completed sizes"),
    }
    let at = |n: usize| done.iter().find(|r| r.users == n);
    match at(PEAK_RSS_AT).and_then(|r| r.peak_rss_kib) {
        Some(k) => println!(
            "peak RSS at {PEAK_RSS_AT} users: {}   target <= {}   {}",
            mib(&k),
            mib(&MAX_PEAK_RSS_KIB),
            verdict(k <= MAX_PEAK_RSS_KIB)
        ),
        None => println!("peak RSS at {PEAK_RSS_AT} users: not measured"),
    }
    match at(IDLE_RSS_AT).and_then(|r| r.idle_rss_kib) {
        Some(k) => println!(
            "idle RSS at {IDLE_RSS_AT} users: {}    target <= {}    {}",
            mib(&k),
            mib(&MAX_IDLE_RSS_KIB),
            verdict(k <= MAX_IDLE_RSS_KIB)
        ),
        None => println!("idle RSS at {IDLE_RSS_AT} users: not measured"),
    }
}
