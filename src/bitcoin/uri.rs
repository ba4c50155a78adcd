//! BIP21 `bitcoin:` URIs (as amended by BIP321): parsed from what users
//! paste, written for what we show and encode in QR codes.
//!
//! See: <https://github.com/bitcoin/bips/blob/master/bip-0021.mediawiki>
//! and <https://github.com/bitcoin/bips/blob/master/bip-0321.mediawiki>.
//!
//! `bitcoin:<address>[?<key>=<value>&...]`. The scheme and, since BIP321,
//! the keys are case-insensitive, because QR codes are often all
//! uppercase. We read `amount` (decimal BTC, never the `5000 sat` users
//! may type), `label` and `message`; any other key is ignored unless it
//! starts with `req-`, which BIP21 says makes the whole URI invalid for a
//! client that does not implement it (we implement none).
//!
//! What the BIPs leave open, decided here because a URI can move money:
//! - no address (`bitcoin:`, or BIP321's `bitcoin:?lightning=...`) is
//!   refused: this gateway only pays on-chain addresses;
//! - `amount`, `label` or `message` given twice is refused (BIP321), even
//!   with the same value: which one did the payee mean?
//! - the amount is refused when zero, negative, above 21 million BTC, with
//!   more than 8 decimals, or not the grammar's `digits[.digits]` (no
//!   comma, exponent, sign, unit or percent-escape);
//! - `bitcoin://address` is read as `bitcoin:address`: some wallets write
//!   it, and Bitcoin Core accepts it too (`parseBitcoinURI` in
//!   src/qt/guiutil.cpp);
//! - a broken percent escape (`%2`, `%zz`) or a `#fragment` makes the URI
//!   malformed: it was cut or edited, and part of the request may be lost;
//! - label and message bytes that are not UTF-8 are decoded lossily (they
//!   only inform, and a Latin-1 label should not block a payment); their
//!   control and bidirectional-override characters become spaces so that a
//!   payee cannot forge lines or reorder text in the chat that shows them;
//! - `+` stays a plus: RFC 3986 queries are not HTML forms.
//!
//! Parsing does no I/O and checks the address only for presence: the
//! caller validates it with [`Address::parse`] for its network.

use crate::amount::{AmountError, Sats, MAX_MONEY};
use crate::bitcoin::address::Address;
use std::fmt;

const SCHEME: &str = "bitcoin:";

/// A parsed `bitcoin:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri<'a> {
    /// As written in the URI, not yet validated: only the caller knows the
    /// network. Never empty.
    pub address: &'a str,
    pub amount: Option<Sats>,
    /// Percent-decoded and sanitized (see the module comment); `None` when
    /// absent or empty.
    pub label: Option<String>,
    /// Percent-decoded and sanitized, like `label`.
    pub message: Option<String>,
}

/// Why a `bitcoin:` URI was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriError {
    /// `bitcoin:` without an address: nothing we can pay.
    NoAddress,
    /// The `amount` is not a BIP21 amount, or not a possible payment.
    Amount(AmountError),
    /// A `req-` parameter (its name, as decoded): the payee requires
    /// something we do not implement.
    UnknownRequired(String),
    /// `amount`, `label` or `message` appears more than once.
    Duplicate(&'static str),
    /// A broken percent escape or a `#fragment`.
    Malformed,
}

impl UriError {
    /// The catalog key of the message that explains this error. The keys
    /// of `UnknownRequired` and `Duplicate` have a `{param}` placeholder,
    /// filled by [`UriError::param`].
    pub fn message_key(&self) -> &'static str {
        match self {
            UriError::NoAddress => "uri-no-address",
            UriError::Amount(_) => "uri-amount",
            UriError::UnknownRequired(_) => "uri-unknown-required",
            UriError::Duplicate(_) => "uri-duplicate",
            UriError::Malformed => "uri-malformed",
        }
    }

    /// The parameter the error is about, for the message's `{param}`.
    pub fn param(&self) -> Option<&str> {
        match self {
            UriError::UnknownRequired(name) => Some(name),
            UriError::Duplicate(name) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriError::NoAddress => write!(f, "bitcoin: URI: no address"),
            UriError::Amount(e) => write!(f, "bitcoin: URI amount: {e}"),
            UriError::UnknownRequired(name) => {
                write!(f, "bitcoin: URI: unknown required parameter {name}")
            }
            UriError::Duplicate(name) => write!(f, "bitcoin: URI: {name} given twice"),
            UriError::Malformed => write!(f, "bitcoin: URI: malformed"),
        }
    }
}

