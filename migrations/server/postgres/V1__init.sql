-- 1: the whole schema of the PostgreSQL backend, as the SQLite one stands
-- after its migrations 0001-0007 (see migrations/server/sqlite/ for what each
-- table is for), plus what several stateless instances share: challenges
-- (in process memory on SQLite). Applied by refinery at start, which keeps
-- its own history table; numbered V{n}__{name}.sql from here on.
-- Hashes, ids and keys are bytea of a fixed length; booleans are boolean;
-- counters and Unix times are bigint.

CREATE TABLE circles (
    circle_id    bytea   PRIMARY KEY CHECK (octet_length(circle_id) = 16),
    genesis_hash bytea   NOT NULL CHECK (octet_length(genesis_hash) = 32),
    head_seq     bigint  NOT NULL CHECK (head_seq >= 0),
    head_hash    bytea   NOT NULL CHECK (octet_length(head_hash) = 32),
    created      bigint  NOT NULL,
    disabled     bigint,
    last_active  bigint,
    max_devices  bigint  CHECK (max_devices IS NULL OR max_devices >= 0),
    max_records  bigint  CHECK (max_records IS NULL OR max_records >= 0),
    max_bytes    bigint  CHECK (max_bytes IS NULL OR max_bytes >= 0)
);
CREATE INDEX circles_disabled ON circles (circle_id) WHERE disabled IS NOT NULL;

CREATE TABLE circle_entries (
    circle_id bytea   NOT NULL REFERENCES circles (circle_id),
    seq       bigint  NOT NULL CHECK (seq >= 0),
    hash      bytea   NOT NULL CHECK (octet_length(hash) = 32),
    entry     bytea   NOT NULL,
    signature bytea   NOT NULL CHECK (octet_length(signature) = 64),
    PRIMARY KEY (circle_id, seq)
);

CREATE TABLE members (
    circle_id     bytea   NOT NULL REFERENCES circles (circle_id),
    peer_id       bytea   NOT NULL CHECK (octet_length(peer_id) = 32),
    signing_key   bytea   NOT NULL CHECK (octet_length(signing_key) = 32),
    agreement_key bytea   NOT NULL CHECK (octet_length(agreement_key) = 32),
    added_seq     bigint  NOT NULL,
    removed       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (circle_id, peer_id)
);

-- Each instance issues a challenge and any instance may consume it.
CREATE TABLE challenges (
    circle_id bytea   NOT NULL CHECK (octet_length(circle_id) = 16),
    peer_id   bytea   NOT NULL CHECK (octet_length(peer_id) = 32),
    challenge bytea   NOT NULL CHECK (octet_length(challenge) = 32),
    expires   bigint  NOT NULL,
    PRIMARY KEY (circle_id, peer_id, challenge)
);
CREATE INDEX challenges_expires ON challenges (expires);

CREATE TABLE tokens (
    token_hash bytea   PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    circle_id  bytea   NOT NULL,
    peer_id    bytea   NOT NULL,
    expires    bigint  NOT NULL
);
CREATE INDEX tokens_peer ON tokens (circle_id, peer_id);
CREATE INDEX tokens_expires ON tokens (expires);

CREATE TABLE shares (
    id        bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    circle_id bytea   NOT NULL REFERENCES circles (circle_id),
    recipient bytea   NOT NULL CHECK (octet_length(recipient) = 32),
    sender    bytea   NOT NULL CHECK (octet_length(sender) = 32),
    blob      bytea   NOT NULL,
    created   bigint  NOT NULL
);
CREATE INDEX shares_recipient ON shares (circle_id, recipient, id);

CREATE TABLE invites (
    invite_id        bytea   PRIMARY KEY CHECK (octet_length(invite_id) = 16),
    circle_id        bytea   NOT NULL REFERENCES circles (circle_id),
    inviter          bytea   NOT NULL CHECK (octet_length(inviter) = 32),
    expires          bigint  NOT NULL,
    joined           boolean NOT NULL DEFAULT false,
    relay_token_hash bytea   UNIQUE CHECK (relay_token_hash IS NULL OR octet_length(relay_token_hash) = 32),
    last_seq         bigint  NOT NULL DEFAULT 0
);
CREATE INDEX invites_expires ON invites (expires);

