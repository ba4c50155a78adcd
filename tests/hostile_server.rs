//! The daemon against a scripted XMPP server that misbehaves.
//!
//! A real Prosody never sends malformed XML, oversized stanzas or invalid
//! UTF-8, and cannot be told to go silent or to send a stream error on
//! cue; this scripted server (a test double, on loopback) can. Everything
//! a well-behaved server does is tested against the real Prosody in the
//! Python suite (tests/test_foundation.py).

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "s3cret";
const JID: &str = "bitcoin.localhost";

struct Daemon {
    child: Child,
    dir: PathBuf,
}

impl Daemon {
    fn start(port: u16, extra: &str) -> Daemon {
        let dir =
            std::env::temp_dir().join(format!("bitcoim-hostile-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("bitcoim.conf");
        std::fs::write(
            &config,
            format!(
                "[XMPP]\njid = {JID}\npassword = {SECRET}\nserver = 127.0.0.1\nport = {port}\n{extra}\n\
                 [database]\nfile = {}\n[bitcoin]\nuser = u\npassword = p\nport = 1\nnetwork = regtest\n\
                 [main program]\nloglevel = debug\n",
                dir.join("bitcoim.db").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("bitcoim.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_bitcoim"))
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon { child, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("bitcoim.log")).unwrap_or_default()
    }

    fn terminate(&mut self) -> Option<i32> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the daemon did not exit on SIGTERM; log:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Server {
    listener: TcpListener,
}

impl Server {
    fn new() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Server { listener }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    fn accept(&self, within: Duration) -> Conn {
        let deadline = Instant::now() + within;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    return Conn {
                        stream,
                        seen: Vec::new(),
                    };
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "no connection within {within:?}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

struct Conn {
    stream: TcpStream,
    seen: Vec<u8>,
}

impl Conn {
    /// Reads until `needle` has been received; returns everything so far.
    fn expect(&mut self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(pos) = find(&self.seen, needle.as_bytes()) {
                let end = pos + needle.len();
                let got: Vec<u8> = self.seen.drain(..end).collect();
                return String::from_utf8_lossy(&got).into_owned();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "did not receive {needle:?}; got {:?}",
                String::from_utf8_lossy(&self.seen)
            );
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => panic!(
                    "connection closed before {needle:?}; got {:?}",
                    String::from_utf8_lossy(&self.seen)
                ),
                Ok(n) => self.seen.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Waits for the daemon to close the connection.
    fn expect_close(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the daemon kept the connection open");
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => self.seen.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    fn send(&mut self, data: &[u8]) {
        self.stream.write_all(data).unwrap();
    }

    /// Plays the server's side of XEP-0114 up to `<handshake/>`.
    fn handshake(&mut self) {
        self.expect(&format!("to='{JID}'>"), Duration::from_secs(10));
        self.send(
            b"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
              xmlns='jabber:component:accept' id='sid42' from='bitcoin.localhost'>",
        );
        let digest = bitcoim::stream::session::handshake_digest("sid42", SECRET);
        self.expect(
            &format!("<handshake>{digest}</handshake>"),
            Duration::from_secs(10),
        );
        self.send(b"<handshake/>");
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

const DISCO: &str = "<iq type='get' id='q1' from='alice@localhost/a' to='bitcoin.localhost'>\
                     <query xmlns='http://jabber.org/protocol/disco#info'/></iq>";

#[test]
fn answers_a_stanza_that_arrives_one_byte_at_a_time() {
    let server = Server::new();
    let mut daemon = Daemon::start(server.port(), "");
    let mut conn = server.accept(Duration::from_secs(10));
    conn.handshake();
    conn.stream.set_nodelay(true).unwrap();
    for b in DISCO.as_bytes() {
        conn.send(std::slice::from_ref(b));
    }
    let reply = conn.expect("</iq>", Duration::from_secs(10));
    assert!(reply.contains("type='result'"), "{reply}");
    assert!(reply.contains("category='gateway'"), "{reply}");
    assert!(reply.contains("id='q1'"), "{reply}");
    assert_eq!(daemon.terminate(), Some(0));
    conn.expect("</stream:stream>", Duration::from_secs(5));
}

#[test]
fn many_stanzas_in_one_write_are_all_answered() {
    let server = Server::new();
    let _daemon = Daemon::start(server.port(), "");
    let mut conn = server.accept(Duration::from_secs(10));
    conn.handshake();
    let mut burst = String::new();
    for i in 0..500 {
        burst.push_str(&format!(
            "<iq type='get' id='b{i}' from='u{i}@localhost/r' to='bitcoin.localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
        ));
    }
    conn.send(burst.as_bytes());
    let replies = conn.expect("id='b499'/>", Duration::from_secs(20));
    for i in 0..500 {
        assert!(replies.contains(&format!("id='b{i}'")), "no reply to b{i}");
    }
}

/// Each kind of bad input ends the stream with the right stream error, and
/// the daemon comes back on a new connection.
#[test]
fn bad_input_ends_the_stream_and_the_daemon_reconnects() {
    let server = Server::new();
    let daemon = Daemon::start(server.port(), "max_stanza_size = 4096");
    let big = format!("<message><body>{}</body></message>", "x".repeat(5000));
    let cases: [(&[u8], &str); 5] = [
        (b"<message><!-- sneaky --></message>", "restricted-xml"),
        (b"<!DOCTYPE lol [<!ENTITY lol 'lol'>]>", "restricted-xml"),
        (big.as_bytes(), "policy-violation"),
        (
            b"<message><body>\xc3\x28</body></message>",
            "not-well-formed",
        ),
        (b"<message><body></iq></message>", "not-well-formed"),
    ];
    for (input, condition) in cases {
        let mut conn = server.accept(Duration::from_secs(10));
        conn.handshake();
        conn.send(input);
        conn.expect(
            &format!("<{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"),
            Duration::from_secs(10),
        );
        conn.expect("</stream:stream>", Duration::from_secs(5));
        conn.expect_close(Duration::from_secs(5));
    }
    // Still alive and well after all that.
    let mut conn = server.accept(Duration::from_secs(10));
    conn.handshake();
    conn.send(DISCO.as_bytes());
    assert!(conn
        .expect("</iq>", Duration::from_secs(10))
        .contains("type='result'"));
    assert!(daemon.log().contains("stream error") || daemon.log().contains("bad input"));
}

/// A `conflict` (Prosody still holding our old session) or a closed
/// connection: the daemon retries, waiting longer each time.
#[test]
fn retries_with_growing_backoff() {
    let server = Server::new();
    let daemon = Daemon::start(server.port(), "");
    let mut conn = server.accept(Duration::from_secs(10));
    conn.expect(&format!("to='{JID}'>"), Duration::from_secs(10));
    conn.send(
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='x'>\
          <stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
    );
    let t0 = Instant::now();
    let conn = server.accept(Duration::from_secs(30));
    let first = t0.elapsed();
    drop(conn);
    let t1 = Instant::now();
    let _conn = server.accept(Duration::from_secs(30));
    let second = t1.elapsed();
    assert!(
        first >= Duration::from_millis(900),
        "first retry after {first:?}"
    );
    assert!(
        second >= Duration::from_millis(1900),
        "second retry after {second:?}"
    );
    assert!(daemon.log().contains("conflict"), "{}", daemon.log());
}

#[test]
fn a_wrong_secret_is_logged_and_retried() {
    let server = Server::new();
    let daemon = Daemon::start(server.port(), "");
    let mut conn = server.accept(Duration::from_secs(10));
    conn.expect(&format!("to='{JID}'>"), Duration::from_secs(10));
    conn.send(
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='x'>",
    );
    conn.expect("</handshake>", Duration::from_secs(10));
    conn.send(
        b"<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
          <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Invalid secret</text></stream:error>",
    );
    let _again = server.accept(Duration::from_secs(30));
    let log = daemon.log();
    assert!(log.contains("not-authorized (Invalid secret)"), "{log}");
    assert!(!log.contains(SECRET), "the secret must never be logged");
}

/// A silent server is pinged after `keepalive` seconds and dropped after
/// twice that.
#[test]
fn pings_a_silent_server_then_gives_up_on_it() {
    let server = Server::new();
    let _daemon = Daemon::start(server.port(), "keepalive = 5");
    let mut conn = server.accept(Duration::from_secs(10));
    conn.handshake();
    let t0 = Instant::now();
    let ping = conn.expect(
        "<ping xmlns='urn:xmpp:ping'/></iq>",
        Duration::from_secs(15),
    );
    assert!(ping.contains("to='localhost'"), "{ping}");
    assert!(t0.elapsed() >= Duration::from_secs(4));
    conn.expect_close(Duration::from_secs(15));
    let _again = server.accept(Duration::from_secs(10));
}
