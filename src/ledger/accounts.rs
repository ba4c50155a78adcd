//! Accounts and their deposit addresses.
//!
//! An account is keyed by the bare JID the server vouches for; its
//! username is what other users see. Accounts are never deleted (see the
//! schema): unregistering marks them removed, registering again from the
//! same JID brings them back with their addresses.

use super::{now, Cached, Context, Ledger, LedgerError};
use crate::amount::Sats;
use rusqlite::{params, OptionalExtension, Row};

pub use super::migrate::is_valid_username;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    /// Bare JID, lowercased.
    pub jid: String,
    pub username: String,
    pub language: Option<String>,
    pub balance: Sats,
    pub held: Sats,
    /// What the user owes after a reversed deposit they had spent; their
    /// next credits repay it first.
    pub debt: Sats,
    /// Unregistered: the account is kept, its username is free.
    pub removed: bool,
    /// The largest tip paid at once, without a code (0: every tip asks).
    /// The operator's `[rooms] max_tiplimit` caps it where it is used.
    pub tiplimit: Sats,
}

/// Why a username cannot be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsernameError {
    TooShort,
    TooLong,
    FirstNotLetter,
    BadCharacter(char),
    Taken,
}

impl UsernameError {
    /// The catalog key of the message explaining the rule.
    pub fn message_key(&self) -> &'static str {
        match self {
            UsernameError::TooShort => "username-too-short",
            UsernameError::TooLong => "username-too-long",
            UsernameError::FirstNotLetter => "username-first-letter",
            UsernameError::BadCharacter(_) => "username-bad-char",
            UsernameError::Taken => "username-taken",
        }
    }
}

/// Checks the username rules and gives the first one broken. The name is
/// lowercased first: `Alice` is `alice`.
pub fn check_username(raw: &str) -> Result<String, UsernameError> {
    let name = raw.trim().to_lowercase();
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-'))
    {
        return Err(UsernameError::BadCharacter(c));
    }
    if name.len() < 2 {
        return Err(UsernameError::TooShort);
    }
    if name.len() > 24 {
        return Err(UsernameError::TooLong);
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(UsernameError::FirstNotLetter);
    }
    debug_assert!(is_valid_username(&name));
    Ok(name)
}

/// What registering did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// A new account (or a removed one brought back).
    Created(User),
    Renamed {
        user: User,
        old: String,
    },
    /// Already registered under that name.
    Unchanged(User),
}

/// Why unregistering was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnregisterError {
    NotRegistered,
    /// Money is still there: balance and held amounts.
    NotEmpty {
        balance: Sats,
        held: Sats,
    },
    Db(String),
}

const USER_COLUMNS: &str =
    "id, jid, username, language, balance, held, debt, removed_at IS NOT NULL, tiplimit";

fn user_from_row(row: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        jid: row.get(1)?,
        username: row.get(2)?,
        language: row.get(3)?,
        balance: Sats(row.get(4)?),
        held: Sats(row.get(5)?),
        debt: Sats(row.get(6)?),
        removed: row.get(7)?,
        tiplimit: Sats(row.get(8)?),
    })
}

