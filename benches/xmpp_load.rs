//! XEP-0114 load benchmark: bitcoIM beside biboumi, the project's yardstick.
//!
//! `cargo bench --bench xmpp_load -- [OPTIONS]` (see `--help`).
//!
//! The bench plays the XMPP *server* end of a component connection
//! (XEP-0114: Jabber Component Protocol) on a free loopback port. For each
//! program and each window it starts a fresh daemon with a generated
//! configuration, accepts its connection, checks its handshake, then sends
//! it a mix of disco#info (XEP-0030), software version (XEP-0092) and ping
//! (XEP-0199) gets addressed to the component's own JID from many user JIDs,
//! keeping at most W in flight and matching replies by id. It prints answered
//! IQs per second, send-to-reply latency percentiles, the daemon's CPU time
//! and its peak RSS (`VmHWM`), then the ratios the project's targets are
//! stated in.
//!
//! The client is one thread that batches its writes and reads: with a
//! bounded window the bytes in flight always fit the loopback socket
//! buffers, so a single thread cannot deadlock, and at W=1 no thread
//! hand-off sits inside the measured round trip. Replies are found with a
//! small quote-aware byte scanner rather than an XML parser: the bench only
//! needs element boundaries, the `id` and `type` of each `<iq/>`, and the
//! condition of an error.
//!
//! Everything stays on 127.0.0.1, every run is bounded by `--timeout`, and
//! the daemons the bench starts are killed when it ends, even on error.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use common::{
    accept_until, attr, element_name, find, mib, proc_cpu, proc_status_kib, tag_end, write_file,
    Conn, Daemon, Item, RssParts, TempDir, SECRET, USER_DOMAIN,
};

/// The three payloads, sent round-robin by IQ index.
const KINDS: [(&str, &str); 3] = [
    (
        "disco#info",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    ),
    ("version", "<query xmlns='jabber:iq:version'/>"),
    ("ping", "<ping xmlns='urn:xmpp:ping'/>"),
];

const HELP: &str = "\
xmpp_load: XEP-0114 load on bitcoIM and on biboumi, side by side

USAGE: cargo bench --bench xmpp_load -- [OPTIONS]

The bench plays the XMPP server on 127.0.0.1, starts each daemon itself
with a generated configuration in a temporary directory, and sends it
disco#info, version and ping gets from many user JIDs.

OPTIONS:
  -n, --iqs N          IQs measured per run (default 100000)
  -w, --window W       IQs in flight; repeat or comma-separate for several
                       runs (default 1,256)
      --users N        distinct user JIDs, userK@localhost/res (default 1000)
      --warmup N       IQs sent before measuring, per run (default 1000)
      --timeout SECS   limit per run; past it the bench prints what it has
                       and exits non-zero (default 120)
      --only PROGRAM   run only bitcoim or only biboumi
      --compare        require biboumi (the default): exit non-zero if it is
                       missing
      --no-compare     skip biboumi, with a note
      --bitcoim PATH   daemon to test (default: the bitcoim binary cargo
                       built with this bench, i.e. target/release/bitcoim);
                       a wrapper script must exec the daemon, as only the
                       process the bench starts is killed at the end
      --biboumi PATH   biboumi binary (default: `biboumi` from PATH; Debian:
                       apt-get install biboumi)
      --detail         also print latency per IQ kind
      --keep           keep the temporary directory (configs, logs, DBs)
      --spin           busy-poll the socket up to 200 µs before sleeping in
                       read(): takes the client's own wake-up out of W=1
                       latency (wants a spare core; noisy on 2 CPUs)
  -h, --help           this help
";

fn main() -> ExitCode {
    common::main("xmpp_load", HELP, Options::parse, run_all)
}

// ---------------------------------------------------------------------------
// Options

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Program {
    Bitcoim,
    Biboumi,
}

impl Program {
    fn name(self) -> &'static str {
        match self {
            Program::Bitcoim => "bitcoim",
            Program::Biboumi => "biboumi",
        }
    }

    /// The component JID each daemon is configured to serve.
    fn jid(self) -> &'static str {
        match self {
            Program::Bitcoim => "bitcoin.localhost",
            Program::Biboumi => "biboumi.localhost",
        }
    }
}

