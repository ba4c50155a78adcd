//! The SQLite database: the only module that names rusqlite.
//!
//! It owns the schema (numbered migrations from `sql/`, embedded in the
//! binary), the upgrade of a Python bitcoIM database, and, as the money
//! work lands, accounts, ledger entries and orders, one transaction per
//! movement. Money rows need `synchronous=FULL`: with WAL, `NORMAL` can
//! lose the last commits on power loss, and a Raspberry Pi loses power.

pub mod accounts;
pub mod claims;
pub mod deposits;
mod migrate;
pub mod money;
pub mod orders;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
pub mod query_plans;
pub mod requests;
pub mod rooms;

use rusqlite::{CachedStatement, Connection, OpenFlags, OptionalExtension, Params, Row};
use std::fmt;
use std::path::Path;

pub use accounts::{Registration, User};
#[cfg(test)]
pub(crate) use migrate::PYTHON_SCHEMA;
pub use migrate::{DATABASE_ID_KEY, LATEST_VERSION, PYTHON_IMPORT_KEY};

/// A database failure, with what we were doing.
#[derive(Debug)]
pub struct LedgerError {
    context: String,
    source: Option<rusqlite::Error>,
}

impl LedgerError {
    fn new(context: impl Into<String>) -> LedgerError {
        LedgerError {
            context: context.into(),
            source: None,
        }
    }
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LedgerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// Adds context to rusqlite results.
trait Context<T> {
    fn context(self, what: &str) -> Result<T, LedgerError>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn context(self, what: &str) -> Result<T, LedgerError> {
        self.map_err(|e| LedgerError {
            context: what.to_owned(),
            source: Some(e),
        })
    }
}

/// Statements prepared at most once per connection, and kept: every
/// statement the daemon runs goes through rusqlite's statement cache
/// (issue 11, item 1). What is still prepared each time is what runs once:
/// the migrations (`migrate.rs`), the PRAGMAs at open, `execute_batch`
/// (transactions' BEGIN and COMMIT included), and the tests' own queries.
trait Cached {
    /// The cached statement of `sql`, prepared if it is not in the cache.
    fn cached(&self, sql: &str) -> rusqlite::Result<CachedStatement<'_>>;

    fn execute_cached(&self, sql: &str, params: impl Params) -> rusqlite::Result<usize> {
        self.cached(sql)?.execute(params)
    }

    fn query_row_cached<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.cached(sql)?.query_row(params, f)
    }
}

impl Cached for Connection {
    fn cached(&self, sql: &str) -> rusqlite::Result<CachedStatement<'_>> {
        #[cfg(test)]
        query_plans::note_cached(sql);
        self.prepare_cached(sql)
    }
}

/// Room in each connection's statement cache (rusqlite keeps 16 by
/// default, and finalizes the least recently used beyond): the ledger's
/// 74 distinct statements with room to grow. A test counts them and
/// wants a quarter to spare (`query_plans::the_statements_fit_the_cache`).
pub const STATEMENT_CACHE_CAPACITY: usize = 128;

pub struct Ledger {
    conn: Connection,
    /// Between [`Ledger::begin_batch`] and [`Ledger::end_batch`].
    in_batch: bool,
}

/// The database and its `-wal` and `-shm` files readable by our user
/// only: they say who owns which coins. New files get that from the
/// umask `main` sets (SQLite gives the `-wal` and `-shm` files the
/// database's own mode when it creates them); files made before, under a
/// looser umask, are fixed here, before SQLite opens them.
fn restrict_modes(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(name.into());
    }
    for file in files {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if !meta.is_file() || mode & 0o077 == 0 {
            continue;
        }
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => log::info!(
                "{} was open to other users (mode {mode:04o}); now 0600",
                file.display()
            ),
            Err(e) => log::warn!(
                "{} is open to other users (mode {mode:04o}) and cannot be made 0600: {e}",
                file.display()
            ),
        }
    }
}

