-- bitcoIM schema, version 2: money under chain reality (reorganizations,
-- conflicts, odd outputs, renames, restored wallets and backups).

-- What a user owes after a deposit was reversed when part of it was spent
-- already. Their next credits repay it first.
ALTER TABLE users ADD COLUMN debt INTEGER NOT NULL DEFAULT 0 CHECK (debt >= 0);

-- Ledger entries gain the change they make to the user's debt, and the
-- kind 'repayment' (part of a credit that repays a debt). SQLite cannot
-- change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE ledger_v2 (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    kind        TEXT NOT NULL CHECK (kind IN
                  ('deposit', 'transfer_in', 'transfer_out', 'withdrawal',
                   'fee', 'hold', 'release', 'reversal', 'repayment')),
    -- The signed change to the spendable balance.
    amount      INTEGER NOT NULL,
    -- The signed change to the user's debt: a reversal that could not take
    -- everything back adds the rest; a repayment takes it off. For every
    -- deposit (its 'txid:vout' reference), the sum of amount - debt over
    -- its entries is 0 or the deposit's amount, never anything else.
    debt        INTEGER NOT NULL DEFAULT 0,
    -- 'txid:vout' for deposits, reversals and repayments; 'order:N' otherwise.
    reference   TEXT NOT NULL,
    peer_id     INTEGER REFERENCES users(id),
    comment     TEXT,
    created_at  INTEGER NOT NULL
);
INSERT INTO ledger_v2 (id, user_id, kind, amount, debt, reference, peer_id, comment, created_at)
    SELECT id, user_id, kind, amount, 0, reference, peer_id, comment, created_at FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_v2 RENAME TO ledger;
CREATE INDEX ledger_user ON ledger(user_id, id);
CREATE INDEX ledger_reference ON ledger(reference);
-- The hourly withdrawal limit and the statistics count entries of a kind
-- since a time.
CREATE INDEX ledger_kind_time ON ledger(kind, created_at);

-- Deposits gain whether they are a coinbase output (credited only once
-- mature), and the indexes the per-user sums need.
ALTER TABLE deposits ADD COLUMN coinbase INTEGER NOT NULL DEFAULT 0;
CREATE INDEX deposits_user_state ON deposits(user_id, state);
CREATE INDEX deposits_address ON deposits(address);
-- Whether the deposit poller still watches it: a deposit leaves the watch
-- once a completed poll saw it deep enough (src/wallet/deposits.rs).
ALTER TABLE deposits ADD COLUMN watched INTEGER NOT NULL DEFAULT 1;
UPDATE deposits SET watched = 0 WHERE state = 'credited' AND confirmations >= 6;
CREATE INDEX deposits_watched ON deposits(watched) WHERE watched = 1;

-- Version 1 reversed a deposit by what the user still had and kept no
-- record of the rest, and credited the whole amount again when it
-- confirmed again. Per deposit, credits minus reversals must be 0 (not
-- credited now) or its amount (credited): what is above is recorded as the
-- user's debt, by a reversal entry that takes nothing.
INSERT INTO ledger (user_id, kind, amount, debt, reference, created_at)
    SELECT d.user_id, 'reversal', 0,
           n.net - CASE WHEN d.state = 'credited' THEN d.amount ELSE 0 END,
           d.txid || ':' || d.vout, CAST(strftime('%s', 'now') AS INTEGER)
    FROM deposits d
    JOIN (SELECT reference, sum(amount) AS net FROM ledger GROUP BY reference) n
      ON n.reference = d.txid || ':' || d.vout
    WHERE n.net > CASE WHEN d.state = 'credited' THEN d.amount ELSE 0 END;
UPDATE users SET debt = (SELECT coalesce(sum(l.debt), 0) FROM ledger l WHERE l.user_id = users.id);
-- A debt is repaid before anything is spendable.
INSERT INTO ledger (user_id, kind, amount, debt, reference, created_at)
    SELECT id, 'repayment', -min(debt, balance), -min(debt, balance), 'migration:2',
           CAST(strftime('%s', 'now') AS INTEGER)
    FROM users WHERE debt > 0 AND balance > 0;
UPDATE users SET balance = balance - min(debt, balance), debt = debt - min(debt, balance)
    WHERE debt > 0 AND balance > 0;
-- Version 1 took a deposit mined again after a reorganization for a
-- conflicted one: every reversed deposit is asked about again.
UPDATE deposits SET confirmations = 0, watched = 1 WHERE state = 'reversed';

-- Wallet outputs to our deposit addresses that the ledger cannot take (a
-- zero amount, an amount that is not whole satoshis, an unknown category):
-- recorded once with the reason, told to the admins once, never credited,
-- and never in the way of the other entries.
CREATE TABLE skipped_outputs (
    txid          TEXT NOT NULL,
    vout          INTEGER NOT NULL,
    address       TEXT NOT NULL,
    user_id       INTEGER REFERENCES users(id),
    -- As the node wrote it.
    amount        TEXT NOT NULL,
    category      TEXT NOT NULL,
    reason        TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (txid, vout)
);

-- Orders keep the recipient's account, not the name it had: a user who
-- renames themself, or a stranger who takes the freed name, must never
-- receive a payment meant for someone else.
ALTER TABLE orders ADD COLUMN recipient_id INTEGER REFERENCES users(id);
UPDATE orders SET recipient_id =
    (SELECT u.id FROM users u WHERE u.username = orders.recipient AND u.removed_at IS NULL)
    WHERE recipient_kind = 'user';
-- The exact wallet comment of a withdrawal: this database's random id,
-- the order id and a random nonce, unique even after a restored backup
-- reuses order ids.
ALTER TABLE orders ADD COLUMN wallet_comment TEXT;
-- The node's best block just before sendtoaddress: reconciliation searches
-- every wallet transaction since.
ALTER TABLE orders ADD COLUMN sent_block TEXT;
-- An address labelled with the wallet comment, made just before
-- sendtoaddress: a wallet that still has it is the wallet as it was when
-- the order was handed over (a wallet restored from its seed or from an
-- older backup has lost it, and may have lost the transaction too).
ALTER TABLE orders ADD COLUMN marker TEXT;
-- The fee rate (sat/vB) the recap showed and sendtoaddress was given.
ALTER TABLE orders ADD COLUMN fee_rate INTEGER;
-- The fee the network was paid; `fee` is what the user was charged (at
-- most the reserve they confirmed).
ALTER TABLE orders ADD COLUMN network_fee INTEGER;
-- Why reconciliation could not tell whether an unknown withdrawal was sent:
-- it stays held until an admin decides.
ALTER TABLE orders ADD COLUMN doubt TEXT;
