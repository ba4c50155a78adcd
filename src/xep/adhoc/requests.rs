//! The forms of payment requests and blocks (XEP-0050 with XEP-0004):
//! `request` asks a user for an amount, or with no user gives a payment
//! link; `blocks` lists whom the user refuses requests from, to take them
//! again, and refuses one more. Both call the chat commands' code.

use super::{done_note, t, Ctx, Session, Step, Submitted};
use crate::command::{self, Services};
use crate::wallet::payments::{Amount, Refusal};
use crate::wallet::requests;
use crate::xmpp::form::{self, Form};
use crate::xmpp::Element;

/// The amount, from and comment form of request.
fn request_fields(s: &Services, ctx: &Ctx, instructions: &str) -> Step {
    let field = |key| t(s, ctx, key);
    Step::Form {
        x: Form::new("form")
            .title(&field("adhoc-request"))
            .instructions(instructions)
            .required("amount", "text-single", &field("adhoc-field-amount"), &[])
            .field("from", "text-single", &field("adhoc-field-from"), &[])
            .field("comment", "text-single", &field("adhoc-field-comment"), &[])
            .build(),
        last: true,
    }
}

pub(super) fn request_form(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    _: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let instructions = format!(
        "{}\n{}",
        t(s, ctx, "adhoc-request-instructions"),
        t(s, ctx, "amounts-help")
    );
    request_fields(s, ctx, &instructions)
}

/// The form again, saying what was wrong; nothing was stored.
fn request_again(s: &Services, ctx: &Ctx, session: &mut Session, why: String) -> Step {
    session.stage = 0;
    request_fields(s, ctx, &why)
}

/// Submitting the form asks the user named in "from", or gives the link.
pub(super) fn request_send(
    s: &mut Services,
    ctx: &Ctx,
    session: &mut Session,
    values: &Submitted,
    out: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return super::not_registered(s, ctx);
    };
    let lang = ctx.lang;
    let amount = match command::parse_amount(&s.voice, lang, form::value(values, "amount")) {
        Ok(Amount::Exactly(amount)) => amount,
        Ok(Amount::All) => {
            let why = t(s, ctx, "request-usage");
            return request_again(s, ctx, session, why);
        }
        Err(e) => {
            let why = s.refusal(lang, &Refusal::Amount(e));
            return request_again(s, ctx, session, why);
        }
    };
    let from = form::value(values, "from").trim();
    let comment = form::value(values, "comment").trim();
    let comment = (!comment.is_empty()).then_some(comment);
    let answer = if from.is_empty() {
        command::requests::by_address(s, lang, user, amount, comment, out)
    } else {
        command::requests::ask(s, lang, user, amount, from, comment, out)
    };
    match answer {
        Ok(text) => done_note("info", text),
        Err(why) => request_again(s, ctx, session, why),
    }
}

pub(super) fn blocks_form(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    _: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return super::not_registered(s, ctx);
    };
    let blocked = match requests::blocked(&s.wallet, user) {
        Ok(names) => names,
        Err(r) => return done_note("error", command::requests::refusal(s, ctx.lang, &r)),
    };
    let mut x = Form::new("form")
        .title(&t(s, ctx, "adhoc-blocks"))
        .instructions(&t(s, ctx, "adhoc-blocks-instructions"));
    if !blocked.is_empty() {
        let options: Vec<(String, String)> =
            blocked.iter().map(|n| (n.clone(), n.clone())).collect();
        x = x.list(
            "unblock",
            "list-multi",
            &t(s, ctx, "adhoc-field-unblock"),
            &[],
            &options,
        );
    }
    let x = x
        .field("block", "text-single", &t(s, ctx, "adhoc-field-block"), &[])
        .build();
    Step::Form { x, last: true }
}

