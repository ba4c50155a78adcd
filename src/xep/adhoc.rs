//! XEP-0050: Ad-Hoc Commands with XEP-0004 forms, for users who prefer
//! forms to typing. Every command calls the same code as its chat
//! counterpart: there is one way of paying, not two.
//!
//! Commands are a table of step functions, as in biboumi. A multi-stage
//! command keeps a session (its id stays the same across stages, as Gajim
//! requires), bound to the full JID that started it; abandoned sessions
//! expire; each user may hold a few at once.

use crate::command::{self, Services, HISTORY_LENGTH};
use crate::ledger::orders::State as OrderState;
use crate::ledger::User;
use crate::notify::render;
use crate::wallet::payments::{self, Refusal};
use crate::xep::{IqHandler, IqResult, Request, State};
use crate::xmpp::form::{self, Form};
use crate::xmpp::stanza::{Condition, StanzaError};
use crate::xmpp::{ns, Element};
use std::collections::HashMap;
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
        node: "language",
        name: "adhoc-language",
        access: Access::Registered,
        steps: &[language_form, language_set],
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
        return Ok(Some(reply("canceled")));
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
            Ok(Some(r))
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
            Ok(Some(r))
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
    let orders = s
        .wallet
        .ledger()
        .pending_orders(user.id)
        .unwrap_or_default();
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
        texts.extend(command::cancel(s, ctx.lang, user, code));
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

fn users_show(
    s: &mut Services,
    ctx: &Ctx,
    _: &mut Session,
    values: &Submitted,
    _: &mut Vec<Element>,
) -> Step {
    let search = form::value(values, "search").to_lowercase();
    log::info!("admin {} listed users (search '{search}')", ctx.jid);
    let users = match s.wallet.ledger().users() {
        Ok(u) => u,
        Err(e) => {
            log::error!("{e}");
            return done_note("error", t(s, ctx, "internal-error"));
        }
    };
    let rows: Vec<Vec<String>> = users
        .iter()
        .filter(|u| search.is_empty() || u.username.contains(&search) || u.jid.contains(&search))
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
        note: None,
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
    out: &mut Vec<Element>,
) -> Step {
    let message = values
        .get("message")
        .map(|v| v.join("\n"))
        .unwrap_or_default();
    if message.trim().is_empty() {
        return done_note("error", t(s, ctx, "adhoc-announce-empty"));
    }
    let online_only = form::value(values, "to") == "online";
    let users = s.wallet.ledger().users().unwrap_or_default();
    let mut sent = 0;
    for user in users {
        if online_only && !s.voice.online.is_online(&user.jid) {
            continue;
        }
        out.push(
            Element::new("message", ns::COMPONENT)
                // `normal`, not `headline`: servers keep normal messages
                // for offline users, and an announcement must reach them.
                .attr("type", "normal")
                .attr("from", &s.voice.jid().to_string())
                .attr("to", &user.jid)
                .text_child("body", &message),
        );
        sent += 1;
    }
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
