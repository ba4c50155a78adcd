//! Every statement the ledger runs uses an index on the tables that grow
//! with users and time, or says why it may read them whole.
//!
//! The test (`wallet::chain_tests`, which has the simulator) records the
//! SQL of every statement run while the chain simulator's sequences and
//! the rest of the ledger's API run (SQLite's statement trace), then asks
//! SQLite how it would run each one (`EXPLAIN QUERY PLAN`) and fails on a
//! full scan of such a table that is not in [`WHOLE_TABLE`]. A new query
//! that forgets its index fails there, with its plan.
//!
//! The recorder also notes the SQL given to the statement cache
//! (`Cached`): the same test fails on a statement run without it, and
//! [`the_statements_fit_the_cache`] on more distinct statements than
//! [`STATEMENT_CACHE_CAPACITY`] holds with room to spare.

use super::deposits::{Report, Skipped};
use super::orders::{NewOrder, Recipient, State};
use super::{now, Ledger, Registration, STATEMENT_CACHE_CAPACITY};
use crate::amount::Sats;
use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::Connection;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

/// Tables whose size grows with the number of users or with time.
const GROWING: &[&str] = &[
    "users",
    "addresses",
    "deposits",
    "ledger",
    "orders",
    "skipped_outputs",
    "blocks",
    "address_requests",
    "claims",
];

/// Statements that read a growing table whole, on purpose, and why. Each
/// is matched by a fragment of its SQL.
const WHOLE_TABLE: &[(&str, &str)] = &[
    // The audit runs once per block and must see every balance.
    (
        "SELECT coalesce(sum(balance), 0), coalesce(sum(held), 0)",
        "the audit's totals",
    ),
    (
        "SELECT u.username FROM users u WHERE u.balance !=",
        "the audit's drift check",
    ),
    ("FROM users WHERE debt > 0", "the audit's list of debtors"),
    (
        "FROM claims WHERE state = 'held'",
        "the audit's held tips (the partial index of held claims only)",
    ),
    // Admins' views of everyone, on demand.
    (
        "SELECT (SELECT count(*) FROM users WHERE removed_at IS NULL)",
        "the admins' statistics",
    ),
    // Once per recovery of the node: users who still lack an address.
    (
        "NOT EXISTS (SELECT 1 FROM addresses a WHERE a.user_id = users.id)",
        "addresses owed after an outage",
    ),
    // Once, at the first start after an upgrade from the Python bitcoIM.
    ("FROM python_registrations p", "the Python import, once"),
    ("SELECT count(*) FROM users", "the user count of --check"),
];

thread_local! {
    static RECORDING: Cell<bool> = const { Cell::new(false) };
    static SEEN: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
    static CACHED: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
    static SEQUENCE: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Whether a statement goes into [`Recorded::sequence`].
fn in_sequence(sql: &str) -> bool {
    let upper = sql.get(..16).unwrap_or(sql).to_uppercase();
    ["BEGIN", "COMMIT", "END", "SAVEPOINT", "RELEASE", "ROLLBACK"]
        .iter()
        .any(|k| upper.starts_with(k))
        || sql.starts_with("INSERT INTO ledger")
}

/// Called with the SQL of every statement taken from the statement cache:
/// noted while recording (as the cache keys it: trimmed).
pub(super) fn note_cached(sql: &str) {
    if RECORDING.with(Cell::get) {
        let sql = sql.trim();
        CACHED.with(|c| {
            if !c.borrow().contains(sql) {
                c.borrow_mut().insert(sql.to_owned());
            }
        });
    }
}

fn on_trace(event: TraceEvent<'_>) {
    if let TraceEvent::Stmt(stmt, _) = event {
        let sql = stmt.sql().trim().to_owned();
        if in_sequence(&sql) {
            SEQUENCE.with(|s| s.borrow_mut().push(sql.clone()));
        }
        SEEN.with(|s| s.borrow_mut().insert(sql));
    }
}

/// Called for every connection the ledger opens: traced while recording.
pub(super) fn watch(conn: &Connection) {
    if RECORDING.with(Cell::get) {
        conn.trace_v2(TraceEventCodes::SQLITE_TRACE_STMT, Some(on_trace));
    }
}

/// The table an alias of the statement stands for (`FROM users u`): query
/// plans name tables by their alias.
fn table_of<'a>(sql: &'a str, name: &'a str) -> &'a str {
    const KEYWORDS: &[&str] = &[
        "where", "on", "join", "left", "inner", "order", "group", "limit", "set", "values",
        "union", "using",
    ];
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    for pair in words.windows(3) {
        let [kw, table, alias] = pair else { continue };
        let alias = alias.trim_end_matches(';');
        if (kw.eq_ignore_ascii_case("from") || kw.eq_ignore_ascii_case("join"))
            && alias == name
            && !KEYWORDS.contains(&alias.to_lowercase().as_str())
        {
            return table;
        }
    }
    name
}

/// The full scans of growing tables in a statement's plan.
fn full_scans(conn: &Connection, sql: &str) -> Result<Vec<String>, String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .map_err(|e| format!("{e}"))?;
    // The plan does not depend on the values: NULL for every parameter.
    for i in 1..=stmt.parameter_count() {
        stmt.raw_bind_parameter(i, rusqlite::types::Null)
            .map_err(|e| format!("{e}"))?;
    }
    let mut rows = stmt.raw_query();
    let mut scans = Vec::new();
    while let Some(row) = rows.next().map_err(|e| format!("{e}"))? {
        let detail: String = row.get(3).map_err(|e| format!("{e}"))?;
        let Some(rest) = detail.strip_prefix("SCAN ") else {
            continue;
        };
        let name = rest.split_whitespace().next().unwrap_or_default();
        if GROWING.contains(&table_of(sql, name)) {
            scans.push(detail.clone());
        }
    }
    Ok(scans)
}