struct Options {
    iqs: usize,
    windows: Vec<usize>,
    users: usize,
    warmup: usize,
    timeout: Duration,
    only: Option<Program>,
    compare: bool,
    bitcoim: PathBuf,
    biboumi: Option<PathBuf>,
    detail: bool,
    keep: bool,
    spin: bool,
}

impl Options {
    /// `Ok(None)` when help was asked for.
    fn parse() -> Result<Option<Options>, String> {
        use lexopt::prelude::*;

        let mut opts = Options {
            iqs: 100_000,
            windows: Vec::new(),
            users: 1000,
            warmup: 1000,
            timeout: Duration::from_secs(120),
            only: None,
            compare: true,
            // Cargo builds the package's binaries, with the bench profile
            // (which inherits `release`), before it builds a bench.
            bitcoim: PathBuf::from(env!("CARGO_BIN_EXE_bitcoim")),
            biboumi: None,
            detail: false,
            keep: false,
            spin: false,
        };
        let mut parser = lexopt::Parser::from_env();
        let num = |v: OsString, what: &str| -> Result<usize, String> {
            v.to_str()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| format!("{what}: expected a non-negative integer"))
        };
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                // `cargo bench` passes --bench to harness-less benches.
                Long("bench") => {}
                Short('n') | Long("iqs") => opts.iqs = num(value(&mut parser)?, "--iqs")?,
                Short('w') | Long("window") => {
                    let v = value(&mut parser)?;
                    let s = v.to_str().ok_or("--window: not UTF-8")?.to_owned();
                    for part in s.split(',') {
                        let w = num(part.into(), "--window")?;
                        if w == 0 {
                            return Err("--window: must be at least 1".into());
                        }
                        opts.windows.push(w);
                    }
                }
                Long("users") => opts.users = num(value(&mut parser)?, "--users")?.max(1),
                Long("warmup") => opts.warmup = num(value(&mut parser)?, "--warmup")?,
                Long("timeout") => {
                    opts.timeout =
                        Duration::from_secs(num(value(&mut parser)?, "--timeout")?.max(1) as u64)
                }
                Long("only") => {
                    let v = value(&mut parser)?;
                    opts.only = Some(match v.to_str() {
                        Some("bitcoim") | Some("bitcoIM") => Program::Bitcoim,
                        Some("biboumi") => Program::Biboumi,
                        _ => return Err("--only: expected bitcoim or biboumi".into()),
                    });
                }
                Long("compare") => opts.compare = true,
                Long("no-compare") => opts.compare = false,
                Long("bitcoim") => opts.bitcoim = PathBuf::from(value(&mut parser)?),
                Long("biboumi") => opts.biboumi = Some(PathBuf::from(value(&mut parser)?)),
                Long("detail") => opts.detail = true,
                Long("keep") => opts.keep = true,
                Long("spin") => opts.spin = true,
                Short('h') | Long("help") => return Ok(None),
                _ => return Err(arg.unexpected().to_string()),
            }
        }
        if opts.windows.is_empty() {
            opts.windows = vec![1, 256];
        }
        if opts.iqs == 0 {
            return Err("--iqs: must be at least 1".into());
        }
        Ok(Some(opts))
    }
}

fn value(parser: &mut lexopt::Parser) -> Result<OsString, String> {
    parser.value().map_err(|e| e.to_string())
}

/// `name` looked up in PATH, the way a shell would.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

// ---------------------------------------------------------------------------
// Orchestration