pub(super) fn blocks_apply(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    values: &Submitted,
    out: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return super::not_registered(s, ctx);
    };
    let mut texts = Vec::new();
    for name in values.get("unblock").into_iter().flatten() {
        texts.push(command::requests::unblock(s, ctx.lang, user, name, out));
    }
    let block = form::value(values, "block").trim();
    if !block.is_empty() {
        texts.push(command::requests::block(s, ctx.lang, user, block, out));
    }
    if texts.is_empty() {
        texts.push(t(s, ctx, "adhoc-nothing-done"));
    }
    done_note("info", texts.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{alice_and_bob, execute, form, next, note, sid, ALICE};
    use crate::testkit::{bodies, form_vars, Bench};

    const BOB: &str = "bob@example.org/phone";

    #[test]
    fn the_request_form_asks_amount_from_and_comment() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let answer = execute(&mut b, BOB, "request");
        assert_eq!(form_vars(form(&answer)), ["amount", "from", "comment"]);
    }

    #[test]
    fn a_request_by_form_reaches_the_payer() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let sid = sid(&execute(&mut b, BOB, "request"));
        let fields: &[(&str, &[&str])] = &[
            ("amount", &["1000 sat"]),
            ("from", &["alice"]),
            ("comment", &["pizza"]),
        ];
        let out =
            super::super::tests::run(&mut b, BOB, "request", Some(&sid), Some("complete"), fields);
        assert_eq!(
            note(&out[0]),
            (
                "info".into(),
                "I asked alice for 0.00001 BTC. You will be told when they pay or decline.".into()
            )
        );
        let told = bodies(&out[1..]);
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(
            told[0].starts_with("bob asks you for 0.00001 BTC: «pizza»."),
            "{told:?}"
        );
    }

    #[test]
    fn a_refused_request_brings_the_form_back_saying_why() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        b.say("alice", "block bob");
        let sid = sid(&execute(&mut b, BOB, "request"));
        let fields: &[(&str, &[&str])] = &[("amount", &["1000 sat"]), ("from", &["alice"])];
        let again = next(&mut b, BOB, "request", &sid, "complete", fields);
        let x = form(&again);
        let instructions = x
            .elements()
            .find(|e| e.name == "instructions")
            .map(|e| e.text_content());
        assert_eq!(
            instructions.as_deref(),
            Some("alice does not take requests from you.")
        );
    }

    #[test]
    fn a_request_by_form_without_from_gives_the_payment_link() {
        let mut b = Bench::new();
        let (alice, _) = alice_and_bob(&mut b);
        let sid = sid(&execute(&mut b, ALICE, "request"));
        let fields: &[(&str, &[&str])] = &[("amount", &["0.001"])];
        let done = next(&mut b, ALICE, "request", &sid, "complete", fields);
        let address = b.addresses(&alice).last().unwrap().clone();
        let (kind, text) = note(&done);
        assert_eq!(kind, "info");
        assert!(
            text.contains(&format!("bitcoin:{address}?amount=0.001&label=alice\n")),
            "{text}"
        );
    }

    #[test]
    fn the_blocks_form_blocks_and_unblocks() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        b.register("carol", "carol");
        let answer = execute(&mut b, ALICE, "blocks");
        assert_eq!(form_vars(form(&answer)), ["block"], "nobody blocked yet");
        let first = sid(&answer);
        let fields: &[(&str, &[&str])] = &[("block", &["bob"])];
        let done = next(&mut b, ALICE, "blocks", &first, "complete", fields);
        assert_eq!(
            note(&done).1,
            "You no longer take requests from bob. Their payments still reach you."
        );
        let answer = execute(&mut b, ALICE, "blocks");
        assert_eq!(form_vars(form(&answer)), ["unblock", "block"]);
        let second = sid(&answer);
        let fields: &[(&str, &[&str])] = &[("unblock", &["bob"]), ("block", &["carol"])];
        let done = next(&mut b, ALICE, "blocks", &second, "complete", fields);
        assert_eq!(
            note(&done).1,
            "You take requests from bob again.\n\
             You no longer take requests from carol. Their payments still reach you."
        );
        assert_eq!(b.say("alice", "block"), ["You refuse requests from: carol"]);
    }
}
