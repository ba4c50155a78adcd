//! XEP-0114: Jabber Component Protocol, the session without its socket.
//!
//! A [`Session`] is one connection's worth of protocol state: it writes our
//! stream header, answers the server's header with the handshake, waits for
//! `<handshake/>`, then hands stanzas up and takes stanzas down. Bytes come
//! in through [`Session::feed`] and go out through [`Session::out`]; the
//! reactor moves them to and from the socket.

use super::outbuf::OutBuffer;
use super::parser::{self, Event, Limits, Parser};
use crate::xmpp::element::{escape_into, Element};
use crate::xmpp::ns;
use sha1::{Digest, Sha1};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    AwaitingHeader,
    AwaitingHandshake,
    Ready,
    Closed,
}

/// What the session hands up to the application.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// The server accepted our handshake: stanzas may flow.
    Ready,
    Stanza(Element),
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The server's bytes broke a rule; we sent it a stream error.
    Parse(parser::Error),
    /// The server sent a stream error (RFC 6120, section 4.9).
    StreamError {
        condition: String,
        text: Option<String>,
    },
    /// The server closed the stream.
    Closed,
    /// The server spoke out of turn (no stream id, stanza before handshake).
    Protocol(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Parse(e) => write!(f, "bad input from the server: {e}"),
            Error::StreamError { condition, text } => {
                write!(f, "stream error from the server: {condition}")?;
                if let Some(text) = text {
                    write!(f, " ({text})")?;
                }
                Ok(())
            }
            Error::Closed => write!(f, "the server closed the stream"),
            Error::Protocol(what) => write!(f, "protocol error: {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// XEP-0114 section 3: the handshake is the lowercase hex SHA-1 of the
/// stream id followed by the shared secret.
pub fn handshake_digest(stream_id: &str, secret: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(stream_id.as_bytes());
    hasher.update(secret.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub struct Session {
    jid: String,
    secret: String,
    state: State,
    parser: Parser,
    out: OutBuffer,
    /// An error met after stanzas that were still delivered.
    pending_error: Option<Error>,
}

impl Session {
    /// A new session; our stream header is already queued in `out`.
    pub fn new(jid: &str, secret: &str, limits: Limits) -> Session {
        let mut session = Session {
            jid: jid.to_owned(),
            secret: secret.to_owned(),
            state: State::AwaitingHeader,
            parser: Parser::new(limits),
            out: OutBuffer::default(),
            pending_error: None,
        };
        let mut header = String::from("<?xml version='1.0'?><stream:stream xmlns='");
        header.push_str(ns::COMPONENT);
        header.push_str("' xmlns:stream='");
        header.push_str(ns::STREAM);
        header.push_str("' to='");
        escape_into(&mut header, jid, true);
        header.push_str("'>");
        log::debug!("SEND {header}");
        session.out.push(header.as_bytes());
        session
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn jid(&self) -> &str {
        &self.jid
    }

    pub fn out(&mut self) -> &mut OutBuffer {
        &mut self.out
    }

    /// How many bytes wait to be written.
    pub fn queued(&self) -> usize {
        self.out.pending().len()
    }

    /// Queues a stanza; ignored unless the session is ready.
    pub fn send(&mut self, stanza: &Element) {
        if self.state != State::Ready {
            log::warn!("dropping a <{}> while the stream is not ready", stanza.name);
            return;
        }
        let tail = self.out.tail();
        let start = tail.len();
        stanza.write_to(tail, ns::COMPONENT);
        if log::log_enabled!(log::Level::Debug) {
            log::debug!("SEND {}", String::from_utf8_lossy(&tail[start..]));
        }
    }

    /// Queues `</stream:stream>`: the polite end of a session.
    pub fn close(&mut self) {
        if self.state != State::Closed {
            log::debug!("SEND </stream:stream>");
            self.out.push(b"</stream:stream>");
            self.state = State::Closed;
        }
    }

    /// Takes bytes read from the server and returns what they completed.
    /// On error the stream is over: a stream error may have been queued for
    /// the server, and the caller should flush and then drop the connection.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Incoming>, Error> {
        let mut incoming = Vec::new();
        self.feed_into(data, &mut incoming).map(|()| incoming)
    }

    /// [`Session::feed`], appending to `incoming` (a buffer the caller
    /// keeps, so that reading allocates no vector per read).
    pub fn feed_into(&mut self, data: &[u8], incoming: &mut Vec<Incoming>) -> Result<(), Error> {
        if log::log_enabled!(log::Level::Debug) {
            log::debug!("RECV {}", String::from_utf8_lossy(data));
        }
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        self.parser.feed(data);
        let before = incoming.len();
        let error = loop {
            let event = match self.parser.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(()),
                Err(e) => {
                    self.send_stream_error(e.condition());
                    break Error::Parse(e);
                }
            };
            match self.on_event(event) {
                Ok(Some(i)) => incoming.push(i),
                Ok(None) => {}
                Err(e) => break e,
            }
        };
        self.state = State::Closed;
        // The stanzas before the error still count; the caller learns of
        // the error from the next feed.
        if incoming.len() == before {
            return Err(error);
        }
        self.pending_error = Some(error);
        Ok(())
    }

    /// An error held back by [`Session::feed_into`] so that the stanzas before
    /// it could be delivered.
    pub fn take_pending_error(&mut self) -> Option<Error> {
        self.pending_error.take()
    }

    fn on_event(&mut self, event: Event) -> Result<Option<Incoming>, Error> {
        match (self.state, event) {
            (_, Event::Close) => Err(Error::Closed),
            (_, Event::Stanza(el)) if el.is("error", ns::STREAM) => {
                let condition = el
                    .elements()
                    .find(|c| c.ns == ns::STREAM_ERRORS && c.name != "text")
                    .map_or_else(|| "undefined-condition".to_owned(), |c| c.name.clone());
                let text = el
                    .get_child("text", ns::STREAM_ERRORS)
                    .map(Element::text_content);
                Err(Error::StreamError { condition, text })
            }
            (State::AwaitingHeader, Event::Open(header)) => {
                let id = header
                    .get_attr("id")
                    .ok_or_else(|| Error::Protocol("the stream header has no id".to_owned()))?;
                let digest = handshake_digest(id, &self.secret);
                log::debug!("SEND <handshake>(digest of the secret)</handshake>");
                self.out.push(b"<handshake>");
                self.out.push(digest.as_bytes());
                self.out.push(b"</handshake>");
                self.state = State::AwaitingHandshake;
                Ok(None)
            }
            (State::AwaitingHandshake, Event::Stanza(el)) if el.is("handshake", ns::COMPONENT) => {
                self.state = State::Ready;
                Ok(Some(Incoming::Ready))
            }
            (State::Ready, Event::Stanza(el)) => Ok(Some(Incoming::Stanza(el))),
            (State::Closed, Event::Stanza(_)) => Ok(None),
            (state, event) => Err(Error::Protocol(format!(
                "unexpected {} while {state:?}",
                match event {
                    Event::Open(_) => "stream header".to_owned(),
                    Event::Stanza(el) => format!("<{}>", el.name),
                    Event::Close => "end of stream".to_owned(),
                }
            ))),
        }
    }

    fn send_stream_error(&mut self, condition: &str) {
        if self.state == State::Closed {
            return;
        }
        let error = format!(
            "<stream:error><{condition} xmlns='{}'/></stream:error></stream:stream>",
            ns::STREAM_ERRORS
        );
        log::debug!("SEND {error}");
        self.out.push(error.as_bytes());
        self.state = State::Closed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER_HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='bitcoin.localhost' id='sid'>";

    fn drain(session: &mut Session) -> String {
        let out = String::from_utf8(session.out().pending().to_vec()).unwrap();
        let n = out.len();
        session.out().advance(n);
        out
    }

    // The vector of xmpp-rs's component.rs and of XEP-0114's example.
    #[test]
    fn handshake_vector() {
        assert_eq!(
            handshake_digest("sid", "123456"),
            "9accec263ab84a43c6037ccf7cd48cb1d3f6df8e"
        );
    }

    fn ready_session() -> Session {
        let mut s = Session::new("bitcoin.localhost", "123456", Limits::default());
        drain(&mut s);
        s.feed(SERVER_HEADER).unwrap();
        drain(&mut s);
        assert_eq!(s.feed(b"<handshake/>").unwrap(), vec![Incoming::Ready]);
        s
    }

    #[test]
    fn opens_and_hands_shake() {
        let mut s = Session::new("bitcoin.localhost", "123456", Limits::default());
        assert_eq!(
            drain(&mut s),
            "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' \
             xmlns:stream='http://etherx.jabber.org/streams' to='bitcoin.localhost'>"
        );
        assert_eq!(s.feed(SERVER_HEADER).unwrap(), vec![]);
        assert_eq!(
            drain(&mut s),
            "<handshake>9accec263ab84a43c6037ccf7cd48cb1d3f6df8e</handshake>"
        );
        assert_eq!(s.state(), State::AwaitingHandshake);
        assert_eq!(s.feed(b"<handshake/>").unwrap(), vec![Incoming::Ready]);
        assert_eq!(s.state(), State::Ready);
    }

    #[test]
    fn reports_stream_errors_with_their_condition() {
        let mut s = Session::new("bitcoin.localhost", "wrong", Limits::default());
        s.feed(SERVER_HEADER).unwrap();
        let err = s
            .feed(b"<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Bad secret</text></stream:error></stream:stream>")
            .unwrap_err();
        assert_eq!(
            err,
            Error::StreamError {
                condition: "not-authorized".to_owned(),
                text: Some("Bad secret".to_owned())
            }
        );
        assert_eq!(
            err.to_string(),
            "stream error from the server: not-authorized (Bad secret)"
        );
    }

    #[test]
    fn answers_bad_xml_with_a_stream_error() {
        let mut s = ready_session();
        drain(&mut s);
        let err = s.feed(b"<message><!-- x --></message>").unwrap_err();
        assert_eq!(err, Error::Parse(parser::Error::Restricted("comment")));
        assert_eq!(
            drain(&mut s),
            "<stream:error><restricted-xml xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
             </stream:error></stream:stream>"
        );
        assert_eq!(s.state(), State::Closed);
    }

    #[test]
    fn stanzas_before_an_error_are_delivered() {
        let mut s = ready_session();
        let got = s.feed(b"<message id='1'/></stream:stream>").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(s.feed(b"").unwrap_err(), Error::Closed);
    }

    #[test]
    fn refuses_stanzas_before_the_handshake() {
        let mut s = Session::new("bitcoin.localhost", "x", Limits::default());
        s.feed(SERVER_HEADER).unwrap();
        assert!(matches!(s.feed(b"<message/>"), Err(Error::Protocol(_))));
        let mut s = Session::new("bitcoin.localhost", "x", Limits::default());
        assert!(matches!(
            s.feed(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'>"),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn sends_stanzas_only_when_ready() {
        let mut s = Session::new("bitcoin.localhost", "x", Limits::default());
        drain(&mut s);
        s.send(&Element::new("message", ns::COMPONENT));
        assert_eq!(drain(&mut s), "");
        let mut s = ready_session();
        drain(&mut s);
        s.send(&Element::new("message", ns::COMPONENT).attr("to", "a@b"));
        s.close();
        assert_eq!(drain(&mut s), "<message to='a@b'/></stream:stream>");
    }
}