/// `Ok(false)` when a run failed or timed out; `Err` when the bench could
/// not start at all.
fn run_all(opts: &Options) -> Result<bool, String> {
    let mut programs = Vec::new();
    if opts.only != Some(Program::Biboumi) {
        if !opts.bitcoim.is_file() {
            return Err(format!(
                "bitcoim binary not found at {}; build it with `cargo build --release` \
                 or pass --bitcoim PATH",
                opts.bitcoim.display()
            ));
        }
        programs.push((Program::Bitcoim, opts.bitcoim.clone()));
    }
    let want_biboumi = match opts.only {
        Some(Program::Biboumi) => true,
        Some(Program::Bitcoim) => false,
        None => opts.compare,
    };
    if want_biboumi {
        let found = match &opts.biboumi {
            Some(p) => Some(p.clone()).filter(|p| p.is_file()),
            None => which("biboumi"),
        };
        match found {
            Some(path) => programs.push((Program::Biboumi, path)),
            None => {
                return Err(
                    "biboumi not found (looked for --biboumi PATH, else `biboumi` in PATH); \
                     install it (Debian/Ubuntu: apt-get install biboumi) or run with \
                     --no-compare to measure bitcoIM alone"
                        .into(),
                )
            }
        }
    } else if opts.only.is_none() {
        eprintln!("note: --no-compare: biboumi is not run, no ratios are printed");
    }

    let tmp = TempDir::new("bitcoim-xmpp-load", opts.keep)?;
    eprintln!(
        "xmpp_load: {} IQs per run (+{} warm-up), {} users, windows {:?}, timeout {} s per run",
        opts.iqs,
        opts.warmup,
        opts.users,
        opts.windows,
        opts.timeout.as_secs()
    );
    let mut results = Vec::new();
    for (program, path) in &programs {
        for &window in &opts.windows {
            eprint!("  {} W={window} ... ", program.name());
            let _ = io::stderr().flush();
            let dir = tmp.path.join(format!("{}-w{window}", program.name()));
            let r = run_one(*program, path, window, opts, &dir);
            match &r.failure {
                None => eprintln!("{:.0} IQ/s", r.rate()),
                Some(f) => eprintln!("FAILED: {f}"),
            }
            results.push(r);
        }
    }
    if opts.keep {
        eprintln!("kept: {}", tmp.path.display());
    }

    println!();
    print_table(&results);
    if opts.detail {
        println!();
        print_detail(&results);
    }
    print_problems(&results);
    if programs.len() == 2 {
        println!();
        print_ratios(&results);
    }
    Ok(results.iter().all(|r| r.failure.is_none()))
}

/// What one daemon did under one window.
struct RunResult {
    program: Program,
    window: usize,
    /// Measured IQs sent and `type='result'` replies to them.
    sent: usize,
    answered: usize,
    /// `type='error'` replies, by condition.
    errors: BTreeMap<String, usize>,
    /// From the first measured send to the last measured reply.
    elapsed: Duration,
    /// Send-to-reply latencies of the results, in nanoseconds, sorted.
    latencies: Vec<u64>,
    per_kind: [Vec<u64>; 3],
    /// Replies whose id was not outstanding (duplicates, strangers).
    unknown_replies: usize,
    /// Stanzas the daemon sent on its own (presence, message, its IQs).
    unsolicited: BTreeMap<String, usize>,
    peak_rss_kib: Option<u64>,
    /// Where the resident memory is at the end of the run.
    rss_parts: Option<RssParts>,
    cpu: Option<Duration>,
    /// CPU time of the bench itself during the run, to show it is not the
    /// bottleneck.
    client_cpu: Option<Duration>,
    failure: Option<String>,
}

impl RunResult {
    fn new(program: Program, window: usize) -> RunResult {
        RunResult {
            program,
            window,
            sent: 0,
            answered: 0,
            errors: BTreeMap::new(),
            elapsed: Duration::ZERO,
            latencies: Vec::new(),
            per_kind: [Vec::new(), Vec::new(), Vec::new()],
            unknown_replies: 0,
            unsolicited: BTreeMap::new(),
            peak_rss_kib: None,
            rss_parts: None,
            cpu: None,
            client_cpu: None,
            failure: None,
        }
    }

    fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.answered as f64 / secs
        } else {
            0.0
        }
    }

    fn error_count(&self) -> usize {
        self.errors.values().sum()
    }
}

