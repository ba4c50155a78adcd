//! Invariants of the stream parser (`bitcoim::stream::parser`), checked on
//! arbitrary bytes.
//!
//! [`check`] is the whole fuzz target: `fuzz_targets/stream_parser.rs` hands
//! it libFuzzer's inputs, and the tests replay `seeds/` through it. It
//! panics, with the input's bytes in the message, when one of these fails:
//!
//! 1. **Segmentation does not matter.** Feeding the input whole, one byte at
//!    a time, and in chunks whose sizes are derived from the input's hash
//!    gives the same events and the same error. The reactor feeds whatever
//!    a read returned, so anything else is a bug that TCP timing can
//!    trigger.
//! 2. **What we read, we can write back.** Every stanza, serialized with
//!    [`Element::write_to`] and parsed again after a stream header, gives
//!    back an equal [`Element`].
//! 3. **The limits hold.** No accepted stanza is longer than
//!    `max_stanza_bytes` (measured on the input by a naive scanner that
//!    shares no code with the parser), nests deeper than `max_depth` or has
//!    more than `max_attrs` attributes; while fed byte by byte the parser
//!    never holds more than `max_stanza_bytes`. The limits are small so that
//!    the fuzzer reaches them.
//! 4. **Names are names.** Every element and attribute name the parser
//!    hands on is an XML `NCName` (attributes may keep the `xml:` prefix):
//!    the writer copies names verbatim, so a name like `a='b'` would come
//!    out as broken XML.
//! 5. **A failed parser stays failed.** After an error, feeding a valid
//!    stanza gives the same error again.
//! 6. **No panic**, which libFuzzer checks for us.

use bitcoim::stream::parser::{Error, Event, Limits, Parser};
use bitcoim::xmpp::{ns, Element};

/// The limits every run uses. Small, so that short inputs reach them.
pub const LIMITS: Limits = Limits {
    max_stanza_bytes: 512,
    max_depth: 5,
    max_attrs: 6,
};

/// A stream header that declares what a real server's does, to re-parse
/// serialized stanzas after.
const HEADER: &str = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
                      xmlns='jabber:component:accept' from='bitcoin.localhost' id='fuzz'>";

/// What one run of the parser over an input gave.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    events: Vec<Event>,
    error: Option<Error>,
    /// The most bytes the parser held between two calls (only meaningful
    /// when fed one byte at a time).
    peak_buffered: usize,
}

/// Checks every invariant on `data`; panics on the first that fails.
pub fn check(data: &[u8]) {
    let whole = run(data, std::iter::once(data));
    let by_byte = run(data, data.chunks(1));
    assert_same(data, "whole", &whole, "one byte at a time", &by_byte);
    let chunks = hashed_chunks(data);
    let chunked = run(data, chunks.iter().copied());
    assert_same(data, "whole", &whole, "in chunks", &chunked);

    // The parser checks the size as each byte arrives, so this bound is
    // its memory use as well as the stanza size.
    assert!(
        by_byte.peak_buffered <= LIMITS.max_stanza_bytes,
        "the parser held {} bytes with max_stanza_bytes = {}\ninput: {}",
        by_byte.peak_buffered,
        LIMITS.max_stanza_bytes,
        escape(data),
    );

    let stanzas: Vec<&Element> = whole
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Stanza(s) => Some(s),
            _ => None,
        })
        .collect();
    let lengths = stanza_lengths(data);
    assert!(
        lengths.len() >= stanzas.len(),
        "the parser gave {} stanzas where a naive scan finds {}\ninput: {}",
        stanzas.len(),
        lengths.len(),
        escape(data),
    );
    for (i, (stanza, len)) in stanzas.iter().zip(&lengths).enumerate() {
        assert!(
            *len <= LIMITS.max_stanza_bytes,
            "stanza {i} is {len} bytes, over max_stanza_bytes = {}\ninput: {}",
            LIMITS.max_stanza_bytes,
            escape(data),
        );
        check_shape(data, stanza, 1);
        check_round_trip(data, stanza);
    }
}

/// Feeds `chunks` (of `data`) in order, collecting events until the first
/// error.
fn run<'a>(data: &[u8], chunks: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut parser = Parser::new(LIMITS);
    let mut events = Vec::new();
    let mut peak_buffered = 0;
    for chunk in chunks {
        parser.feed(chunk);
        loop {
            match parser.next_event() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(error) => {
                    // What the reactor logs and sends must not panic either.
                    let _ = (error.to_string(), error.condition());
                    parser.feed(b"<message/>");
                    assert_eq!(
                        parser.next_event(),
                        Err(error.clone()),
                        "the parser did not stay failed\ninput: {}",
                        escape(data),
                    );
                    return Outcome {
                        events,
                        error: Some(error),
                        peak_buffered,
                    };
                }
            }
        }
        peak_buffered = peak_buffered.max(parser.buffered());
    }
    Outcome {
        events,
        error: None,
        peak_buffered,
    }
}

fn assert_same(data: &[u8], a_name: &str, a: &Outcome, b_name: &str, b: &Outcome) {
    assert!(
        a.events == b.events && a.error == b.error,
        "fed {a_name}: {:?} then {:?}\nfed {b_name}: {:?} then {:?}\ninput: {}",
        a.events,
        a.error,
        b.events,
        b.error,
        escape(data),
    );
}

