//! Incremental parser for the XEP-0114 stream, with our own limits.
//!
//! The reactor appends whatever bytes a read gave; this parser never sees a
//! socket. It works in two passes:
//!
//! 1. a byte scanner, whose state survives between reads, finds where each
//!    top-level element (stanza) ends, whatever the TCP segmentation. It
//!    enforces the limits (stanza bytes, nesting depth, attributes per
//!    element) *before* anything is handed to quick-xml, and refuses what
//!    XMPP forbids on a stream (RFC 6120, section 11.1: comments,
//!    processing instructions, DOCTYPE and entity declarations);
//! 2. quick-xml parses each complete stanza from a `&str` into an
//!    [`Element`], with namespaces resolved against the stream header's
//!    declarations.
//!
//! quick-xml has no limits of its own and used to be quadratic on
//! duplicate attributes (RUSTSEC-2026-0194): the scanner's attribute count
//! bounds that work whatever the version.

use crate::xmpp::element::{is_xml_char, Element};
use crate::xmpp::ns;
use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::{Reader, XmlVersion};
use std::fmt;

/// Bounds on what the peer may send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of one stanza, from its `<` to its last `>`.
    pub max_stanza_bytes: usize,
    /// Nesting depth inside a stanza (the stanza itself is depth 1).
    pub max_depth: usize,
    /// Attributes (namespace declarations included) on one element.
    pub max_attrs: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_stanza_bytes: 64 * 1024,
            max_depth: 32,
            max_attrs: 64,
        }
    }
}

/// What the parser found in the bytes fed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer's `<stream:stream>` header, as an element without children.
    Open(Element),
    /// A complete top-level element.
    Stanza(Element),
    /// `</stream:stream>`.
    Close,
}

/// Why the stream cannot go on. Each maps to a stream error condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    TooLarge(usize),
    TooDeep(usize),
    TooManyAttributes(usize),
    /// Comment, processing instruction, DOCTYPE or entity declaration.
    Restricted(&'static str),
    InvalidUtf8,
    BadNamespace(String),
    NotWellFormed(String),
}

