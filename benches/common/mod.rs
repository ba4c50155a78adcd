//! What the benches share: the server end of an XEP-0114 component
//! stream on loopback (accept, handshake, a byte scanner for element
//! boundaries), the daemons they start and kill, their temporary
//! directories, and the figures read from /proc.
//!
//! Each bench includes it with `mod common;` and uses part of it.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha1::{Digest, Sha1};

/// Shared secret written into the daemons' configurations.
pub const SECRET: &str = "secret";
/// Domain of the simulated users (`userN@localhost/res`).
pub const USER_DOMAIN: &str = "localhost";

// ---------------------------------------------------------------------------
// Connecting

/// Waits for the daemon's connection, noticing if it dies first.
pub fn accept_until(
    listener: &TcpListener,
    daemon: &mut Daemon,
    deadline: Instant,
) -> Result<TcpStream, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    loop {
        match listener.accept() {
            Ok((sock, _)) => {
                sock.set_nonblocking(false).map_err(|e| e.to_string())?;
                return Ok(sock);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("accept: {e}")),
        }
        if let Ok(Some(status)) = daemon.child.try_wait() {
            return Err(format!("exited before connecting ({status})"));
        }
        if Instant::now() >= deadline {
            return Err("timeout: the daemon never connected".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------
// The daemons

/// A daemon started by the bench; killed when dropped, whatever happened.
pub struct Daemon {
    pub child: Child,
    log: PathBuf,
}

/// The database file of a bitcoIM started by [`Daemon::bitcoim`], in its
/// directory.
pub const BITCOIM_DB: &str = "bitcoim.db";

impl Daemon {
    /// Starts `cmd` in `dir`, its standard output and error going to
    /// `dir/output.log`.
    pub fn spawn(mut cmd: Command, dir: &Path) -> Result<Daemon, String> {
        let log = dir.join("output.log");
        let out = fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let program = PathBuf::from(cmd.get_program());
        let child = cmd
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", program.display()))?;
        Ok(Daemon { child, log })
    }

    /// bitcoIM at `path`, serving `jid` for the server listening on
    /// `port`, with [`bitcoim_config`] written in `dir` and the database
    /// `dir/bitcoim.db` (created if missing).
    pub fn bitcoim(path: &Path, jid: &str, port: u16, dir: &Path) -> Result<Daemon, String> {
        let cfg = dir.join("bitcoim.conf");
        write_file(&cfg, &bitcoim_config(jid, port, &dir.join(BITCOIM_DB)))?;
        let mut cmd = Command::new(path);
        cmd.arg("-c").arg(&cfg);
        // The configured level is what is measured, not the caller's.
        cmd.env_remove("RUST_LOG");
        Daemon::spawn(cmd, dir)
    }

    /// What a failed run says of its daemon, appended to `msg`: how it
    /// exited, if it did (unless `msg` says so already), and its last
    /// lines of output; with its peak RSS and CPU time so far, since a
    /// failed run still reports how big the daemon grew.
    pub fn post_mortem(
        &mut self,
        name: &str,
        msg: &mut String,
    ) -> (Option<u64>, Option<std::time::Duration>) {
        if let Ok(Some(status)) = self.child.try_wait() {
            if !msg.starts_with("exited") {
                msg.push_str(&format!(" ({name} exited: {status})"));
            }
        }
        let figures = (
            proc_status_kib(self.child.id(), "VmHWM"),
            proc_cpu(self.child.id()),
        );
        let tail = self.log_tail(12);
        if !tail.is_empty() {
            msg.push_str(&format!("\n    last lines of its output:\n{tail}"));
        }
        figures
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let start = all.len().saturating_sub(lines);
        all[start..]
            .iter()
            .map(|l| format!("      {l}\n"))
            .collect::<String>()
            .trim_end()
            .to_owned()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn bitcoim_config(jid: &str, port: u16, db: &Path) -> String {
    // bitcoind is deliberately unreachable (port 1): the stanzas measured
    // here must never need the node. The per-JID rate limit is raised out
    // of the way (the defaults, 30 then 5/s, would turn most of the load
    // bench's ~100 IQs per user, or the scale bench's bursts, into
    // refusals): what is measured is the cost of answering, limiter
    // bookkeeping included.
    format!(
        "[XMPP]\n\
         jid = {jid}\n\
         password = {SECRET}\n\
         server = 127.0.0.1\n\
         port = {port}\n\
         [database]\n\
         file = {db}\n\
         [bitcoin]\n\
         user = u\n\
         password = p\n\
         host = 127.0.0.1\n\
         port = 1\n\
         network = regtest\n\
         [main program]\n\
         loglevel = error\n\
         rate_burst = 100000\n\
         rate_per_second = 100000\n",
        db = db.display()
    )
}

pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// A `kB` field of /proc/PID/status, e.g. `VmHWM` (peak resident set).
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Where a process's resident memory is, from /proc/PID/smaps: the pages
/// of its own executable, of the shared libraries it maps (libc, ld.so,
/// libgcc_s: pages every dynamically linked process on the machine uses
/// too), and the rest (heap, stacks, anonymous and database mappings).
pub struct RssParts {
    pub binary_kib: u64,
    pub libraries_kib: u64,
    pub rest_kib: u64,
}

impl RssParts {
    pub fn read(pid: u32) -> Option<RssParts> {
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        let exe = exe.to_str()?.to_owned();
        let text = fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
        let mut parts = RssParts {
            binary_kib: 0,
            libraries_kib: 0,
            rest_kib: 0,
        };
        let mut path = String::new();
        for line in text.lines() {
            if let Some(kib) = line.strip_prefix("Rss:") {
                let kib: u64 = kib.split_whitespace().next()?.parse().ok()?;
                if path == exe {
                    parts.binary_kib += kib;
                } else if path.starts_with('/') && path.contains(".so") {
                    parts.libraries_kib += kib;
                } else {
                    parts.rest_kib += kib;
                }
            } else if line.split_whitespace().next().is_some_and(|f| {
                f.contains('-') && f.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
            }) {
                // A mapping's header: range perms offset dev inode [path];
                // the path may hold spaces.
                path = line
                    .splitn(6, char::is_whitespace)
                    .nth(5)
                    .unwrap_or("")
                    .trim()
                    .to_owned();
            }
        }
        Some(parts)
    }

    /// "5.0 MiB = 2.3 its binary + 1.8 shared libraries + 0.9 the rest".
    pub fn describe(&self) -> String {
        let m = |k: u64| format!("{:.1}", k as f64 / 1024.0);
        format!(
            "{} MiB = {} its binary + {} shared libraries + {} the rest (heap, stacks, database)",
            m(self.binary_kib + self.libraries_kib + self.rest_kib),
            m(self.binary_kib),
            m(self.libraries_kib),
            m(self.rest_kib)
        )
    }
}

/// User + system CPU time of a process, from /proc/PID/stat.
pub fn proc_cpu(pid: u32) -> Option<Duration> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is parenthesised and may hold spaces: count fields
    // from the last ')'. utime and stime are fields 14 and 15 of proc(5).
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux ABI in use; std cannot ask sysconf.
    Some(Duration::from_millis(ticks * 10))
}

/// A directory of the system's temporary space, removed when dropped
/// unless `keep`.
pub struct TempDir {
    pub path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// `<tmp>/<prefix>-<pid>-<nanoseconds>`.
    pub fn new(prefix: &str, keep: bool) -> Result<TempDir, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos:x}", std::process::id()));
        fs::create_dir_all(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        Ok(TempDir { path, keep })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------
// The server end of the component stream

pub struct Conn {
    pub sock: TcpStream,
    jid: &'static str,
    inbuf: Vec<u8>,
    scratch: Box<[u8]>,
    /// Start of the bytes not yet consumed in `inbuf`.
    pos: usize,
    /// Bytes for the daemon, sent by [`Conn::flush`].
    pub out: Vec<u8>,
    /// --spin: busy-poll up to `SPIN_FOR` before each blocking read.
    pub spin: bool,
    nonblocking: bool,
}

/// How long --spin busy-polls before falling back to a blocking read.
const SPIN_FOR: Duration = Duration::from_micros(200);

/// One top-level item of the stream.
pub enum Item<'a> {
    Element(&'a [u8]),
    StreamEnd,
}

impl Conn {
    pub fn new(sock: TcpStream, jid: &'static str) -> Result<Conn, String> {
        sock.set_nodelay(true).map_err(|e| e.to_string())?;
        // Short read timeout: the deadline is checked between reads.
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        sock.set_write_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        Ok(Conn {
            sock,
            jid,
            inbuf: Vec::with_capacity(1 << 17),
            scratch: vec![0; 1 << 16].into_boxed_slice(),
            pos: 0,
            out: Vec::with_capacity(1 << 17),
            spin: false,
            nonblocking: false,
        })
    }

    /// Reads what the socket has; `Ok(false)` when the read timed out.
    pub fn fill(&mut self) -> Result<bool, String> {
        if self.pos > 0 {
            self.inbuf.drain(..self.pos);
            self.pos = 0;
        }
        if self.spin {
            // Busy-poll for a short while, then sleep in read() as usual:
            // a quick reply is caught without a wake-up, and a slow one
            // does not burn a core the daemon may need.
            self.set_nonblocking(true)?;
            let until = Instant::now() + SPIN_FOR;
            loop {
                match self.read_once()? {
                    true => return Ok(true),
                    false if Instant::now() >= until => break,
                    false => std::hint::spin_loop(),
                }
            }
            self.set_nonblocking(false)?;
        }
        self.read_once()
    }

    /// One read(); `Ok(false)` when nothing came (timeout or would block).
    fn read_once(&mut self) -> Result<bool, String> {
        // Read into a fixed scratch buffer and copy only what arrived:
        // zero-filling 64 KiB of `inbuf` per read would add microseconds
        // to every W=1 round trip.
        match self.sock.read(&mut self.scratch[..]) {
            Ok(0) => Err("the daemon closed the TCP connection".into()),
            Ok(n) => {
                self.inbuf.extend_from_slice(&self.scratch[..n]);
                Ok(true)
            }
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(false),
                _ => Err(format!("reading from the daemon: {e}")),
            },
        }
    }

    fn set_nonblocking(&mut self, on: bool) -> Result<(), String> {
        if self.nonblocking != on {
            self.sock
                .set_nonblocking(on)
                .map_err(|e| format!("socket: {e}"))?;
            self.nonblocking = on;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), String> {
        let mut done = 0;
        while done < self.out.len() {
            match self.sock.write(&self.out[done..]) {
                Ok(0) => return Err("writing to the daemon: connection closed".into()),
                Ok(n) => done += n,
                // Only in --spin mode, where the socket is non-blocking.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("writing to the daemon: {e}")),
            }
        }
        self.out.clear();
        Ok(())
    }

    /// The next complete top-level element, if the buffer holds one.
    pub fn next_item(&mut self) -> Result<Option<Item<'_>>, String> {
        loop {
            let rest = &self.inbuf[self.pos..];
            // Whitespace (or stray text) between stanzas is skipped.
            let Some(lt) = rest.iter().position(|&b| b == b'<') else {
                self.pos = self.inbuf.len();
                return Ok(None);
            };
            let start = self.pos + lt;
            match scan_element(&self.inbuf[start..]) {
                Scan::Incomplete => {
                    self.pos = start;
                    return Ok(None);
                }
                Scan::Skip(n) => self.pos = start + n,
                Scan::StreamEnd(n) => {
                    self.pos = start + n;
                    return Ok(Some(Item::StreamEnd));
                }
                Scan::Element(n) => {
                    self.pos = start + n;
                    return Ok(Some(Item::Element(&self.inbuf[start..start + n])));
                }
            }
        }
    }

    /// XEP-0114 §3, server side: stream header, id, handshake check.
    pub fn handshake(&mut self, deadline: Instant) -> Result<(), String> {
        // 1. The component's stream header (possibly after an XML
        // declaration): a start tag that is never closed.
        let header = loop {
            if let Some(at) = find(&self.inbuf[self.pos..], b"<stream:stream") {
                let start = self.pos + at;
                if let Some(end) = tag_end(&self.inbuf, start + 1) {
                    self.pos = end + 1;
                    break self.inbuf[start..=end].to_vec();
                }
            }
            self.wait_data(deadline, "the component's stream header")?;
        };
        let ns = attr(&header, "xmlns").unwrap_or_default();
        if ns != b"jabber:component:accept" {
            return Err(format!(
                "stream header: xmlns is '{}', expected 'jabber:component:accept'",
                String::from_utf8_lossy(ns)
            ));
        }
        let to = attr(&header, "to").unwrap_or_default();
        if to != self.jid.as_bytes() {
            return Err(format!(
                "stream header: to='{}', expected '{}'",
                String::from_utf8_lossy(to),
                self.jid
            ));
        }

        // 2. Our header, with the id the handshake digest is made from.
        let id = format!(
            "xl{:x}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        self.out.extend_from_slice(
            format!(
                "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' \
                 xmlns:stream='http://etherx.jabber.org/streams' from='{}' id='{id}'>",
                self.jid
            )
            .as_bytes(),
        );
        self.flush()?;

        // 3. <handshake>hex(SHA-1(id + secret))</handshake>
        let got = loop {
            match self.next_item()? {
                Some(Item::Element(el)) => {
                    if element_name(el) != b"handshake" {
                        return Err(format!(
                            "expected <handshake>, got {}",
                            String::from_utf8_lossy(el)
                        ));
                    }
                    break inner_text(el).trim_ascii().to_ascii_lowercase();
                }
                Some(Item::StreamEnd) => return Err("stream closed before the handshake".into()),
                None => self.wait_data(deadline, "<handshake/>")?,
            }
        };
        let want = hex(&Sha1::digest(format!("{id}{SECRET}").as_bytes()));
        if got != want.as_bytes() {
            self.out.extend_from_slice(
                b"<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
                  </stream:error></stream:stream>",
            );
            let _ = self.flush();
            return Err(format!(
                "handshake digest '{}' is wrong (expected hex(SHA-1(id + secret)) = '{want}')",
                String::from_utf8_lossy(&got)
            ));
        }
        self.out.extend_from_slice(b"<handshake/>");
        self.flush()
    }

    pub fn wait_data(&mut self, deadline: Instant, what: &str) -> Result<(), String> {
        if Instant::now() >= deadline {
            return Err(format!("timeout waiting for {what}"));
        }
        self.fill().map(drop)
    }

    pub fn close(&mut self) {
        self.out.extend_from_slice(b"</stream:stream>");
        let _ = self.flush();
        let _ = self.sock.shutdown(Shutdown::Write);
    }
}

// ---------------------------------------------------------------------------
// A byte scanner, just enough XML for element boundaries

enum Scan {
    Incomplete,
    /// A comment, processing instruction or declaration at top level.
    Skip(usize),
    Element(usize),
    /// `</stream:stream>`
    StreamEnd(usize),
}

/// Measures the element starting at `buf[0] == b'<'`.
fn scan_element(buf: &[u8]) -> Scan {
    let mut depth = 0usize;
    let mut i = 0usize;
    loop {
        let Some(lt) = buf[i..].iter().position(|&b| b == b'<') else {
            return Scan::Incomplete;
        };
        let at = i + lt;
        let Some(&second) = buf.get(at + 1) else {
            return Scan::Incomplete;
        };
        let after = match second {
            b'/' => {
                let Some(gt) = tag_end(buf, at + 1) else {
                    return Scan::Incomplete;
                };
                if depth == 0 {
                    return Scan::StreamEnd(gt + 1);
                }
                depth -= 1;
                if depth == 0 {
                    return Scan::Element(gt + 1);
                }
                gt + 1
            }
            b'?' | b'!' => {
                let rest = &buf[at..];
                let close: &[u8] = if second == b'?' {
                    b"?>"
                } else if rest.starts_with(b"<!--") {
                    b"-->"
                } else if rest.starts_with(b"<![CDATA[") {
                    b"]]>"
                } else {
                    b">"
                };
                let Some(e) = find(&rest[2..], close) else {
                    return Scan::Incomplete;
                };
                let next = at + 2 + e + close.len();
                if depth == 0 {
                    return Scan::Skip(next);
                }
                next
            }
            _ => {
                let Some(gt) = tag_end(buf, at + 1) else {
                    return Scan::Incomplete;
                };
                if buf[gt - 1] != b'/' {
                    depth += 1;
                } else if depth == 0 {
                    return Scan::Element(gt + 1);
                }
                gt + 1
            }
        };
        i = after;
    }
}

/// Index of the `>` that ends the tag whose body starts at `from`, skipping
/// quoted attribute values (they may hold a raw `>`).
pub fn tag_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut quote = 0u8;
    for (k, &b) in buf.get(from..)?.iter().enumerate() {
        if quote != 0 {
            if b == quote {
                quote = 0;
            }
        } else if b == b'"' || b == b'\'' {
            quote = b;
        } else if b == b'>' {
            return Some(from + k);
        }
    }
    None
}

pub fn element_name(el: &[u8]) -> &[u8] {
    let body = el.get(1..).unwrap_or_default();
    let end = body
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
        .unwrap_or(body.len());
    &body[..end]
}

/// The value of attribute `name` in a start tag (unescaped entities left
/// as they are: ids and types never need them here).
pub fn attr<'a>(tag: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let name = name.as_bytes();
    let mut i = 0;
    while let Some(at) = find(&tag[i..], name) {
        let at = i + at;
        let before_ok = at > 0 && tag[at - 1].is_ascii_whitespace();
        let mut j = at + name.len();
        while tag.get(j).is_some_and(|b| b.is_ascii_whitespace()) {
            j += 1;
        }
        if before_ok && tag.get(j) == Some(&b'=') {
            j += 1;
            while tag.get(j).is_some_and(|b| b.is_ascii_whitespace()) {
                j += 1;
            }
            let q = *tag.get(j)?;
            if q == b'\'' || q == b'"' {
                let v = &tag[j + 1..];
                let len = v.iter().position(|&b| b == q)?;
                return Some(&v[..len]);
            }
        }
        i = at + 1;
    }
    None
}

pub fn inner_text(el: &[u8]) -> &[u8] {
    let Some(open_end) = tag_end(el, 1) else {
        return b"";
    };
    if el[open_end - 1] == b'/' {
        return b"";
    }
    let body = &el[open_end + 1..];
    let close = body.iter().rposition(|&b| b == b'<').unwrap_or(body.len());
    &body[..close]
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub fn mib(kib: &u64) -> String {
    format!("{:.1} MiB", *kib as f64 / 1024.0)
}

/// A bench's `main`: parses its options, prints the help or what is wrong
/// with them (exit 2), runs it (exit 1 when a target run failed, 2 on an
/// error).
pub fn main<O>(
    name: &str,
    help: &str,
    parse: impl FnOnce() -> Result<Option<O>, String>,
    run: impl FnOnce(&O) -> Result<bool, String>,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let opts = match parse() {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            print!("{help}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{name}: {e}\n(try --help)");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(2)
        }
    }
}
