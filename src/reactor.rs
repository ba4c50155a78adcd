//! The event loop: the only module that names mio.
//!
//! One thread owns the TCP connection to the XMPP server, the signals and
//! the timers. Each turn reads what the server sent into the [`Inbox`]
//! (up to its capacity), handles at most [`TURN`] stanzas (IQs and
//! messages before presences, each sender in order), and writes the
//! replies as far as the socket takes them, the rest on the next writable
//! event. Work that sends a stanza per user (start-up probes,
//! announcements) is asked of the application a page at a time, only while
//! the outgoing buffer is below [`LOW_WATER`]: memory stays bounded
//! whatever the user count, and a burst never starves another user's IQ.
//! The poll timeout is the next deadline (reconnect, keep-alive, the
//! application's own timers), or zero while work is waiting.
//!
//! When the server goes away, or says something we cannot accept, the
//! connection is dropped and retried with exponential backoff, 1 s to 60 s,
//! for ever; a successful handshake resets the backoff.

use crate::stream::inbox::Inbox;
use crate::stream::session::{Error as SessionError, State};
use crate::stream::{Incoming, Limits, Session};
use crate::xmpp::{ns, Element};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

const SERVER: Token = Token(0);
const SIGNALS: Token = Token(1);

const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// From `connect()` to the server's `<handshake/>`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the goodbye may take to reach the server on shutdown.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(3);
/// A server that stops reading while we queue this much is dropped.
const MAX_QUEUED: usize = 32 << 20;
/// Stanzas handled per turn before the replies are written and the
/// socket is read again.
pub const TURN: usize = 64;
/// Bulk output is asked for only while less than this waits to be
/// written.
pub const LOW_WATER: usize = 64 << 10;
/// No stanza is handled while this much waits to be written: a server
/// that reads slowly slows what we read (TCP pushes back on it) instead
/// of growing our buffer.
pub const HIGH_WATER: usize = 1 << 20;

/// What the reactor needs to know to connect.
#[derive(Debug, Clone)]
pub struct Settings {
    pub jid: String,
    pub secret: String,
    pub server: String,
    pub port: u16,
    pub keepalive: Duration,
    pub limits: Limits,
}

/// The application driven by the reactor. Each call pushes the stanzas to
/// send on `out`.
pub trait App {
    /// The handshake succeeded.
    fn on_connected(&mut self, out: &mut Vec<Element>);
    fn on_stanza(&mut self, stanza: Element, out: &mut Vec<Element>);
    /// The connection is gone (stanzas can no longer be sent).
    fn on_disconnected(&mut self);
    /// SIGTERM/SIGINT: the last stanzas before the stream closes.
    fn on_shutdown(&mut self, out: &mut Vec<Element>);
    /// SIGHUP: read the configuration again.
    fn on_reload(&mut self) {}
    /// The application's next timer, if any.
    fn next_deadline(&self) -> Option<Instant>;
    /// Called when `next_deadline` has passed.
    fn on_timer(&mut self, now: Instant, out: &mut Vec<Element>);
    /// Whether bulk output (a stanza per user) is waiting.
    fn has_backlog(&self) -> bool {
        false
    }
    /// The next page of bulk output; called while the socket drains.
    fn on_writable(&mut self, _out: &mut Vec<Element>) {}
}

struct Link {
    stream: TcpStream,
    session: Session,
    /// TCP is established (a non-blocking connect completes later).
    established: bool,
    opened_at: Instant,
    last_rx: Instant,
    ping_sent: bool,
    next_ping_id: u64,
    /// Stanzas read, not handled yet.
    inbox: Inbox,
    /// The socket may hold data not read yet (reading stopped at the
    /// inbox's capacity, or an event came).
    unread: bool,
    /// What the last read completed (kept to reuse its allocation).
    incoming: Vec<Incoming>,
}

pub struct Reactor {
    settings: Settings,
    poll: Poll,
    signals: Signals,
    link: Option<Link>,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// The domain we ping for keep-alive: the component's parent domain.
    server_domain: String,
}

/// The outcome of I/O on the link.
enum Step {
    Continue,
    Drop(String),
}