impl Error {
    /// The RFC 6120 stream error condition to send for this error.
    pub fn condition(&self) -> &'static str {
        match self {
            Error::TooLarge(_) | Error::TooDeep(_) | Error::TooManyAttributes(_) => {
                "policy-violation"
            }
            Error::Restricted(_) => "restricted-xml",
            Error::InvalidUtf8 => "not-well-formed",
            Error::BadNamespace(_) => "invalid-namespace",
            Error::NotWellFormed(_) => "not-well-formed",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLarge(n) => write!(f, "stanza larger than {n} bytes"),
            Error::TooDeep(n) => write!(f, "elements nested deeper than {n}"),
            Error::TooManyAttributes(n) => write!(f, "more than {n} attributes on an element"),
            Error::Restricted(what) => write!(f, "{what} not allowed in an XMPP stream"),
            Error::InvalidUtf8 => write!(f, "invalid UTF-8"),
            Error::BadNamespace(what) => write!(f, "bad namespace: {what}"),
            Error::NotWellFormed(what) => write!(f, "malformed XML: {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// Where the scanner is inside the markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    Text,
    /// Just after `<`.
    Lt,
    /// After `<!`, having matched `n` bytes of the longest candidate.
    Bang(usize),
    /// Inside `<?...?>`; `true` when the previous byte was `?`.
    Pi(bool),
    StartTag {
        quote: u8,
        attrs: usize,
        slash: bool,
    },
    EndTag,
    /// Inside `<![CDATA[...]]>`, counting the `]` just seen.
    CData(u8),
}

/// The namespace declarations in scope: `(prefix, uri)`, `""` = default.
type Scope = Vec<(String, String)>;

pub struct Parser {
    limits: Limits,
    buf: Vec<u8>,
    /// Next byte to scan.
    pos: usize,
    /// Bytes before this index are done with and may be dropped.
    consumed: usize,
    scan: Scan,
    /// 0 before the header, 1 at stream level, 2 inside a stanza, ...
    depth: usize,
    tag_start: usize,
    stanza_start: Option<usize>,
    seen_header: bool,
    /// Some markup came already: an XML declaration is too late.
    seen_markup: bool,
    /// Declarations of the stream header, inherited by every stanza.
    scope: Scope,
    failed: Option<Error>,
}

const CDATA: &[u8] = b"[CDATA[";

impl Parser {
    pub fn new(limits: Limits) -> Parser {
        Parser {
            limits,
            buf: Vec::with_capacity(4096),
            pos: 0,
            consumed: 0,
            scan: Scan::Text,
            depth: 0,
            tag_start: 0,
            stanza_start: None,
            seen_header: false,
            seen_markup: false,
            scope: Vec::new(),
            failed: None,
        }
    }

    /// Appends bytes read from the peer.
    pub fn feed(&mut self, data: &[u8]) {
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.pos -= self.consumed;
            self.tag_start = self.tag_start.saturating_sub(self.consumed);
            if let Some(s) = self.stanza_start.as_mut() {
                *s -= self.consumed;
            }
            self.consumed = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes held for an unfinished stanza.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// The next complete event, `Ok(None)` when more bytes are needed.
    /// After an error the parser stays failed: the stream must be dropped.
    pub fn next_event(&mut self) -> Result<Option<Event>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.scan_event();
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn scan_event(&mut self) -> Result<Option<Event>, Error> {
        while self.pos < self.buf.len() {
            let i = self.pos;
            let b = self.buf[i];
            self.pos += 1;
            if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') {
                return Err(Error::NotWellFormed(format!("control character 0x{b:02x}")));
            }
            if let Some(event) = self.step(i, b)? {
                return Ok(Some(event));
            }
            let start = self.stanza_start.unwrap_or(self.tag_start);
            if self.scan != Scan::Text || self.stanza_start.is_some() {
                if i + 1 - start > self.limits.max_stanza_bytes {
                    return Err(Error::TooLarge(self.limits.max_stanza_bytes));
                }
            } else if self.depth <= 1 {
                self.consumed = self.pos;
            }
        }
        Ok(None)
    }

    fn step(&mut self, i: usize, b: u8) -> Result<Option<Event>, Error> {
        match self.scan {
            Scan::Text => {
                if b == b'<' {
                    self.tag_start = i;
                    self.scan = Scan::Lt;
                } else if self.depth <= 1 && !b.is_ascii_whitespace() {
                    return Err(Error::NotWellFormed("text outside of a stanza".to_owned()));
                }
            }
            Scan::Lt => {
                self.scan = match b {
                    b'/' => Scan::EndTag,
                    b'!' => Scan::Bang(0),
                    b'?' => {
                        // Only the XML declaration, and only before any
                        // other markup.
                        if self.seen_header || self.seen_markup {
                            return Err(Error::Restricted("processing instruction"));
                        }
                        self.seen_markup = true;
                        Scan::Pi(false)
                    }
                    b'>' | b'<' | b'=' | b'"' | b'\'' => {
                        return Err(Error::NotWellFormed("bad tag name".to_owned()))
                    }
                    _ if b.is_ascii_whitespace() => {
                        return Err(Error::NotWellFormed("bad tag name".to_owned()))
                    }
                    _ => {
                        self.seen_markup = true;
                        Scan::StartTag {
                            quote: 0,
                            attrs: 0,
                            slash: false,
                        }
                    }
                };
            }
            Scan::Bang(n) => {
                if n == 0 && b == b'-' {
                    return Err(Error::Restricted("comment"));
                }
                if b != CDATA[n] {
                    return Err(Error::Restricted("DOCTYPE or markup declaration"));
                }
                if n + 1 == CDATA.len() {
                    if self.depth < 2 {
                        return Err(Error::NotWellFormed(
                            "CDATA section outside of a stanza".to_owned(),
                        ));
                    }
                    self.scan = Scan::CData(0);
                } else {
                    self.scan = Scan::Bang(n + 1);
                }
            }
            Scan::Pi(question) => {
                if question && b == b'>' {
                    let pi = &self.buf[self.tag_start..=i];
                    let declaration = pi.len() >= 7
                        && pi.starts_with(b"<?xml")
                        && (pi[5].is_ascii_whitespace() || pi[5] == b'?');
                    if !declaration {
                        return Err(Error::Restricted("processing instruction"));
                    }
                    self.scan = Scan::Text;
                    self.consumed = self.pos;
                } else {
                    self.scan = Scan::Pi(b == b'?');
                }
            }
            Scan::CData(brackets) => {
                self.scan = match b {
                    b']' => Scan::CData((brackets + 1).min(2)),
                    b'>' if brackets == 2 => Scan::Text,
                    _ => Scan::CData(0),
                };
            }
            Scan::StartTag {
                quote,
                attrs,
                slash,
            } => return self.step_start_tag(i, b, quote, attrs, slash),
            Scan::EndTag => {
                if b == b'<' {
                    return Err(Error::NotWellFormed("'<' inside an end tag".to_owned()));
                }
                if b == b'>' {
                    self.scan = Scan::Text;
                    return self.end_element(i);
                }
            }
        }
        Ok(None)
    }

    fn step_start_tag(
        &mut self,
        i: usize,
        b: u8,
        quote: u8,
        attrs: usize,
        slash: bool,
    ) -> Result<Option<Event>, Error> {
        if b == b'<' {
            return Err(Error::NotWellFormed("'<' inside a tag".to_owned()));
        }
        if quote != 0 {
            let quote = if b == quote { 0 } else { quote };
            self.scan = Scan::StartTag {
                quote,
                attrs,
                slash: false,
            };
            return Ok(None);
        }
        match b {
            b'"' | b'\'' => {
                self.scan = Scan::StartTag {
                    quote: b,
                    attrs,
                    slash: false,
                }
            }
            b'=' => {
                if attrs + 1 > self.limits.max_attrs {
                    return Err(Error::TooManyAttributes(self.limits.max_attrs));
                }
                self.scan = Scan::StartTag {
                    quote: 0,
                    attrs: attrs + 1,
                    slash: false,
                };
            }
            b'>' => {
                self.scan = Scan::Text;
                return self.start_element(i, slash);
            }
            _ => {
                self.scan = Scan::StartTag {
                    quote: 0,
                    attrs,
                    slash: b == b'/',
                }
            }
        }
        Ok(None)
    }

    fn start_element(&mut self, end: usize, empty: bool) -> Result<Option<Event>, Error> {
        match (self.depth, empty) {
            (0, true) => Err(Error::NotWellFormed(
                "the stream header cannot be an empty element".to_owned(),
            )),
            (0, false) => {
                self.depth = 1;
                self.consumed = end + 1;
                let header = self.open_header(self.tag_start, end)?;
                Ok(Some(Event::Open(header)))
            }
            (1, true) => self.complete_stanza(self.tag_start, end),
            (1, false) => {
                self.stanza_start = Some(self.tag_start);
                self.depth = 2;
                Ok(None)
            }
            // `depth` counts the stream, so it is the new element's level
            // inside its stanza.
            (depth, true) => {
                if depth > self.limits.max_depth {
                    return Err(Error::TooDeep(self.limits.max_depth));
                }
                Ok(None)
            }
            (depth, false) => {
                if depth > self.limits.max_depth {
                    return Err(Error::TooDeep(self.limits.max_depth));
                }
                self.depth += 1;
                Ok(None)
            }
        }
    }

    fn end_element(&mut self, end: usize) -> Result<Option<Event>, Error> {
        match self.depth {
            0 => Err(Error::NotWellFormed(
                "end tag before the stream header".to_owned(),
            )),
            1 => {
                self.depth = 0;
                self.consumed = end + 1;
                Ok(Some(Event::Close))
            }
            2 => {
                self.depth = 1;
                let start = self.stanza_start.take().unwrap_or(self.tag_start);
                self.complete_stanza(start, end)
            }
            _ => {
                self.depth -= 1;
                Ok(None)
            }
        }
    }

    fn complete_stanza(&mut self, start: usize, end: usize) -> Result<Option<Event>, Error> {
        // The byte that completes a stanza is checked here: the scanner
        // returns before its own size check.
        if end + 1 - start > self.limits.max_stanza_bytes {
            return Err(Error::TooLarge(self.limits.max_stanza_bytes));
        }
        self.consumed = end + 1;
        self.stanza_start = None;
        let text = std::str::from_utf8(&self.buf[start..=end]).map_err(|_| Error::InvalidUtf8)?;
        let element = parse_element(text, &self.scope)?;
        Ok(Some(Event::Stanza(element)))
    }

    fn open_header(&mut self, start: usize, end: usize) -> Result<Element, Error> {
        if end + 1 - start > self.limits.max_stanza_bytes {
            return Err(Error::TooLarge(self.limits.max_stanza_bytes));
        }
        let text = std::str::from_utf8(&self.buf[start..=end]).map_err(|_| Error::InvalidUtf8)?;
        let mut reader = Reader::from_str(text);
        let start_tag = match reader.read_event() {
            Ok(XmlEvent::Start(tag)) => tag,
            Ok(other) => {
                return Err(Error::NotWellFormed(format!(
                    "expected the stream header, got {other:?}"
                )))
            }
            Err(e) => return Err(Error::NotWellFormed(e.to_string())),
        };
        let mut scope = Vec::new();
        let header = open_element(&start_tag, &mut scope, &[])?;
        if !header.is("stream", ns::STREAM) {
            return Err(Error::BadNamespace(format!(
                "the stream header is <{}> in '{}', expected <stream> in '{}'",
                header.name,
                header.ns,
                ns::STREAM
            )));
        }
        let default_ns = lookup(&scope, "").unwrap_or("");
        if default_ns != ns::COMPONENT {
            return Err(Error::BadNamespace(format!(
                "the stream's default namespace is '{default_ns}', expected '{}'",
                ns::COMPONENT
            )));
        }
        self.seen_header = true;
        self.scope = scope;
        Ok(header)
    }
}

fn lookup<'s>(scope: &'s [(String, String)], prefix: &str) -> Option<&'s str> {
    scope
        .iter()
        .rev()
        .find(|(p, _)| p == prefix)
        .map(|(_, uri)| uri.as_str())
}