impl Ledger {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let what = format!("database {}", path.display());
        restrict_modes(path);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .context(&format!("cannot open {what}"))?;
        Ledger::setup(conn, &what)
    }

    /// An in-memory database, for tests.
    pub fn open_in_memory() -> Result<Ledger, LedgerError> {
        let conn = Connection::open_in_memory().context("cannot open an in-memory database")?;
        Ledger::setup(conn, "in-memory database")
    }

    fn setup(mut conn: Connection, what: &str) -> Result<Ledger, LedgerError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .context(what)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .context(&format!("cannot enable WAL on {what}"))?;
        if mode != "wal" && mode != "memory" {
            return Err(LedgerError::new(format!(
                "{what}: journal mode is '{mode}', WAL could not be enabled"
            )));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .context(what)?;
        migrate::run(&mut conn).map_err(|e| LedgerError {
            context: format!("cannot migrate {what}: {}", e.context),
            source: e.source,
        })?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        #[cfg(test)]
        query_plans::watch(&conn);
        Ok(Ledger {
            conn,
            in_batch: false,
        })
    }

    /// Starts a batch: every write until [`Ledger::end_batch`] is one
    /// transaction, so one commit and one fsync (synchronous=FULL) instead
    /// of one per write. A poll that credits 10 000 deposits would
    /// otherwise wait for 10 000 fsyncs: seconds on a disk, a minute on an
    /// SD card, while no stanza is read. The ledger's own transactions are
    /// savepoints ([`Ledger::write`]), so they nest in a batch: each is
    /// still all or nothing, and outside a batch a savepoint is a
    /// transaction of its own.
    pub fn begin_batch(&mut self) -> Result<(), LedgerError> {
        self.close_left_open()?;
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .context("cannot start a batch of writes")?;
        self.in_batch = true;
        Ok(())
    }

    /// Whether the batch still holds every write made since
    /// [`Ledger::begin_batch`]. A disk, memory or I/O error can make
    /// SQLite roll the whole transaction back, not just the statement
    /// that met it; a write after that would be committed on its own,
    /// out of the batch. Work that writes outside [`Ledger::write`] (the
    /// poll's cursor) asks first.
    pub fn batch_intact(&self) -> bool {
        !self.in_batch || !self.conn.is_autocommit()
    }

    /// Commits the batch. On failure nothing of it is kept (the database
    /// is as before [`Ledger::begin_batch`]), and the caller must forget
    /// what it meant to announce.
    pub fn end_batch(&mut self) -> Result<(), LedgerError> {
        self.in_batch = false;
        if self.conn.is_autocommit() {
            return Err(LedgerError {
                context: "a batch of writes was rolled back by an error before its commit".into(),
                source: None,
            });
        }
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            // A failed COMMIT may leave the transaction open.
            if let Err(e) = self.close_left_open() {
                log::error!("{e}");
            }
            return Err(LedgerError {
                context: "cannot commit a batch of writes".into(),
                source: Some(e),
            });
        }
        Ok(())
    }

    /// Starts the writes of one operation: a savepoint, all or nothing.
    /// Outside a batch it is a transaction of its own; inside, it nests.
    /// Refused inside a batch that an error rolled back (it would commit
    /// on its own). Outside a batch, a transaction left open by a commit
    /// that failed (its operation was told it failed) is rolled back
    /// first: otherwise every later operation would join a transaction
    /// never committed, and be lost at the next stop.
    fn write(&mut self, what: &str) -> Result<rusqlite::Savepoint<'_>, LedgerError> {
        if self.in_batch {
            if self.conn.is_autocommit() {
                return Err(LedgerError {
                    context: format!("{what}: the batch of writes was rolled back by an error"),
                    source: None,
                });
            }
        } else {
            self.close_left_open()?;
        }
        self.conn.savepoint().context(what)
    }

    /// Outside a batch, rolls back a transaction a failed commit left
    /// open.
    fn close_left_open(&mut self) -> Result<(), LedgerError> {
        if self.in_batch || self.conn.is_autocommit() {
            return Ok(());
        }
        log::error!("a failed commit left a transaction open: rolling it back");
        self.conn
            .execute_batch("ROLLBACK")
            .context("cannot roll back a transaction a failed commit left open")
    }

    /// Tests: the next commit fails (SQLite turns it into a rollback), as
    /// a full disk would make it.
    #[cfg(test)]
    pub fn fail_next_commit(&self) {
        let mut armed = true;
        self.conn
            .commit_hook(Some(move || std::mem::take(&mut armed)));
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> Result<u32, LedgerError> {
        migrate::schema_version(&self.conn)
    }

    /// How many accounts are registered (closed ones left out).
    pub fn user_count(&self) -> Result<u64, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT count(*) FROM users WHERE removed_at IS NULL",
                [],
                |r| r.get(0),
            )
            .context("cannot count users")
    }

    /// Runs SQL behind the code's back, for tests of a database that
    /// fails or was tampered with.
    #[cfg(test)]
    pub fn execute_sql(&self, sql: &str) {
        self.conn.execute_batch(sql).expect("test SQL");
    }

    /// A database prepared by a test (a Python bitcoIM's, say), migrated.
    #[cfg(test)]
    pub fn from_connection(conn: Connection) -> Result<Ledger, LedgerError> {
        Ledger::setup(conn, "test database")
    }

    /// A count, for the tests' figures.
    #[cfg(test)]
    pub fn count_rows(&self, sql: &str) -> i64 {
        self.conn
            .query_row(sql, [], |r| r.get(0))
            .expect("a count query")
    }

    /// The deposits, orders and balances as text, for a failing test.
    #[cfg(test)]
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for (title, sql) in [
            (
                "users",
                "SELECT id, username, balance, held, debt FROM users",
            ),
            (
                "deposits",
                "/* test */ SELECT substr(txid, 1, 8), vout, user_id, amount, confirmations, state, coinbase \
                 FROM deposits",
            ),
            (
                "orders",
                "/* test */ SELECT id, recipient_kind, amount, fee_reserve, state, substr(txid, 1, 8), fee, \
                 network_fee FROM orders",
            ),
            (
                "ledger",
                "/* test */ SELECT id, user_id, kind, amount, debt, substr(reference, 1, 12) FROM ledger",
            ),
        ] {
            out.push_str(title);
            out.push('\n');
            let mut stmt = self.conn.prepare(sql).expect("a dump query");
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            r.get::<_, rusqlite::types::Value>(i)
                                .map(|v| format!("{v:?}"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .expect("a dump query");
            for row in rows {
                out.push_str("  ");
                out.push_str(&row.expect("a row").join(" "));
                out.push('\n');
            }
        }
        out
    }

    /// A value of the `meta` table.
    pub fn meta(&self, name: &str) -> Result<Option<String>, LedgerError> {
        self.conn
            .query_row_cached("SELECT value FROM meta WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .context("cannot read meta")
    }
}

/// Seconds since the Unix epoch, as stored in the database.
pub fn now() -> i64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    #[cfg(test)]
    let real = real + clock::shift();
    real
}

/// The tests' clock: the chain simulator moves time on (for grace periods
/// and expiries) without sleeping. Per thread, as tests run in parallel.
#[cfg(test)]
pub mod clock {
    use std::cell::Cell;

    thread_local! {
        static SHIFT: Cell<i64> = const { Cell::new(0) };
    }

    pub fn shift() -> i64 {
        SHIFT.with(Cell::get)
    }

    pub fn advance(seconds: i64) {
        SHIFT.with(|s| s.set(s.get() + seconds));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    // Issue 12, item 3: the database followed the umask, often 0644.
    #[test]
    fn files_open_to_other_users_are_made_0600() {
        let dir = std::env::temp_dir().join(format!("bitcoim-modes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("modes.db");
        let files = [
            db.clone(),
            dir.join("modes.db-wal"),
            dir.join("modes.db-shm"),
        ];
        for file in &files {
            let _ = std::fs::remove_file(file);
        }
        // The first connection keeps -wal and -shm while it is open.
        let first = Ledger::open(&db).unwrap();
        for file in &files {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let second = Ledger::open(&db).unwrap();
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        assert_eq!(second.schema_version().unwrap(), LATEST_VERSION);
        drop((first, second));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