CREATE TABLE relay_messages (
    invite_id bytea    NOT NULL REFERENCES invites (invite_id) ON DELETE CASCADE,
    seq       bigint   NOT NULL CHECK (seq >= 1),
    side      smallint NOT NULL CHECK (side IN (0, 1)),
    message   bytea    NOT NULL,
    PRIMARY KEY (invite_id, seq)
);

-- The counter row of a zone: updated inside each push's transaction after
-- `SELECT ... FOR UPDATE`, so sequence order is commit order.
CREATE TABLE zones (
    zone_id   bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    circle_id bytea   NOT NULL REFERENCES circles (circle_id),
    name      text    NOT NULL CHECK (length(name) BETWEEN 1 AND 32),
    epoch     bigint  NOT NULL DEFAULT 1 CHECK (epoch >= 1),
    seq       bigint  NOT NULL DEFAULT 0 CHECK (seq >= 0),
    gc_seq    bigint  NOT NULL DEFAULT 0 CHECK (gc_seq >= 0 AND gc_seq <= seq),
    live      bigint  NOT NULL DEFAULT 0 CHECK (live >= 0),
    root      bytea   CHECK (root IS NULL OR octet_length(root) = 32),
    bytes     bigint  NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    UNIQUE (circle_id, name)
);

CREATE TABLE records (
    id         bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    zone_id    bigint  NOT NULL REFERENCES zones (zone_id),
    uuid       bytea   NOT NULL CHECK (octet_length(uuid) = 16),
    seq        bigint  NOT NULL CHECK (seq >= 1),
    gencount   bigint  NOT NULL CHECK (gencount >= 0),
    epoch      bigint  NOT NULL CHECK (epoch >= 0),
    tomb       boolean NOT NULL,
    circle_pos bigint  NOT NULL CHECK (circle_pos >= 0),
    writer     bytea   NOT NULL CHECK (octet_length(writer) = 32),
    wrappedkey bytea   NOT NULL,
    encitem    bytea   NOT NULL,
    signature  bytea   NOT NULL CHECK (octet_length(signature) = 64),
    content    bytea   NOT NULL CHECK (octet_length(content) = 32),
    UNIQUE (zone_id, uuid),
    UNIQUE (zone_id, seq)
);
CREATE INDEX records_tombstones ON records (zone_id, seq) WHERE tomb;

CREATE TABLE zone_buckets (
    zone_id bigint   NOT NULL REFERENCES zones (zone_id),
    bucket  smallint NOT NULL CHECK (bucket BETWEEN 0 AND 255),
    hash    bytea    CHECK (hash IS NULL OR octet_length(hash) = 32),
    PRIMARY KEY (zone_id, bucket)
);

CREATE TABLE zone_manifests (
    zone_id   bigint  NOT NULL REFERENCES zones (zone_id),
    peer_id   bytea   NOT NULL CHECK (octet_length(peer_id) = 32),
    counter   bigint  NOT NULL CHECK (counter >= 0),
    epoch     bigint  NOT NULL CHECK (epoch >= 0),
    token_seq bigint  NOT NULL CHECK (token_seq >= 0),
    body      bytea   NOT NULL,
    signature bytea   NOT NULL CHECK (octet_length(signature) = 64),
    PRIMARY KEY (zone_id, peer_id)
);

CREATE TABLE restores (
    id            bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    epoch         bigint  NOT NULL CHECK (epoch >= 1),
    restored      bigint  NOT NULL,
    backup_schema bigint  NOT NULL CHECK (backup_schema >= 1)
);

CREATE TABLE circle_cuts (
    circle_id   bytea   NOT NULL REFERENCES circles (circle_id),
    removal_seq bigint  NOT NULL CHECK (removal_seq >= 1),
    zone        text    NOT NULL CHECK (length(zone) BETWEEN 1 AND 32),
    list        bytea   NOT NULL,
    PRIMARY KEY (circle_id, removal_seq, zone)
);

CREATE TABLE registration_tokens (
    token_hash bytea   PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    id         text    NOT NULL UNIQUE,
    note       text,
    created    bigint  NOT NULL,
    expires    bigint,
    used       bigint,
    used_by    bytea,
    revoked    bigint
);

CREATE TABLE admin_log (
    id     bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     bigint  NOT NULL,
    action text    NOT NULL,
    detail text    NOT NULL
);
CREATE FUNCTION admin_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the admin log is append-only';
END;
$$;
CREATE TRIGGER admin_log_append_only BEFORE UPDATE OR DELETE ON admin_log
    FOR EACH ROW EXECUTE FUNCTION admin_log_append_only();
