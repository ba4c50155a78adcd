//! The SQLite database: the only module that names rusqlite.
//!
//! It owns the schema (numbered migrations from `sql/`, embedded in the
//! binary), the upgrade of a Python bitcoIM database, and, as the money
//! work lands, accounts, ledger entries and orders, one transaction per
//! movement. Money rows need `synchronous=FULL`: with WAL, `NORMAL` can
//! lose the last commits on power loss, and a Raspberry Pi loses power.

pub mod accounts;
pub mod deposits;
mod migrate;
pub mod money;
pub mod orders;
#[cfg(test)]
mod property_tests;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::fmt;
use std::path::Path;

pub use accounts::{Registration, User};
pub use migrate::{LATEST_VERSION, PYTHON_IMPORT_KEY};

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

pub struct Ledger {
    conn: Connection,
}

impl Ledger {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let what = format!("database {}", path.display());
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
        Ok(Ledger { conn })
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> Result<u32, LedgerError> {
        migrate::schema_version(&self.conn)
    }

    pub fn user_count(&self) -> Result<u64, LedgerError> {
        self.conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .context("cannot count users")
    }

    /// A value of the `meta` table.
    pub fn meta(&self, name: &str) -> Result<Option<String>, LedgerError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .context("cannot read meta")
    }
}

/// Seconds since the Unix epoch, as stored in the database.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
