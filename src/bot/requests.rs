//! The chat forms of payment requests and blocks: `request <amount> from
//! <user> [comment]` asks a user, `request <amount> [comment]` gives a
//! payment link, and in a user contact's chat `request <amount>
//! [comment]` asks that contact (as `pay` there pays them); `block
//! [user]` and `unblock <user>` to the gateway.

use super::{take_amount, Turn};
use crate::command::{self, Services};
use crate::ledger::User;
use crate::wallet::payments::{Amount, Refusal};
use crate::xmpp::Element;

/// Whether `word` is "from" in `lang` or in English.
fn is_from(s: &Services, lang: &str, word: &str) -> bool {
    s.voice
        .catalogs()
        .raw(lang, "word-from")
        .split(',')
        .chain(std::iter::once("from"))
        .any(|w| w.trim().eq_ignore_ascii_case(word))
}

/// `request ...`; `contact` is the user contact written to, if any.
pub(super) fn request(
    s: &mut Services,
    turn: &Turn,
    user: &User,
    contact: Option<&User>,
    args: &str,
    out: &mut Vec<Element>,
) -> Vec<String> {
    let lang = turn.lang;
    let usage = if contact.is_some() {
        "request-usage-contact"
    } else {
        "request-usage"
    };
    let mut words = args.split_whitespace().peekable();
    let amount = match take_amount(s, lang, &mut words) {
        Some(Ok(Amount::Exactly(amount))) => amount,
        // Asking for "all" of someone's balance is no request.
        None | Some(Ok(Amount::All)) => return vec![s.text(lang, usage, &[])],
        Some(Err(e)) => return vec![s.refusal(lang, &Refusal::Amount(e))],
    };
    let payer = match contact {
        Some(contact) => Some(contact.username.clone()),
        None => match words.peek() {
            Some(word) if is_from(s, lang, word) => {
                words.next();
                match words.next() {
                    Some(payer) => Some(payer.to_owned()),
                    None => return vec![s.text(lang, usage, &[])],
                }
            }
            _ => None,
        },
    };
    let comment: Vec<&str> = words.collect();
    let comment = comment.join(" ");
    let comment = (!comment.is_empty()).then_some(comment.as_str());
    let answer = match payer {
        Some(payer) => command::requests::ask(s, lang, user, amount, &payer, comment, out),
        None => command::requests::by_address(s, lang, user, amount, comment, out),
    };
    vec![answer.unwrap_or_else(|why| why)]
}

/// `block [user]`.
pub(super) fn block(
    s: &mut Services,
    turn: &Turn,
    user: &User,
    args: &str,
    out: &mut Vec<Element>,
) -> Vec<String> {
    vec![command::requests::block(s, turn.lang, user, args, out)]
}

/// `unblock <user>`.
pub(super) fn unblock(
    s: &mut Services,
    turn: &Turn,
    user: &User,
    args: &str,
    out: &mut Vec<Element>,
) -> Vec<String> {
    vec![command::requests::unblock(s, turn.lang, user, args, out)]
}