impl Ledger {
    /// The registered account of a bare JID.
    pub fn user_by_jid(&self, jid: &str) -> Result<Option<User>, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT id, jid, username, language, balance, held, debt, 0, tiplimit FROM users \
                 WHERE jid = ?1 AND removed_at IS NULL",
                [jid],
                user_from_row,
            )
            .optional()
            .context("cannot look up a user")
    }

    /// Whether a bare JID has an account, registered now or removed.
    pub fn has_account(&self, jid: &str) -> Result<bool, LedgerError> {
        self.conn
            .query_row_cached("SELECT count(*) FROM users WHERE jid = ?1", [jid], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n > 0)
            .context("cannot look up a user")
    }

    pub fn user_by_username(&self, username: &str) -> Result<Option<User>, LedgerError> {
        self.conn
            .query_row_cached(
                &format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE username = ?1 AND removed_at IS NULL"
                ),
                [username],
                user_from_row,
            )
            .optional()
            .context("cannot look up a user")
    }

    pub fn user_by_id(&self, id: i64) -> Result<Option<User>, LedgerError> {
        self.conn
            .query_row_cached(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id],
                user_from_row,
            )
            .optional()
            .context("cannot look up a user")
    }

    /// Stores a user's language (`None`: the configured default).
    pub fn set_language(
        &mut self,
        user_id: i64,
        language: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.conn
            .execute_cached(
                "UPDATE users SET language = ?1 WHERE id = ?2",
                params![language, user_id],
            )
            .context("cannot store the language")?;
        Ok(())
    }

    /// Stores a user's one-step tip limit (0: every tip asks for a code).
    pub fn set_tiplimit(&mut self, user_id: i64, limit: Sats) -> Result<(), LedgerError> {
        self.conn
            .execute_cached(
                "UPDATE users SET tiplimit = ?1 WHERE id = ?2",
                params![limit.0, user_id],
            )
            .context("cannot store the tip limit")?;
        Ok(())
    }

    /// A page of the registered accounts for the admins' views: at most
    /// `limit`, by username, after the username `after` ("": from the
    /// first), whose username or JID contains `search` (lowercase, as
    /// both are stored; "": every account). A page walks the username index from `after`, so
    /// it costs the same at any user count; a narrow search may read far
    /// along the index to fill it, but never holds more than `limit` rows.
    pub fn users_page(
        &self,
        after: &str,
        search: &str,
        limit: usize,
    ) -> Result<Vec<User>, LedgerError> {
        let mut stmt = self
            .conn
            .cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE removed_at IS NULL AND username > ?1 \
                 AND (?2 = '' OR instr(username, ?2) > 0 OR instr(jid, ?2) > 0) \
                 ORDER BY username LIMIT ?3"
            ))
            .context("cannot list users")?;
        let rows = stmt
            .query_map(params![after, search, limit as i64], user_from_row)
            .context("cannot list users")?;
        rows.collect::<Result<_, _>>().context("cannot list users")
    }

    /// A page of the registered accounts: at most `limit`, in id order,
    /// after the account `after` (0: from the first). Work that goes to
    /// every user walks these pages, never the whole table at once.
    pub fn users_after(&self, after: i64, limit: usize) -> Result<Vec<User>, LedgerError> {
        let mut stmt = self
            .conn
            .cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id > ?1 AND removed_at IS NULL \
                 ORDER BY id LIMIT ?2"
            ))
            .context("cannot list users")?;
        let rows = stmt
            .query_map(params![after, limit as i64], user_from_row)
            .context("cannot list users")?;
        rows.collect::<Result<_, _>>().context("cannot list users")
    }

    /// Registers `jid` as `username` (already checked by
    /// [`check_username`]), renames it, or brings a removed account back.
    pub fn register(&mut self, jid: &str, username: &str) -> Result<Registration, RegisterFailure> {
        let tx = self.write("cannot register").map_err(RegisterFailure::Db)?;
        let existing = tx
            .query_row_cached(
                &format!("SELECT {USER_COLUMNS}, removed_at FROM users WHERE jid = ?1"),
                [jid],
                |r| Ok((user_from_row(r)?, r.get::<_, Option<i64>>(9)?)),
            )
            .optional()
            .context("cannot register")
            .map_err(RegisterFailure::Db)?;
        let holder: Option<String> = tx
            .query_row_cached(
                "SELECT jid FROM users WHERE username = ?1 AND removed_at IS NULL",
                [username],
                |r| r.get(0),
            )
            .optional()
            .context("cannot register")
            .map_err(RegisterFailure::Db)?;
        if holder.as_deref().is_some_and(|h| h != jid) {
            return Err(RegisterFailure::Taken);
        }
        let outcome = match existing {
            Some((user, None)) if user.username == username => Registration::Unchanged(user),
            Some((mut user, None)) => {
                tx.execute_cached(
                    "UPDATE users SET username = ?1 WHERE id = ?2",
                    params![username, user.id],
                )
                .context("cannot rename")
                .map_err(RegisterFailure::Db)?;
                let old = std::mem::replace(&mut user.username, username.to_owned());
                Registration::Renamed { user, old }
            }
            Some((mut user, Some(_))) => {
                tx.execute_cached(
                    "UPDATE users SET username = ?1, removed_at = NULL WHERE id = ?2",
                    params![username, user.id],
                )
                .context("cannot register")
                .map_err(RegisterFailure::Db)?;
                user.username = username.to_owned();
                user.removed = false;
                Registration::Created(user)
            }
            None => {
                tx.execute_cached(
                    "INSERT INTO users (jid, username, created_at) VALUES (?1, ?2, ?3)",
                    params![jid, username, now()],
                )
                .context("cannot register")
                .map_err(RegisterFailure::Db)?;
                Registration::Created(User {
                    id: tx.last_insert_rowid(),
                    jid: jid.to_owned(),
                    username: username.to_owned(),
                    language: None,
                    balance: Sats(0),
                    held: Sats(0),
                    debt: Sats(0),
                    removed: false,
                    tiplimit: Sats(0),
                })
            }
        };
        tx.commit()
            .context("cannot register")
            .map_err(RegisterFailure::Db)?;
        Ok(outcome)
    }

    /// Unregisters `jid`; refused while it holds any money.
    pub fn unregister(&mut self, jid: &str) -> Result<User, UnregisterError> {
        let db = |e: LedgerError| UnregisterError::Db(e.to_string());
        let tx = self.write("cannot unregister").map_err(db)?;
        let user = tx
            .query_row_cached(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE jid = ?1 AND removed_at IS NULL"),
                [jid],
                user_from_row,
            )
            .optional()
            .context("cannot unregister")
            .map_err(db)?
            .ok_or(UnregisterError::NotRegistered)?;
        if user.balance.0 != 0 || user.held.0 != 0 {
            return Err(UnregisterError::NotEmpty {
                balance: user.balance,
                held: user.held,
            });
        }
        tx.execute_cached(
            "UPDATE users SET removed_at = ?1 WHERE id = ?2",
            params![now(), user.id],
        )
        .context("cannot unregister")
        .map_err(db)?;
        tx.commit().context("cannot unregister").map_err(db)?;
        Ok(user)
    }

    /// Records a new deposit address of `user_id`.
    pub fn add_address(&mut self, user_id: i64, address: &str) -> Result<(), LedgerError> {
        self.conn
            .execute_cached(
                "INSERT INTO addresses (address, user_id, created_at) VALUES (?1, ?2, ?3)",
                params![address, user_id, now()],
            )
            .context("cannot record a deposit address")?;
        Ok(())
    }

    /// A user's deposit addresses, oldest first.
    pub fn addresses_of(&self, user_id: i64) -> Result<Vec<String>, LedgerError> {
        let mut stmt = self
            .conn
            .cached("SELECT address FROM addresses WHERE user_id = ?1 ORDER BY created_at, rowid")
            .context("cannot list addresses")?;
        let rows = stmt
            .query_map([user_id], |r| r.get(0))
            .context("cannot list addresses")?;
        rows.collect::<Result<_, _>>()
            .context("cannot list addresses")
    }

    /// The account (registered or not) that owns a deposit address.
    pub fn address_owner(&self, address: &str) -> Result<Option<i64>, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT user_id FROM addresses WHERE address = ?1",
                [address],
                |r| r.get(0),
            )
            .optional()
            .context("cannot look up an address")
    }

    /// Registered users without any deposit address yet (the node was down
    /// when they registered).
    pub fn users_without_address(&self) -> Result<Vec<User>, LedgerError> {
        let mut stmt = self
            .conn
            .cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE removed_at IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM addresses a WHERE a.user_id = users.id)"
            ))
            .context("cannot list users")?;
        let rows = stmt
            .query_map([], user_from_row)
            .context("cannot list users")?;
        rows.collect::<Result<_, _>>().context("cannot list users")
    }

    /// The accounts imported from a Python bitcoIM, with the JID its
    /// bitcoind account (now a label) was named after, and when they were
    /// imported; none for a database that was never the Python bitcoIM's.
    pub fn python_accounts(&self) -> Result<(Vec<(i64, String)>, i64), LedgerError> {
        let exists: i64 = self
            .conn
            .query_row_cached(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
                 AND name = 'python_registrations'",
                [],
                |r| r.get(0),
            )
            .context("cannot read the schema")?;
        if exists == 0 {
            return Ok((Vec::new(), 0));
        }
        let mut stmt = self
            .conn
            .cached(
                "SELECT u.id, p.registered_jid, u.created_at FROM python_registrations p \
                 JOIN users u ON u.jid = lower(trim(p.registered_jid)) ORDER BY p.id",
            )
            .context("cannot read Python registrations")?;
        let rows: Vec<(i64, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .context("cannot read Python registrations")?
            .collect::<Result<_, _>>()
            .context("cannot read Python registrations")?;
        // The accounts were made by the upgrade, all at once.
        let imported_at = rows.iter().map(|r| r.2).min().unwrap_or(0);
        Ok((
            rows.into_iter().map(|(id, jid, _)| (id, jid)).collect(),
            imported_at,
        ))
    }

    /// Records an address of `user_id` unless it is someone's already;
    /// true when it was added.
    pub fn adopt_address(&mut self, user_id: i64, address: &str) -> Result<bool, LedgerError> {
        let n = self
            .conn
            .execute_cached(
                "INSERT OR IGNORE INTO addresses (address, user_id, created_at) VALUES (?1, ?2, ?3)",
                params![address, user_id, now()],
            )
            .context("cannot record a deposit address")?;
        Ok(n == 1)
    }

    /// Satoshis credited to an address so far.
    pub fn received_on(&self, address: &str) -> Result<Sats, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT coalesce(sum(amount), 0) FROM deposits WHERE address = ?1 AND state = 'credited'",
                [address],
                |r| r.get(0),
            )
            .map(Sats)
            .context("cannot sum deposits")
    }

    /// Satoshis seen on the way to a user's addresses, not credited yet
    /// (conflicted transactions are not on their way any more).
    pub fn incoming_of(&self, user_id: i64) -> Result<Sats, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT coalesce(sum(amount), 0) FROM deposits \
                 WHERE user_id = ?1 AND state = 'seen' AND confirmations >= 0",
                [user_id],
                |r| r.get(0),
            )
            .map(Sats)
            .context("cannot sum deposits")
    }
}

