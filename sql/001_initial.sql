-- bitcoIM schema, version 1.
--
-- Money is INTEGER satoshis everywhere. A user's balance is the sum of
-- their ledger entries; users.balance caches it and is written in the same
-- transaction as every entry (a test checks that they agree). The CHECK
-- constraints are the last line of defence: no code path may make a
-- balance or a hold negative, even by mistake.

-- An account is never deleted: unregistering sets removed_at, so that its
-- history, addresses and any late deposit keep an owner. Registering again
-- from the same JID brings the account back.
CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    -- The bare JID the server vouches for, lowercased.
    jid         TEXT NOT NULL UNIQUE,
    -- 2-24 of [a-z0-9_-], starting with a letter; what other users see.
    -- Unique among registered accounts only.
    username    TEXT NOT NULL,
    -- The user's chosen language, NULL for the configured default.
    language    TEXT,
    balance     INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    -- Satoshis reserved by withdrawals in flight (amount + fee reserve).
    held        INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),
    created_at  INTEGER NOT NULL,
    removed_at  INTEGER
);
CREATE UNIQUE INDEX users_username ON users(username) WHERE removed_at IS NULL;

-- Deposit addresses, each owned by one user for ever: an address that
-- once belonged to someone is never handed to anyone else.
CREATE TABLE addresses (
    address     TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL
);
CREATE INDEX addresses_user ON addresses(user_id);

-- Every movement of money, positive or negative, with what caused it.
CREATE TABLE ledger (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    kind        TEXT NOT NULL CHECK (kind IN
                  ('deposit', 'transfer_in', 'transfer_out', 'withdrawal',
                   'fee', 'hold', 'release', 'reversal')),
    amount      INTEGER NOT NULL,
    -- 'txid:vout' for deposits and reversals, the order id otherwise.
    reference   TEXT NOT NULL,
    -- The other user of a transfer, for history.
    peer_id     INTEGER REFERENCES users(id),
    comment     TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX ledger_user ON ledger(user_id, id);

-- Deposits seen on chain, keyed as the spec says by (txid, vout).
CREATE TABLE deposits (
    txid           TEXT NOT NULL,
    vout           INTEGER NOT NULL,
    address        TEXT NOT NULL REFERENCES addresses(address),
    user_id        INTEGER NOT NULL REFERENCES users(id),
    amount         INTEGER NOT NULL CHECK (amount > 0),
    confirmations  INTEGER NOT NULL DEFAULT 0,
    state          TEXT NOT NULL CHECK (state IN ('seen', 'credited', 'reversed')),
    -- The chat message announcing it, corrected in place (XEP-0308).
    message_id     TEXT,
    first_seen_at  INTEGER NOT NULL,
    PRIMARY KEY (txid, vout)
);

-- Payment orders: created by 'pay', executed by 'confirm <code>'.
CREATE TABLE orders (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    code          TEXT NOT NULL,
    -- A username ('user') or a Bitcoin address ('address').
    recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('user', 'address')),
    recipient     TEXT NOT NULL,
    amount        INTEGER NOT NULL CHECK (amount > 0),
    fee_reserve   INTEGER NOT NULL DEFAULT 0 CHECK (fee_reserve >= 0),
    -- 'pay all' to an address: the network fee comes out of the amount.
    subtract_fee  INTEGER NOT NULL DEFAULT 0,
    fee           INTEGER CHECK (fee >= 0),
    comment       TEXT,
    state         TEXT NOT NULL CHECK (state IN
                    ('pending', 'held', 'sending', 'sent', 'unknown', 'settled',
                     'done', 'cancelled', 'expired', 'failed')),
    txid          TEXT,
    -- A sent withdrawal is watched until it confirms: blocks seen since,
    -- and whether the admins were told it is stuck.
    confirmed     INTEGER NOT NULL DEFAULT 0,
    blocks_waited INTEGER NOT NULL DEFAULT 0,
    stuck_reported INTEGER NOT NULL DEFAULT 0,
    wrong_codes   INTEGER NOT NULL DEFAULT 0,
    message_id    TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX orders_user_state ON orders(user_id, state);
CREATE INDEX orders_state ON orders(state);

-- Where the deposit poller stopped (listsinceblock's lastblock), and other
-- small persistent facts.
CREATE TABLE state (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
