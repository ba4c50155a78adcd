//! Sentences built from several catalog entries: recaps, history lines,
//! refusals with their numbers. Pure functions of their inputs.

use crate::amount::Sats;
use crate::i18n::{utc, Catalogs};
use crate::ledger::money::{Entry, Kind};
use crate::wallet::payments::{Recap, Refusal};

/// One history line: date, signed amount, what it was.
pub fn history_line(c: &Catalogs, lang: &str, e: &Entry) -> String {
    let reference = e
        .reference
        .strip_prefix("order:")
        .unwrap_or(&e.reference)
        .to_owned();
    let reference = if reference.len() > 20 {
        format!("{}…", reference.chars().take(12).collect::<String>())
    } else {
        reference
    };
    let peer = e.peer.clone().unwrap_or_default();
    let args = [("reference", reference.as_str()), ("peer", peer.as_str())];
    let what = match e.kind {
        Kind::Deposit => c.text(lang, "history-deposit", &args),
        Kind::TransferIn => c.text(lang, "history-transfer-in", &args),
        Kind::TransferOut => c.text(lang, "history-transfer-out", &args),
        Kind::Withdrawal => c.text(lang, "history-withdrawal", &args),
        Kind::Fee => c.text(lang, "history-fee", &args),
        Kind::Reversal => c.text(lang, "history-reversal", &args),
        Kind::Repayment => c.text(lang, "history-repayment", &args),
        Kind::Hold | Kind::Release => String::new(),
    };
    let sign = if e.amount.0 >= 0 { "+" } else { "-" };
    let mut line = format!(
        "{} {sign}{} {what}",
        utc(e.created_at),
        Sats(e.amount.0.abs())
    );
    line.push_str(&comment_part(c, lang, e.comment.as_deref()));
    line
}

/// ` «comment»` (quoted as `lang` quotes) or nothing.
fn comment_part(c: &Catalogs, lang: &str, comment: Option<&str>) -> String {
    comment.map_or_else(String::new, |text| {
        format!(" {}", c.text(lang, "quoted", &[("text", text)]))
    })
}

/// The recap of a new order, with `confirm <code>` in it.
pub fn recap(c: &Catalogs, lang: &str, r: &Recap, minutes: u64, threshold: Sats) -> String {
    let o = &r.order;
    let comment = comment_part(c, lang, o.comment.as_deref());
    let fee = r.fee.unwrap_or_default().to_string();
    let (amount, total, left, minutes) = (
        o.amount.to_string(),
        r.total.to_string(),
        r.left.to_string(),
        minutes.to_string(),
    );
    let args = [
        ("amount", amount.as_str()),
        ("recipient", o.recipient.as_str()),
        ("comment", comment.as_str()),
        ("code", o.code.as_str()),
        ("fee", fee.as_str()),
        ("total", total.as_str()),
        ("left", left.as_str()),
        ("minutes", minutes.as_str()),
    ];
    let room = o.tip.as_ref().map_or("", |t| t.room.as_str());
    let recipient = o.tip.as_ref().map_or("", |t| t.recipient_nick.as_str());
    let args = [args.as_slice(), &[("room", room), ("nick", recipient)]].concat();
    let key = match (r.fee.is_some(), o.subtract_fee) {
        _ if o.origin == crate::ledger::orders::Origin::Tip => "tip-recap",
        (false, _) => "pay-recap-user",
        (true, false) => "pay-recap-address",
        (true, true) => "pay-recap-all-address",
    };
    let mut text = c.text(lang, key, &args);
    if r.low_balance && !o.subtract_fee {
        text.push('\n');
        text.push_str(&c.text(
            lang,
            "pay-low-balance",
            &[("threshold", &threshold.to_string())],
        ));
    }
    text
}