/// Why registering failed.
#[derive(Debug)]
pub enum RegisterFailure {
    Taken,
    Db(LedgerError),
}

#[cfg(test)]
mod tests {
    use super::*;

    // A commit that failed can leave its transaction open. The next write
    // rolls it back instead of joining it: joined, it and every write
    // after it would sit in a transaction never committed, lost at the
    // next stop.
    #[test]
    fn a_transaction_left_open_is_rolled_back_not_joined() {
        let mut l = Ledger::open_in_memory().unwrap();
        l.conn
            .execute_batch("BEGIN; INSERT INTO state (name, value) VALUES ('left', 'open');")
            .unwrap();
        assert!(!l.conn.is_autocommit());
        l.register("alice@x", "alice").unwrap();
        assert!(l.conn.is_autocommit(), "the registration was committed");
        assert!(l.state("left").unwrap().is_none());
        assert!(l.user_by_jid("alice@x").unwrap().is_some());
    }

    #[test]
    fn username_rules_each_have_their_error() {
        assert_eq!(check_username("Alice"), Ok("alice".to_owned()));
        assert_eq!(check_username("a"), Err(UsernameError::TooShort));
        assert_eq!(check_username(""), Err(UsernameError::TooShort));
        assert_eq!(check_username(&"a".repeat(25)), Err(UsernameError::TooLong));
        assert_eq!(check_username("9lives"), Err(UsernameError::FirstNotLetter));
        assert_eq!(check_username("_x"), Err(UsernameError::FirstNotLetter));
        assert_eq!(check_username("a b"), Err(UsernameError::BadCharacter(' ')));
        assert_eq!(check_username("zoé"), Err(UsernameError::BadCharacter('é')));
        assert_eq!(check_username("a@b"), Err(UsernameError::BadCharacter('@')));
    }

