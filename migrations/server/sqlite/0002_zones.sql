-- 0002: sync zones. Per circle and zone, the records devices pushed
-- (ciphertext, the writer and its signature: nothing the server can read),
-- the zone's counter row, the manifest's bucket hashes, and the manifests
-- devices signed. uuid is 16 bytes, peer ids and hashes 32, signatures 64.

-- One row per (circle, zone), created by the zone's first write. `seq` grows
-- by one per saved record inside the push's transaction (sequence order is
-- commit order); tombstones with seq <= `gc_seq` may have been collected;
-- `live` counts the records that are not tombstones; `root` caches the
-- manifest root, NULL while a bucket is dirty.
CREATE TABLE zones (
    zone_id   INTEGER PRIMARY KEY,
    circle_id BLOB    NOT NULL REFERENCES circles (circle_id),
    name      TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 32),
    epoch     INTEGER NOT NULL DEFAULT 1 CHECK (epoch >= 1),
    seq       INTEGER NOT NULL DEFAULT 0 CHECK (seq >= 0),
    gc_seq    INTEGER NOT NULL DEFAULT 0 CHECK (gc_seq >= 0 AND gc_seq <= seq),
    live      INTEGER NOT NULL DEFAULT 0 CHECK (live >= 0),
    root      BLOB    CHECK (root IS NULL OR length(root) = 32),
    UNIQUE (circle_id, name)
) STRICT;

-- The current version of each item of a zone, as its writer signed it.
-- `content` is SHA-256 of the content label, wrappedkey and encitem (the
-- manifest's leaf), computed once when the record is saved.
CREATE TABLE records (
    id         INTEGER PRIMARY KEY,
    zone_id    INTEGER NOT NULL REFERENCES zones (zone_id),
    uuid       BLOB    NOT NULL CHECK (length(uuid) = 16),
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    gencount   INTEGER NOT NULL CHECK (gencount >= 0),
    epoch      INTEGER NOT NULL CHECK (epoch >= 0),
    tomb       INTEGER NOT NULL CHECK (tomb IN (0, 1)),
    circle_pos INTEGER NOT NULL CHECK (circle_pos >= 0),
    writer     BLOB    NOT NULL CHECK (length(writer) = 32),
    wrappedkey BLOB    NOT NULL,
    encitem    BLOB    NOT NULL,
    signature  BLOB    NOT NULL CHECK (length(signature) = 64),
    content    BLOB    NOT NULL CHECK (length(content) = 32),
    UNIQUE (zone_id, uuid),
    UNIQUE (zone_id, seq)
) STRICT;
-- Tombstones only: what collection deletes.
CREATE INDEX records_tombstones ON records (zone_id, seq) WHERE tomb = 1;

-- The manifest's bucket hashes (bucket = the uuid's first byte), NULL while
-- dirty: a push marks the buckets it touched, a manifest read recomputes
-- only those. A bucket without a row is empty.
CREATE TABLE zone_buckets (
    zone_id INTEGER NOT NULL REFERENCES zones (zone_id),
    bucket  INTEGER NOT NULL CHECK (bucket BETWEEN 0 AND 255),
    hash    BLOB    CHECK (hash IS NULL OR length(hash) = 32),
    PRIMARY KEY (zone_id, bucket)
) STRICT, WITHOUT ROWID;

-- Each peer's latest signed manifest of a zone; `counter` only grows.
-- `epoch` and `token_seq` are the change token the peer signed.
CREATE TABLE zone_manifests (
    zone_id   INTEGER NOT NULL REFERENCES zones (zone_id),
    peer_id   BLOB    NOT NULL CHECK (length(peer_id) = 32),
    counter   INTEGER NOT NULL CHECK (counter >= 0),
    epoch     INTEGER NOT NULL CHECK (epoch >= 0),
    token_seq INTEGER NOT NULL CHECK (token_seq >= 0),
    body      BLOB    NOT NULL,
    signature BLOB    NOT NULL CHECK (length(signature) = 64),
    PRIMARY KEY (zone_id, peer_id)
) STRICT, WITHOUT ROWID;
