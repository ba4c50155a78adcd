//! XEP-0050: Ad-Hoc Commands with XEP-0004 forms, for users who prefer
//! forms to typing. Every command calls the same code as its chat
//! counterpart: there is one way of paying, not two.
//!
//! Commands are a table of step functions, as in biboumi. A multi-stage
//! command keeps a session (its id stays the same across stages, as Gajim
//! requires), bound to the full JID that started it; abandoned sessions
//! expire; each user may hold a few at once.

mod requests;

use crate::command::{self, Services, HISTORY_LENGTH};
use crate::ledger::orders::State as OrderState;
use crate::ledger::User;
use crate::notify::{render, Bulk};
use crate::wallet::payments::{self, Refusal};
use crate::xep::{IqHandler, IqResult, Request, State};
use crate::xmpp::form::{self, Form};
use crate::xmpp::stanza::{Condition, StanzaError};
use crate::xmpp::{ns, Element};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

pub const HANDLER: IqHandler = IqHandler {
    ns: ns::COMMANDS,
    name: "command",
    feature: Some(ns::COMMANDS),
    get: None,
    set: Some(on_command),
};

/// An abandoned session is forgotten after this long.
const SESSION_LIFETIME: Duration = Duration::from_secs(600);
/// Sessions one user may have at once.
const MAX_SESSIONS_PER_USER: usize = 5;

/// Who may run a command.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Registered,
    Admin,
}

type StepFn = fn(&mut Services, &Ctx, &mut Session, &Submitted, &mut Vec<Element>) -> Step;

struct Command {
    node: &'static str,
    /// Catalog key of the command's name.
    name: &'static str,
    access: Access,
    /// Stage by stage.
    steps: &'static [StepFn],
}

const COMMANDS: &[Command] = &[
    Command {
        node: "balance",
        name: "adhoc-balance",
        access: Access::Registered,
        steps: &[balance],
    },
    Command {
        node: "address",
        name: "adhoc-address",
        access: Access::Registered,
        steps: &[address],
    },
    Command {
        node: "pay",
        name: "adhoc-pay",
        access: Access::Registered,
        steps: &[pay_form, pay_recap, pay_confirm],
    },
    Command {
        node: "request",
        name: "adhoc-request",
        access: Access::Registered,
        steps: &[requests::request_form, requests::request_send],
    },
    Command {
        node: "history",
        name: "adhoc-history",
        access: Access::Registered,
        steps: &[history],
    },
    Command {
        node: "pending",
        name: "adhoc-pending",
        access: Access::Registered,
        steps: &[pending_form, pending_cancel],
    },
    Command {
        node: "blocks",
        name: "adhoc-blocks",
        access: Access::Registered,
        steps: &[requests::blocks_form, requests::blocks_apply],
    },
    Command {
        node: "language",
        name: "adhoc-language",
        access: Access::Registered,
        steps: &[language_form, language_set],
    },
    Command {
        node: "tiplimit",
        name: "adhoc-tiplimit",
        access: Access::Registered,
        steps: &[tiplimit_form, tiplimit_set],
    },
    Command {
        node: "users",
        name: "adhoc-users",
        access: Access::Admin,
        steps: &[users_form, users_show],
    },
    Command {
        node: "audit",
        name: "adhoc-audit",
        access: Access::Admin,
        steps: &[audit_form, audit_clear],
    },
    Command {
        node: "stats",
        name: "adhoc-stats",
        access: Access::Admin,
        steps: &[stats],
    },
    Command {
        node: "announce",
        name: "adhoc-announce",
        access: Access::Admin,
        steps: &[announce_form, announce_send],
    },
];

/// A command session in progress.
#[derive(Debug, Clone)]
pub struct Session {
    node: &'static str,
    owner: String,
    stage: usize,
    /// The last form sent offered `complete` (not `next`).
    last: bool,
    expires: Instant,
    /// Values kept between stages (an order's code).
    data: HashMap<&'static str, String>,
}

/// The sessions of all users.
#[derive(Debug, Default)]
pub struct Sessions {
    map: HashMap<String, Session>,
    next_id: u64,
}

impl Sessions {
    fn expire(&mut self, now: Instant) {
        self.map.retain(|_, s| s.expires > now);
    }
}

struct Ctx<'a> {
    /// `None` only for an admin without a wallet, running admin commands.
    user: Option<&'a User>,
    lang: &'static str,
    jid: String,
}

/// The values of the submitted form, if any.
type Submitted = HashMap<String, Vec<String>>;

