//! Amounts: integers of satoshis, parsed and printed as exact decimals.
//!
//! No floating point anywhere: truncating an f64 number of BTC to satoshis
//! is off for about 8% of values. What users type is parsed by
//! [`Sats::parse_user`] (the rules are on it); what bitcoind sends and
//! expects goes through [`Sats::from_rpc`] and [`Sats::to_rpc`], which
//! keep JSON numbers as decimal text (serde_json's `arbitrary_precision`).

use serde_json::Value;
use std::fmt;

pub const SATS_PER_BTC: i64 = 100_000_000;
/// 21 000 000 BTC: no amount can be larger.
pub const MAX_MONEY: i64 = 21_000_000 * SATS_PER_BTC;

/// A number of satoshis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Sats(pub i64);

/// Why a typed amount was refused; each says what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountError {
    Empty,
    Negative,
    Zero,
    Exponent,
    TooManyDecimals,
    TooLarge,
    NonAsciiDigit,
    /// `0,5`: a comma where a dot is meant.
    Comma,
    /// `1.5 sat`: satoshis are whole.
    FractionalSats,
    NotANumber,
}

impl AmountError {
    /// The catalog key of the message that explains this error.
    pub fn message_key(self) -> &'static str {
        match self {
            AmountError::Empty => "amount-empty",
            AmountError::Negative => "amount-negative",
            AmountError::Zero => "amount-zero",
            AmountError::Exponent => "amount-exponent",
            AmountError::TooManyDecimals => "amount-decimals",
            AmountError::TooLarge => "amount-too-large",
            AmountError::NonAsciiDigit => "amount-digits",
            AmountError::Comma => "amount-comma",
            AmountError::FractionalSats => "amount-fractional-sats",
            AmountError::NotANumber => "amount-not-a-number",
        }
    }
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message_key())
    }
}

impl std::error::Error for AmountError {}

/// Parses `digits[.fraction]` (no sign) into satoshis, with at most
/// `max_decimals` decimals. `None` when it is not that shape.
fn parse_decimal(s: &str, max_decimals: usize) -> Result<i64, AmountError> {
    let (whole, fraction) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return Err(AmountError::NotANumber);
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::NotANumber);
    }
    let significant = fraction.trim_end_matches('0');
    if significant.len() > max_decimals {
        return Err(AmountError::TooManyDecimals);
    }
    let whole = whole.trim_start_matches('0');
    // More digits than 21 million can have: too large, before overflow.
    if whole.len() > 8 {
        return Err(AmountError::TooLarge);
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| AmountError::NotANumber)?
    };
    let mut frac: i64 = 0;
    for (i, b) in significant.bytes().enumerate() {
        frac += i64::from(b - b'0') * 10i64.pow(7 - i as u32);
    }
    Ok(whole * SATS_PER_BTC + frac)
}

impl Sats {
    /// An amount typed by a user: `1`, `0.5`, `.25` (BTC, at most 8
    /// decimals), or `1000 sat` / `1000sats`. Positive, at most 21 million
    /// BTC, ASCII digits only.
    pub fn parse_user(input: &str) -> Result<Sats, AmountError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(AmountError::Empty);
        }
        if s.chars().any(|c| c.is_numeric() && !c.is_ascii_digit()) {
            return Err(AmountError::NonAsciiDigit);
        }
        if s.starts_with('-') || s.starts_with('\u{2212}') {
            return Err(AmountError::Negative);
        }
        let lower = s.to_ascii_lowercase();
        let (number, sats) = match lower
            .strip_suffix("sats")
            .or_else(|| lower.strip_suffix("sat"))
        {
            Some(n) => (n.trim_end(), true),
            None => (lower.as_str(), false),
        };
        if number.is_empty() {
            return Err(AmountError::NotANumber);
        }
        if number.contains('e') && number.bytes().any(|b| b.is_ascii_digit()) {
            let mantissa_ok = number.split_once('e').is_some_and(|(m, _)| {
                !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            });
            if mantissa_ok {
                return Err(AmountError::Exponent);
            }
        }
        if number.contains(',') && number.bytes().all(|b| b.is_ascii_digit() || b == b',') {
            return Err(AmountError::Comma);
        }
        let value = if sats {
            if number.contains('.') {
                return match parse_decimal(number, 0) {
                    Ok(v) => Ok(Sats(v / SATS_PER_BTC)).and_then(check_range),
                    Err(AmountError::TooManyDecimals) => Err(AmountError::FractionalSats),
                    Err(e) => Err(e),
                };
            }
            if !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AmountError::NotANumber);
            }
            let digits = number.trim_start_matches('0');
            if digits.len() > 16 {
                return Err(AmountError::TooLarge);
            }
            if digits.is_empty() {
                0
            } else {
                digits.parse().map_err(|_| AmountError::NotANumber)?
            }
        } else {
            parse_decimal(number, 8)?
        };
        check_range(Sats(value))
    }

    /// An amount in a JSON-RPC reply (`0.00004520`, `-1.5`), exactly.
    pub fn from_rpc(value: &Value) -> Option<Sats> {
        let Value::Number(n) = value else {
            return None;
        };
        let text = n.to_string();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        if digits.contains(['e', 'E']) {
            return None;
        }
        let v = parse_decimal(digits, 8).ok()?;
        Some(Sats(if negative { -v } else { v }))
    }

    /// The amount as a JSON number for bitcoind, in BTC with 8 decimals.
    pub fn to_rpc(self) -> Value {
        let text = self.btc_fixed();
        Value::Number(
            text.parse()
                .expect("a fixed-point decimal is a JSON number"),
        )
    }

    /// `12.34500000`: always 8 decimals, as bitcoind writes them.
    pub fn btc_fixed(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let v = self.0.unsigned_abs();
        let per = SATS_PER_BTC as u64;
        format!("{sign}{}.{:08}", v / per, v % per)
    }

    /// `12.345`: BTC without trailing zeros, for people.
    pub fn btc(self) -> String {
        let fixed = self.btc_fixed();
        fixed.trim_end_matches('0').trim_end_matches('.').to_owned()
    }

    pub fn checked_add(self, other: Sats) -> Option<Sats> {
        self.0.checked_add(other.0).map(Sats)
    }

    pub fn checked_sub(self, other: Sats) -> Option<Sats> {
        self.0.checked_sub(other.0).map(Sats)
    }
}

