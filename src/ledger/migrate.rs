//! Schema migrations, and the in-place upgrade of a Python bitcoIM database.
//!
//! The version lives in the `meta` table under `schema_version`. The
//! Python bitcoIM kept its own `db_version` (1) in a table of the same
//! name and shape, which is why bitcoIM reuses it: an old database has
//! `meta` already, gains `schema_version`, and keeps its `db_version` row
//! untouched for anyone who looks.
//!
//! Python bitcoIM kept balances in bitcoind's accounts, which Bitcoin Core
//! no longer has: only registrations can be carried over. They become
//! users; the old tables are kept, renamed `python_registrations` and
//! `python_payments`, so that nothing is lost.

use super::{Context, LedgerError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// The migrations in `sql/`, in order. Never edit one that has shipped:
/// add the next.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../sql/001_initial.sql")),
    (2, include_str!("../../sql/002_chain_reality.sql")),
    (3, include_str!("../../sql/003_rooms_tips_requests.sql")),
    (4, include_str!("../../sql/004_request_recipients.sql")),
];

pub const LATEST_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// `meta` row recording how many Python registrations were imported.
pub const PYTHON_IMPORT_KEY: &str = "python_import";

/// `meta` row holding this database's random id, made once, when the
/// database is created (or upgraded to a version that has it). Withdrawal
/// comments carry it, so that two databases on one wallet never take each
/// other's transactions for their own.
pub const DATABASE_ID_KEY: &str = "database_id";

pub(super) fn schema_version(conn: &Connection) -> Result<u32, LedgerError> {
    let value: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .context("cannot read the schema version")?;
    match value {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| {
            LedgerError::new(format!(
                "the schema version '{v}' in table meta is not a number"
            ))
        }),
    }
}

fn table_exists(conn: &Connection, name: &str) -> Result<bool, LedgerError> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .context("cannot read the schema")
}

pub(super) fn run(conn: &mut Connection) -> Result<(), LedgerError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("cannot start the migration")?;
    // The shape of the Python bitcoIM's meta table, so that both agree.
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (
             id INTEGER NOT NULL,
             name varchar(256) NOT NULL,
             value varchar(256) NOT NULL,
             PRIMARY KEY (id))",
    )
    .context("cannot create table meta")?;
    let current = schema_version(&tx)?;
    if current > LATEST_VERSION {
        return Err(LedgerError::new(format!(
            "the database has schema version {current}, newer than this bitcoIM knows \
             ({LATEST_VERSION}); run a newer bitcoIM or restore a backup"
        )));
    }
    let python = current == 0 && table_exists(&tx, "registrations")?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(sql)
            .context(&format!("migration {version:03} failed"))?;
        tx.execute("DELETE FROM meta WHERE name = 'schema_version'", [])
            .context("cannot record the schema version")?;
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('schema_version', ?1)",
            [version.to_string()],
        )
        .context("cannot record the schema version")?;
        log::info!("database migrated to schema version {version}");
    }
    let has_id: bool = tx
        .query_row(
            "SELECT count(*) FROM meta WHERE name = ?1",
            [DATABASE_ID_KEY],
            |r| r.get::<_, i64>(0),
        )
        .context("cannot read meta")?
        > 0;
    if !has_id {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes)
            .map_err(|e| LedgerError::new(format!("no randomness for the database id: {e}")))?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        tx.execute(
            "INSERT INTO meta (name, value) VALUES (?1, ?2)",
            [DATABASE_ID_KEY, &id],
        )
        .context("cannot record the database id")?;
    }
    if python {
        let imported = import_python(&tx)?;
        tx.execute(
            "INSERT INTO meta (name, value) VALUES (?1, ?2)",
            [PYTHON_IMPORT_KEY, &imported.to_string()],
        )
        .context("cannot record the Python import")?;
        log::info!("imported {imported} registrations from a Python bitcoIM database");
    }
    tx.commit().context("cannot commit the migration")
}