    #[test]
    fn register_rename_collide_unregister_and_come_back() {
        let mut l = Ledger::open_in_memory().unwrap();
        let Registration::Created(alice) = l.register("alice@x", "alice").unwrap() else {
            panic!()
        };
        assert!(matches!(
            l.register("bob@x", "alice"),
            Err(RegisterFailure::Taken)
        ));
        assert!(matches!(
            l.register("alice@x", "alice").unwrap(),
            Registration::Unchanged(_)
        ));
        match l.register("alice@x", "alicia").unwrap() {
            Registration::Renamed { user, old } => {
                assert_eq!(old, "alice");
                assert_eq!(user.username, "alicia");
            }
            other => panic!("{other:?}"),
        }
        // The old name is free again.
        assert!(matches!(
            l.register("bob@x", "alice").unwrap(),
            Registration::Created(_)
        ));
        l.add_address(alice.id, "mAddr1").unwrap();
        assert_eq!(l.address_owner("mAddr1").unwrap(), Some(alice.id));
        let removed = l.unregister("alice@x").unwrap();
        assert_eq!(removed.id, alice.id);
        assert_eq!(l.user_by_jid("alice@x").unwrap(), None);
        assert_eq!(l.user_by_username("alicia").unwrap(), None);
        assert_eq!(l.unregister("alice@x"), Err(UnregisterError::NotRegistered));
        // Coming back keeps the account and its addresses.
        let Registration::Created(back) = l.register("alice@x", "alicia").unwrap() else {
            panic!()
        };
        assert_eq!(back.id, alice.id);
        assert_eq!(l.addresses_of(alice.id).unwrap(), vec!["mAddr1"]);
    }