impl std::error::Error for UriError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UriError::Amount(e) => Some(e),
            _ => None,
        }
    }
}

/// The URI without its scheme (and without the `//` some wallets add), or
/// `None` when `text` is not a `bitcoin:` URI.
fn after_scheme(text: &str) -> Option<&str> {
    let scheme = text.get(..SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let rest = &text[SCHEME.len()..];
    Some(rest.strip_prefix("//").unwrap_or(rest))
}

/// `text` as a `bitcoin:` URI; `None` when it is not one at all (an
/// address, a username, a sentence), so that the caller can try those.
/// Surrounding whitespace is ignored.
pub fn parse(text: &str) -> Option<Result<Uri<'_>, UriError>> {
    after_scheme(text.trim()).map(parse_body)
}

/// The address part of a `bitcoin:` URI, or the trimmed text itself when
/// it is not a URI. Parameters are not read: for callers that only need
/// whom a URI names (a contact), never for paying.
pub fn strip(text: &str) -> &str {
    let text = text.trim();
    match after_scheme(text) {
        Some(body) => body.split(['?', '#']).next().unwrap_or(body),
        None => text,
    }
}

/// What follows `bitcoin:`.
fn parse_body(body: &str) -> Result<Uri<'_>, UriError> {
    if body.contains('#') {
        return Err(UriError::Malformed);
    }
    let (address, query) = body.split_once('?').unwrap_or((body, ""));
    if address.is_empty() {
        return Err(UriError::NoAddress);
    }
    let mut uri = Uri {
        address,
        amount: None,
        label: None,
        message: None,
    };
    let mut seen = Seen::default();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        read_param(&mut uri, &mut seen, key, value)?;
    }
    Ok(uri)
}

/// Which of the parameters that may appear once were read already; an
/// empty label counts, though it leaves `Uri::label` at `None`.
#[derive(Default)]
struct Seen {
    amount: bool,
    label: bool,
    message: bool,
}

/// Records one `key=value` into `uri`.
fn read_param(uri: &mut Uri<'_>, seen: &mut Seen, key: &str, value: &str) -> Result<(), UriError> {
    let key = decode_text(key)?;
    if key.eq_ignore_ascii_case("amount") {
        once(&mut seen.amount, "amount")?;
        uri.amount = Some(parse_amount(value).map_err(UriError::Amount)?);
    } else if key.eq_ignore_ascii_case("label") {
        once(&mut seen.label, "label")?;
        uri.label = non_empty(decode_text(value)?);
    } else if key.eq_ignore_ascii_case("message") {
        once(&mut seen.message, "message")?;
        uri.message = non_empty(decode_text(value)?);
    } else if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("req-")) {
        return Err(UriError::UnknownRequired(key));
    }
    Ok(())
}