/// Builds an element from a start tag, pushing its namespace declarations
/// on `scope` (the caller pops them when the element ends); prefixes not
/// declared there are looked up in `inherited` (the stream's).
fn open_element(
    tag: &BytesStart<'_>,
    scope: &mut Scope,
    inherited: &[(String, String)],
) -> Result<Element, Error> {
    let mut attrs = Vec::new();
    for attr in tag.attributes() {
        let attr = attr.map_err(|e| Error::NotWellFormed(e.to_string()))?;
        let key = attr.key.as_ref();
        check_qname(key, "attribute")?;
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(entity_error)?;
        check_chars(&value)?;
        if key == "xmlns" {
            scope.push((String::new(), value.into_owned()));
        } else if let Some(prefix) = key.strip_prefix("xmlns:") {
            if value.is_empty() {
                return Err(Error::BadNamespace(format!(
                    "empty URI for prefix {prefix}"
                )));
            }
            scope.push((prefix.to_owned(), value.into_owned()));
        } else if !key.contains(':') || key.starts_with("xml:") {
            attrs.push((key.to_owned(), value.into_owned()));
        }
        // Other prefixed attributes belong to extensions bitcoIM does not
        // read; dropping them saves re-declaring their namespaces.
    }
    let qname = tag.name();
    let qname = qname.as_ref();
    check_qname(qname, "element")?;
    let (prefix, local) = qname.split_once(':').unwrap_or(("", qname));
    let ns = match lookup(scope, prefix).or_else(|| lookup(inherited, prefix)) {
        Some(ns) => ns.to_owned(),
        None if prefix.is_empty() => String::new(),
        None => return Err(Error::BadNamespace(format!("unbound prefix '{prefix}'"))),
    };
    Ok(Element {
        name: local.to_owned(),
        ns,
        attrs,
        children: Vec::new(),
    })
}