fn check_range(s: Sats) -> Result<Sats, AmountError> {
    if s.0 == 0 {
        Err(AmountError::Zero)
    } else if s.0 > MAX_MONEY {
        Err(AmountError::TooLarge)
    } else {
        Ok(s)
    }
}

impl fmt::Display for Sats {
    /// `0.0005 BTC`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} BTC", self.btc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AmountError::*;

    #[test]
    fn user_amounts_table() {
        let table: &[(&str, Result<i64, AmountError>)] = &[
            ("1", Ok(100_000_000)),
            ("0.5", Ok(50_000_000)),
            (".25", Ok(25_000_000)),
            ("0.00000001", Ok(1)),
            ("21000000", Ok(MAX_MONEY)),
            ("20999999.99999999", Ok(MAX_MONEY - 1)),
            ("1.10000000", Ok(110_000_000)),
            ("0.1", Ok(10_000_000)),
            ("0.29", Ok(29_000_000)),
            ("1.", Ok(100_000_000)),
            ("007", Ok(700_000_000)),
            ("1000 sat", Ok(1000)),
            ("1000sats", Ok(1000)),
            ("1 SAT", Ok(1)),
            ("2100000000000000 sats", Ok(MAX_MONEY)),
            ("  0.5  ", Ok(50_000_000)),
            ("", Err(Empty)),
            ("   ", Err(Empty)),
            ("-1", Err(Negative)),
            ("\u{2212}1", Err(Negative)),
            ("0", Err(Zero)),
            ("0.00000000", Err(Zero)),
            ("0 sat", Err(Zero)),
            ("1e3", Err(Exponent)),
            ("1.5E-3", Err(Exponent)),
            ("0.000000001", Err(TooManyDecimals)),
            ("1.123456789", Err(TooManyDecimals)),
            ("21000000.00000001", Err(TooLarge)),
            ("99999999999999999999", Err(TooLarge)),
            ("2100000000000001 sat", Err(TooLarge)),
            ("99999999999999999999 sat", Err(TooLarge)),
            ("\u{0661}", Err(NonAsciiDigit)),
            ("\u{FF11}.5", Err(NonAsciiDigit)),
            ("0,5", Err(Comma)),
            ("1,000", Err(Comma)),
            ("1.5 sat", Err(FractionalSats)),
            ("+1", Err(NotANumber)),
            ("abc", Err(NotANumber)),
            (".", Err(NotANumber)),
            ("1.2.3", Err(NotANumber)),
            ("0x10", Err(NotANumber)),
            ("sat", Err(NotANumber)),
            ("1 000", Err(NotANumber)),
            ("NaN", Err(NotANumber)),
            ("inf", Err(NotANumber)),
            ("e", Err(NotANumber)),
        ];
        for (input, expected) in table {
            assert_eq!(
                Sats::parse_user(input).map(|s| s.0),
                *expected,
                "parsing {input:?}"
            );
        }
    }

    #[test]
    fn every_satoshi_amount_round_trips_through_text() {
        // The values where f64 truncation goes wrong, among others.
        for v in [
            1,
            29_000_000,
            57_000_000,
            110_000_000,
            2_099_999_997_690_001,
            MAX_MONEY,
        ] {
            let s = Sats(v);
            assert_eq!(Sats::parse_user(&s.btc()).unwrap(), s);
            assert_eq!(Sats::parse_user(&s.btc_fixed()).unwrap(), s);
            assert_eq!(Sats::from_rpc(&s.to_rpc()).unwrap(), s);
        }
        for v in (1..2_000_000).step_by(7919) {
            let s = Sats(v);
            assert_eq!(Sats::parse_user(&s.btc()).unwrap(), s);
        }
    }

    #[test]
    fn formats_for_people_and_for_bitcoind() {
        assert_eq!(Sats(4520).btc_fixed(), "0.00004520");
        assert_eq!(Sats(4520).btc(), "0.0000452");
        assert_eq!(Sats(100_000_000).btc(), "1");
        assert_eq!(Sats(0).btc(), "0");
        assert_eq!(Sats(-150_000_000).btc_fixed(), "-1.50000000");
        assert_eq!(Sats(50_000).to_string(), "0.0005 BTC");
        assert_eq!(Sats(4520).to_rpc().to_string(), "0.00004520");
    }

    #[test]
    fn reads_rpc_numbers_exactly() {
        let v: Value =
            serde_json::from_str("[0.29, -0.00004520, 20999999.97690001, 1e-8, \"1\"]").unwrap();
        assert_eq!(Sats::from_rpc(&v[0]), Some(Sats(29_000_000)));
        assert_eq!(Sats::from_rpc(&v[1]), Some(Sats(-4520)));
        assert_eq!(Sats::from_rpc(&v[2]), Some(Sats(2_099_999_997_690_001)));
        assert_eq!(Sats::from_rpc(&v[3]), None);
        assert_eq!(Sats::from_rpc(&v[4]), None);
    }
}
