-- bitcoIM schema, version 3: group chats (XEP-0045), tips, held tips that
-- wait for their claim, and payment requests.

-- A user's one-step tip limit: a tip of at most this many satoshis is paid
-- at once, without a confirmation code. 0 (the default): every tip asks.
-- The operator's maximum caps it when it is used, not here.
ALTER TABLE users ADD COLUMN tiplimit INTEGER NOT NULL DEFAULT 0 CHECK (tiplimit >= 0);

-- Where an order comes from: 'pay' (the pay command or form), 'tip' (a tip
-- in a room), 'request' (another user asked this user for money: the order
-- is the payer's, its recipient the requester).
ALTER TABLE orders ADD COLUMN origin TEXT NOT NULL DEFAULT 'pay'
    CHECK (origin IN ('pay', 'tip', 'request'));
-- A tip's room (bare JID), and the nicks as the tipper saw them, for the
-- room's line when it is carried out.
ALTER TABLE orders ADD COLUMN room TEXT;
ALTER TABLE orders ADD COLUMN tipper_nick TEXT;
ALTER TABLE orders ADD COLUMN recipient_nick TEXT;
-- A tip's recipient as the room showed them: their real bare JID. A tip
-- is paid to that person, whatever their nick or username is by then; a
-- tip to someone without a wallet has no recipient_id and becomes a claim.
ALTER TABLE orders ADD COLUMN recipient_jid TEXT;

-- Tips held for someone without a wallet, for that real JID to claim by
-- registering before expires_at; then returned to the tipper. The amount
-- sits in the tipper's `held` (ledger kind 'hold', reference 'claim:<id>')
-- until it is claimed (a 'release' then a transfer) or returned (a
-- 'release').
CREATE TABLE claims (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL UNIQUE REFERENCES orders(id),
    tipper_id   INTEGER NOT NULL REFERENCES users(id),
    -- The bare JID, lowercased, the tip was made to.
    jid         TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    comment     TEXT,
    room        TEXT,
    state       TEXT NOT NULL CHECK (state IN ('held', 'claimed', 'returned')),
    claimed_by  INTEGER REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX claims_jid ON claims(jid) WHERE state = 'held';
CREATE INDEX claims_expiry ON claims(expires_at) WHERE state = 'held';
CREATE INDEX claims_tipper ON claims(tipper_id, state);

-- A fresh deposit address made for `request <amount> [comment]`: the
-- amount and comment its BIP21 URI carries. Its first deposit is announced
-- as paying the request.
CREATE TABLE address_requests (
    address     TEXT PRIMARY KEY REFERENCES addresses(address),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    comment     TEXT,
    -- The deposit ('txid:vout') announced as paying it, once.
    paid_by     TEXT,
    created_at  INTEGER NOT NULL
);

-- Users who refuse all requests from another user.
CREATE TABLE blocks (
    user_id     INTEGER NOT NULL REFERENCES users(id),
    blocked_id  INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
) WITHOUT ROWID;

-- The rooms the gateway is in, rejoined after every restart.
CREATE TABLE rooms (
    -- The room's bare JID, lowercased.
    jid         TEXT PRIMARY KEY,
    -- Who invited the gateway (NULL: an admin's form or an older version).
    invited_by  INTEGER REFERENCES users(id),
    -- The room's password, from the invitation, if it has one.
    password    TEXT,
    joined_at   INTEGER NOT NULL
);