/// Marks a parameter as read; `Duplicate` if it already was.
fn once(seen: &mut bool, name: &'static str) -> Result<(), UriError> {
    if std::mem::replace(seen, true) {
        return Err(UriError::Duplicate(name));
    }
    Ok(())
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// A BIP21 amount: `*digit [ "." *digit ]`, in BTC. On that shape
/// `Sats::parse_user` is the exact decimal parser we need, with our range
/// and 8-decimal rules; it also accepts what only people type (`5000 sat`,
/// surrounding spaces), which the grammar check refuses here. Its reasons
/// are kept when it has a precise one (`1,5`: comma; `1e3`: exponent;
/// `-1`: negative).
fn parse_amount(raw: &str) -> Result<Sats, AmountError> {
    let in_grammar = raw.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match Sats::parse_user(raw) {
        Ok(_) if !in_grammar => Err(AmountError::NotANumber),
        other => other,
    }
}

/// A percent-decoded parameter name or text, lossy for bytes that are not
/// UTF-8, with control and bidirectional-formatting characters replaced
/// by spaces (see the module comment for why).
fn decode_text(raw: &str) -> Result<String, UriError> {
    let bytes = percent_decode(raw).ok_or(UriError::Malformed)?;
    Ok(String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| if is_unsafe_to_show(c) { ' ' } else { c })
        .collect())
}

