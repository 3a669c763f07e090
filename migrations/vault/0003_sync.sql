-- 0003: sync. ckmirror keeps, per item, the server's version as the
-- manifest sees it (gencount, change tag = the record's server sequence,
-- content hash; no content hash for a tombstone), the outbox mark, and —
-- only while a local edit waits — the base version that edit started
-- from, for the three-way merge.
ALTER TABLE ckmirror ADD COLUMN server_leaf BLOB;
ALTER TABLE ckmirror ADD COLUMN server_tomb INTEGER NOT NULL DEFAULT 0;
-- change_tag (declared BLOB in 0001) holds the server sequence as an INTEGER.

-- Items written before this schema have never been uploaded: all wait.
INSERT OR IGNORE INTO ckmirror (uuid, upload_pending) SELECT uuid, 1 FROM inet;
INSERT OR IGNORE INTO ckmirror (uuid, upload_pending) SELECT uuid, 1 FROM genp;
INSERT OR IGNORE INTO ckmirror (uuid, upload_pending) SELECT uuid, 1 FROM keys;

-- Per zone: the token reached, this device's manifest counter, buckets
-- whose hash must be recomputed (a 32-byte bitmap), the last sync.
CREATE TABLE sync_state (
    zone         TEXT    PRIMARY KEY,
    token_epoch  INTEGER NOT NULL DEFAULT 0,
    token_seq    INTEGER NOT NULL DEFAULT 0,
    counter      INTEGER NOT NULL DEFAULT 0,
    dirty        BLOB,
    last_sync_ms INTEGER
) WITHOUT ROWID;

-- ckmanifest (0001) holds this device's bucket hashes and root under an
-- empty peer_id, and each peer's newest verified signed manifest.
ALTER TABLE ckmanifest ADD COLUMN counter INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ckmanifest ADD COLUMN body BLOB;

-- Records refused by verification, kept aside (never applied) and
-- re-checked at every sync.
CREATE TABLE sync_quarantine (
    zone     TEXT    NOT NULL,
    uuid     BLOB    NOT NULL,
    gencount INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    record   BLOB    NOT NULL,
    reason   TEXT    NOT NULL,
    at_ms    INTEGER NOT NULL,
    PRIMARY KEY (zone, uuid, gencount)
) WITHOUT ROWID;

-- Items that look like the same credential created on two devices.
CREATE TABLE possible_duplicates (
    uuid  BLOB NOT NULL,
    other BLOB NOT NULL,
    PRIMARY KEY (uuid, other)
) WITHOUT ROWID;
