-- 0001: the first server schema. The server keeps the circle log (signed
-- by devices), the members it lists, session tokens, key shares (sealed by
-- devices) and the pairing relay. (Authentication challenges live 60 s and
-- are kept in memory, see vault-server's storage::challenges.) Nothing here is
-- plaintext credential data. Times are Unix seconds; ids are raw bytes:
-- circle_id 16 (a UUID), peer ids and hashes 32, invite_id 16.

-- One row per circle: its genesis and the head of its log.
CREATE TABLE circles (
    circle_id    BLOB    PRIMARY KEY CHECK (length(circle_id) = 16),
    genesis_hash BLOB    NOT NULL CHECK (length(genesis_hash) = 32),
    head_seq     INTEGER NOT NULL CHECK (head_seq >= 0),
    head_hash    BLOB    NOT NULL CHECK (length(head_hash) = 32),
    created      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The log itself, exactly as devices signed it.
CREATE TABLE circle_entries (
    circle_id BLOB    NOT NULL REFERENCES circles (circle_id),
    seq       INTEGER NOT NULL CHECK (seq >= 0),
    hash      BLOB    NOT NULL CHECK (length(hash) = 32),
    entry     BLOB    NOT NULL,
    signature BLOB    NOT NULL CHECK (length(signature) = 64),
    PRIMARY KEY (circle_id, seq)
) STRICT, WITHOUT ROWID;

-- Members as the log lists them: added by genesis or "add peer", marked
-- removed by "remove peer" (never deleted: a removed key stays known).
CREATE TABLE members (
    circle_id     BLOB    NOT NULL REFERENCES circles (circle_id),
    peer_id       BLOB    NOT NULL CHECK (length(peer_id) = 32),
    signing_key   BLOB    NOT NULL CHECK (length(signing_key) = 32),
    agreement_key BLOB    NOT NULL CHECK (length(agreement_key) = 32),
    added_seq     INTEGER NOT NULL,
    removed       INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1)),
    PRIMARY KEY (circle_id, peer_id)
) STRICT, WITHOUT ROWID;

-- Session tokens: only the SHA-256 of each token is stored.
CREATE TABLE tokens (
    token_hash BLOB    PRIMARY KEY CHECK (length(token_hash) = 32),
    circle_id  BLOB    NOT NULL,
    peer_id    BLOB    NOT NULL,
    expires    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX tokens_peer ON tokens (circle_id, peer_id);
CREATE INDEX tokens_expires ON tokens (expires);

-- Key shares: opaque blobs a member sealed to another member.
CREATE TABLE shares (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    circle_id BLOB    NOT NULL REFERENCES circles (circle_id),
    recipient BLOB    NOT NULL CHECK (length(recipient) = 32),
    sender    BLOB    NOT NULL CHECK (length(sender) = 32),
    blob      BLOB    NOT NULL,
    created   INTEGER NOT NULL
) STRICT;
CREATE INDEX shares_recipient ON shares (circle_id, recipient, id);

-- Pairing invites. `joined` flips once (the claim is one UPDATE); the
-- joiner's relay token is stored as its SHA-256.
CREATE TABLE invites (
    invite_id        BLOB    PRIMARY KEY CHECK (length(invite_id) = 16),
    circle_id        BLOB    NOT NULL REFERENCES circles (circle_id),
    inviter          BLOB    NOT NULL CHECK (length(inviter) = 32),
    expires          INTEGER NOT NULL,
    joined           INTEGER NOT NULL DEFAULT 0 CHECK (joined IN (0, 1)),
    relay_token_hash BLOB    UNIQUE CHECK (relay_token_hash IS NULL OR length(relay_token_hash) = 32),
    last_seq         INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
CREATE INDEX invites_expires ON invites (expires);

-- Relay messages of an invite's session; side 0 = inviter, 1 = joiner.
-- One sequence per invite, shared by both sides.
CREATE TABLE relay_messages (
    invite_id BLOB    NOT NULL REFERENCES invites (invite_id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL CHECK (seq >= 1),
    side      INTEGER NOT NULL CHECK (side IN (0, 1)),
    message   BLOB    NOT NULL,
    PRIMARY KEY (invite_id, seq)
) STRICT, WITHOUT ROWID;