/// Splits `data` into chunks of 1 to 64 bytes whose sizes come from a hash
/// of the input, so that every mutation tries other split points.
fn hashed_chunks(data: &[u8]) -> Vec<&[u8]> {
    // FNV-1a, then xorshift64 for the sizes.
    let mut state = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    }) | 1;
    let mut chunks = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Mostly short chunks, sometimes long ones.
        let max = if state & 0x100 == 0 { 8 } else { 64 };
        let size = ((state >> 32) as usize % max + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// The byte length of each top-level element (stanza) in `data`, from its
/// `<` to its last `>`, by a scanner that is deliberately naive and shares
/// nothing with the parser's. It is only asked about inputs the parser
/// accepted, so it need not reject anything.
fn stanza_lengths(data: &[u8]) -> Vec<usize> {
    let mut lengths = Vec::new();
    // 0 outside the stream, 1 at stream level, 2 and more inside a stanza.
    let mut depth = 0usize;
    let mut stanza_start = 0;
    let mut i = 0;
    while i < data.len() {
        if data[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &data[i..];
        let end = if rest.starts_with(b"<![CDATA[") {
            find(data, i + 9, b"]]>").map(|e| e + 2)
        } else if rest.starts_with(b"<?") {
            find(data, i + 2, b"?>").map(|e| e + 1)
        } else if rest.starts_with(b"<!") {
            find(data, i + 2, b">")
        } else if rest.starts_with(b"</") {
            let end = find(data, i + 2, b">");
            if let Some(end) = end {
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    lengths.push(end + 1 - stanza_start);
                }
            }
            end
        } else {
            let end = tag_end(data, i);
            if let Some(end) = end {
                let empty = data[end - 1] == b'/';
                match depth {
                    0 => depth = 1,
                    1 if empty => lengths.push(end + 1 - i),
                    1 => {
                        stanza_start = i;
                        depth = 2;
                    }
                    _ if empty => {}
                    _ => depth += 1,
                }
            }
            end
        };
        match end {
            Some(end) => i = end + 1,
            None => break,
        }
    }
    lengths
}

/// Index of the first byte of the first `needle` at or after `from`.
fn find(data: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    data.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// Index of the `>` closing the start tag at `from`, skipping quoted values.
fn tag_end(data: &[u8], from: usize) -> Option<usize> {
    let mut quote = 0u8;
    for (i, &b) in data.iter().enumerate().skip(from + 1) {
        if quote != 0 {
            if b == quote {
                quote = 0;
            }
        } else if b == b'"' || b == b'\'' {
            quote = b;
        } else if b == b'>' {
            return Some(i);
        }
    }
    None
}

/// Depth and attribute limits and valid names, on the tree the parser built.
fn check_shape(data: &[u8], element: &Element, depth: usize) {
    assert!(
        depth <= LIMITS.max_depth,
        "element <{}> at depth {depth}, over max_depth = {}\ninput: {}",
        element.name,
        LIMITS.max_depth,
        escape(data),
    );
    assert!(
        element.attrs.len() <= LIMITS.max_attrs,
        "element <{}> has {} attributes, over max_attrs = {}\ninput: {}",
        element.name,
        element.attrs.len(),
        LIMITS.max_attrs,
        escape(data),
    );
    // The writer copies names verbatim, so only names it can write back
    // (Namespaces in XML 1.0, productions NCName and Name) may come in.
    assert!(
        is_ncname(&element.name),
        "element name {:?} is not an NCName\ninput: {}",
        element.name,
        escape(data),
    );
    for (name, _) in &element.attrs {
        assert!(
            is_ncname(name.strip_prefix("xml:").unwrap_or(name)),
            "attribute name {name:?} is not an NCName\ninput: {}",
            escape(data),
        );
    }
    for child in element.elements() {
        check_shape(data, child, depth + 1);
    }
}

/// XML 1.0 production `NCName`: a `Name` without a colon.
fn is_ncname(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

/// XML 1.0 production `NameStartChar`, less the colon.
fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}'
    )
}

/// XML 1.0 production `NameChar`, less the colon.
fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c,
            '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}'
        )
}

/// Serializes `stanza` as the component would and parses it again.
fn check_round_trip(data: &[u8], stanza: &Element) {
    let mut xml = String::from(HEADER);
    stanza.write_to(&mut xml, ns::COMPONENT);
    // What we write may be longer than what we read (escapes, `xmlns`
    // where the peer used a prefix), so only the parse is checked here.
    let mut parser = Parser::new(Limits {
        max_stanza_bytes: usize::MAX,
        max_depth: usize::MAX,
        max_attrs: usize::MAX,
    });
    parser.feed(xml.as_bytes());
    let open = parser.next_event();
    assert!(matches!(open, Ok(Some(Event::Open(_)))), "header: {open:?}");
    let again = parser.next_event();
    assert!(
        matches!(&again, Ok(Some(Event::Stanza(s))) if s == stanza),
        "round trip changed a stanza\nparsed:      {stanza:?}\nwritten:     {}\nparsed back: {again:?}\ninput: {}",
        &xml[HEADER.len()..],
        escape(data),
    );
}

/// The input as a Rust byte-string literal, to paste into a regression test.
pub fn escape(data: &[u8]) -> String {
    let mut out = String::from("b\"");
    for &b in data {
        out.extend(std::ascii::escape_default(b).map(char::from));
    }
    out.push('"');
    out
}
