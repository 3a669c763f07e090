-- 0003: restores. One row per `vault-server restore` that installed this
-- database: the epoch every zone moved to, when (Unix seconds), and the
-- schema version the backup had. A zone created after a restore starts at
-- the newest restore's epoch, not 1: a zone the backup did not know may
-- have existed, at some epoch, after the backup was taken.
CREATE TABLE restores (
    id            INTEGER PRIMARY KEY,
    epoch         INTEGER NOT NULL CHECK (epoch >= 1),
    restored      INTEGER NOT NULL,
    backup_schema INTEGER NOT NULL CHECK (backup_schema >= 1)
) STRICT;
