-- Verify, then apply: the pages a sync round pulls wait here, unapplied,
-- until the round's zone checks pass; then they are applied with the new
-- token in one transaction. A round cut short resumes from the staged
-- token; a round whose checks fail drops what it staged.

-- Per zone: the committed token the stage builds on (`base`), the read's
-- start (`since`: the base, or 0 for a full re-read), and the token of the
-- last staged page.
CREATE TABLE sync_stage (
    zone        TEXT    PRIMARY KEY,
    base_epoch  INTEGER NOT NULL,
    base_seq    INTEGER NOT NULL,
    since_epoch INTEGER NOT NULL,
    since_seq   INTEGER NOT NULL,
    token_epoch INTEGER NOT NULL,
    token_seq   INTEGER NOT NULL
) WITHOUT ROWID;

-- The staged pages' records, one record list per page, in seq order.
CREATE TABLE sync_staged_pages (
    zone    TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    records INTEGER NOT NULL,
    list    BLOB    NOT NULL,
    PRIMARY KEY (zone, seq)
) WITHOUT ROWID;