impl Reactor {
    pub fn new(settings: Settings) -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let server_domain = match settings.jid.split_once('.') {
            Some((_, parent)) if parent.contains('.') || parent == "localhost" => parent.to_owned(),
            _ => settings.server.clone(),
        };
        Ok(Reactor {
            settings,
            poll,
            signals,
            link: None,
            retry_at: Some(Instant::now()),
            backoff: MIN_BACKOFF,
            server_domain,
        })
    }

    /// Runs until SIGTERM or SIGINT, then says goodbye and returns;
    /// SIGHUP has the application reload its settings.
    pub fn run(&mut self, app: &mut dyn App) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        loop {
            let now = Instant::now();
            let timeout = if self.has_work(app) {
                Some(Duration::ZERO)
            } else {
                self.next_deadline(app)
                    .map(|d| d.saturating_duration_since(now))
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let mut shutdown = false;
            let mut reload = false;
            for event in events.iter() {
                match event.token() {
                    SIGNALS => {
                        for signal in self.signals.pending() {
                            if signal == SIGHUP {
                                reload = true;
                            } else {
                                log::info!("received signal {signal}, shutting down");
                                shutdown = true;
                            }
                        }
                    }
                    SERVER => {
                        if let Some(link) = &mut self.link {
                            link.unread = true;
                        }
                    }
                    _ => {}
                }
            }
            if shutdown {
                self.goodbye(app);
                return Ok(());
            }
            if reload {
                app.on_reload();
            }
            self.turn(app);
            self.on_timers(app);
        }
    }

    fn next_deadline(&self, app: &dyn App) -> Option<Instant> {
        let mut deadline = self.retry_at;
        if let Some(link) = &self.link {
            let link_deadline = if link.session.state() != State::Ready {
                link.opened_at + HANDSHAKE_TIMEOUT
            } else if link.ping_sent {
                link.last_rx + 2 * self.settings.keepalive
            } else {
                link.last_rx + self.settings.keepalive
            };
            deadline = earliest(deadline, Some(link_deadline));
            if self.link_ready() {
                deadline = earliest(deadline, app.next_deadline());
            }
        }
        deadline
    }

    fn link_ready(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| l.session.state() == State::Ready)
    }

    fn on_timers(&mut self, app: &mut dyn App) {
        let now = Instant::now();
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
            self.connect();
        }
        let mut drop_reason = None;
        if let Some(link) = &mut self.link {
            if link.session.state() != State::Ready {
                if now >= link.opened_at + HANDSHAKE_TIMEOUT {
                    drop_reason = Some("no handshake from the server in time".to_owned());
                }
            } else if now >= link.last_rx + 2 * self.settings.keepalive {
                drop_reason = Some(format!(
                    "the server has been silent for {} s",
                    (now - link.last_rx).as_secs()
                ));
            } else if !link.ping_sent && now >= link.last_rx + self.settings.keepalive {
                link.ping_sent = true;
                link.next_ping_id += 1;
                let ping = Element::new("iq", ns::COMPONENT)
                    .attr("type", "get")
                    .attr("id", &format!("keepalive-{}", link.next_ping_id))
                    .attr("from", &self.settings.jid)
                    .attr("to", &self.server_domain)
                    .child(Element::new("ping", ns::PING));
                link.session.send(&ping);
            }
        }
        if let Some(reason) = drop_reason {
            self.disconnect(app, &reason);
            return;
        }
        if self.link_ready() && app.next_deadline().is_some_and(|t| t <= now) {
            let mut out = Vec::new();
            app.on_timer(now, &mut out);
            self.send_all(&out);
        }
        if let Step::Drop(reason) = self.flush() {
            self.disconnect(app, &reason);
        }
    }

    fn resolve(&self) -> io::Result<SocketAddr> {
        (self.settings.server.as_str(), self.settings.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
    }

    fn connect(&mut self) {
        let addr = match self.resolve() {
            Ok(addr) => addr,
            Err(e) => {
                log::warn!(
                    "cannot resolve {}:{}: {e}",
                    self.settings.server,
                    self.settings.port
                );
                self.schedule_retry();
                return;
            }
        };
        log::info!("connecting to {addr}");
        let mut stream = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => {
                log::warn!("cannot connect to {addr}: {e}");
                self.schedule_retry();
                return;
            }
        };
        // Replies are written a turn at a time already; Nagle's algorithm
        // would hold the tail of a burst back until the server's delayed
        // acknowledgement (40 ms on Linux).
        if let Err(e) = stream.set_nodelay(true) {
            log::debug!("cannot set TCP_NODELAY: {e}");
        }
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            SERVER,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::warn!("cannot register the connection: {e}");
            self.schedule_retry();
            return;
        }
        let now = Instant::now();
        self.link = Some(Link {
            stream,
            session: Session::new(
                &self.settings.jid,
                &self.settings.secret,
                self.settings.limits,
            ),
            established: false,
            opened_at: now,
            last_rx: now,
            ping_sent: false,
            next_ping_id: 0,
            inbox: Inbox::default(),
            unread: true,
            incoming: Vec::new(),
        });
    }

    fn schedule_retry(&mut self) {
        log::info!("reconnecting in {} s", self.backoff.as_secs());
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn disconnect(&mut self, app: &mut dyn App, reason: &str) {
        if let Some(mut link) = self.link.take() {
            log::warn!("connection to the XMPP server lost: {reason}");
            let _ = self.poll.registry().deregister(&mut link.stream);
            let was_ready = link.session.state() == State::Ready;
            drop(link);
            if was_ready {
                app.on_disconnected();
            }
        }
        self.schedule_retry();
    }

    /// Whether a turn has something to do right away.
    fn has_work(&self, app: &dyn App) -> bool {
        let Some(link) = &self.link else {
            return false;
        };
        let ready = link.session.state() == State::Ready;
        let queued = link.session.queued();
        (!link.inbox.is_empty() && queued < HIGH_WATER)
            || (link.established && link.unread && !link.inbox.is_full())
            || (ready && app.has_backlog() && queued < LOW_WATER)
    }

    /// One turn on the link: read, handle a bounded number of stanzas,
    /// write, and ask for bulk output while the socket drains.
    fn turn(&mut self, app: &mut dyn App) {
        let step = match self.establish() {
            Step::Continue => self.read(app),
            drop => drop,
        };
        let step = match step {
            Step::Continue => {
                self.handle(app, TURN);
                self.flush()
            }
            drop => drop,
        };
        let step = match step {
            Step::Continue => self.pump(app),
            drop => drop,
        };
        if let Step::Drop(reason) = step {
            self.disconnect(app, &reason);
        }
    }

    /// Handles up to `max` stanzas of the inbox, none while the server
    /// has not read what we sent ([`HIGH_WATER`]).
    fn handle(&mut self, app: &mut dyn App, max: usize) {
        if self
            .link
            .as_ref()
            .is_none_or(|l| l.session.queued() >= HIGH_WATER)
        {
            return;
        }
        let mut out = Vec::new();
        for _ in 0..max {
            let Some(stanza) = self.link.as_mut().and_then(|l| l.inbox.pop()) else {
                break;
            };
            app.on_stanza(stanza, &mut out);
        }
        self.send_all(&out);
    }

    /// Bulk output, a page at a time, while the socket takes it.
    fn pump(&mut self, app: &mut dyn App) -> Step {
        loop {
            let Some(link) = &self.link else {
                return Step::Continue;
            };
            let ready = link.session.state() == State::Ready;
            if !ready || !app.has_backlog() || link.session.queued() >= LOW_WATER {
                return Step::Continue;
            }
            let mut out = Vec::new();
            app.on_writable(&mut out);
            if out.is_empty() {
                return Step::Continue;
            }
            self.send_all(&out);
            if let Step::Drop(reason) = self.flush() {
                return Step::Drop(reason);
            }
        }
    }

    fn establish(&mut self) -> Step {
        let Some(link) = &mut self.link else {
            return Step::Continue;
        };
        if link.established {
            return Step::Continue;
        }
        match link.stream.take_error() {
            Ok(Some(e)) | Err(e) => return Step::Drop(format!("connect failed: {e}")),
            Ok(None) => {}
        }
        match link.stream.peer_addr() {
            Ok(_) => {
                link.established = true;
                Step::Continue
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Step::Continue,
            Err(e) => Step::Drop(format!("connect failed: {e}")),
        }
    }

    /// Reads what the socket holds into the inbox, until it would block or
    /// the inbox is full.
    fn read(&mut self, app: &mut dyn App) -> Step {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let Some(link) = &mut self.link else {
                return Step::Continue;
            };
            if !link.established || !link.unread {
                return Step::Continue;
            }
            if link.inbox.is_full() {
                return Step::Continue;
            }
            let n = match link.stream.read(&mut buf) {
                Ok(0) => return Step::Drop("the server closed the connection".to_owned()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    link.unread = false;
                    return Step::Continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Step::Drop(format!("read failed: {e}")),
            };
            link.last_rx = Instant::now();
            link.ping_sent = false;
            let fed = link.session.feed_into(&buf[..n], &mut link.incoming);
            let pending = link.session.take_pending_error();
            let mut out = Vec::new();
            let result = match fed {
                Ok(()) => {
                    for item in link.incoming.drain(..) {
                        match item {
                            Incoming::Ready => {
                                log::info!("component connected as {}", self.settings.jid);
                                self.backoff = MIN_BACKOFF;
                                app.on_connected(&mut out);
                            }
                            Incoming::Stanza(stanza) => link.inbox.push(stanza),
                        }
                    }
                    pending.map_or(Ok(()), Err)
                }
                Err(e) => Err(e),
            };
            self.send_all(&out);
            if let Err(e) = result {
                if let SessionError::StreamError { condition, .. } = &e {
                    if condition == "conflict" {
                        log::warn!(
                            "the server still has our previous session (conflict); \
                             it usually lets go within a minute"
                        );
                    }
                }
                // What came before the error is still answered.
                let waiting = self.link.as_ref().map_or(0, |l| l.inbox.len());
                self.handle(app, waiting);
                let _ = self.flush();
                return Step::Drop(e.to_string());
            }
        }
    }

    fn send_all(&mut self, stanzas: &[Element]) {
        if let Some(link) = &mut self.link {
            for stanza in stanzas {
                link.session.send(stanza);
            }
        } else if !stanzas.is_empty() {
            log::warn!("{} stanzas dropped: not connected", stanzas.len());
        }
    }

    /// Writes queued bytes until the socket would block.
    fn flush(&mut self) -> Step {
        let Some(link) = &mut self.link else {
            return Step::Continue;
        };
        if !link.established {
            return Step::Continue;
        }
        loop {
            let pending = link.session.out().pending();
            if pending.is_empty() {
                return Step::Continue;
            }
            match link.stream.write(pending) {
                Ok(0) => return Step::Drop("the server stopped accepting data".to_owned()),
                Ok(n) => link.session.out().advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if link.session.out().pending().len() > MAX_QUEUED {
                        return Step::Drop("the server is not reading what we send".to_owned());
                    }
                    return Step::Continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Step::Drop(format!("write failed: {e}")),
            }
        }
    }

    /// Sends the application's last words and `</stream:stream>`, waiting
    /// a little for them to leave.
    fn goodbye(&mut self, app: &mut dyn App) {
        if !self.link_ready() {
            return;
        }
        let mut out = Vec::new();
        app.on_shutdown(&mut out);
        self.send_all(&out);
        if let Some(link) = &mut self.link {
            link.session.close();
        }
        let deadline = Instant::now() + GOODBYE_TIMEOUT;
        let mut events = Events::with_capacity(8);
        loop {
            if let Step::Drop(reason) = self.flush() {
                log::warn!("goodbye not delivered: {reason}");
                return;
            }
            let done = self
                .link
                .as_mut()
                .is_none_or(|l| l.session.out().is_empty());
            let now = Instant::now();
            if done || now >= deadline {
                break;
            }
            let _ = self.poll.poll(&mut events, Some(deadline - now));
        }
        if let Some(link) = &mut self.link {
            let _ = link.stream.shutdown(std::net::Shutdown::Write);
        }
        log::info!("stream closed");
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
