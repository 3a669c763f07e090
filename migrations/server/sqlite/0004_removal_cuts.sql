-- 0004: removal cut lists. A removal entry names, per zone, the state the
-- remover reached and the hash of the removed peer's records there; the
-- list itself is stored here, beside the log, in the append's transaction,
-- and served to every device that verifies the removal.
CREATE TABLE circle_cuts (
    circle_id   BLOB    NOT NULL REFERENCES circles (circle_id),
    removal_seq INTEGER NOT NULL CHECK (removal_seq >= 1),
    zone        TEXT    NOT NULL CHECK (length(zone) BETWEEN 1 AND 32),
    list        BLOB    NOT NULL,
    PRIMARY KEY (circle_id, removal_seq, zone)
) STRICT, WITHOUT ROWID;