fn run_one(program: Program, path: &Path, window: usize, opts: &Options, dir: &Path) -> RunResult {
    let mut result = RunResult::new(program, window);
    let deadline = Instant::now() + opts.timeout;
    let client_cpu_before = proc_cpu(std::process::id());
    let mut daemon = None;
    if let Err(e) = drive_daemon(
        program,
        path,
        window,
        opts,
        dir,
        deadline,
        &mut result,
        &mut daemon,
    ) {
        let mut msg = e;
        if let Some(d) = &mut daemon {
            let (peak, cpu) = d.post_mortem(program.name(), &mut msg);
            if result.peak_rss_kib.is_none() {
                (result.peak_rss_kib, result.cpu) = (peak, cpu);
            }
        }
        result.failure = Some(msg);
    }
    // Dropping the guard kills the daemon.
    drop(daemon);
    if let (Some(before), Some(after)) = (client_cpu_before, proc_cpu(std::process::id())) {
        result.client_cpu = Some(after.saturating_sub(before));
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn drive_daemon(
    program: Program,
    path: &Path,
    window: usize,
    opts: &Options,
    dir: &Path,
    deadline: Instant,
    result: &mut RunResult,
    daemon_slot: &mut Option<Daemon>,
) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding 127.0.0.1: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let daemon = daemon_slot.insert(spawn(program, path, port, dir)?);

    let sock = accept_until(&listener, daemon, deadline)?;
    drop(listener);
    let mut conn = Conn::new(sock, program.jid())?;
    conn.handshake(deadline)?;
    conn.spin = opts.spin;

    let mut phase = Phase::new(opts.warmup + opts.iqs, opts.users, program.jid());
    if opts.warmup > 0 {
        let mut warm = RunResult::new(program, window);
        phase.drive(&mut conn, 0, opts.warmup, window, deadline, &mut warm)?;
        merge_unsolicited(result, &warm);
    }
    let drove = phase.drive(&mut conn, opts.warmup, opts.iqs, window, deadline, result);

    let pid = daemon.child.id();
    result.peak_rss_kib = proc_status_kib(pid, "VmHWM");
    result.rss_parts = RssParts::read(pid);
    result.cpu = proc_cpu(pid);
    drove?;
    conn.close();
    Ok(())
}

fn merge_unsolicited(into: &mut RunResult, from: &RunResult) {
    for (k, v) in &from.unsolicited {
        *into.unsolicited.entry(k.clone()).or_default() += v;
    }
}

// ---------------------------------------------------------------------------
// The daemons

/// Starts `program` at `path` with a generated configuration in `dir`.
fn spawn(program: Program, path: &Path, port: u16, dir: &Path) -> Result<Daemon, String> {
    match program {
        Program::Bitcoim => Daemon::bitcoim(path, program.jid(), port, dir),
        Program::Biboumi => {
            let cfg = dir.join("biboumi.cfg");
            write_file(&cfg, &biboumi_config(program.jid(), port, dir))?;
            let mut cmd = Command::new(path);
            cmd.arg(&cfg);
            // BIBOUMI_* variables override the file; keep the file's word.
            for (k, _) in std::env::vars_os() {
                if k.to_str().is_some_and(|k| k.starts_with("BIBOUMI_")) {
                    cmd.env_remove(k);
                }
            }
            Daemon::spawn(cmd, dir)
        }
    }
}

fn biboumi_config(jid: &str, port: u16, dir: &Path) -> String {
    // Keys from biboumi(1) / admin.rst. identd_port=0 disables its identd
    // listener; policy_directory points at an empty directory so no system
    // file is read; log_level 3 is "error", like bitcoIM's.
    format!(
        "hostname={jid}\n\
         password={SECRET}\n\
         xmpp_server_ip=127.0.0.1\n\
         port={port}\n\
         admin=\n\
         db_name={db}\n\
         identd_port=0\n\
         policy_directory={dir}\n\
         log_file=\n\
         log_level=3\n",
        db = dir.join("biboumi.sqlite").display(),
        dir = dir.display()
    )
}

// ---------------------------------------------------------------------------
// The load

/// Outstanding-IQ bookkeeping shared by the warm-up and the measured phase
/// (ids are IQ indexes, unique over the whole run).
struct Phase {
    sent_at: Vec<Option<Instant>>,
    users: usize,
    jid: &'static str,
}

impl Phase {
    fn new(total: usize, users: usize, jid: &'static str) -> Phase {
        Phase {
            sent_at: vec![None; total],
            users,
            jid,
        }
    }

    fn write_iq(&self, out: &mut Vec<u8>, i: usize) {
        use std::io::Write as _;
        let _ = write!(
            out,
            "<iq type='get' id='b{i}' from='user{u}@{USER_DOMAIN}/res' to='{to}'>{payload}</iq>",
            u = i % self.users,
            to = self.jid,
            payload = KINDS[i % 3].1
        );
    }

    /// Sends IQs `first..first + count` with at most `window` in flight and
    /// waits for all their replies, accounting into `r`.
    fn drive(
        &mut self,
        conn: &mut Conn,
        first: usize,
        count: usize,
        window: usize,
        deadline: Instant,
        r: &mut RunResult,
    ) -> Result<(), String> {
        let end = first + count;
        let mut next = first;
        let mut in_flight = 0usize;
        let mut started = None;
        let mut last_reply = Instant::now();
        let outcome = 'run: loop {
            let batch_start = next;
            while in_flight < window && next < end {
                self.write_iq(&mut conn.out, next);
                next += 1;
                in_flight += 1;
            }
            if next > batch_start {
                // One timestamp per batch, taken as the bytes leave.
                let now = Instant::now();
                started.get_or_insert(now);
                for slot in &mut self.sent_at[batch_start..next] {
                    *slot = Some(now);
                }
                r.sent += next - batch_start;
                if let Err(e) = conn.flush() {
                    break Err(e);
                }
            }
            if in_flight == 0 {
                break Ok(());
            }
            if Instant::now() >= deadline {
                break Err(format!(
                    "timeout: {in_flight} IQs still unanswered, {} not sent; \
                     last reply {:.1} s before the deadline",
                    end - next,
                    deadline.saturating_duration_since(last_reply).as_secs_f64()
                ));
            }
            match conn.fill() {
                Ok(false) => continue,
                Ok(true) => {}
                Err(e) => break Err(e),
            }
            let now = Instant::now();
            let mut server_replies = Vec::new();
            loop {
                let el = match conn.next_item() {
                    Ok(Some(Item::Element(el))) => el,
                    Ok(Some(Item::StreamEnd)) => {
                        break 'run Err("the daemon closed its stream (</stream:stream>)".into())
                    }
                    Ok(None) => break,
                    Err(e) => break 'run Err(e),
                };
                match classify(el) {
                    Reply::Iq { id, ok, condition } => {
                        let idx = id
                            .strip_prefix(b"b")
                            .and_then(|d| std::str::from_utf8(d).ok())
                            .and_then(|d| d.parse::<usize>().ok())
                            .filter(|&i| i >= first && i < end);
                        let Some(idx) = idx else {
                            r.unknown_replies += 1;
                            continue;
                        };
                        let Some(sent) = self.sent_at[idx].take() else {
                            r.unknown_replies += 1;
                            continue;
                        };
                        in_flight -= 1;
                        last_reply = now;
                        if let Some(s) = started {
                            r.elapsed = now.saturating_duration_since(s);
                        }
                        if ok {
                            let ns = now.saturating_duration_since(sent).as_nanos() as u64;
                            r.answered += 1;
                            r.latencies.push(ns);
                            r.per_kind[idx % 3].push(ns);
                        } else {
                            *r.errors.entry(condition).or_default() += 1;
                        }
                    }
                    Reply::ServerIq { id, from } => {
                        // A get/set the daemon addresses to the server (a
                        // keepalive ping, say): answer like a server would.
                        *r.unsolicited.entry("iq get/set".into()).or_default() += 1;
                        server_replies.push((id, from));
                    }
                    Reply::StreamError(text) => {
                        break 'run Err(format!("stream error from the daemon: {text}"))
                    }
                    Reply::Other(kind) => *r.unsolicited.entry(kind).or_default() += 1,
                }
            }
            for (id, from) in server_replies {
                let _ = write!(
                    conn.out,
                    "<iq type='result' id='{}' from='{USER_DOMAIN}' to='{}'/>",
                    String::from_utf8_lossy(&id),
                    String::from_utf8_lossy(&from)
                );
            }
        };
        r.latencies.sort_unstable();
        for v in &mut r.per_kind {
            v.sort_unstable();
        }
        outcome
    }
}

