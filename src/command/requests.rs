//! The request and block commands, for chat and forms alike: they call
//! `wallet::requests`, have its news spoken, and answer the asker.

use super::Services;
use crate::amount::Sats;
use crate::bitcoin::uri;
use crate::ledger::orders::Order;
use crate::ledger::User;
use crate::wallet::requests::{self, Refusal};
use crate::wallet::News;
use crate::xmpp::Element;

/// The sentence for a refused request or block.
pub fn refusal(s: &Services, lang: &str, r: &Refusal) -> String {
    match r {
        Refusal::UnknownUser(who) => s.text(lang, "request-unknown-user", &[("user", who)]),
        Refusal::ToSelf => s.text(lang, "request-to-self", &[]),
        Refusal::Blocked(payer) => s.text(lang, "request-blocked", &[("payer", payer)]),
        Refusal::PayerBusy(payer) => s.text(lang, "request-payer-busy", &[("payer", payer)]),
        Refusal::TooManyRequests(max) => {
            s.text(lang, "request-too-many", &[("max", &max.to_string())])
        }
        Refusal::NodeDown => s.text(lang, "node-down", &[]),
        Refusal::Internal => s.text(lang, "internal-error", &[]),
    }
}

/// `request <amount> from <payer> [comment]`: the payer is asked, the
/// requester told it was sent (`Err`: why not).
pub fn ask(
    s: &mut Services,
    lang: &str,
    user: &User,
    amount: Sats,
    payer: &str,
    comment: Option<&str>,
    out: &mut Vec<Element>,
) -> Result<String, String> {
    let mut news = Vec::new();
    match requests::ask(&mut s.wallet, user, payer, amount, comment, &mut news) {
        Ok(asked) => {
            s.speak(news, out);
            Ok(s.text(
                lang,
                "request-sent",
                &[
                    ("payer", &asked.payer.username),
                    ("amount", &amount.to_string()),
                ],
            ))
        }
        Err(r) => Err(refusal(s, lang, &r)),
    }
}

/// `request <amount> [comment]`: the BIP21 URI of a fresh address that
/// the request is tied to (`Err`: why there is none).
pub fn by_address(
    s: &mut Services,
    lang: &str,
    user: &User,
    amount: Sats,
    comment: Option<&str>,
    out: &mut Vec<Element>,
) -> Result<String, String> {
    let mut news = Vec::new();
    let result = requests::by_address(&mut s.wallet, user, amount, comment, &mut news);
    // The new address's contact is announced even if recording the
    // request failed: the address is the user's either way.
    s.speak(news, out);
    match result {
        Ok(address) => {
            let label = user.username.as_str();
            let link = uri::format_request(&address, amount, label, comment);
            Ok(s.text(
                lang,
                "request-uri",
                &[("address", address.as_str()), ("uri", &link)],
            ))
        }
        Err(r) => Err(refusal(s, lang, &r)),
    }
}

/// `block [user]`: refuses that user's requests; alone, lists who is.
pub fn block(
    s: &mut Services,
    lang: &str,
    user: &User,
    other: &str,
    out: &mut Vec<Element>,
) -> String {
    if other.trim().is_empty() {
        return match requests::blocked(&s.wallet, user) {
            Ok(names) if names.is_empty() => s.text(lang, "block-none", &[]),
            Ok(names) => s.text(lang, "block-list", &[("users", &names.join(", "))]),
            Err(r) => refusal(s, lang, &r),
        };
    }
    set_block(s, lang, user, other, true, out)
}

/// `unblock <user>`: takes that user's requests again.
pub fn unblock(
    s: &mut Services,
    lang: &str,
    user: &User,
    other: &str,
    out: &mut Vec<Element>,
) -> String {
    if other.trim().is_empty() {
        return s.text(lang, "unblock-usage", &[]);
    }
    set_block(s, lang, user, other, false, out)
}

fn set_block(
    s: &mut Services,
    lang: &str,
    user: &User,
    other: &str,
    on: bool,
    out: &mut Vec<Element>,
) -> String {
    let mut news = Vec::new();
    let result = requests::set_block(&mut s.wallet, user, other, on, &mut news);
    s.speak(news, out);
    match result {
        Ok(change) => {
            let key = match (on, change.changed) {
                (true, true) => "block-done",
                (true, false) => "block-already",
                (false, true) => "unblock-done",
                (false, false) => "unblock-none",
            };
            s.text(lang, key, &[("user", &change.username)])
        }
        Err(Refusal::ToSelf) => s.text(lang, "block-self", &[]),
        Err(r) => refusal(s, lang, &r),
    }
}

/// What the requester hears when the payer of `order` paid it: `None`
/// when the order is not a request.
pub(super) fn paid_news(s: &Services, payer: &User, order: &Order) -> Option<Vec<News>> {
    (order.origin == crate::ledger::orders::Origin::Request)
        .then(|| requests::paid(&s.wallet, payer, order))
}