/// Runs every statement of the ledger's API once at least: the chat
/// commands, forms and admin views that the simulator does not reach, and
/// the deposits' and orders' steps it does (the cache test counts the
/// statements from this alone; the simulator's test checks that it runs
/// none that this misses).
pub fn exercise_the_api() {
    let mut l = Ledger::open_in_memory().unwrap();
    let Registration::Created(a) = l.register("a@x", "alice").unwrap() else {
        panic!()
    };
    let Registration::Created(b) = l.register("b@x", "bob").unwrap() else {
        panic!()
    };
    l.register("a@x", "alicia").unwrap();
    l.register("a@x", "alicia").unwrap();
    l.register("c@x", "carol").unwrap();
    l.unregister("c@x").unwrap();
    l.register("c@x", "carol").unwrap();
    l.has_account("a@x").unwrap();
    l.user_by_id(a.id).unwrap();
    l.user_by_jid("a@x").unwrap();
    l.set_language(a.id, Some("fr")).unwrap();
    l.add_address(a.id, "mA").unwrap();
    l.adopt_address(b.id, "mB").unwrap();
    l.addresses_of(a.id).unwrap();
    l.address_owner("mA").unwrap();

    // Deposits: one seen, credited, reversed and credited again; one
    // credited at once; one seen then conflicted.
    let txids: Vec<String> = (1..=3).map(|i| format!("{i}").repeat(64)).collect();
    let mut report = Report {
        txid: &txids[0],
        vout: 0,
        address: "mA",
        user_id: a.id,
        amount: Sats(100_000),
        confirmations: 0,
        coinbase: false,
        mature: true,
        orphan: false,
    };
    for confirmations in [0, 1, 0, 1] {
        report.confirmations = confirmations;
        l.report_deposit(&report, 1).unwrap();
    }
    report.txid = &txids[1];
    report.confirmations = 1;
    l.report_deposit(&report, 1).unwrap();
    report.txid = &txids[2];
    for confirmations in [0, -1] {
        report.confirmations = confirmations;
        l.report_deposit(&report, 1).unwrap();
    }
    l.watched_deposits().unwrap();
    l.unwatch_deep_deposits(6).unwrap();
    l.deposit(&txids[0], 0).unwrap();
    l.set_deposit_message(&txids[0], 0, "m1").unwrap();
    l.record_skipped(&Skipped {
        txid: &txids[2],
        vout: 1,
        address: "mA",
        user_id: Some(a.id),
        amount: "0.00000000",
        category: "receive",
        reason: "zero amount",
    })
    .unwrap();
    l.is_skipped(&txids[2], 1).unwrap();
    l.received_on("mA").unwrap();
    l.incoming_of(a.id).unwrap();
    l.set_state_once("s", "1").unwrap();
    l.set_state("s", "2").unwrap();
    l.state("s").unwrap();
    l.clear_state("s").unwrap();

    // Payments between users: one made, one refused for funds, expired.
    let order = |l: &mut Ledger, code: &str, to: Recipient, amount: i64| {
        let to_user = to == Recipient::User;
        l.create_order(&NewOrder {
            user_id: a.id,
            code,
            recipient_kind: to,
            recipient: if to_user { "bob" } else { "mW" },
            recipient_id: to_user.then_some(b.id),
            amount: Sats(amount),
            fee_reserve: Sats(if to_user { 0 } else { 100 }),
            fee_rate: (!to_user).then_some(5),
            subtract_fee: false,
            comment: Some("lunch"),
            nonce: (!to_user).then_some("n0nce"),
            expires_at: now() + 600,
            origin: crate::ledger::orders::Origin::Pay,
            tip: None,
        })
        .unwrap()
    };
    let paid = order(&mut l, "abcd", Recipient::User, 1_000);
    l.code_in_use("abcd").unwrap();
    l.order_by_code(a.id, "abcd").unwrap();
    l.pending_orders(a.id).unwrap();
    l.wrong_code(a.id, 3).unwrap();
    l.execute_transfer(&paid, b.id).unwrap();
    let refused = order(&mut l, "efgh", Recipient::User, 1_000_000_000);
    assert!(l.execute_transfer(&refused, b.id).is_err());
    l.expire_orders(now() + 601).unwrap();

    // Withdrawals: one settled, and one failed from each list of states
    // the wallet fails them from.
    let settled = order(&mut l, "w1", Recipient::Address, 1_000);
    l.hold_withdrawal(&settled).unwrap();
    l.mark_sending(settled.id, "best", "marker").unwrap();
    l.mark_sent(settled.id, "txid").unwrap();
    l.settle_withdrawal(&settled, Sats(150), None).unwrap();
    for from in [
        &[State::Held][..],
        &[State::Sending],
        &[State::Sending, State::Unknown],
    ] {
        let failed = order(&mut l, "w2", Recipient::Address, 1_000);
        l.hold_withdrawal(&failed).unwrap();
        if from[0] == State::Sending {
            l.set_order_state(failed.id, State::Held, State::Sending)
                .unwrap();
        }
        assert!(l.fail_withdrawal(&failed, from).unwrap());
    }
    l.orders_in(State::Sent).unwrap();
    l.order(settled.id).unwrap();
    l.unconfirmed_withdrawals().unwrap();
    l.set_order_message(settled.id, "m2").unwrap();
    l.block_without_confirmation(settled.id, 6).unwrap();
    l.mark_confirmed(settled.id).unwrap();
    l.set_doubt(settled.id, "why").unwrap();
    l.withdrawals_since(0).unwrap();
    l.absorbed_fees().unwrap();

    // Requests: blocks, a request waiting, one by address paid once.
    l.block(b.id, a.id).unwrap();
    l.is_blocked(b.id, a.id).unwrap();
    l.blocked_by(b.id).unwrap();
    l.unblock(b.id, a.id).unwrap();
    l.requests_waiting_by(a.id).unwrap();
    l.add_address_request("mA", a.id, Sats(5_000), Some("rent"))
        .unwrap();
    l.pay_address_request("mA", "t:0").unwrap();
    l.pay_address_request("mA", "t:1").unwrap();
    // Tips: one paid to a wallet, two held for a JID without one, one of
    // them claimed and the other returned; a tip limit.
    l.set_tiplimit(a.id, Sats(500)).unwrap();
    let tip = |l: &mut Ledger, code: &str, to: Option<i64>| {
        let place = crate::ledger::orders::Tip {
            room: "room@muc.x".to_owned(),
            tipper_nick: "al".to_owned(),
            recipient_nick: "dee".to_owned(),
            recipient_jid: "d@x".to_owned(),
        };
        l.create_order(&NewOrder {
            user_id: a.id,
            code,
            recipient_kind: Recipient::User,
            recipient: "dee",
            recipient_id: to,
            amount: Sats(100),
            fee_reserve: Sats(0),
            fee_rate: None,
            subtract_fee: false,
            comment: Some("gm"),
            nonce: None,
            expires_at: now() + 600,
            origin: crate::ledger::orders::Origin::Tip,
            tip: Some(&place),
        })
        .unwrap()
    };
    let paid_tip = tip(&mut l, "t1", Some(b.id));
    l.execute_transfer(&paid_tip, b.id).unwrap();
    for code in ["t2", "t3"] {
        let held = tip(&mut l, code, None);
        l.hold_for_claim(&held, "d@x", now() + 60).unwrap().unwrap();
    }
    l.held_for_others(a.id).unwrap();
    l.held_claims_total().unwrap();
    let mut held = l.held_claims_for("d@x").unwrap();
    assert_eq!(held.len(), 2);
    l.pay_claim(&held.remove(0), b.id).unwrap();
    let expired = l.expired_claims(now() + 61).unwrap();
    l.return_claim(&expired[0]).unwrap();

    // Histories and the admins' views.
    l.history(a.id, None, 20).unwrap();
    l.history(a.id, Some(a.id), 20).unwrap();
    l.history_with_address(a.id, "mA", 20).unwrap();
    l.users_page("", "", 51).unwrap();
    l.users_after(0, 256).unwrap();
    l.user_by_username("bob").unwrap();
    l.user_count().unwrap();
    l.meta(super::DATABASE_ID_KEY).unwrap();
    l.stats(0).unwrap();
    l.totals().unwrap();
    l.check_balances().unwrap();
    l.users_without_address().unwrap();
    l.debtors().unwrap();
    l.python_accounts().unwrap();
    assert!(l.unregister("b@x").is_err(), "bob has money");

    // Rooms (XEP-0045): joined, listed at a reconnection, left.
    l.store_room("r@conference.x", Some(a.id), None).unwrap();
    l.room("r@conference.x").unwrap();
    l.rooms().unwrap();
    l.forget_room("r@conference.x").unwrap();

    // A database upgraded from the Python bitcoIM.
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(super::PYTHON_SCHEMA).unwrap();
    Ledger::from_connection(conn)
        .unwrap()
        .python_accounts()
        .unwrap();
}