/// What a stage produced.
enum Step {
    /// Another form to fill; `last` when the next submission completes.
    Form { x: Element, last: bool },
    Done {
        x: Option<Element>,
        note: Option<(&'static str, String)>,
    },
}

fn done_note(kind: &'static str, text: String) -> Step {
    Step::Done {
        x: None,
        note: Some((kind, text)),
    }
}

/// The commands `sender` may run, for disco#items.
pub fn items(s: &Services, request: &Request) -> Vec<Element> {
    let registered = request.sender(s).is_some();
    let admin = s.voice.is_admin(&request.iq.from);
    COMMANDS
        .iter()
        .filter(|c| match c.access {
            Access::Registered => registered,
            Access::Admin => admin,
        })
        .map(|c| {
            Element::new("item", ns::DISCO_ITEMS)
                .attr("jid", &s.voice.jid().to_string())
                .attr("node", c.node)
                .attr("name", &s.text(request.lang(s), c.name, &[]))
        })
        .collect()
}

/// disco#info of a command node, or `None` if there is no such command.
pub fn node_info(s: &Services, request: &Request, node: &str) -> Option<Element> {
    let command = COMMANDS.iter().find(|c| c.node == node)?;
    Some(
        Element::new("query", ns::DISCO_INFO)
            .attr("node", node)
            .child(
                Element::new("identity", ns::DISCO_INFO)
                    .attr("category", "automation")
                    .attr("type", "command-node")
                    .attr("name", &s.text(request.lang(s), command.name, &[])),
            )
            .child(Element::new("feature", ns::DISCO_INFO).attr("var", ns::COMMANDS))
            .child(Element::new("feature", ns::DISCO_INFO).attr("var", ns::DATA)),
    )
}

fn error(condition: Condition, app: &'static str) -> StanzaError {
    StanzaError::new(condition).with_app(app, ns::COMMANDS)
}

fn on_command(
    s: &mut Services,
    state: &mut State,
    request: &Request,
    out: &mut Vec<Element>,
) -> IqResult {
    let payload = request
        .iq
        .payload
        .ok_or_else(|| StanzaError::new(Condition::BadRequest))?;
    let lang = request.lang(s);
    let node = payload.get_attr("node").unwrap_or_default();
    let Some(command) = COMMANDS.iter().find(|c| c.node == node) else {
        return Err(StanzaError::with_text(
            Condition::ItemNotFound,
            s.text(lang, "adhoc-no-such-command", &[("command", node)]),
        ));
    };
    let user = request.sender(s).cloned();
    let admin = s.voice.is_admin(&request.iq.from);
    match command.access {
        // Admins need no wallet to look after the gateway.
        Access::Admin if !admin => {
            log::warn!("{} tried the admin command {node}", request.iq.from);
            return Err(StanzaError::new(Condition::Forbidden));
        }
        Access::Registered if user.is_none() => {
            return Err(StanzaError::with_text(
                Condition::RegistrationRequired,
                s.text(lang, "not-registered", &[]),
            ));
        }
        _ => {}
    }
    let action = payload.get_attr("action").unwrap_or("execute");
    if !matches!(action, "execute" | "next" | "complete" | "prev" | "cancel") {
        return Err(error(Condition::BadRequest, "malformed-action"));
    }
    let now = Instant::now();
    state.adhoc.expire(now);
    let from = request.iq.from.to_string();
    let ctx = Ctx {
        user: user.as_ref(),
        lang,
        jid: from.clone(),
    };
    let (sid, mut session) = match payload.get_attr("sessionid") {
        Some(sid) => match state.adhoc.map.get(sid) {
            Some(s) if s.owner == from && s.node == command.node => {
                // Checked before the session is taken out, so that a bad
                // action leaves it usable.
                let offered = match action {
                    "prev" => s.stage >= 2,
                    "complete" => s.last,
                    "next" => !s.last,
                    _ => true,
                };
                if !offered {
                    return Err(error(Condition::BadRequest, "bad-action"));
                }
                let s = state.adhoc.map.remove(sid).expect("just found");
                (sid.to_owned(), s)
            }
            _ => return Err(error(Condition::BadRequest, "bad-sessionid")),
        },
        None => {
            if command.steps.len() > 1 {
                make_room(&mut state.adhoc, &request.iq.from.bare().to_string());
            }
            state.adhoc.next_id += 1;
            let sid = format!("{}-{:x}", command.node, state.adhoc.next_id);
            let session = Session {
                node: command.node,
                owner: from.clone(),
                stage: 0,
                last: false,
                expires: now + SESSION_LIFETIME,
                data: HashMap::new(),
            };
            (sid, session)
        }
    };
    let reply = |status: &str| {
        Element::new("command", ns::COMMANDS)
            .attr("node", command.node)
            .attr("sessionid", &sid)
            .attr("status", status)
    };
    // Leaving the recap (cancel, or back to the first form) drops the
    // order it made: nothing is left waiting behind the user's back.
    if matches!(action, "cancel" | "prev") {
        if let (Some(code), Some(user)) = (session.data.remove("code"), &user) {
            let _ = payments::cancel(&mut s.wallet, user, &code);
        }
    }
    if action == "cancel" {
        return Ok(Some(reply("canceled").into()));
    }
    if action == "prev" {
        session.stage -= 2;
    }
    let submitted = payload
        .get_child("x", ns::DATA)
        .filter(|x| x.get_attr("type") == Some("submit"))
        .map(form::values)
        .unwrap_or_default();
    let Some(step) = command.steps.get(session.stage) else {
        return Err(error(Condition::BadRequest, "bad-action"));
    };
    match step(s, &ctx, &mut session, &submitted, out) {
        Step::Form { x, last } => {
            session.stage += 1;
            session.last = last;
            session.expires = now + SESSION_LIFETIME;
            let mut actions = Element::new("actions", ns::COMMANDS);
            if last {
                actions.set_attr("execute", "complete");
                actions.push(Element::new("complete", ns::COMMANDS));
            } else {
                actions.set_attr("execute", "next");
                actions.push(Element::new("next", ns::COMMANDS));
            }
            if session.stage > 1 {
                actions.push(Element::new("prev", ns::COMMANDS));
            }
            let r = reply("executing").child(actions).child(x);
            state.adhoc.map.insert(sid.clone(), session);
            Ok(Some(r.into()))
        }
        Step::Done { x, note } => {
            let mut r = reply("completed");
            if let Some(x) = x {
                r.push(x);
            }
            if let Some((kind, text)) = note {
                r.push(
                    Element::new("note", ns::COMMANDS)
                        .attr("type", kind)
                        .text(&text),
                );
            }
            Ok(Some(r.into()))
        }
    }
}

/// Keeps a user under the bound of open sessions by forgetting their
/// oldest one: an abandoned form must not lock them out.
fn make_room(sessions: &mut Sessions, bare: &str) {
    let mine = |s: &Session| s.owner.split('/').next() == Some(bare);
    while sessions.map.values().filter(|s| mine(s)).count() >= MAX_SESSIONS_PER_USER {
        let oldest = sessions
            .map
            .iter()
            .filter(|(_, s)| mine(s))
            .min_by_key(|(_, s)| s.expires)
            .map(|(id, _)| id.clone());
        match oldest {
            Some(id) => {
                sessions.map.remove(&id);
            }
            None => break,
        }
    }
}

/// The reply to a user command run by an admin without a wallet.
fn not_registered(s: &Services, ctx: &Ctx) -> Step {
    done_note("error", t(s, ctx, "not-registered"))
}

fn t(s: &Services, ctx: &Ctx, key: &str) -> String {
    s.text(ctx.lang, key, &[])
}

fn balance(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    _: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return not_registered(s, ctx);
    };
    done_note("info", command::balance(s, ctx.lang, user))
}

fn address(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    _: &Submitted,
    out: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return not_registered(s, ctx);
    };
    let text = command::new_address(s, ctx.lang, user, out);
    done_note("info", text)
}

fn pay_form(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    _: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let instructions = t(s, ctx, "amounts-help");
    pay_fields(s, ctx, &instructions)
}

/// The recipient, amount and comment form of pay.
fn pay_fields(s: &Services, ctx: &Ctx, instructions: &str) -> Step {
    let field = |key| t(s, ctx, key);
    Step::Form {
        x: Form::new("form")
            .title(&field("adhoc-pay"))
            .instructions(instructions)
            .required(
                "recipient",
                "text-single",
                &field("adhoc-field-recipient"),
                &[],
            )
            .required("amount", "text-single", &field("adhoc-field-amount"), &[])
            .field("comment", "text-single", &field("adhoc-field-comment"), &[])
            .build(),
        last: false,
    }
}

/// The first form of pay again, saying what was wrong.
fn pay_again(s: &mut Services, ctx: &Ctx, session: &mut Session, why: String) -> Step {
    // The next submission comes back to the recap stage.
    session.stage = 0;
    pay_fields(s, ctx, &why)
}

/// Stage 2 of pay: the order is made (no money moves) and its recap
/// shown; submitting it confirms.
fn pay_recap(
    s: &mut Services,
    ctx: &Ctx,
    session: &mut Session,
    values: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return not_registered(s, ctx);
    };
    let lang = ctx.lang;
    let amount = match command::parse_amount(&s.voice, lang, form::value(values, "amount")) {
        Ok(amount) => amount,
        Err(e) => {
            let why = s.refusal(lang, &Refusal::Amount(e));
            return pay_again(s, ctx, session, why);
        }
    };
    let target = match payments::parse_target(&s.wallet, form::value(values, "recipient")) {
        Ok((target, _)) => target,
        Err(r) => {
            let why = s.refusal(lang, &r);
            return pay_again(s, ctx, session, why);
        }
    };
    let comment = form::value(values, "comment");
    let comment = (!comment.is_empty()).then_some(comment);
    match payments::create(&mut s.wallet, user, amount, &target, comment) {
        Ok(recap) => {
            let text = command::recap_text(s, lang, &recap);
            session.data.insert("code", recap.order.code.clone());
            Step::Form {
                x: Form::new("form")
                    .title(&t(s, ctx, "adhoc-pay"))
                    .instructions(&t(s, ctx, "adhoc-pay-confirm"))
                    .fixed_lines(&text)
                    .build(),
                last: true,
            }
        }
        Err(r) => {
            let why = s.refusal(lang, &r);
            pay_again(s, ctx, session, why)
        }
    }
}

