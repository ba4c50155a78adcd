"""The daemon's SQLite database as tests read it: to check the ledger, and
to write only what no command can (a balance for a test, a freeze)."""

import sqlite3
from contextlib import closing


def db_query(daemon, sql, params=()):
    with closing(sqlite3.connect(f"file:{daemon.database}?mode=ro", uri=True,
                                 timeout=10)) as db:
        return db.execute(sql, params).fetchall()


def db_write(daemon, sql, params=()):
    with closing(sqlite3.connect(daemon.database, timeout=10)) as db:
        with db:
            return db.execute(sql, params).rowcount


def account(daemon, username):
    """(balance, held) of a user, after checking that both agree with the
    ledger entries they cache."""
    rows = db_query(daemon, """
        SELECT balance, held,
               (SELECT coalesce(sum(amount), 0) FROM ledger WHERE user_id = u.id),
               (SELECT -coalesce(sum(amount), 0) FROM ledger
                 WHERE user_id = u.id AND kind IN ('hold', 'release'))
        FROM users u WHERE username = ? AND removed_at IS NULL""", (username,))
    assert len(rows) == 1, rows
    balance, held, entries, held_entries = rows[0]
    assert (balance, held) == (entries, held_entries), \
        f"{username}: cached balance/held {balance}/{held} != entries {entries}/{held_entries}"
    return balance, held