/// What the ledgers did while recording.
#[derive(Debug, Default)]
pub struct Recorded {
    /// The SQL of every statement run.
    pub run: BTreeSet<String>,
    /// The SQL of every statement taken from the statement cache.
    pub cached: BTreeSet<String>,
    /// Transactions' and savepoints' statements and money movements
    /// (`INSERT INTO ledger`), in the order run: what shows how many
    /// commits some work made.
    pub sequence: Vec<String>,
}

impl Recorded {
    /// The ledger's statements that ran without the statement cache.
    pub fn uncached(&self) -> Vec<&String> {
        self.run
            .iter()
            .filter(|sql| is_ledger_query(sql) && !self.cached.contains(*sql))
            .collect()
    }
}

/// A query or change of the ledger's (not a transaction's BEGIN or
/// COMMIT, not a test's query, marked `/* test */`).
fn is_ledger_query(sql: &str) -> bool {
    let upper = sql.to_uppercase();
    ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"]
        .iter()
        .any(|k| upper.starts_with(k))
        && !sql.starts_with("/* test */")
}

/// Runs `work`, and returns the SQL of every statement the ledgers it
/// opened ran (after their migrations: those run once, at start-up), and
/// of every statement taken from the cache.
pub fn record(work: impl FnOnce()) -> Recorded {
    RECORDING.with(|r| r.set(true));
    work();
    RECORDING.with(|r| r.set(false));
    Recorded {
        run: SEEN.with(|s| s.take()),
        cached: CACHED.with(|c| c.take()),
        sequence: SEQUENCE.with(|s| s.take()),
    }
}