enum Reply {
    /// A reply to one of our IQs (or claiming to be).
    Iq {
        id: Vec<u8>,
        ok: bool,
        condition: String,
    },
    /// An IQ get/set from the daemon to the server.
    ServerIq {
        id: Vec<u8>,
        from: Vec<u8>,
    },
    StreamError(String),
    Other(String),
}

fn classify(el: &[u8]) -> Reply {
    let name = element_name(el);
    let head = &el[..tag_end(el, 1).map_or(el.len(), |e| e + 1)];
    match name {
        b"iq" => {
            let ty = attr(head, "type").unwrap_or_default();
            let id = attr(head, "id").unwrap_or_default().to_vec();
            match ty {
                b"result" => Reply::Iq {
                    id,
                    ok: true,
                    condition: String::new(),
                },
                b"error" => Reply::Iq {
                    id,
                    ok: false,
                    condition: error_condition(el),
                },
                b"get" | b"set" => Reply::ServerIq {
                    id,
                    from: attr(head, "from").unwrap_or_default().to_vec(),
                },
                other => Reply::Iq {
                    id,
                    ok: false,
                    condition: format!("type='{}'", String::from_utf8_lossy(other)),
                },
            }
        }
        b"stream:error" => Reply::StreamError(String::from_utf8_lossy(el).into_owned()),
        other => {
            let ty = attr(head, "type").map(|t| format!(" type='{}'", String::from_utf8_lossy(t)));
            Reply::Other(format!(
                "{}{}",
                String::from_utf8_lossy(other),
                ty.unwrap_or_default()
            ))
        }
    }
}

