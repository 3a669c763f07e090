-- 0007: pairings this device started whose joiner has not yet confirmed.
-- A row is written before the add-peer entry is appended and deleted once
-- the joiner confirms, or once the peer is removed again; a row past its
-- deadline is resolved by the next command that reaches the server. None
-- of it is secret: the peer id is in the log, the invite id is the one-way
-- id the server already knows. (Numbered 0007: 0006 is another change's.)
CREATE TABLE IF NOT EXISTS pending_adds (
    peer_id   BLOB    PRIMARY KEY CHECK (length(peer_id) = 32),
    invite_id TEXT    NOT NULL CHECK (length(invite_id) = 32 AND invite_id NOT GLOB '*[^0-9a-f]*'),
    deadline  INTEGER NOT NULL
) WITHOUT ROWID;
