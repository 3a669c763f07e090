-- 0005: who may register a circle, and what admins did. A registration
-- token is stored as the SHA-256 of its text; `id` is a short public name
-- for `admin token ls|revoke` (hex of the hash's first 6 bytes). A token
-- is used once: `used` and `used_by` are set in the transaction that
-- creates the circle.
CREATE TABLE registration_tokens (
    token_hash BLOB    NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    id         TEXT    NOT NULL UNIQUE,
    note       TEXT,
    created    INTEGER NOT NULL,
    expires    INTEGER,
    used       INTEGER,
    used_by    BLOB,
    revoked    INTEGER
) STRICT, WITHOUT ROWID;

-- Every admin action, in order; rows are never changed or deleted.
CREATE TABLE admin_log (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    action TEXT    NOT NULL,
    detail TEXT    NOT NULL
) STRICT;

CREATE TRIGGER admin_log_no_update BEFORE UPDATE ON admin_log
BEGIN
    SELECT RAISE(ABORT, 'the admin log is append-only');
END;

CREATE TRIGGER admin_log_no_delete BEFORE DELETE ON admin_log
BEGIN
    SELECT RAISE(ABORT, 'the admin log is append-only');
END;
