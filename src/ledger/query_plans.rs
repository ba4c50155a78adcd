//! Every statement the ledger runs uses an index on the tables that grow
//! with users and time, or says why it may read them whole.
//!
//! The test (`wallet::chain_tests`, which has the simulator) records the
//! SQL of every statement run while the chain simulator's sequences and
//! the rest of the ledger's API run (SQLite's statement trace), then asks
//! SQLite how it would run each one (`EXPLAIN QUERY PLAN`) and fails on a
//! full scan of such a table that is not in [`WHOLE_TABLE`]. A new query
//! that forgets its index fails there, with its plan.

use super::Ledger;
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
    // Admins' views of everyone, on demand.
    (
        "FROM users WHERE removed_at IS NULL ORDER BY username",
        "the admins' user list",
    ),
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
}

fn on_trace(event: TraceEvent<'_>) {
    if let TraceEvent::Stmt(stmt, _) = event {
        let sql = stmt.sql().trim().to_owned();
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

/// Runs the rest of the ledger's API, what the simulator does not reach
/// (chat commands, forms, admin views).
pub fn exercise_the_api() {
    let mut l = Ledger::open_in_memory().unwrap();
    let super::Registration::Created(a) = l.register("a@x", "alice").unwrap() else {
        panic!()
    };
    l.register("b@x", "bob").unwrap();
    l.register("a@x", "alicia").unwrap();
    l.set_language(a.id, Some("fr")).unwrap();
    l.add_address(a.id, "mA").unwrap();
    l.history(a.id, None, 20).unwrap();
    l.history(a.id, Some(a.id), 20).unwrap();
    l.history_with_address(a.id, "mA", 20).unwrap();
    l.received_on("mA").unwrap();
    l.incoming_of(a.id).unwrap();
    l.users().unwrap();
    l.user_by_username("bob").unwrap();
    l.user_count().unwrap();
    l.stats(0).unwrap();
    l.check_balances().unwrap();
    l.pending_orders(a.id).unwrap();
    l.order_by_code(a.id, "abcd").unwrap();
    l.users_without_address().unwrap();
    l.debtors().unwrap();
    l.withdrawals_since(0).unwrap();
    l.unconfirmed_withdrawals().unwrap();
    l.absorbed_fees().unwrap();
    l.python_accounts().unwrap();
    l.unregister("b@x").unwrap();
}

/// Runs `work`, and returns the SQL of every statement the ledgers it
/// opened ran (after their migrations: those run once, at start-up).
pub fn record(work: impl FnOnce()) -> BTreeSet<String> {
    RECORDING.with(|r| r.set(true));
    work();
    RECORDING.with(|r| r.set(false));
    SEEN.with(|s| s.take())
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
    let probe = Ledger::open_in_memory().expect("an in-memory ledger");
    let mut plans = Plans::default();
    for sql in seen {
        let upper = sql.to_uppercase();
        let query = ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"]
            .iter()
            .any(|k| upper.starts_with(k));
        if !query || sql.starts_with("/* test */") {
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
