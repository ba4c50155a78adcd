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

-- Deposits gain whether they are a coinbase output (credited only once
-- mature), and the indexes the per-user sums need.
ALTER TABLE deposits ADD COLUMN coinbase INTEGER NOT NULL DEFAULT 0;
CREATE INDEX deposits_user_state ON deposits(user_id, state);
CREATE INDEX deposits_address ON deposits(address);
-- Deposits still watched for reorganizations (see src/wallet/deposits.rs).
CREATE INDEX deposits_state_confirmations ON deposits(state, confirmations);

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
-- The fee rate (sat/vB) the recap showed and sendtoaddress was given.
ALTER TABLE orders ADD COLUMN fee_rate INTEGER;
-- The fee the network was paid; `fee` is what the user was charged (at
-- most the reserve they confirmed).
ALTER TABLE orders ADD COLUMN network_fee INTEGER;
-- Why reconciliation could not tell whether an unknown withdrawal was sent:
-- it stays held until an admin decides.
ALTER TABLE orders ADD COLUMN doubt TEXT;