    #[test]
    fn unregister_is_refused_while_money_is_there() {
        let mut l = Ledger::open_in_memory().unwrap();
        l.register("alice@x", "alice").unwrap();
        l.conn
            .execute("UPDATE users SET balance = 5 WHERE jid = 'alice@x'", [])
            .unwrap();
        assert_eq!(
            l.unregister("alice@x"),
            Err(UnregisterError::NotEmpty {
                balance: Sats(5),
                held: Sats(0)
            })
        );
        l.conn
            .execute(
                "UPDATE users SET balance = 0, held = 7 WHERE jid = 'alice@x'",
                [],
            )
            .unwrap();
        assert!(matches!(
            l.unregister("alice@x"),
            Err(UnregisterError::NotEmpty { .. })
        ));
        assert!(l.user_by_jid("alice@x").unwrap().is_some());
    }

    #[test]
    fn users_without_address_are_found() {
        let mut l = Ledger::open_in_memory().unwrap();
        l.register("a@x", "aa").unwrap();
        let Registration::Created(b) = l.register("b@x", "bb").unwrap() else {
            panic!()
        };
        l.add_address(b.id, "mB").unwrap();
        let missing: Vec<String> = l
            .users_without_address()
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(missing, vec!["aa"]);
    }

    // Issue 11, item 1: what preparing each statement once saves on the
    // lookups most stanzas and every poll make. Prints figures only.
    #[test]
    #[ignore = "prints figures: cargo test --release --lib hot_lookups -- --ignored --nocapture"]
    fn hot_lookups_of_ten_thousand_users() {
        const USERS: i64 = 10_000;
        const ROUNDS: i64 = 100_000;
        let mut l = Ledger::open_in_memory().unwrap();
        for i in 0..USERS {
            let Registration::Created(u) =
                l.register(&format!("u{i}@x"), &format!("u{i}")).unwrap()
            else {
                panic!()
            };
            l.add_address(u.id, &format!("m{i}")).unwrap();
        }
        let started = std::time::Instant::now();
        let mut incoming = 0;
        for i in 0..ROUNDS {
            let user = l
                .user_by_jid(&format!("u{}@x", i % USERS))
                .unwrap()
                .unwrap();
            incoming += l.incoming_of(user.id).unwrap().0;
        }
        let lookups = started.elapsed();
        let started = std::time::Instant::now();
        let mut owned = 0;
        for i in 0..ROUNDS {
            let owner = l.address_owner(&format!("m{}", i % USERS)).unwrap();
            owned += i64::from(owner.is_some());
            assert!(!l.is_skipped(&format!("{i:064x}"), 0).unwrap());
            assert!(l.deposit(&format!("{i:064x}"), 0).unwrap().is_none());
        }
        let poll_path = started.elapsed();
        assert_eq!((incoming, owned), (0, ROUNDS));
        println!(
            "{USERS} users, {ROUNDS} rounds: user_by_jid + incoming_of {:.3} s ({:.1} µs a round); \
             address_owner + is_skipped + deposit {:.3} s ({:.1} µs a round)",
            lookups.as_secs_f64(),
            lookups.as_secs_f64() * 1e6 / ROUNDS as f64,
            poll_path.as_secs_f64(),
            poll_path.as_secs_f64() * 1e6 / ROUNDS as f64,
        );
    }
}