/// XML 1.0's `NameStartChar`, less the colon.
fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

/// XML's NCName (`NameStartChar` then `NameChar`s, no colon). quick-xml
/// does not check names, and the writer copies them as they are.
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_name_start)
        && chars.all(|c| {
            is_name_start(c)
                || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}'
                    | '\u{203F}'..='\u{2040}')
        })
}

/// A qualified name: an NCName, or two joined by one `:`.
fn check_qname(name: &str, what: &str) -> Result<(), Error> {
    let ok = match name.split_once(':') {
        Some((prefix, local)) => is_ncname(prefix) && is_ncname(local),
        None => is_ncname(name),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::NotWellFormed(format!("bad {what} name {name:?}")))
    }
}

fn check_chars(s: &str) -> Result<(), Error> {
    match s.chars().find(|&c| !is_xml_char(c)) {
        Some(c) => Err(Error::NotWellFormed(format!(
            "character U+{:04X} is not allowed in XML",
            c as u32
        ))),
        None => Ok(()),
    }
}

fn entity_error(e: quick_xml::Error) -> Error {
    match e {
        quick_xml::Error::Escape(_) => Error::Restricted("undeclared entity"),
        other => Error::NotWellFormed(other.to_string()),
    }
}

/// Parses one complete element whose inherited declarations are
/// `inherited` (not copied: a stanza's own declarations go on a scope of
/// its own).
fn parse_element(text: &str, inherited: &Scope) -> Result<Element, Error> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut scope = Scope::new();
    // Each open element with the scope length to restore when it closes.
    let mut stack: Vec<(Element, usize)> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| Error::NotWellFormed(e.to_string()))?;
        let finished = match event {
            XmlEvent::Start(tag) => {
                let mark = scope.len();
                let element = open_element(&tag, &mut scope, inherited)?;
                stack.push((element, mark));
                None
            }
            XmlEvent::Empty(tag) => {
                let mark = scope.len();
                let element = open_element(&tag, &mut scope, inherited)?;
                scope.truncate(mark);
                Some(element)
            }
            XmlEvent::End(_) => {
                let (element, mark) = stack
                    .pop()
                    .ok_or_else(|| Error::NotWellFormed("unexpected end tag".to_owned()))?;
                scope.truncate(mark);
                Some(element)
            }
            XmlEvent::Text(t) => {
                let content = t.xml10_content();
                check_chars(&content)?;
                if let Some((parent, _)) = stack.last_mut() {
                    parent.push_text(&content);
                }
                None
            }
            XmlEvent::CData(t) => {
                let content = t.xml10_content();
                check_chars(&content)?;
                if let Some((parent, _)) = stack.last_mut() {
                    parent.push_text(&content);
                }
                None
            }
            XmlEvent::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(entity_error)? {
                    Some(c) if is_xml_char(c) => c,
                    Some(c) => {
                        return Err(Error::NotWellFormed(format!(
                            "character reference to U+{:04X}",
                            c as u32
                        )))
                    }
                    None => match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        _ => return Err(Error::Restricted("undeclared entity")),
                    },
                };
                if let Some((parent, _)) = stack.last_mut() {
                    let mut utf8 = [0u8; 4];
                    parent.push_text(resolved.encode_utf8(&mut utf8));
                }
                None
            }
            XmlEvent::Comment(_) => return Err(Error::Restricted("comment")),
            XmlEvent::PI(_) | XmlEvent::Decl(_) => {
                return Err(Error::Restricted("processing instruction"))
            }
            XmlEvent::DocType(_) => return Err(Error::Restricted("DOCTYPE")),
            XmlEvent::Eof => {
                return Err(Error::NotWellFormed("unclosed element".to_owned()));
            }
        };
        if let Some(element) = finished {
            match stack.last_mut() {
                Some((parent, _)) => parent.push(element),
                None => return Ok(element),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='bitcoin.localhost' id='sid-1'>";

    /// A recorded server side of a session: header, handshake, a few
    /// stanzas with namespaces, entities, CDATA, non-ASCII text, whitespace
    /// keep-alives, and the end of the stream.
    const SESSION: &str = concat!(
        "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='bitcoin.localhost' id='sid-1'>",
        "<handshake/>",
        "\n ",
        "<iq type='get' id='d1' from='alice@localhost/Gajim' to='bitcoin.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        "<message from=\"bob@localhost/x\" to='bitcoin.localhost' type='chat' xml:lang='fr'><body>pay 0.1 alice caf\u{e9} &amp; &#x263A; &lt;3</body><x:y xmlns:x='urn:x'><![CDATA[<raw>&]]></x:y></message>",
        " ",
        "<presence from='bob@localhost/x' to='bitcoin.localhost'><status>\u{1F600}</status></presence>",
        "</stream:stream>",
    );

    fn parse_all(chunks: &[&[u8]]) -> Result<Vec<Event>, Error> {
        let mut parser = Parser::new(Limits::default());
        let mut events = Vec::new();
        for chunk in chunks {
            parser.feed(chunk);
            while let Some(e) = parser.next_event()? {
                events.push(e);
            }
        }
        Ok(events)
    }

    fn stanzas(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Stanza(s) => {
                    let mut out = String::new();
                    s.write_to(&mut out, ns::COMPONENT);
                    Some(out)
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn parses_a_recorded_session() {
        let events = parse_all(&[SESSION.as_bytes()]).unwrap();
        assert_eq!(events.len(), 6);
        match &events[0] {
            Event::Open(h) => {
                assert_eq!(h.get_attr("id"), Some("sid-1"));
                assert_eq!(h.get_attr("from"), Some("bitcoin.localhost"));
            }
            other => panic!("expected the header, got {other:?}"),
        }
        assert_eq!(events[5], Event::Close);
        let s = stanzas(&events);
        assert_eq!(s[0], "<handshake/>");
        assert_eq!(
            s[1],
            "<iq type='get' id='d1' from='alice@localhost/Gajim' to='bitcoin.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        );
        assert_eq!(
            s[2],
            "<message from='bob@localhost/x' to='bitcoin.localhost' type='chat' xml:lang='fr'><body>pay 0.1 alice caf\u{e9} &amp; \u{263A} &lt;3</body><y xmlns='urn:x'>&lt;raw&gt;&amp;</y></message>"
        );
        assert_eq!(
            s[3],
            "<presence from='bob@localhost/x' to='bitcoin.localhost'><status>\u{1F600}</status></presence>"
        );
    }

    #[test]
    fn same_events_whatever_the_segmentation() {
        let whole = parse_all(&[SESSION.as_bytes()]).unwrap();
        let bytes = SESSION.as_bytes();
        for split in 0..=bytes.len() {
            let (a, b) = bytes.split_at(split);
            assert_eq!(parse_all(&[a, b]).unwrap(), whole, "split at byte {split}");
        }
        for split in 0..bytes.len() {
            for len in [1, 2, 3, 7] {
                let end = (split + len).min(bytes.len());
                let parts = [&bytes[..split], &bytes[split..end], &bytes[end..]];
                assert_eq!(parse_all(&parts).unwrap(), whole, "split {split}+{len}");
            }
        }
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_all(&one_by_one).unwrap(), whole);
    }

    #[test]
    fn namespaces_resolve_through_prefixes_and_defaults() {
        let stanza = "<iq type='set' id='1'><p:query xmlns:p='urn:p'><item xmlns='urn:q'><p:x/></item><p:y/></p:query></iq>";
        let events = parse_all(&[HEADER.as_bytes(), stanza.as_bytes()]).unwrap();
        let Event::Stanza(iq) = &events[1] else {
            panic!("no stanza")
        };
        assert_eq!(iq.ns, ns::COMPONENT);
        let query = iq.get_child("query", "urn:p").unwrap();
        let item = query.get_child("item", "urn:q").unwrap();
        assert!(item.get_child("x", "urn:p").is_some());
        assert!(query.get_child("y", "urn:p").is_some());
    }

    fn first_error(input: &str) -> Error {
        let mut parser = Parser::new(Limits {
            max_stanza_bytes: 200,
            max_depth: 4,
            max_attrs: 4,
        });
        parser.feed(HEADER.as_bytes());
        parser.feed(input.as_bytes());
        loop {
            match parser.next_event() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error for {input:?}"),
                Err(e) => return e,
            }
        }
    }

    #[test]
    fn enforces_limits() {
        let big = format!("<message><body>{}</body></message>", "a".repeat(300));
        assert_eq!(first_error(&big), Error::TooLarge(200));
        // The limit holds for a stanza that never ends, too.
        assert_eq!(
            first_error(&format!("<message>{}", "b".repeat(300))),
            Error::TooLarge(200)
        );
        assert_eq!(
            first_error(&format!("<message {}", " ".repeat(300))),
            Error::TooLarge(200)
        );
        assert_eq!(
            first_error("<a><b><c><d><e/></d></c></b></a>"),
            Error::TooDeep(4)
        );
        assert_eq!(first_error("<a><b><c><d><e>"), Error::TooDeep(4));
        let at_the_limit = "<a><b><c><d/></c></b></a>";
        let mut parser = Parser::new(Limits {
            max_depth: 4,
            ..Limits::default()
        });
        parser.feed(HEADER.as_bytes());
        parser.feed(at_the_limit.as_bytes());
        assert!(matches!(parser.next_event(), Ok(Some(Event::Open(_)))));
        assert!(matches!(parser.next_event(), Ok(Some(Event::Stanza(_)))));
        assert_eq!(
            first_error("<a x='1' y='2' z='3' w='4' v='5'/>"),
            Error::TooManyAttributes(4)
        );
        assert_eq!(
            first_error("<a x='1' x='2' x='3' x='4' x='5'/>"),
            Error::TooManyAttributes(4)
        );
    }

    #[test]
    fn refuses_restricted_xml() {
        assert_eq!(first_error("<!-- hi -->"), Error::Restricted("comment"));
        assert_eq!(
            first_error("<!DOCTYPE x [<!ENTITY a 'b'>]>"),
            Error::Restricted("DOCTYPE or markup declaration")
        );
        assert_eq!(
            first_error("<message><!ENTITY a 'b'></message>"),
            Error::Restricted("DOCTYPE or markup declaration")
        );
        assert_eq!(
            first_error("<?php x ?>"),
            Error::Restricted("processing instruction")
        );
        assert_eq!(
            first_error("<message><body>&lol;</body></message>"),
            Error::Restricted("undeclared entity")
        );
        assert_eq!(
            first_error("<message a='&lol;'/>"),
            Error::Restricted("undeclared entity")
        );
    }

    #[test]
    fn refuses_malformed_xml() {
        for bad in [
            "<message></iq>",
            "<message><body></message></iq>",
            "garbage",
            "<message a='1' a='2'/>",
            "<message a=1/>",
            "<message><body>\u{1}</body></message>",
            "<message><body>&#0;</body></message>",
            "<message><body>&#xFFFE;</body></message>",
            "<p:message/>",
            "<message><![CDATA[x]]></message>"
                .replace("CDATA", "CDATX")
                .as_str(),
            "< message/>",
            "<message a='<'/>",
        ] {
            let e = first_error(bad);
            assert!(
                matches!(
                    e,
                    Error::NotWellFormed(_) | Error::BadNamespace(_) | Error::Restricted(_)
                ),
                "{bad:?} gave {e:?}"
            );
        }
    }

    // Found by the fuzzer: the byte that completed a stanza was not
    // counted, so max_stanza_bytes + 1 got through.
    #[test]
    fn a_stanza_one_byte_over_the_limit_is_refused() {
        let mut parser = Parser::new(Limits {
            max_stanza_bytes: 512,
            ..Limits::default()
        });
        parser.feed(HEADER.as_bytes());
        parser.feed(format!("<message><body>{}</body></message>", "x".repeat(481)).as_bytes());
        assert!(matches!(parser.next_event(), Ok(Some(Event::Open(_)))));
        assert_eq!(parser.next_event(), Err(Error::TooLarge(512)));
        let mut parser = Parser::new(Limits {
            max_stanza_bytes: 512,
            ..Limits::default()
        });
        parser.feed(HEADER.as_bytes());
        parser.feed(format!("<message><body>{}</body></message>", "x".repeat(480)).as_bytes());
        assert!(matches!(parser.next_event(), Ok(Some(Event::Open(_)))));
        assert!(matches!(parser.next_event(), Ok(Some(Event::Stanza(_)))));
    }

    // Found by the fuzzer: a second XML declaration was accepted when it
    // arrived in a read of its own.
    #[test]
    fn only_one_xml_declaration_whatever_the_segmentation() {
        for chunks in [vec!["<?xml?><?xml?>"], vec!["<?xml?>", "<?xml?>"]] {
            let chunks: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
            assert_eq!(
                parse_all(&chunks),
                Err(Error::Restricted("processing instruction"))
            );
        }
        assert_eq!(
            parse_all(&[b"<?php x?>"]),
            Err(Error::Restricted("processing instruction"))
        );
        assert!(parse_all(&[HEADER.as_bytes()]).is_ok());
    }

    // Found by the fuzzer: names that are not XML names were kept, and
    // written back as broken XML.
    #[test]
    fn refuses_bad_names() {
        for bad in [
            "<a:b:c xmlns:a='u'/>",
            "<a='b'/>",
            "<a b&c='1'/>",
            "<a: xmlns:a='u'/>",
            "<:a/>",
            "<a xml:='1'/>",
            "<9a/>",
            "<a fro\u{FFFE}m='1'/>",
            "<a\u{D7}/>",
        ] {
            assert!(
                matches!(
                    first_error(bad),
                    Error::NotWellFormed(_) | Error::BadNamespace(_)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_invalid_utf8() {
        let mut parser = Parser::new(Limits::default());
        parser.feed(HEADER.as_bytes());
        parser.feed(b"<message><body>\xff\xfe</body></message>");
        assert!(matches!(parser.next_event(), Ok(Some(Event::Open(_)))));
        assert_eq!(parser.next_event(), Err(Error::InvalidUtf8));
        // The parser stays failed.
        parser.feed(b"<message/>");
        assert_eq!(parser.next_event(), Err(Error::InvalidUtf8));
    }

    #[test]
    fn refuses_a_wrong_stream_namespace() {
        let mut parser = Parser::new(Limits::default());
        parser.feed(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'>");
        assert!(matches!(parser.next_event(), Err(Error::BadNamespace(_))));
        let mut parser = Parser::new(Limits::default());
        parser.feed(b"<stream xmlns='jabber:component:accept'>");
        assert!(matches!(parser.next_event(), Err(Error::BadNamespace(_))));
    }

    #[test]
    fn buffer_does_not_grow_with_whitespace_keepalives() {
        let mut parser = Parser::new(Limits::default());
        parser.feed(HEADER.as_bytes());
        assert!(matches!(parser.next_event(), Ok(Some(Event::Open(_)))));
        for _ in 0..10_000 {
            parser.feed(b" \n");
            assert_eq!(parser.next_event(), Ok(None));
        }
        parser.feed(b"<message/>");
        assert!(matches!(parser.next_event(), Ok(Some(Event::Stanza(_)))));
        assert_eq!(parser.buffered(), 0);
    }
}