fn pay_confirm(
    s: &mut Services,
    ctx: &Ctx,
    session: &mut Session,
    _: &Submitted,
    out: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return not_registered(s, ctx);
    };
    let Some(code) = session.data.get("code").cloned() else {
        return done_note("error", t(s, ctx, "internal-error"));
    };
    let texts = command::confirm(s, ctx.lang, user, &code, false, out);
    // Whatever left the pending state was carried out (or is being);
    // anything else is a refusal and says so as an error.
    let state = s
        .wallet
        .ledger()
        .order_by_code(user.id, &code)
        .ok()
        .flatten()
        .map(|o| o.state);
    let kind = match state {
        Some(
            OrderState::Done
            | OrderState::Held
            | OrderState::Sending
            | OrderState::Sent
            | OrderState::Settled,
        ) => "info",
        Some(OrderState::Unknown) => "warn",
        _ => "error",
    };
    done_note(kind, texts.join("\n"))
}

fn history(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    _: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return not_registered(s, ctx);
    };
    let entries = match s.wallet.ledger().history(user.id, None, HISTORY_LENGTH) {
        Ok(e) => e,
        Err(e) => {
            log::error!("{e}");
            return done_note("error", t(s, ctx, "internal-error"));
        }
    };
    if entries.is_empty() {
        return done_note("info", t(s, ctx, "history-empty"));
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let line = render::history_line(s.voice.catalogs(), ctx.lang, e);
            // "date time ±amount BTC what": the date, then the rest.
            let (date, rest) = line.split_at(16.min(line.len()));
            vec![date.to_owned(), rest.trim().to_owned()]
        })
        .collect();
    Step::Done {
        x: Some(
            Form::new("result")
                .title(&t(s, ctx, "adhoc-history"))
                .table(
                    &[
                        ("date", &t(s, ctx, "adhoc-field-date")),
                        ("movement", &t(s, ctx, "adhoc-field-movement")),
                    ],
                    &rows,
                )
                .build(),
        ),
        note: None,
    }
}

fn pending_form(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    _: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return not_registered(s, ctx);
    };
    let orders = s.wallet.pending_orders(user);
    if orders.is_empty() {
        return done_note("info", t(s, ctx, "no-pending"));
    }
    let options: Vec<(String, String)> = orders
        .iter()
        .map(|o| {
            (
                o.code.clone(),
                format!("{}: {} → {}", o.code, o.amount, o.recipient),
            )
        })
        .collect();
    Step::Form {
        x: Form::new("form")
            .title(&t(s, ctx, "adhoc-pending"))
            .instructions(&t(s, ctx, "adhoc-pending-instructions"))
            .list(
                "confirm",
                "list-single",
                &t(s, ctx, "adhoc-field-confirm"),
                &[],
                &options,
            )
            .list(
                "cancel",
                "list-multi",
                &t(s, ctx, "adhoc-field-cancel"),
                &[],
                &options,
            )
            .build(),
        last: true,
    }
}

fn pending_cancel(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    values: &Submitted,
    out: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return not_registered(s, ctx);
    };
    let mut texts = Vec::new();
    for code in values.get("cancel").into_iter().flatten() {
        texts.extend(command::cancel(s, ctx.lang, user, code, out));
    }
    let confirm = form::value(values, "confirm");
    if !confirm.is_empty()
        && !values
            .get("cancel")
            .is_some_and(|c| c.iter().any(|x| x == confirm))
    {
        texts.extend(command::confirm(s, ctx.lang, user, confirm, false, out));
    }
    if texts.is_empty() {
        texts.push(t(s, ctx, "adhoc-nothing-done"));
    }
    done_note("info", texts.join("\n"))
}

fn language_form(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    _: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return not_registered(s, ctx);
    };
    let options: Vec<(String, String)> = s
        .voice
        .catalogs()
        .languages()
        .map(|l| (l.to_owned(), s.text(l, "language-name", &[])))
        .collect();
    let current = user.language.clone().unwrap_or_else(|| ctx.lang.to_owned());
    Step::Form {
        x: Form::new("form")
            .title(&t(s, ctx, "adhoc-language"))
            .list(
                "language",
                "list-single",
                &t(s, ctx, "adhoc-language"),
                &[&current],
                &options,
            )
            .build(),
        last: true,
    }
}

fn language_set(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    values: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return not_registered(s, ctx);
    };
    let text = command::language(s, ctx.lang, user, form::value(values, "language"));
    done_note("info", text)
}

/// The tip limit form: the user's limit, in satoshis, to change.
fn tiplimit_form(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    _: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return not_registered(s, ctx);
    };
    let max = s.wallet.settings().rooms.max_tiplimit.to_string();
    let current = format!("{} sat", user.tiplimit.0);
    Step::Form {
        x: Form::new("form")
            .title(&t(s, ctx, "adhoc-tiplimit"))
            .instructions(&s.text(ctx.lang, "adhoc-tiplimit-instructions", &[("max", &max)]))
            .required(
                "limit",
                "text-single",
                &t(s, ctx, "adhoc-tiplimit"),
                &[&current],
            )
            .build(),
        last: true,
    }
}

fn tiplimit_set(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    values: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let Some(user) = ctx.user else {
        return not_registered(s, ctx);
    };
    let text = command::tiplimit(s, ctx.lang, user, form::value(values, "limit"));
    done_note("info", text)
}

fn users_form(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    _: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    Step::Form {
        x: Form::new("form")
            .title(&t(s, ctx, "adhoc-users"))
            .instructions(&t(s, ctx, "adhoc-users-instructions"))
            .field(
                "search",
                "text-single",
                &t(s, ctx, "adhoc-field-search"),
                &[],
            )
            .build(),
        last: true,
    }
}

/// The most rows the admins' users command shows: a table an admin can
/// read, and a bounded answer at any user count (issue 11). One more is
/// fetched to know whether to say that others match.
const USERS_SHOWN: usize = 50;

fn users_show(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    values: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let search = form::value(values, "search").trim().to_lowercase();
    log::info!("admin {} listed users (search '{search}')", ctx.jid);
    let mut users = match s.wallet.ledger().users_page("", &search, USERS_SHOWN + 1) {
        Ok(u) => u,
        Err(e) => {
            log::error!("{e}");
            return done_note("error", t(s, ctx, "internal-error"));
        }
    };
    let more = users.len() > USERS_SHOWN;
    users.truncate(USERS_SHOWN);
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            let addresses = s
                .wallet
                .ledger()
                .addresses_of(u.id)
                .unwrap_or_default()
                .join(" ");
            vec![
                u.username.clone(),
                u.jid.clone(),
                u.balance.to_string(),
                u.held.to_string(),
                addresses,
            ]
        })
        .collect();
    let note = more.then(|| {
        (
            "info",
            s.text(
                ctx.lang,
                "adhoc-users-more",
                &[("shown", &USERS_SHOWN.to_string())],
            ),
        )
    });
    Step::Done {
        x: Some(
            Form::new("result")
                .title(&t(s, ctx, "adhoc-users"))
                .table(
                    &[
                        ("username", &t(s, ctx, "register-field-username")),
                        ("jid", "JID"),
                        ("balance", &t(s, ctx, "adhoc-field-balance")),
                        ("held", &t(s, ctx, "adhoc-field-held")),
                        ("addresses", &t(s, ctx, "adhoc-field-addresses")),
                    ],
                    &rows,
                )
                .build(),
        ),
        note,
    }
}

