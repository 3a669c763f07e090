-- 0002: the trusted peer circle. The device identity (Ed25519 + X25519) is
-- stored only wrapped under the key-encryption key; the circle's log is
-- kept as the signed entries and re-verified from the genesis on load.

-- This device's identity: public keys in the clear, secrets wrapped (AAD:
-- label, vault id, peer id).
CREATE TABLE device_identity (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    peer_id       BLOB NOT NULL CHECK (length(peer_id) = 32),
    signing_key   BLOB NOT NULL CHECK (length(signing_key) = 32),
    agreement_key BLOB NOT NULL CHECK (length(agreement_key) = 32),
    wrapped_keys  BLOB NOT NULL
);

-- The circle this vault belongs to, if any: one row.
CREATE TABLE circle (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    circle_id    BLOB    NOT NULL CHECK (length(circle_id) = 16),
    server_url   TEXT    NOT NULL,
    genesis_hash BLOB    NOT NULL CHECK (length(genesis_hash) = 32),
    head_seq     INTEGER NOT NULL,
    head_hash    BLOB    NOT NULL CHECK (length(head_hash) = 32)
);

-- Vault keys of new epochs this device proposed and has not yet seen in
-- the log, wrapped under the key-encryption key like key_epochs.
CREATE TABLE pending_epochs (
    key_uuid   BLOB    PRIMARY KEY,
    epoch      INTEGER NOT NULL,
    wrapped_vk BLOB    NOT NULL
) WITHOUT ROWID;

-- trusted_peers is a projection of the verified log: each peer's sealed
-- name, the entries that added and removed it.
ALTER TABLE trusted_peers ADD COLUMN name_epoch INTEGER;
ALTER TABLE trusted_peers ADD COLUMN sealed_name BLOB;
ALTER TABLE trusted_peers ADD COLUMN added_seq INTEGER;
ALTER TABLE trusted_peers ADD COLUMN removed_by BLOB;
ALTER TABLE trusted_peers ADD COLUMN removed_seq INTEGER;