/// The defined condition of an error stanza: the first child of `<error>`.
fn error_condition(el: &[u8]) -> String {
    let Some(at) = find(el, b"<error") else {
        return "error without <error/>".into();
    };
    let Some(end) = tag_end(el, at + 1) else {
        return "truncated <error/>".into();
    };
    let mut i = end + 1;
    while let Some(lt) = el[i..].iter().position(|&b| b == b'<') {
        let child = &el[i + lt..];
        if child.get(1) != Some(&b'/') {
            return String::from_utf8_lossy(element_name(child)).into_owned();
        }
        i += lt + 1;
    }
    "error without a condition".into()
}

// ---------------------------------------------------------------------------
// Report

/// Nearest-rank percentile of sorted nanoseconds, in microseconds.
fn percentile_us(sorted: &[u64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1] as f64 / 1000.0)
}

struct Opt<T>(Option<T>, fn(&T) -> String);

impl<T> fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self
            .0
            .as_ref()
            .map_or_else(|| "-".to_owned(), |v| (self.1)(v));
        f.pad(&s)
    }
}

fn us(v: &f64) -> String {
    if *v >= 10_000.0 {
        format!("{:.0}", v)
    } else {
        format!("{:.1}", v)
    }
}

fn print_table(results: &[RunResult]) {
    println!(
        "{:<8} {:>4} {:>15} {:>7} {:>8} {:>10} {:>9} {:>9} {:>7} {:>10} {:>9}  note",
        "program",
        "W",
        "answered/sent",
        "errors",
        "time s",
        "IQ/s",
        "p50 µs",
        "p99 µs",
        "CPU s",
        "peak RSS",
        "bench CPU"
    );
    for r in results {
        let note = match &r.failure {
            Some(f) if f.starts_with("timeout") => "TIMEOUT (partial)",
            Some(_) => "FAILED (partial)",
            None if r.error_count() > 0 || r.unknown_replies > 0 => "see below",
            None => "",
        };
        println!(
            "{:<8} {:>4} {:>15} {:>7} {:>8.2} {:>10.0} {:>9} {:>9} {:>7} {:>10} {:>9}  {note}",
            r.program.name(),
            r.window,
            format!("{}/{}", r.answered, r.sent),
            r.error_count(),
            r.elapsed.as_secs_f64(),
            r.rate(),
            Opt(percentile_us(&r.latencies, 0.50), us),
            Opt(percentile_us(&r.latencies, 0.99), us),
            Opt(r.cpu, |d: &Duration| format!("{:.2}", d.as_secs_f64())),
            Opt(r.peak_rss_kib, mib),
            Opt(r.client_cpu, |d: &Duration| format!(
                "{:.2}",
                d.as_secs_f64()
            )),
        );
    }
    println!(
        "answered = type='result' replies; latency = send to reply, results only;\n\
         CPU s = the daemon's user+system time over the whole run (warm-up included);\n\
         peak RSS = the daemon's VmHWM at the end of the run; bench CPU = this client's."
    );
    for r in results {
        if let Some(parts) = &r.rss_parts {
            println!(
                "{} W={} RSS at the end: {}",
                r.program.name(),
                r.window,
                parts.describe()
            );
        }
    }
}