fn audit_form(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    _: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    log::info!("admin {} ran the audit", ctx.jid);
    let text = command::audit_report(s, ctx.lang);
    let mut f = Form::new("form")
        .title(&t(s, ctx, "adhoc-audit"))
        .fixed_lines(&text);
    if s.wallet.is_frozen() {
        f = f.field(
            "unfreeze",
            "boolean",
            &t(s, ctx, "adhoc-field-unfreeze"),
            &["0"],
        );
    }
    Step::Form {
        x: f.build(),
        last: true,
    }
}

fn audit_clear(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    values: &Submitted,
    out: &mut Vec<Element>,
) -> Step {
    if form::boolean(values, "unfreeze") {
        return match command::unfreeze(s, ctx.lang, &ctx.jid, out) {
            Ok(text) => done_note("info", text),
            Err(why) => done_note("error", why),
        };
    }
    done_note("info", t(s, ctx, "adhoc-nothing-done"))
}

fn stats(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    _: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    log::info!("admin {} read the statistics", ctx.jid);
    let stats = match s.wallet.ledger().stats(crate::ledger::now() - 86_400) {
        Ok(stats) => stats,
        Err(e) => {
            log::error!("{e}");
            return done_note("error", t(s, ctx, "internal-error"));
        }
    };
    let uptime = s.started.elapsed().as_secs();
    let rpc = if s.wallet.node_is_down() {
        t(s, ctx, "adhoc-rpc-down")
    } else {
        t(s, ctx, "adhoc-rpc-up")
    };
    let text = s.text(
        ctx.lang,
        "adhoc-stats-text",
        &[
            ("users", &stats.users.to_string()),
            ("online", &s.voice.online.count().to_string()),
            ("pending", &stats.pending_orders.to_string()),
            ("deposits", &stats.deposits_day.to_string()),
            ("deposited", &stats.deposited_day.to_string()),
            ("withdrawals", &stats.withdrawals_day.to_string()),
            ("withdrawn", &stats.withdrawn_day.to_string()),
            (
                "uptime",
                &format!("{}h{:02}m", uptime / 3600, uptime % 3600 / 60),
            ),
            ("rpc", &rpc),
        ],
    );
    done_note("info", text)
}

fn announce_form(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    _: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let options = vec![
        ("all".to_owned(), t(s, ctx, "adhoc-announce-all")),
        ("online".to_owned(), t(s, ctx, "adhoc-announce-online")),
    ];
    Step::Form {
        x: Form::new("form")
            .title(&t(s, ctx, "adhoc-announce"))
            .required(
                "message",
                "text-multi",
                &t(s, ctx, "adhoc-field-message"),
                &[],
            )
            .list(
                "to",
                "list-single",
                &t(s, ctx, "adhoc-field-to"),
                &["all"],
                &options,
            )
            .build(),
        last: true,
    }
}