/// Characters that would let a label lay out the chat around it: new
/// lines (controls and the Unicode line and paragraph separators) and the
/// Unicode bidirectional marks, embeddings, overrides and isolates.
fn is_unsafe_to_show(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// RFC 3986 section 2.1 percent-decoding; `None` when a `%` is not
/// followed by two hex digits.
fn percent_decode(raw: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'%' {
            out.push(b);
            continue;
        }
        let [high, low, tail @ ..] = rest else {
            return None;
        };
        out.push((hex_value(*high)? << 4) | hex_value(*low)?);
        rest = tail;
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The URI of a payment to `address`, as wallets read it. An amount that
/// is no possible payment (zero, negative, above 21 million BTC) is left
/// out rather than written into a URI that wallets would refuse; an empty
/// label too.
pub fn format(address: &Address, amount: Option<Sats>, label: Option<&str>) -> String {
    let mut uri = format!("{SCHEME}{address}");
    let mut params = Vec::new();
    if let Some(amount) = amount.filter(|a| a.0 > 0 && a.0 <= MAX_MONEY) {
        params.push(format!("amount={}", amount.btc()));
    }
    if let Some(label) = label.filter(|l| !l.is_empty()) {
        params.push(format!("label={}", percent_encode(label)));
    }
    if !params.is_empty() {
        uri.push('?');
        uri.push_str(&params.join("&"));
    }
    uri
}

/// The URI of a payment request (`request <amount> [comment]`): the
/// amount, the requester as label, and their comment as the message that
/// the payer's wallet shows.
pub fn format_request(
    address: &Address,
    amount: Sats,
    label: &str,
    message: Option<&str>,
) -> String {
    let mut uri = format(address, Some(amount), Some(label));
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        uri.push(if uri.contains('?') { '&' } else { '?' });
        uri.push_str("message=");
        uri.push_str(&percent_encode(message));
    }
    uri
}

/// Percent-encodes every byte but RFC 3986's unreserved characters: safe
/// in any query, and `+` and spaces cannot be misread.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitcoin::network::Network;

    /// The BIP's examples use this intentionally invalid address.
    const BIP_ADDRESS: &str = "175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W";
    const MAINNET: &str = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2";
    const BECH32: &str = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0";

    fn ok(text: &str) -> Uri<'_> {
        match parse(text) {
            Some(Ok(uri)) => uri,
            other => panic!("{text:?} should parse, got {other:?}"),
        }
    }

    fn err(text: &str) -> UriError {
        match parse(text) {
            Some(Err(e)) => e,
            other => panic!("{text:?} should be refused, got {other:?}"),
        }
    }

    fn amount_of(text: &str) -> Result<Option<i64>, UriError> {
        match parse(text) {
            Some(r) => r.map(|u| u.amount.map(|a| a.0)),
            None => panic!("{text:?} is a URI"),
        }
    }

    #[test]
    fn the_bip_examples() {
        let just = ok("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W");
        assert_eq!(
            just,
            Uri {
                address: BIP_ADDRESS,
                amount: None,
                label: None,
                message: None
            }
        );

        let named = ok("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?label=Luke-Jr");
        assert_eq!(named.label.as_deref(), Some("Luke-Jr"));
        assert_eq!(named.amount, None);

        let request = ok("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?amount=20.3&label=Luke-Jr");
        assert_eq!(request.address, BIP_ADDRESS);
        assert_eq!(request.amount, Some(Sats(2_030_000_000)));
        assert_eq!(request.label.as_deref(), Some("Luke-Jr"));

        let donation = ok("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?amount=50&label=Luke-Jr&message=Donation%20for%20project%20xyz");
        assert_eq!(donation.amount, Some(Sats(5_000_000_000)));
        assert_eq!(
            donation.message.as_deref(),
            Some("Donation for project xyz")
        );

        assert_eq!(
            err("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?req-somethingyoudontunderstand=50&req-somethingelseyoudontget=999"),
            UriError::UnknownRequired("req-somethingyoudontunderstand".into())
        );

        let future = ok("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?somethingyoudontunderstand=50&somethingelseyoudontget=999");
        assert_eq!(future.address, BIP_ADDRESS);
        assert_eq!(future.amount, None);
    }

    #[test]
    fn bip321_invalid_examples() {
        assert_eq!(
            err("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?label=Luke-Jr&label=Matt"),
            UriError::Duplicate("label")
        );
        assert_eq!(
            err("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?amount=42&amount=10"),
            UriError::Duplicate("amount")
        );
        assert_eq!(
            err("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?amount=42&amount=42"),
            UriError::Duplicate("amount")
        );
        assert_eq!(
            err("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?pop=callback%3a&req-pop=callback%3a"),
            UriError::UnknownRequired("req-pop".into())
        );
        assert_eq!(
            err("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?message=a&message=b"),
            UriError::Duplicate("message")
        );
    }

    #[test]
    fn scheme_and_keys_ignore_case() {
        for text in [
            "bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?amount=1",
            "BITCOIN:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?AMOUNT=1",
            "BitCoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?Amount=1",
        ] {
            let uri = ok(text);
            assert_eq!(uri.address, BIP_ADDRESS, "{text}");
            assert_eq!(uri.amount, Some(Sats(100_000_000)), "{text}");
        }
        // An uppercase QR code: the address keeps its case for Address::parse.
        let qr = ok("BITCOIN:BC1QUFGY354J3KMVUCH987XE4S40836X3H0LG8F5NQ?LABEL=SHOP");
        assert_eq!(qr.address, "BC1QUFGY354J3KMVUCH987XE4S40836X3H0LG8F5NQ");
        assert_eq!(qr.label.as_deref(), Some("SHOP"));
        assert_eq!(
            err("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?REQ-X=1"),
            UriError::UnknownRequired("REQ-X".into())
        );
    }

    #[test]
    fn what_is_not_a_uri() {
        for text in [
            MAINNET,
            "alice",
            "",
            "bitcoin",
            "bitcoins:abc",
            "pay 1 bitcoin:abc",
            "é",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn unknown_parameters_are_ignored_required_ones_refused() {
        let uri = ok("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?lightning=lnbc1&pop=app%3a&flag&=x&&amount=1");
        assert_eq!(uri.amount, Some(Sats(100_000_000)));
        // `req-` on a parameter we know still names one we do not implement.
        assert_eq!(
            err("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?req-amount=1"),
            UriError::UnknownRequired("req-amount".into())
        );
        assert_eq!(
            err("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?amount=1&req-flag"),
            UriError::UnknownRequired("req-flag".into())
        );
        // An escaped key is the same key (RFC 3986 section 2.1).
        assert_eq!(
            err("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?%72eq-x=1"),
            UriError::UnknownRequired("req-x".into())
        );
    }

    #[test]
    fn amounts() {
        let a = |v: &str| amount_of(&format!("bitcoin:{BIP_ADDRESS}?amount={v}"));
        let refused = |e| Err(UriError::Amount(e));
        assert_eq!(a("0.00000001"), Ok(Some(1)));
        assert_eq!(a("20.3"), Ok(Some(2_030_000_000)));
        assert_eq!(a("50"), Ok(Some(5_000_000_000)));
        assert_eq!(a("50.00"), Ok(Some(5_000_000_000)));
        assert_eq!(a(".5"), Ok(Some(50_000_000)));
        assert_eq!(a("5."), Ok(Some(500_000_000)));
        assert_eq!(a("21000000"), Ok(Some(MAX_MONEY)));
        assert_eq!(a("0.123456780"), Ok(Some(12_345_678)));
        assert_eq!(a("1e3"), refused(AmountError::Exponent));
        assert_eq!(a("1,5"), refused(AmountError::Comma));
        assert_eq!(a("50,000.00"), refused(AmountError::NotANumber));
        assert_eq!(a("0.123456789"), refused(AmountError::TooManyDecimals));
        assert_eq!(a("0"), refused(AmountError::Zero));
        assert_eq!(a("0.00000000"), refused(AmountError::Zero));
        assert_eq!(a("-1"), refused(AmountError::Negative));
        assert_eq!(a("21000000.00000001"), refused(AmountError::TooLarge));
        assert_eq!(a(""), refused(AmountError::Empty));
        assert_eq!(a("."), refused(AmountError::NotANumber));
        // What users may type but a URI may not hold.
        assert_eq!(a("5000sat"), refused(AmountError::NotANumber));
        assert_eq!(a("5000%20sat"), refused(AmountError::NotANumber));
        assert_eq!(a("+1"), refused(AmountError::NotANumber));
        assert_eq!(a("1%2E5"), refused(AmountError::NotANumber));
        assert_eq!(
            amount_of(&format!("bitcoin:{BIP_ADDRESS}?amount")),
            refused(AmountError::Empty)
        );
    }

    #[test]
    fn labels_and_messages_are_percent_decoded() {
        let uri = ok("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?label=Caf%C3%A9%20%26%20Co%3D&message=a+b%2Bc");
        assert_eq!(uri.label.as_deref(), Some("Café & Co="));
        // `+` is a plus, not a space: RFC 3986, not an HTML form.
        assert_eq!(uri.message.as_deref(), Some("a+b+c"));
        // Raw UTF-8 from a chat client, lowercase escapes.
        let raw = ok("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?label=Zoë%e2%82%ac");
        assert_eq!(raw.label.as_deref(), Some("Zoë€"));
        // Latin-1 `é` is not UTF-8: kept, visibly replaced.
        let latin1 = ok("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?label=Caf%E9");
        assert_eq!(latin1.label.as_deref(), Some("Caf\u{FFFD}"));
        let empty = ok("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?label=&message=");
        assert_eq!((empty.label, empty.message), (None, None));
    }

    #[test]
    fn labels_cannot_lay_out_the_chat() {
        let uri = ok("bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?label=Shop%0AConfirm%20code%3A%20abc&message=%E2%80%AEevil%07%E2%80%A8x");
        assert_eq!(uri.label.as_deref(), Some("Shop Confirm code: abc"));
        assert_eq!(uri.message.as_deref(), Some(" evil  x"));
    }

    #[test]
    fn malformed_uris() {
        for text in [
            "bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?label=50%",
            "bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?label=50%2",
            "bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?label=%zz",
            "bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?label=%é",
            "bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?amount=1#x",
            "bitcoin:175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W#?amount=1",
        ] {
            assert_eq!(err(text), UriError::Malformed, "{text}");
        }
    }

    #[test]
    fn the_address_is_required() {
        assert_eq!(err("bitcoin:"), UriError::NoAddress);
        assert_eq!(err("bitcoin:?amount=1"), UriError::NoAddress);
        assert_eq!(
            err("bitcoin:?lightning=lnbc420bogusinvoice"),
            UriError::NoAddress
        );
        assert_eq!(err("bitcoin://"), UriError::NoAddress);
    }

    #[test]
    fn slashes_and_whitespace() {
        let slashed = ok("  bitcoin://175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W?amount=1\n");
        assert_eq!(slashed.address, BIP_ADDRESS);
        assert_eq!(slashed.amount, Some(Sats(100_000_000)));
        assert_eq!(ok("BITCOIN://abc").address, "abc");
    }

    #[test]
    fn strip_gives_the_address_part() {
        assert_eq!(strip(" bitcoin:1abc?amount=1 "), "1abc");
        assert_eq!(strip("BITCOIN:BC1QXY"), "BC1QXY");
        assert_eq!(strip("bitcoin://1abc"), "1abc");
        assert_eq!(strip("bitcoin:1abc#frag"), "1abc");
        assert_eq!(strip("bitcoin:1abc?req-x=1"), "1abc");
        assert_eq!(strip("  alice "), "alice");
        assert_eq!(strip("bitcoin:"), "");
    }

    #[test]
    fn format_round_trips_through_parse() {
        let address = Address::parse(MAINNET, Network::Main).unwrap();
        let cases: &[(Option<Sats>, Option<&str>)] = &[
            (None, None),
            (Some(Sats(1)), None),
            (Some(Sats(2_030_000_000)), Some("Luke-Jr")),
            (Some(Sats(MAX_MONEY)), Some("Café & Co = 100% + more?#")),
            (None, Some("ünïcödé 🎉 \u{2014} 50%")),
        ];
        for (amount, label) in cases {
            let text = format(&address, *amount, *label);
            let uri = ok(&text);
            assert_eq!(uri.address, MAINNET, "{text}");
            assert_eq!(uri.amount, *amount, "{text}");
            assert_eq!(uri.label.as_deref(), *label, "{text}");
            assert_eq!(
                Address::parse(uri.address, Network::Main).as_ref(),
                Ok(&address)
            );
        }
    }

    #[test]
    fn format_writes_what_wallets_expect() {
        let address = Address::parse(BECH32, Network::Main).unwrap();
        assert_eq!(format(&address, None, None), format!("bitcoin:{BECH32}"));
        let legacy = Address::parse("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", Network::Test).unwrap();
        assert_eq!(
            format(&legacy, Some(Sats(50_000_000)), Some("alice")),
            "bitcoin:mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn?amount=0.5&label=alice"
        );
        assert_eq!(
            format(&legacy, None, Some("a b+c")),
            "bitcoin:mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn?label=a%20b%2Bc"
        );
        // Nothing a wallet would refuse.
        for amount in [Sats(0), Sats(-5), Sats(MAX_MONEY + 1)] {
            assert_eq!(
                format(&legacy, Some(amount), Some("")),
                "bitcoin:mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"
            );
        }
    }

    #[test]
    fn errors_name_their_message() {
        assert_eq!(UriError::NoAddress.message_key(), "uri-no-address");
        assert_eq!(
            UriError::Amount(AmountError::Comma).message_key(),
            "uri-amount"
        );
        let required = UriError::UnknownRequired("req-pop".into());
        assert_eq!(required.message_key(), "uri-unknown-required");
        assert_eq!(required.param(), Some("req-pop"));
        assert_eq!(UriError::Duplicate("amount").param(), Some("amount"));
        assert_eq!(UriError::Malformed.param(), None);
        assert_eq!(
            UriError::Amount(AmountError::Zero).to_string(),
            "bitcoin: URI amount: amount-zero"
        );
    }

    #[test]
    fn a_request_uri_reads_back_with_its_amount_label_and_message() {
        let address = Address::parse(MAINNET, Network::Main).unwrap();
        let text = format_request(&address, Sats(150_000), "alice", Some("pizza & co"));
        assert_eq!(
            text,
            format!("bitcoin:{MAINNET}?amount=0.0015&label=alice&message=pizza%20%26%20co")
        );
        let back = ok(&text);
        assert_eq!(back.amount, Some(Sats(150_000)));
        assert_eq!(back.label.as_deref(), Some("alice"));
        assert_eq!(back.message.as_deref(), Some("pizza & co"));
        let bare = format_request(&address, Sats(1), "alice", None);
        assert_eq!(ok(&bare).message, None);
    }
}