/// A refused order, saying which rule was hit and the numbers.
pub fn refusal(c: &Catalogs, lang: &str, r: &Refusal, network: &str) -> String {
    match r {
        Refusal::Amount(e) => format!(
            "{} {}",
            c.text(lang, e.message_key(), &[]),
            c.text(lang, "amounts-help", &[])
        ),
        Refusal::Address(e) => {
            let key = match e {
                crate::bitcoin::address::AddressError::Checksum => "address-checksum",
                crate::bitcoin::address::AddressError::WrongNetwork { .. } => {
                    "address-wrong-network"
                }
                crate::bitcoin::address::AddressError::Unsupported => "address-unsupported",
                _ => "address-not-an-address",
            };
            let found = match e {
                crate::bitcoin::address::AddressError::WrongNetwork { found } => *found,
                _ => "",
            };
            c.text(lang, key, &[("network", found), ("ours", network)])
        }
        Refusal::Uri(e) => c.text(
            lang,
            e.message_key(),
            &[("param", e.param().unwrap_or_default())],
        ),
        Refusal::UnknownRecipient(who) => {
            c.text(lang, "pay-unknown-recipient", &[("recipient", who)])
        }
        Refusal::RecipientChanged(who) => {
            c.text(lang, "pay-recipient-changed", &[("recipient", who)])
        }
        Refusal::ToSelf => c.text(lang, "pay-to-self", &[]),
        Refusal::Unclaimable(nick) => c.text(lang, "tip-unclaimable", &[("recipient", nick)]),
        Refusal::TooManyPending(max) => c.text(lang, "pay-too-many", &[("max", &max.to_string())]),
        Refusal::Insufficient {
            balance,
            needed,
            incoming,
        } => {
            let mut text = c.text(
                lang,
                "pay-insufficient",
                &[
                    ("balance", &balance.to_string()),
                    ("needed", &needed.to_string()),
                ],
            );
            if incoming.0 > 0 {
                text.push(' ');
                text.push_str(&c.text(
                    lang,
                    "pay-insufficient-incoming",
                    &[("amount", &incoming.to_string())],
                ));
            }
            text
        }
        Refusal::FeeReserve {
            balance,
            amount,
            reserve,
        } => c.text(
            lang,
            "pay-fee-reserve",
            &[
                ("balance", &balance.to_string()),
                ("amount", &amount.to_string()),
                ("reserve", &reserve.to_string()),
            ],
        ),
        Refusal::BelowMinimum(min) => c.text(lang, "pay-minimum", &[("min", &min.to_string())]),
        Refusal::Frozen => c.text(lang, "pay-frozen", &[]),
        Refusal::NodeDown => c.text(lang, "node-down", &[]),
        Refusal::Internal => c.text(lang, "internal-error", &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc(1_795_598_012), "2026-11-25 09:13");
        assert_eq!(utc(-86_400), "1969-12-31 00:00");
    }

    #[test]
    fn refusals_name_the_rule_and_the_numbers() {
        let c = Catalogs::new();
        let text = refusal(
            &c,
            "en",
            &Refusal::Insufficient {
                balance: Sats(50_000),
                needed: Sats(100_000),
                incoming: Sats(70_000),
            },
            "regtest",
        );
        assert_eq!(
            text,
            "Not enough funds: your spendable balance is 0.0005 BTC and this takes 0.001 BTC. \
             (0.0007 BTC incoming is not confirmed yet and does not count.)"
        );
        let text = refusal(
            &c,
            "en",
            &Refusal::FeeReserve {
                balance: Sats(100_000),
                amount: Sats(95_000),
                reserve: Sats(10_000),
            },
            "regtest",
        );
        assert!(text.contains("0.00095 BTC plus 0.0001 BTC"), "{text}");
        let text = refusal(
            &c,
            "en",
            &Refusal::Amount(crate::amount::AmountError::TooManyDecimals),
            "x",
        );
        assert!(text.starts_with("At most 8 decimals"), "{text}");
    }

    /// What a user reads for each amount they may type: the value for good
    /// ones, the exact reply for bad ones (at least 30 inputs).
    #[test]
    fn every_amount_gets_its_exact_reply() {
        let c = Catalogs::new();
        let help = "Amounts: 0.5 or .25 (BTC, at most 8 decimals) or 5000 sat.";
        let good: &[(&str, i64)] = &[
            ("1", 100_000_000),
            ("0.5", 50_000_000),
            (".25", 25_000_000),
            ("0.00000001", 1),
            ("21000000", 2_100_000_000_000_000),
            ("1.10000000", 110_000_000),
            ("0.29", 29_000_000),
            ("1000 sat", 1000),
            ("1000sats", 1000),
            ("1 SAT", 1),
        ];
        for (input, sats) in good {
            assert_eq!(Sats::parse_user(input), Ok(Sats(*sats)), "{input}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "Give an amount, for example 0.001 or 5000 sat."),
            ("-1", "An amount cannot be negative."),
            ("-0.5", "An amount cannot be negative."),
            ("0", "An amount must be more than zero."),
            ("0.00000000", "An amount must be more than zero."),
            ("0 sat", "An amount must be more than zero."),
            (
                "1e3",
                "Write the amount in full (0.001), without an exponent.",
            ),
            (
                "1.5E-3",
                "Write the amount in full (0.001), without an exponent.",
            ),
            (
                "0.000000001",
                "At most 8 decimals: the smallest amount is 0.00000001 BTC (1 sat).",
            ),
            (
                "1.123456789",
                "At most 8 decimals: the smallest amount is 0.00000001 BTC (1 sat).",
            ),
            (
                "21000000.00000001",
                "That is more than the 21 million bitcoins that will ever exist.",
            ),
            (
                "99999999999",
                "That is more than the 21 million bitcoins that will ever exist.",
            ),
            (
                "2100000000000001 sat",
                "That is more than the 21 million bitcoins that will ever exist.",
            ),
            ("\u{0661}", "Write the amount with the digits 0 to 9."),
            ("\u{FF11}.5", "Write the amount with the digits 0 to 9."),
            ("0,5", "Use a dot as the decimal separator: 0.5, not 0,5."),
            ("1,000", "Use a dot as the decimal separator: 0.5, not 0,5."),
            (
                "1.5 sat",
                "Satoshis are whole: 1 sat is the smallest amount.",
            ),
            (
                "+1",
                "An amount is a number of BTC (0.5, .25) or of satoshis (5000 sat).",
            ),
            (
                "abc",
                "An amount is a number of BTC (0.5, .25) or of satoshis (5000 sat).",
            ),
            (
                ".",
                "An amount is a number of BTC (0.5, .25) or of satoshis (5000 sat).",
            ),
            (
                "1.2.3",
                "An amount is a number of BTC (0.5, .25) or of satoshis (5000 sat).",
            ),
            (
                "0x10",
                "An amount is a number of BTC (0.5, .25) or of satoshis (5000 sat).",
            ),
            (
                "NaN",
                "An amount is a number of BTC (0.5, .25) or of satoshis (5000 sat).",
            ),
        ];
        for (input, message) in bad {
            let e = Sats::parse_user(input).expect_err(input);
            assert_eq!(
                refusal(&c, "en", &Refusal::Amount(e), "regtest"),
                format!("{message} {help}"),
                "{input:?}"
            );
        }
        assert!(good.len() + bad.len() >= 30);
    }
}
