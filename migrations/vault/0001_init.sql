-- 0001: the first vault schema. Only uuids, counters, flags, key-epoch ids
-- and blind indexes are plaintext; every attribute lives inside encitem.

-- The vault header: one row. KDF parameters and salt are authenticated as
-- the associated data of wrapped_dk.
CREATE TABLE vault_meta (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    vault_id       BLOB    NOT NULL CHECK (length(vault_id) = 16),
    format         INTEGER NOT NULL,
    kdf_alg        INTEGER NOT NULL,
    kdf_iterations INTEGER NOT NULL,
    kdf_salt       BLOB    NOT NULL,
    wrapped_dk     BLOB    NOT NULL,
    current_epoch  INTEGER NOT NULL,
    circle_id      BLOB    NOT NULL CHECK (length(circle_id) = 16)
);

-- One vault key per epoch, wrapped under the key-encryption key.
CREATE TABLE key_epochs (
    epoch      INTEGER PRIMARY KEY,
    key_uuid   BLOB NOT NULL UNIQUE,
    wrapped_vk BLOB NOT NULL
);

-- The three item classes share one shape. Blind-index columns hold
-- HMAC-SHA256 under the local index key, truncated to 64 bits:
--   bi_name    server (inet), service (genp), relying-party id (keys)
--   bi_account account (inet, genp), passkey user name (keys)
--   bi_label   label
CREATE TABLE inet (
    uuid            BLOB    NOT NULL,
    gencount        INTEGER NOT NULL,
    tomb            INTEGER NOT NULL DEFAULT 0,
    parent_key_uuid BLOB    NOT NULL,
    wrappedkey      BLOB    NOT NULL,
    encitem         BLOB    NOT NULL,
    bi_name         INTEGER,
    bi_account      INTEGER,
    bi_label        INTEGER
);
CREATE UNIQUE INDEX inet_uuid ON inet (uuid);
CREATE INDEX inet_live_name_account ON inet (bi_name, bi_account) WHERE tomb = 0;
CREATE INDEX inet_live_account ON inet (bi_account) WHERE tomb = 0;
CREATE INDEX inet_live_label ON inet (bi_label) WHERE tomb = 0;
CREATE INDEX inet_parent_key ON inet (parent_key_uuid);

CREATE TABLE genp (
    uuid            BLOB    NOT NULL,
    gencount        INTEGER NOT NULL,
    tomb            INTEGER NOT NULL DEFAULT 0,
    parent_key_uuid BLOB    NOT NULL,
    wrappedkey      BLOB    NOT NULL,
    encitem         BLOB    NOT NULL,
    bi_name         INTEGER,
    bi_account      INTEGER,
    bi_label        INTEGER
);
CREATE UNIQUE INDEX genp_uuid ON genp (uuid);
CREATE INDEX genp_live_name_account ON genp (bi_name, bi_account) WHERE tomb = 0;
CREATE INDEX genp_live_account ON genp (bi_account) WHERE tomb = 0;
CREATE INDEX genp_live_label ON genp (bi_label) WHERE tomb = 0;
CREATE INDEX genp_parent_key ON genp (parent_key_uuid);

CREATE TABLE keys (
    uuid            BLOB    NOT NULL,
    gencount        INTEGER NOT NULL,
    tomb            INTEGER NOT NULL DEFAULT 0,
    parent_key_uuid BLOB    NOT NULL,
    wrappedkey      BLOB    NOT NULL,
    encitem         BLOB    NOT NULL,
    bi_name         INTEGER,
    bi_account      INTEGER,
    bi_label        INTEGER
);
CREATE UNIQUE INDEX keys_uuid ON keys (uuid);
CREATE INDEX keys_live_name_account ON keys (bi_name, bi_account) WHERE tomb = 0;
CREATE INDEX keys_live_account ON keys (bi_account) WHERE tomb = 0;
CREATE INDEX keys_live_label ON keys (bi_label) WHERE tomb = 0;
CREATE INDEX keys_parent_key ON keys (parent_key_uuid);

-- Earlier versions of items (password history, losing sides of conflicts),
-- kept sealed exactly as they were written.
CREATE TABLE item_history (
    id              INTEGER PRIMARY KEY,
    uuid            BLOB    NOT NULL,
    class           INTEGER NOT NULL,
    gencount        INTEGER NOT NULL,
    parent_key_uuid BLOB    NOT NULL,
    wrappedkey      BLOB    NOT NULL,
    encitem         BLOB    NOT NULL
);
CREATE INDEX item_history_uuid ON item_history (uuid, gencount);
CREATE INDEX item_history_parent_key ON item_history (parent_key_uuid);

-- Sync: per item, the last version the server confirmed, its change tag,
-- the base version kept for three-way merge, and a pending-upload mark.
CREATE TABLE ckmirror (
    uuid                 BLOB    PRIMARY KEY,
    server_gencount      INTEGER,
    change_tag           BLOB,
    base_parent_key_uuid BLOB,
    base_wrappedkey      BLOB,
    base_encitem         BLOB,
    upload_pending       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX ckmirror_pending ON ckmirror (upload_pending) WHERE upload_pending = 1;

-- Sync: per zone the local Merkle digest, bucket hashes and server position,
-- and peers' signed manifests (peer_id empty for this device's own).
CREATE TABLE ckmanifest (
    zone       TEXT    NOT NULL,
    peer_id    BLOB    NOT NULL,
    root       BLOB,
    buckets    BLOB,
    server_seq INTEGER NOT NULL DEFAULT 0,
    zone_epoch INTEGER NOT NULL DEFAULT 0,
    signature  BLOB,
    PRIMARY KEY (zone, peer_id)
) WITHOUT ROWID;

-- Trust: the circle's members and its signed, hash-chained log.
CREATE TABLE trusted_peers (
    peer_id       BLOB    PRIMARY KEY,
    signing_key   BLOB    NOT NULL,
    agreement_key BLOB    NOT NULL,
    added_by      BLOB,
    added_at      INTEGER,
    removed_at    INTEGER
) WITHOUT ROWID;

CREATE TABLE circle_log (
    seq        INTEGER PRIMARY KEY,
    entry_hash BLOB NOT NULL UNIQUE,
    prev_hash  BLOB,
    entry      BLOB NOT NULL,
    signature  BLOB NOT NULL
);