/// Whether `name` follows the username rules: 2 to 24 of `[a-z0-9_-]`,
/// starting with a letter.
pub fn is_valid_username(name: &str) -> bool {
    (2..=24).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Copies Python registrations into `users`. A username that breaks
/// today's rules or collides is replaced by `user<id>`, which the user can
/// change by registering again; the warning names both.
fn import_python(tx: &rusqlite::Transaction) -> Result<u64, LedgerError> {
    let rows: Vec<(i64, String, String)> = {
        let mut stmt = tx
            .prepare("SELECT id, registered_jid, username FROM registrations ORDER BY id")
            .context("cannot read Python registrations")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .context("cannot read Python registrations")?;
        rows.collect::<Result<_, _>>()
            .context("cannot read Python registrations")?
    };
    let now = crate::ledger::now();
    let mut imported = 0;
    for (id, jid, username) in rows {
        let jid = jid.trim().to_lowercase();
        let jid = jid.split('/').next().unwrap_or_default().to_owned();
        let wanted = username.trim().to_lowercase();
        let taken: bool = tx
            .query_row(
                "SELECT count(*) FROM users WHERE username = ?1",
                [&wanted],
                |r| r.get::<_, i64>(0),
            )
            .context("cannot import a registration")?
            > 0;
        let name = if is_valid_username(&wanted) && !taken {
            wanted
        } else {
            let replacement = format!("user{id}");
            log::warn!(
                "Python registration of {jid}: username '{username}' is not valid or \
                 taken today; imported as '{replacement}'"
            );
            replacement
        };
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO users (jid, username, created_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![jid, name, now],
            )
            .context("cannot import a registration")?;
        if inserted == 0 {
            log::warn!("Python registration of {jid} is a duplicate; kept the first one");
        }
        imported += inserted as u64;
    }
    tx.execute_batch(
        "ALTER TABLE registrations RENAME TO python_registrations;
         ALTER TABLE payments RENAME TO python_payments;",
    )
    .context("cannot keep the Python tables")?;
    Ok(imported)
}

/// The schema the Python bitcoIM created (its db.py, version 1), with
/// a few registrations as its users left them.
#[cfg(test)]
pub(crate) const PYTHON_SCHEMA: &str = "
    CREATE TABLE meta (id INTEGER NOT NULL, name varchar(256) NOT NULL,
                       value varchar(256) NOT NULL, PRIMARY KEY (id));
    INSERT INTO meta (name, value) VALUES ('db_version', '1');
    CREATE TABLE registrations (id INTEGER NOT NULL, registered_jid varchar(256) NOT NULL,
                                username varchar(256) NOT NULL, PRIMARY KEY (id));
    CREATE TABLE payments (id INTEGER NOT NULL, from_jid varchar(256) NOT NULL,
                           date timestamp NOT NULL, recipient varchar(256) NOT NULL,
                           amount real NOT NULL, comment varchar(256) NOT NULL,
                           confirmation_code varchar(256) NOT NULL, fee real NOT NULL,
                           PRIMARY KEY (id));
    INSERT INTO registrations (registered_jid, username) VALUES
        ('alice@example.org', 'Alice'),
        ('bob@example.org', 'bob the builder'),
        ('carol@example.org', 'alice'),
        ('alice@example.org', 'alice2');
    INSERT INTO payments (from_jid, date, recipient, amount, comment, confirmation_code, fee)
        VALUES ('alice@example.org', '2011-01-01', 'bob', 0.5, '', 'abc', 0.0005);
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ledger;

    #[test]
    fn a_fresh_database_gets_the_latest_schema() {
        let ledger = Ledger::open_in_memory().unwrap();
        assert_eq!(ledger.schema_version().unwrap(), LATEST_VERSION);
        assert_eq!(ledger.user_count().unwrap(), 0);
        assert_eq!(ledger.meta(PYTHON_IMPORT_KEY).unwrap(), None);
    }

    #[test]
    fn migrating_twice_changes_nothing() {
        let dir = std::env::temp_dir().join(format!("bitcoim-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("twice.db");
        let _ = std::fs::remove_file(&path);
        drop(Ledger::open(&path).unwrap());
        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(ledger.schema_version().unwrap(), LATEST_VERSION);
        let rows: i64 = ledger
            .conn
            .query_row(
                "SELECT count(*) FROM meta WHERE name = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 1);
        let mode: String = ledger
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = ledger
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous must be FULL");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_python_database_is_upgraded_keeping_registrations() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(PYTHON_SCHEMA).unwrap();
        run(&mut conn).unwrap();
        let users: Vec<(String, String)> = conn
            .prepare("SELECT jid, username FROM users ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            users,
            vec![
                ("alice@example.org".to_owned(), "alice".to_owned()),
                ("bob@example.org".to_owned(), "user2".to_owned()),
                ("carol@example.org".to_owned(), "user3".to_owned()),
            ]
        );
        let version: String = conn
            .query_row(
                "SELECT value FROM meta WHERE name = 'db_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, "1");
        assert_eq!(schema_version(&conn).unwrap(), LATEST_VERSION);
        let old: i64 = conn
            .query_row("SELECT count(*) FROM python_payments", [], |r| r.get(0))
            .unwrap();
        assert_eq!(old, 1);
        // Running again is a no-op.
        run(&mut conn).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
    }

    // A version 1 database with money in it: migration 2 rebuilds the
    // ledger table; nothing may be lost or renumbered.
    #[test]
    fn version_1_data_survives_migration_2() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (id INTEGER NOT NULL, name varchar(256) NOT NULL,
                                value varchar(256) NOT NULL, PRIMARY KEY (id));
             INSERT INTO meta (name, value) VALUES ('schema_version', '1');",
        )
        .unwrap();
        conn.execute_batch(MIGRATIONS[0].1).unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, jid, username, balance, held, created_at)
                 VALUES (1, 'a@x', 'alice', 700, 300, 0), (2, 'b@x', 'bob', 0, 0, 0);
             INSERT INTO addresses VALUES ('mA', 1, 0);
             INSERT INTO deposits (txid, vout, address, user_id, amount, confirmations, state,
                                   first_seen_at) VALUES ('t', 0, 'mA', 1, 1000, 3, 'credited', 0);
             INSERT INTO ledger (id, user_id, kind, amount, reference, created_at) VALUES
                 (5, 1, 'deposit', 1000, 't:0', 0), (9, 1, 'hold', -300, 'order:1', 0);
             INSERT INTO orders (id, user_id, code, recipient_kind, recipient, amount, state,
                                 created_at, expires_at, updated_at)
                 VALUES (1, 1, 'abcd', 'address', 'mB', 290, 'held', 0, 0, 0),
                        (2, 1, 'efgh', 'user', 'bob', 10, 'pending', 0, 0, 0);",
        )
        .unwrap();
        run(&mut conn).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), LATEST_VERSION);
        let ledger: Vec<(i64, String, i64, i64)> = conn
            .prepare("SELECT id, kind, amount, debt FROM ledger ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            ledger,
            vec![
                (5, "deposit".to_owned(), 1000, 0),
                (9, "hold".to_owned(), -300, 0)
            ]
        );
        let recipient: Option<i64> = conn
            .query_row("SELECT recipient_id FROM orders WHERE id = 2", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(recipient, Some(2), "a waiting payment keeps its recipient");
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 3);
        let ledger = Ledger::from_connection(conn).unwrap();
        assert!(ledger.check_balances().unwrap().is_empty());
        assert!(ledger
            .meta(DATABASE_ID_KEY)
            .unwrap()
            .is_some_and(|id| id.len() == 16));
        let fk: i64 = ledger.count_rows("SELECT count(*) FROM pragma_foreign_key_check");
        assert_eq!(fk, 0);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn).unwrap();
        conn.execute(
            "UPDATE meta SET value = '99' WHERE name = 'schema_version'",
            [],
        )
        .unwrap();
        let err = run(&mut conn).unwrap_err().to_string();
        assert!(err.contains("schema version 99, newer than"), "{err}");
    }

    #[test]
    fn username_rules() {
        for good in ["ab", "alice", "a-b_c9", "z23456789012345678901234"] {
            assert!(is_valid_username(good), "{good}");
        }
        for bad in [
            "a",
            "9lives",
            "_x",
            "Alice",
            "a b",
            "é",
            "z234567890123456789012345",
            "",
        ] {
            assert!(!is_valid_username(bad), "{bad}");
        }
    }

    // The bundled SQLite is built by the flags of `.cargo/config.toml`:
    // without them about 420 KiB more code would be resident. This fails if
    // that file stops being read (moved, renamed, or LIBSQLITE3_FLAGS
    // lost), while the ledger's own statements still need nothing left out.
    #[cfg(feature = "bundled-sqlite")]
    #[test]
    fn bundled_sqlite_is_trimmed() {
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for absent in ["ENABLE_FTS3", "ENABLE_FTS5", "ENABLE_RTREE", "ENABLE_STAT4"] {
            assert!(
                !options.iter().any(|o| o == absent),
                "{absent} in {options:?}"
            );
        }
        for present in ["OMIT_JSON", "OMIT_LOAD_EXTENSION", "DQS=0"] {
            assert!(
                options.iter().any(|o| o == present),
                "{present} not in {options:?}"
            );
        }
    }
}
