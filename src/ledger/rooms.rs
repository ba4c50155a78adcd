//! The rooms the gateway is in (XEP-0045), so that it joins them again
//! after every restart or reconnection. A room is stored once the room
//! has confirmed the join, and forgotten when the gateway leaves it or is
//! put out of it.

use super::{now, Cached, Context, Ledger, LedgerError};
use rusqlite::{params, OptionalExtension};

/// A room as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRoom {
    /// The room's bare JID, lowercased.
    pub jid: String,
    /// The user who invited the gateway, if known.
    pub invited_by: Option<i64>,
    pub password: Option<String>,
}

impl Ledger {
    /// Remembers a room the gateway joined; joining it again updates who
    /// invited it and the password.
    pub fn store_room(
        &mut self,
        jid: &str,
        invited_by: Option<i64>,
        password: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.conn
            .execute_cached(
                "INSERT INTO rooms (jid, invited_by, password, joined_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(jid) DO UPDATE SET invited_by = excluded.invited_by, \
                 password = excluded.password, joined_at = excluded.joined_at",
                params![jid.to_lowercase(), invited_by, password, now()],
            )
            .context("cannot store a room")?;
        Ok(())
    }

    /// Forgets a room; true if it was stored.
    pub fn forget_room(&mut self, jid: &str) -> Result<bool, LedgerError> {
        let n = self
            .conn
            .execute_cached("DELETE FROM rooms WHERE jid = ?1", [jid.to_lowercase()])
            .context("cannot forget a room")?;
        Ok(n > 0)
    }

    /// One stored room.
    pub fn room(&self, jid: &str) -> Result<Option<StoredRoom>, LedgerError> {
        self.conn
            .query_row_cached(
                "SELECT jid, invited_by, password FROM rooms WHERE jid = ?1",
                [jid.to_lowercase()],
                |r| {
                    Ok(StoredRoom {
                        jid: r.get(0)?,
                        invited_by: r.get(1)?,
                        password: r.get(2)?,
                    })
                },
            )
            .optional()
            .context("cannot look up a room")
    }

    /// Every stored room, to join again at a (re)connection.
    pub fn rooms(&self) -> Result<Vec<StoredRoom>, LedgerError> {
        let mut stmt = self
            .conn
            .cached("SELECT jid, invited_by, password FROM rooms ORDER BY jid")
            .context("cannot list rooms")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StoredRoom {
                    jid: r.get(0)?,
                    invited_by: r.get(1)?,
                    password: r.get(2)?,
                })
            })
            .context("cannot list rooms")?;
        rows.collect::<Result<_, _>>().context("cannot list rooms")
    }
}

#[cfg(test)]
mod tests {
    use crate::ledger::Ledger;

    #[test]
    fn a_room_is_stored_updated_and_forgotten() {
        let mut l = Ledger::open_in_memory().unwrap();
        assert!(l.rooms().unwrap().is_empty());
        l.store_room("Tips@Conference.localhost", None, Some("pw"))
            .unwrap();
        let room = l.room("tips@conference.localhost").unwrap().unwrap();
        assert_eq!(room.jid, "tips@conference.localhost");
        assert_eq!(room.password.as_deref(), Some("pw"));
        l.store_room("tips@conference.localhost", None, None)
            .unwrap();
        assert_eq!(l.rooms().unwrap().len(), 1);
        assert_eq!(l.rooms().unwrap()[0].password, None);
        assert!(l.forget_room("tips@conference.localhost").unwrap());
        assert!(!l.forget_room("tips@conference.localhost").unwrap());
        assert!(l.rooms().unwrap().is_empty());
    }
}