/// What the plans of recorded statements say.
#[derive(Debug, Default)]
pub struct Plans {
    pub checked: usize,
    /// Whole-table reads on purpose, with their reason.
    pub justified: Vec<String>,
    /// Statements that read a growing table whole, with their plan.
    pub problems: Vec<String>,
}

/// Explains every recorded query (the tests' own, marked `/* test */`,
/// aside).
pub fn check(seen: &BTreeSet<String>) -> Plans {
    // Upgraded from the Python bitcoIM: its old tables are there too.
    let conn = Connection::open_in_memory().expect("an in-memory database");
    conn.execute_batch(super::PYTHON_SCHEMA)
        .expect("the Python bitcoIM's schema");
    let probe = Ledger::from_connection(conn).expect("an upgraded ledger");
    let mut plans = Plans::default();
    for sql in seen {
        if !is_ledger_query(sql) {
            continue;
        }
        plans.checked += 1;
        match full_scans(&probe.conn, sql) {
            Ok(scans) if scans.is_empty() => {}
            Ok(scans) => match WHOLE_TABLE
                .iter()
                .find(|(fragment, _)| sql.contains(fragment))
            {
                Some((_, why)) => plans.justified.push(format!("{why}: {}", scans.join(", "))),
                None => plans
                    .problems
                    .push(format!("{sql}\n    {}", scans.join("\n    "))),
            },
            Err(e) => plans
                .problems
                .push(format!("{sql}\n    cannot be explained: {e}")),
        }
    }
    plans
}

// Issue 11, item 1: beyond its capacity, rusqlite's cache finalizes the
// least recently used statement and prepares it again at its next use: a
// capacity below the number of statements would quietly undo the cache.
#[test]
fn the_statements_fit_the_cache() {
    let recorded = record(exercise_the_api);
    let uncached = recorded.uncached();
    assert!(uncached.is_empty(), "run without the cache: {uncached:#?}");
    let n = recorded.cached.len();
    eprintln!("{n} distinct statements, in a cache of {STATEMENT_CACHE_CAPACITY}");
    assert!(n > 40, "too few statements recorded: {n}");
    assert!(
        n + n / 4 <= STATEMENT_CACHE_CAPACITY,
        "{n} distinct cached statements: keep ledger::STATEMENT_CACHE_CAPACITY \
         ({STATEMENT_CACHE_CAPACITY}) a quarter above them"
    );
}