fn print_detail(results: &[RunResult]) {
    println!(
        "{:<8} {:>4} {:<11} {:>8} {:>9} {:>9} {:>9}",
        "program", "W", "IQ", "results", "p50 µs", "p99 µs", "max µs"
    );
    for r in results {
        for (k, lat) in r.per_kind.iter().enumerate() {
            println!(
                "{:<8} {:>4} {:<11} {:>8} {:>9} {:>9} {:>9}",
                r.program.name(),
                r.window,
                KINDS[k].0,
                lat.len(),
                Opt(percentile_us(lat, 0.50), us),
                Opt(percentile_us(lat, 0.99), us),
                Opt(lat.last().map(|&n| n as f64 / 1000.0), us),
            );
        }
    }
}

fn print_problems(results: &[RunResult]) {
    let mut first = true;
    let mut say = |line: String| {
        if first {
            println!();
            first = false;
        }
        println!("{line}");
    };
    for r in results {
        let who = format!("{} W={}", r.program.name(), r.window);
        for (cond, n) in &r.errors {
            say(format!("{who}: {n} error replies <{cond}/>"));
        }
        if r.unknown_replies > 0 {
            say(format!(
                "{who}: {} replies with an unknown or repeated id",
                r.unknown_replies
            ));
        }
        for (kind, n) in &r.unsolicited {
            say(format!("{who}: {n} unsolicited <{kind}> from the daemon"));
        }
        let missing = r.sent - r.answered - r.error_count();
        if r.failure.is_none() && missing > 0 {
            say(format!("{who}: {missing} IQs never answered"));
        }
        if let Some(f) = &r.failure {
            say(format!("{who}: {f}"));
        }
    }
}

fn print_ratios(results: &[RunResult]) {
    let get = |p: Program, w: usize| {
        results
            .iter()
            .find(|r| r.program == p && r.window == w && r.failure.is_none())
    };
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!("bitcoIM against biboumi, as the project's targets are stated:");

    match (get(Program::Bitcoim, 256), get(Program::Biboumi, 256)) {
        (Some(a), Some(b)) if b.rate() > 0.0 => {
            let ratio = a.rate() / b.rate();
            println!(
                "  answered IQ/s at W=256:  {:.0} / {:.0} = {ratio:.2}x   (target >= 10)    {}",
                a.rate(),
                b.rate(),
                verdict(ratio >= 10.0)
            );
        }
        _ => {
            println!("  answered IQ/s at W=256:  not computed (needs a complete W=256 run of each)")
        }
    }

    match (get(Program::Bitcoim, 1), get(Program::Biboumi, 1)) {
        (Some(a), Some(b)) => match (
            percentile_us(&a.latencies, 0.5),
            percentile_us(&b.latencies, 0.5),
        ) {
            (Some(la), Some(lb)) => println!(
                "  median latency at W=1:   {} µs vs {} µs        (target: at most half) {}",
                us(&la),
                us(&lb),
                verdict(la * 2.0 <= lb)
            ),
            _ => println!("  median latency at W=1:   not computed (no results)"),
        },
        _ => println!("  median latency at W=1:   not computed (needs a complete W=1 run of each)"),
    }

    // Peak over every run of each program, failed ones included: memory
    // reached is memory reached.
    let peak = |p: Program| {
        results
            .iter()
            .filter(|r| r.program == p)
            .filter_map(|r| r.peak_rss_kib)
            .max()
    };
    match (peak(Program::Bitcoim), peak(Program::Biboumi)) {
        (Some(a), Some(b)) if b > 0 => {
            println!(
                "  peak RSS (max over runs): {} vs {}   (target: bitcoIM <= 4 MiB)  {}",
                mib(&a),
                mib(&b),
                verdict(a <= 4 * 1024)
            );
        }
        _ => println!("  peak RSS:                not computed"),
    }
}
