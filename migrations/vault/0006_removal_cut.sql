-- 0006: removal with a cut, and decided quarantine.
--
-- ckmirror remembers who wrote the server version of each item, so that a
-- device removing a peer can list that peer's records at the cut. NULL for
-- versions pulled before this schema (the remover reads those writers from
-- the server's buckets).
ALTER TABLE ckmirror ADD COLUMN server_writer BLOB CHECK (server_writer IS NULL OR length(server_writer) = 32);

-- The cut lists of the removal entries in the log (one per removal and
-- zone), checked against the entry's hash when stored: a removed peer's
-- record is accepted exactly when its row is here.
CREATE TABLE circle_cuts (
    removal_seq INTEGER NOT NULL,
    zone        TEXT    NOT NULL,
    list_hash   BLOB    NOT NULL CHECK (length(list_hash) = 32),
    PRIMARY KEY (removal_seq, zone)
) WITHOUT ROWID;

CREATE TABLE circle_cut_rows (
    removal_seq INTEGER NOT NULL,
    zone        TEXT    NOT NULL,
    uuid        BLOB    NOT NULL CHECK (length(uuid) = 16),
    gencount    INTEGER NOT NULL,
    content     BLOB    NOT NULL CHECK (length(content) = 32),
    PRIMARY KEY (removal_seq, zone, uuid)
) WITHOUT ROWID;

-- A quarantined record somebody decided on: NULL while undecided (it is
-- re-checked at every sync and keeps the device from signing manifests);
-- 'dropped' (past a removal's cut, or dropped by the person) or 'accepted'
-- (re-signed by this device). Decided rows are kept so that the zone
-- checks can account for the server's copy.
ALTER TABLE sync_quarantine ADD COLUMN decision TEXT CHECK (decision IS NULL OR decision IN ('dropped', 'accepted'));