fn announce_send(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    values: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let message = values
        .get("message")
        .map(|v| v.join("\n"))
        .unwrap_or_default();
    if message.trim().is_empty() {
        return done_note("error", t(s, ctx, "adhoc-announce-empty"));
    }
    let online_only = form::value(values, "to") == "online";
    // The messages go out a page at a time as the socket drains.
    let sent = if online_only {
        let jids: VecDeque<String> = s
            .voice
            .online
            .users()
            .filter(|jid| s.wallet.ledger().user_by_jid(jid).ok().flatten().is_some())
            .map(str::to_owned)
            .collect();
        let count = jids.len();
        s.voice.queue(Bulk::AnnounceTo {
            body: message,
            jids,
        });
        count
    } else {
        let count = s.wallet.ledger().user_count().unwrap_or(0) as usize;
        s.voice.queue(Bulk::AnnounceAll {
            body: message,
            after: 0,
        });
        count
    };
    log::info!(
        "admin {} announced to {sent} {} users",
        ctx.jid,
        if online_only { "online" } else { "registered" }
    );
    done_note(
        "info",
        s.text(
            ctx.lang,
            "adhoc-announce-sent",
            &[("count", &sent.to_string())],
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::SESSION_LIFETIME;
    use crate::ledger::User;
    use crate::testkit::{
        bodies, contact, error_condition, error_text, form_values, form_vars, result_payload, xml,
        Bench, ADMIN, GATEWAY,
    };
    use crate::xmpp::{ns, Element};
    use std::time::Instant;

    pub(super) const ALICE: &str = "alice@example.org/phone";

    fn admin() -> String {
        format!("{ADMIN}/desk")
    }

    /// A submitted form: each field with its values.
    pub(super) fn submit(fields: &[(&str, &[&str])]) -> String {
        let mut x = String::from("<x xmlns='jabber:x:data' type='submit'>");
        for (var, values) in fields {
            x.push_str(&format!("<field var='{var}'>"));
            for value in *values {
                x.push_str(&format!("<value>{value}</value>"));
            }
            x.push_str("</field>");
        }
        x + "</x>"
    }

    /// Everything sent back for a command request from `from`.
    pub(super) fn run(
        b: &mut Bench,
        from: &str,
        node: &str,
        sid: Option<&str>,
        action: Option<&str>,
        fields: &[(&str, &[&str])],
    ) -> Vec<Element> {
        let mut attrs = format!("node='{node}'");
        if let Some(sid) = sid {
            attrs.push_str(&format!(" sessionid='{sid}'"));
        }
        if let Some(action) = action {
            attrs.push_str(&format!(" action='{action}'"));
        }
        let x = if fields.is_empty() {
            String::new()
        } else {
            submit(fields)
        };
        b.iq(
            from,
            GATEWAY,
            "set",
            &format!("<command xmlns='{}' {attrs}>{x}</command>", ns::COMMANDS),
        )
    }

    /// The answer to executing `node`.
    pub(super) fn execute(b: &mut Bench, from: &str, node: &str) -> Element {
        run(b, from, node, None, None, &[]).remove(0)
    }

    /// The answer to `action` in session `sid` with a submitted form.
    pub(super) fn next(
        b: &mut Bench,
        from: &str,
        node: &str,
        sid: &str,
        action: &str,
        fields: &[(&str, &[&str])],
    ) -> Element {
        run(b, from, node, Some(sid), Some(action), fields).remove(0)
    }

    pub(super) fn command(answer: &Element) -> &Element {
        let command = result_payload(answer).expect("a command");
        assert!(command.is("command", ns::COMMANDS), "{}", answer.to_xml());
        command
    }

    pub(super) fn status(answer: &Element) -> &str {
        command(answer).get_attr("status").unwrap()
    }

    pub(super) fn sid(answer: &Element) -> String {
        command(answer).get_attr("sessionid").unwrap().to_owned()
    }

    /// The type and text of the note of a completed command.
    pub(super) fn note(answer: &Element) -> (String, String) {
        assert_eq!(status(answer), "completed", "{}", answer.to_xml());
        let note = command(answer)
            .get_child("note", ns::COMMANDS)
            .expect("a note");
        (
            note.get_attr("type").unwrap().to_owned(),
            note.text_content(),
        )
    }

    pub(super) fn form(answer: &Element) -> &Element {
        command(answer)
            .get_child("x", ns::DATA)
            .expect("a data form")
    }

    /// The default action and the actions offered, in order.
    fn actions(answer: &Element) -> (String, Vec<String>) {
        assert_eq!(status(answer), "executing", "{}", answer.to_xml());
        let actions = command(answer)
            .get_child("actions", ns::COMMANDS)
            .expect("<actions/>");
        (
            actions.get_attr("execute").unwrap().to_owned(),
            actions.elements().map(|a| a.name.clone()).collect(),
        )
    }

    /// The XEP-0050 specific condition of an error.
    fn specific_condition(answer: &Element) -> Option<String> {
        answer
            .get_child("error", ns::COMPONENT)?
            .elements()
            .find(|e| e.ns == ns::COMMANDS)
            .map(|e| e.name.clone())
    }

    /// The texts of a form's fixed fields.
    fn fixed_lines(x: &Element) -> Vec<String> {
        x.elements()
            .filter(|f| f.get_attr("type") == Some("fixed"))
            .filter_map(|f| f.get_child("value", ns::DATA))
            .map(Element::text_content)
            .collect()
    }

    /// The command nodes `from` is offered in disco.
    fn offered(b: &mut Bench, from: &str) -> Vec<String> {
        let answer = b.ask(
            from,
            GATEWAY,
            "get",
            &format!(
                "<query xmlns='{}' node='{}'/>",
                ns::DISCO_ITEMS,
                ns::COMMANDS
            ),
        );
        result_payload(&answer)
            .unwrap()
            .elements()
            .map(|i| i.get_attr("node").unwrap().to_owned())
            .collect()
    }

    /// Alice with 0.001 BTC, and bob.
    pub(super) fn alice_and_bob(b: &mut Bench) -> (User, User) {
        let alice = b.register("alice", "alice");
        b.deposit(&alice, 100_000);
        let bob = b.register("bob", "bob");
        (b.user("alice").unwrap(), bob)
    }

    fn pending_codes(b: &mut Bench, user: &User) -> Vec<String> {
        let orders = b
            .services()
            .wallet
            .ledger()
            .pending_orders(user.id)
            .unwrap();
        orders.into_iter().map(|o| o.code).collect()
    }

    const USER_COMMANDS: [&str; 9] = [
        "balance", "address", "pay", "request", "history", "pending", "blocks", "language",
        "tiplimit",
    ];
    const ADMIN_COMMANDS: [&str; 4] = ["users", "audit", "stats", "announce"];

    #[test]
    fn users_are_offered_the_user_commands() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        assert_eq!(offered(&mut b, ALICE), USER_COMMANDS);
    }

    #[test]
    fn admins_are_offered_the_admin_commands_too() {
        let mut b = Bench::new();
        // Without a wallet, only the admin commands.
        assert_eq!(offered(&mut b, &admin()), ADMIN_COMMANDS);
        b.register("admin", "boss");
        let all: Vec<&str> = USER_COMMANDS.into_iter().chain(ADMIN_COMMANDS).collect();
        assert_eq!(offered(&mut b, &admin()), all);
    }

    #[test]
    fn the_unregistered_are_offered_no_command() {
        let mut b = Bench::new();
        assert!(offered(&mut b, "stranger@example.org/x").is_empty());
    }

    #[test]
    fn each_command_node_describes_itself() {
        let mut b = Bench::new();
        let answer = b.ask(
            ALICE,
            GATEWAY,
            "get",
            &format!("<query xmlns='{}' node='pay'/>", ns::DISCO_INFO),
        );
        let query = result_payload(&answer).unwrap();
        assert_eq!(query.get_attr("node"), Some("pay"));
        let identity = query.get_child("identity", ns::DISCO_INFO).unwrap();
        assert_eq!(identity.get_attr("category"), Some("automation"));
        assert_eq!(identity.get_attr("type"), Some("command-node"));
        assert_eq!(identity.get_attr("name"), Some("Send a payment"));
        let features: Vec<_> = query.elements().filter_map(|f| f.get_attr("var")).collect();
        assert_eq!(features, vec![ns::COMMANDS, ns::DATA]);
    }

    #[test]
    fn an_unknown_command_is_item_not_found() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        let answer = execute(&mut b, ALICE, "nope");
        assert_eq!(error_condition(&answer), "item-not-found");
        assert_eq!(
            error_text(&answer).as_deref(),
            Some("There is no command nope.")
        );
    }

    #[test]
    fn user_commands_need_a_registration() {
        let mut b = Bench::new();
        for from in ["stranger@example.org/x".to_owned(), admin()] {
            let answer = execute(&mut b, &from, "balance");
            assert_eq!(error_condition(&answer), "registration-required", "{from}");
            assert_eq!(
                error_text(&answer).as_deref(),
                Some("You are not registered. Type: register <username>")
            );
        }
    }

    #[test]
    fn admin_commands_are_forbidden_to_users() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        for node in ADMIN_COMMANDS {
            let answer = execute(&mut b, ALICE, node);
            assert_eq!(error_condition(&answer), "forbidden", "{node}");
        }
    }

    #[test]
    fn balance_tells_the_spendable_balance() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let answer = execute(&mut b, ALICE, "balance");
        assert_eq!(
            note(&answer),
            ("info".into(), "Spendable balance: 0.001 BTC".into())
        );
    }

    #[test]
    fn address_gives_a_new_address_and_its_contact_subscribes() {
        let mut b = Bench::new();
        let alice = b.register("alice", "alice");
        let first = b.address_of(&alice);
        let out = run(&mut b, ALICE, "address", None, None, &[]);
        let addresses = b.services().wallet.ledger().addresses_of(alice.id).unwrap();
        let new = addresses
            .iter()
            .find(|a| **a != first)
            .expect("a new address");
        let (kind, text) = note(&out[0]);
        assert_eq!(kind, "info");
        assert!(
            text.starts_with(&format!("Your new deposit address: {new}\nbitcoin:{new}")),
            "{text}"
        );
        let jid = contact(new);
        assert!(
            out[1..].iter().any(|p| p.name == "presence"
                && p.get_attr("type") == Some("subscribe")
                && p.get_attr("from") == Some(jid.as_str())),
            "{:?}",
            xml(&out)
        );
    }

    const PAY_BOB: &[(&str, &[&str])] = &[
        ("recipient", &["bob"]),
        ("amount", &["0.0001"]),
        ("comment", &["lunch"]),
    ];

    #[test]
    fn pay_asks_recipient_amount_and_comment() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let answer = execute(&mut b, ALICE, "pay");
        assert_eq!(actions(&answer), ("next".into(), vec!["next".into()]));
        let x = form(&answer);
        assert_eq!(x.get_attr("type"), Some("form"));
        assert_eq!(form_vars(x), vec!["recipient", "amount", "comment"]);
        let required: Vec<_> = x
            .elements()
            .filter(|f| f.get_child("required", ns::DATA).is_some())
            .filter_map(|f| f.get_attr("var"))
            .collect();
        assert_eq!(required, vec!["recipient", "amount"]);
    }

    #[test]
    fn pay_shows_a_recap_and_pays_only_on_complete() {
        let mut b = Bench::new();
        let (alice, bob) = alice_and_bob(&mut b);
        let first = execute(&mut b, ALICE, "pay");
        let sid = sid(&first);
        let recap = next(&mut b, ALICE, "pay", &sid, "next", PAY_BOB);
        // The same session, now one step from done.
        assert_eq!(self::sid(&recap), sid);
        assert_eq!(
            actions(&recap),
            ("complete".into(), vec!["complete".into(), "prev".into()])
        );
        let codes = pending_codes(&mut b, &alice);
        assert_eq!(codes.len(), 1);
        let lines = fixed_lines(form(&recap));
        assert!(lines[0].starts_with("Pay 0.0001 BTC to bob"), "{lines:?}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("confirm {}", codes[0]))),
            "{lines:?}"
        );
        // Nothing moved yet.
        assert_eq!(b.user("bob").unwrap().balance.0, 0);

        let out = run(&mut b, ALICE, "pay", Some(&sid), Some("complete"), &[]);
        assert_eq!(
            note(&out[0]),
            (
                "info".into(),
                "Paid 0.0001 BTC to bob. Your balance is 0.0009 BTC.".into()
            )
        );
        assert_eq!(b.user("bob").unwrap().balance.0, 10_000);
        assert_eq!(b.user("alice").unwrap().balance.0, 90_000);
        // Bob hears it from alice's contact, with the comment.
        let told: Vec<_> = out[1..]
            .iter()
            .filter(|m| m.name == "message" && m.get_attr("to") == Some(bob.jid.as_str()))
            .collect();
        assert_eq!(told.len(), 1, "{:?}", xml(&out));
        assert_eq!(
            told[0].get_attr("from"),
            Some(format!("alice@{GATEWAY}").as_str())
        );
        assert!(bodies(&out[1..]).iter().any(|t| t.contains("lunch")));
        // The session is over: it cannot pay twice.
        let again = next(&mut b, ALICE, "pay", &sid, "complete", &[]);
        assert_eq!(specific_condition(&again).as_deref(), Some("bad-sessionid"));
        assert_eq!(b.user("bob").unwrap().balance.0, 10_000);
    }

    #[test]
    fn pay_to_an_address_shows_the_fee_and_sends_on_complete() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let world = b.chain.borrow_mut().world_address();
        let sid = sid(&execute(&mut b, ALICE, "pay"));
        let fields: &[(&str, &[&str])] = &[("recipient", &[&world]), ("amount", &["20000 sat"])];
        let recap = next(&mut b, ALICE, "pay", &sid, "next", fields);
        let lines = fixed_lines(form(&recap));
        assert_eq!(
            lines[0],
            format!("Send 0.0002 BTC to {world}."),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("Estimated network fee: "), "{lines:?}");
        assert!(b.chain.borrow().mempool().is_empty());
        let done = next(&mut b, ALICE, "pay", &sid, "complete", &[]);
        let (kind, text) = note(&done);
        assert_eq!(kind, "info", "{text}");
        assert!(
            text.starts_with(&format!("Sent 0.0002 BTC to {world}: transaction ")),
            "{text}"
        );
        assert_eq!(b.chain.borrow().mempool().len(), 1);
    }

    #[test]
    fn a_recap_left_past_its_order_expiry_pays_nothing() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let sid = sid(&execute(&mut b, ALICE, "pay"));
        next(&mut b, ALICE, "pay", &sid, "next", PAY_BOB);
        // Orders wait 10 minutes by default.
        crate::ledger::clock::advance(11 * 60);
        let done = next(&mut b, ALICE, "pay", &sid, "complete", &[]);
        assert_eq!(
            note(&done),
            (
                "error".into(),
                "This payment expired; make a new one with pay.".into()
            )
        );
        assert_eq!(b.user("bob").unwrap().balance.0, 0);
    }

    #[test]
    fn a_bad_amount_brings_the_first_form_back_saying_why() {
        let mut b = Bench::new();
        let (alice, _) = alice_and_bob(&mut b);
        let sid = sid(&execute(&mut b, ALICE, "pay"));
        let fields: &[(&str, &[&str])] = &[("recipient", &["bob"]), ("amount", &["0"])];
        let again = next(&mut b, ALICE, "pay", &sid, "next", fields);
        assert_eq!(actions(&again), ("next".into(), vec!["next".into()]));
        let x = form(&again);
        assert_eq!(form_vars(x), vec!["recipient", "amount", "comment"]);
        let why = x
            .get_child("instructions", ns::DATA)
            .unwrap()
            .text_content();
        assert!(why.contains("zero"), "{why}");
        assert!(pending_codes(&mut b, &alice).is_empty());
        // Corrected, it goes on to the recap.
        let recap = next(&mut b, ALICE, "pay", &sid, "next", PAY_BOB);
        assert_eq!(actions(&recap).0, "complete");
        assert_eq!(pending_codes(&mut b, &alice).len(), 1);
    }

    #[test]
    fn an_unknown_recipient_brings_the_first_form_back_saying_why() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let sid = sid(&execute(&mut b, ALICE, "pay"));
        let fields: &[(&str, &[&str])] = &[("recipient", &["nobody"]), ("amount", &["1000 sat"])];
        let again = next(&mut b, ALICE, "pay", &sid, "next", fields);
        let why = form(&again)
            .get_child("instructions", ns::DATA)
            .unwrap()
            .text_content();
        assert_eq!(
            why,
            "nobody is neither a registered user nor a Bitcoin address."
        );
    }

    #[test]
    fn going_back_from_the_recap_drops_its_order() {
        let mut b = Bench::new();
        let (alice, _) = alice_and_bob(&mut b);
        let sid = sid(&execute(&mut b, ALICE, "pay"));
        next(&mut b, ALICE, "pay", &sid, "next", PAY_BOB);
        assert_eq!(pending_codes(&mut b, &alice).len(), 1);
        let back = next(&mut b, ALICE, "pay", &sid, "prev", &[]);
        assert_eq!(
            form_vars(form(&back)),
            vec!["recipient", "amount", "comment"]
        );
        assert!(pending_codes(&mut b, &alice).is_empty());
        // A new recap makes a new order, the only one.
        next(&mut b, ALICE, "pay", &sid, "next", PAY_BOB);
        assert_eq!(pending_codes(&mut b, &alice).len(), 1);
    }

    #[test]
    fn cancelling_the_recap_drops_its_order_and_the_session() {
        let mut b = Bench::new();
        let (alice, _) = alice_and_bob(&mut b);
        let sid = sid(&execute(&mut b, ALICE, "pay"));
        next(&mut b, ALICE, "pay", &sid, "next", PAY_BOB);
        let canceled = next(&mut b, ALICE, "pay", &sid, "cancel", &[]);
        assert_eq!(status(&canceled), "canceled");
        assert!(pending_codes(&mut b, &alice).is_empty());
        let after = next(&mut b, ALICE, "pay", &sid, "complete", &[]);
        assert_eq!(specific_condition(&after).as_deref(), Some("bad-sessionid"));
        assert_eq!(b.user("bob").unwrap().balance.0, 0);
    }

    #[test]
    fn history_is_a_table_of_movements() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        assert_eq!(
            note(&execute(&mut b, ALICE, "history")),
            ("info".into(), "No movements yet.".into())
        );
        let alice = b.user("alice").unwrap();
        b.deposit(&alice, 100_000);
        let answer = execute(&mut b, ALICE, "history");
        assert_eq!(status(&answer), "completed");
        let x = form(&answer);
        assert_eq!(x.get_attr("type"), Some("result"));
        let reported: Vec<_> = x
            .get_child("reported", ns::DATA)
            .unwrap()
            .elements()
            .map(|f| f.get_attr("var").unwrap())
            .collect();
        assert_eq!(reported, vec!["date", "movement"]);
        let items: Vec<_> = x.elements().filter(|e| e.name == "item").collect();
        assert_eq!(items.len(), 1);
        let date = &form_values(items[0], "date")[0];
        assert_eq!(date.len(), 16, "{date}");
        let movement = &form_values(items[0], "movement")[0];
        assert!(movement.starts_with("+0.001 BTC deposit"), "{movement}");
    }

    #[test]
    fn pending_says_when_nothing_waits() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        assert_eq!(
            note(&execute(&mut b, ALICE, "pending")),
            ("info".into(), "You have no payments waiting.".into())
        );
    }

    #[test]
    fn pending_cancels_the_orders_chosen_and_carries_out_the_one_chosen() {
        let mut b = Bench::new();
        let (alice, _) = alice_and_bob(&mut b);
        for _ in 0..3 {
            b.say("alice", "pay 1000 sat bob");
        }
        let codes = pending_codes(&mut b, &alice);
        assert_eq!(codes.len(), 3);
        let answer = execute(&mut b, ALICE, "pending");
        assert_eq!(
            actions(&answer),
            ("complete".into(), vec!["complete".into()])
        );
        let x = form(&answer);
        assert_eq!(form_vars(x), vec!["confirm", "cancel"]);
        for (var, kind) in [("confirm", "list-single"), ("cancel", "list-multi")] {
            let field = x
                .elements()
                .find(|f| f.get_attr("var") == Some(var))
                .unwrap();
            assert_eq!(field.get_attr("type"), Some(kind));
            let mut options: Vec<String> = field
                .elements()
                .filter(|o| o.name == "option")
                .map(|o| o.get_child("value", ns::DATA).unwrap().text_content())
                .collect();
            options.sort();
            let mut expected = codes.clone();
            expected.sort();
            assert_eq!(options, expected, "{var}");
        }
        let done = next(
            &mut b,
            ALICE,
            "pending",
            &sid(&answer),
            "complete",
            &[
                ("confirm", &[codes[0].as_str()]),
                ("cancel", &[codes[1].as_str(), codes[2].as_str()]),
            ],
        );
        let (kind, text) = note(&done);
        assert_eq!(kind, "info");
        assert_eq!(
            text,
            format!(
                "Payment {} cancelled.\nPayment {} cancelled.\n\
                 Paid 0.00001 BTC to bob. Your balance is 0.00099 BTC.",
                codes[1], codes[2]
            )
        );
        assert!(pending_codes(&mut b, &alice).is_empty());
        assert_eq!(b.user("bob").unwrap().balance.0, 1000);
    }

    #[test]
    fn tiplimit_shows_the_limit_and_sets_it_within_the_maximum() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        let answer = execute(&mut b, ALICE, "tiplimit");
        assert_eq!(form_values(form(&answer), "limit"), vec!["0 sat"]);
        let done = next(
            &mut b,
            ALICE,
            "tiplimit",
            &sid(&answer),
            "complete",
            &[("limit", &["2000000 sat"])],
        );
        assert_eq!(
            note(&done),
            (
                "info".into(),
                "A tip limit can be at most 0.001 BTC here.".into()
            )
        );
        assert_eq!(b.user("alice").unwrap().tiplimit.0, 0);
        let answer = execute(&mut b, ALICE, "tiplimit");
        let done = next(
            &mut b,
            ALICE,
            "tiplimit",
            &sid(&answer),
            "complete",
            &[("limit", &["5000 sat"])],
        );
        assert_eq!(
            note(&done).1,
            "Tips up to 0.00005 BTC are now paid at once, without a code."
        );
        assert_eq!(b.user("alice").unwrap().tiplimit.0, 5000);
        let answer = execute(&mut b, ALICE, "tiplimit");
        assert_eq!(form_values(form(&answer), "limit"), vec!["5000 sat"]);
    }

    #[test]
    fn language_offers_the_catalogs_and_sets_one() {
        let mut b = Bench::new();
        b.register("alice", "alice");
        let answer = execute(&mut b, ALICE, "language");
        let x = form(&answer);
        assert_eq!(form_values(x, "language"), vec!["en"]);
        let field = x
            .elements()
            .find(|f| f.get_attr("var") == Some("language"))
            .unwrap();
        let options: Vec<_> = field
            .elements()
            .filter(|o| o.name == "option")
            .map(|o| {
                (
                    o.get_child("value", ns::DATA).unwrap().text_content(),
                    o.get_attr("label").unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            options.contains(&("en".into(), "English".into())),
            "{options:?}"
        );
        assert!(options.iter().any(|(code, _)| code == "fr"), "{options:?}");
        let done = next(
            &mut b,
            ALICE,
            "language",
            &sid(&answer),
            "complete",
            &[("language", &["fr"])],
        );
        assert_eq!(
            note(&done),
            ("info".into(), "Désormais je vous réponds en fr.".into())
        );
        assert_eq!(b.user("alice").unwrap().language.as_deref(), Some("fr"));
        // Its next forms speak French.
        let answer = execute(&mut b, ALICE, "balance");
        assert!(note(&answer).1.starts_with("Solde"), "{}", note(&answer).1);
    }

    #[test]
    fn audit_shows_the_numbers_and_changes_nothing_unless_asked() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let answer = execute(&mut b, &admin(), "audit");
        let x = form(&answer);
        let lines = fixed_lines(x);
        assert_eq!(lines[0], "Wallet: 0.001 BTC", "{lines:?}");
        assert!(
            lines.contains(&"Covered: yes. Withdrawals: open.".to_owned()),
            "{lines:?}"
        );
        // Nothing to unfreeze.
        assert!(!form_vars(x).contains(&"unfreeze".to_owned()));
        let done = next(&mut b, &admin(), "audit", &sid(&answer), "complete", &[]);
        assert_eq!(note(&done), ("info".into(), "Nothing was changed.".into()));
    }

    #[test]
    fn audit_of_a_frozen_wallet_offers_to_unfreeze_it() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        b.services()
            .wallet
            .ledger_mut()
            .set_state(crate::wallet::audit::FROZEN, "a test")
            .unwrap();
        let answer = execute(&mut b, &admin(), "audit");
        let x = form(&answer);
        assert!(
            fixed_lines(x).contains(&"Covered: yes. Withdrawals: frozen (a test).".to_owned()),
            "{:?}",
            fixed_lines(x)
        );
        let field = x
            .elements()
            .find(|f| f.get_attr("var") == Some("unfreeze"))
            .unwrap();
        assert_eq!(field.get_attr("type"), Some("boolean"));
        assert_eq!(form_values(x, "unfreeze"), vec!["0"]);
        let done = next(
            &mut b,
            &admin(),
            "audit",
            &sid(&answer),
            "complete",
            &[("unfreeze", &["1"])],
        );
        assert_eq!(
            note(&done),
            ("info".into(), "Withdrawals are allowed again.".into())
        );
        assert!(!b.services().wallet.is_frozen());
    }

    #[test]
    fn stats_count_users_and_waiting_payments() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        b.say("alice", "pay 1000 sat bob");
        let (kind, text) = note(&execute(&mut b, &admin(), "stats"));
        assert_eq!(kind, "info");
        assert!(
            text.starts_with(
                "Registered users: 2 (0 online)\nPayments waiting: 1\n\
                 Last 24 hours: 1 deposits (0.001 BTC), 0 withdrawals (0 BTC)\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("Bitcoin node: reachable"), "{text}");
    }

    #[test]
    fn users_lists_the_accounts_that_match_the_search() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let answer = execute(&mut b, &admin(), "users");
        let done = next(
            &mut b,
            &admin(),
            "users",
            &sid(&answer),
            "complete",
            &[("search", &["ALI"])],
        );
        let x = form(&done);
        let items: Vec<_> = x.elements().filter(|e| e.name == "item").collect();
        assert_eq!(items.len(), 1);
        assert_eq!(form_values(items[0], "username"), vec!["alice"]);
        assert_eq!(form_values(items[0], "jid"), vec!["alice@example.org"]);
        assert_eq!(form_values(items[0], "balance"), vec!["0.001 BTC"]);
    }

    fn users_listed(b: &mut Bench, search: &str) -> Element {
        let answer = execute(b, &admin(), "users");
        run(
            b,
            &admin(),
            "users",
            Some(&sid(&answer)),
            Some("complete"),
            &[("search", &[search])],
        )
        .remove(0)
    }

    fn usernames(done: &Element) -> Vec<String> {
        form(done)
            .elements()
            .filter(|e| e.name == "item")
            .flat_map(|i| form_values(i, "username"))
            .collect()
    }

    // Issue 11: the command loaded every user, then one query each.
    #[test]
    fn users_shows_fifty_and_says_that_more_match() {
        let mut b = Bench::new();
        for i in 0..60 {
            let name = format!("u{i:02}");
            b.register(&name, &name);
        }
        b.register("carol", "carol");
        let done = users_listed(&mut b, "u");
        let expected: Vec<String> = (0..50).map(|i| format!("u{i:02}")).collect();
        assert_eq!(usernames(&done), expected);
        assert_eq!(
            note(&done),
            (
                "info".into(),
                "More users match: here are the first 50, by username. \
                 Search for part of a username or JID to narrow the list."
                    .into()
            )
        );
        // A search narrows the list, and then all of it fits.
        let done = users_listed(&mut b, "U5");
        let expected: Vec<String> = (50..60).map(|i| format!("u{i:02}")).collect();
        assert_eq!(usernames(&done), expected);
        assert!(command(&done).get_child("note", ns::COMMANDS).is_none());
        // By JID too.
        let done = users_listed(&mut b, "carol@example");
        assert_eq!(usernames(&done), vec!["carol"]);
    }

    #[test]
    fn announce_reaches_every_user_or_those_online() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        b.send(&format!("<presence from='{ALICE}' to='{GATEWAY}'/>"));
        for (to, expected) in [
            ("all", vec!["alice@example.org", "bob@example.org"]),
            ("online", vec!["alice@example.org"]),
        ] {
            let answer = execute(&mut b, &admin(), "announce");
            let mut out = run(
                &mut b,
                &admin(),
                "announce",
                Some(&sid(&answer)),
                Some("complete"),
                &[("message", &["Maintenance", "at noon"]), ("to", &[to])],
            );
            // The messages go out after the answer, as the socket drains.
            assert_eq!(out.len(), 1);
            out.extend(b.backlog());
            assert_eq!(
                note(&out[0]),
                ("info".into(), format!("Sent to {} users.", expected.len()))
            );
            let messages: Vec<_> = out[1..].iter().filter(|m| m.name == "message").collect();
            let recipients: Vec<_> = messages.iter().map(|m| m.get_attr("to").unwrap()).collect();
            assert_eq!(recipients, expected, "{to}");
            // Normal, so that servers keep it for those offline.
            assert!(messages
                .iter()
                .all(|m| m.get_attr("type") == Some("normal")));
            assert_eq!(bodies(&out[1..])[0], "Maintenance\nat noon");
        }
    }

    #[test]
    fn an_empty_announcement_is_not_sent() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let answer = execute(&mut b, &admin(), "announce");
        let out = run(
            &mut b,
            &admin(),
            "announce",
            Some(&sid(&answer)),
            Some("complete"),
            &[("message", &[" "]), ("to", &["all"])],
        );
        assert_eq!(
            note(&out[0]),
            (
                "error".into(),
                "The message is empty: nothing was sent.".into()
            )
        );
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn an_unknown_session_is_bad_sessionid() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let answer = next(&mut b, ALICE, "pay", "pay-99", "next", PAY_BOB);
        assert_eq!(error_condition(&answer), "bad-request");
        assert_eq!(
            specific_condition(&answer).as_deref(),
            Some("bad-sessionid")
        );
    }

    #[test]
    fn a_session_belongs_to_the_resource_that_started_it() {
        let mut b = Bench::new();
        let (alice, _) = alice_and_bob(&mut b);
        let sid = sid(&execute(&mut b, ALICE, "pay"));
        for from in ["alice@example.org/laptop", "bob@example.org/laptop"] {
            let answer = next(&mut b, from, "pay", &sid, "next", PAY_BOB);
            assert_eq!(
                specific_condition(&answer).as_deref(),
                Some("bad-sessionid"),
                "{from}"
            );
        }
        assert!(pending_codes(&mut b, &alice).is_empty());
        // Its owner goes on.
        let recap = next(&mut b, ALICE, "pay", &sid, "next", PAY_BOB);
        assert_eq!(actions(&recap).0, "complete");
    }

    #[test]
    fn a_session_is_of_one_command() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let sid = sid(&execute(&mut b, ALICE, "pay"));
        let answer = next(&mut b, ALICE, "language", &sid, "complete", &[]);
        assert_eq!(
            specific_condition(&answer).as_deref(),
            Some("bad-sessionid")
        );
    }

    #[test]
    fn an_unknown_action_is_malformed() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let answer = run(&mut b, ALICE, "pay", None, Some("jump"), &[]).remove(0);
        assert_eq!(error_condition(&answer), "bad-request");
        assert_eq!(
            specific_condition(&answer).as_deref(),
            Some("malformed-action")
        );
    }

    #[test]
    fn an_action_the_form_did_not_offer_is_bad_action_and_keeps_the_session() {
        let mut b = Bench::new();
        let (alice, _) = alice_and_bob(&mut b);
        let sid = sid(&execute(&mut b, ALICE, "pay"));
        for action in ["complete", "prev"] {
            let answer = next(&mut b, ALICE, "pay", &sid, action, PAY_BOB);
            assert_eq!(error_condition(&answer), "bad-request", "{action}");
            assert_eq!(
                specific_condition(&answer).as_deref(),
                Some("bad-action"),
                "{action}"
            );
        }
        assert!(pending_codes(&mut b, &alice).is_empty());
        let recap = next(&mut b, ALICE, "pay", &sid, "next", PAY_BOB);
        assert_eq!(actions(&recap).0, "complete");
        let answer = next(&mut b, ALICE, "pay", &sid, "next", &[]);
        assert_eq!(specific_condition(&answer).as_deref(), Some("bad-action"));
    }

    #[test]
    fn an_abandoned_session_expires() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let started = Instant::now();
        let sid = sid(&execute(&mut b, ALICE, "pay"));
        let sessions = &mut b.gateway.xep_state().adhoc.map;
        let session = sessions.get_mut(&sid).expect("kept");
        assert!(session.expires >= started + SESSION_LIFETIME);
        // Its lifetime is over.
        session.expires = Instant::now();
        let answer = next(&mut b, ALICE, "pay", &sid, "next", PAY_BOB);
        assert_eq!(
            specific_condition(&answer).as_deref(),
            Some("bad-sessionid")
        );
        assert!(b.gateway.xep_state().adhoc.map.is_empty());
    }

    #[test]
    fn a_new_session_beyond_five_forgets_the_oldest() {
        let mut b = Bench::new();
        alice_and_bob(&mut b);
        let sids: Vec<String> = (0..6)
            .map(|_| sid(&execute(&mut b, ALICE, "pay")))
            .collect();
        let oldest = next(&mut b, ALICE, "pay", &sids[0], "next", PAY_BOB);
        assert_eq!(
            specific_condition(&oldest).as_deref(),
            Some("bad-sessionid")
        );
        for sid in &sids[1..] {
            let answer = next(&mut b, ALICE, "pay", sid, "cancel", &[]);
            assert_eq!(status(&answer), "canceled", "{sid}");
        }
    }
}
