-- The audit log becomes a hash chain (see doorward-core `audit_chain`).
--
-- seq:       position in the chain, 1, 2, 3, ... in commit order (ids are
--            made before their transaction, so they do not give that order).
--            Appends are serialised by a transaction-scoped advisory lock.
-- prev_hash: the previous row's hash (32 zero bytes for seq 1).
-- hash:      SHA-256(prev_hash || canonical encoding of the row, seq included).
--
-- Rows that exist when this runs get NULLs here; the engine chains them
-- (in `at`, id order, after the current last link) in one transaction under
-- the same lock right after migrating, which every later start repeats and
-- finds nothing to do. The encoding lives in Rust, shared with SQLite.

ALTER TABLE audit_events
    ADD COLUMN seq       BIGINT,
    ADD COLUMN prev_hash BYTEA,
    ADD COLUMN hash      BYTEA,
    ADD CONSTRAINT audit_events_seq_check CHECK (seq > 0),
    ADD CONSTRAINT audit_events_prev_hash_check CHECK (octet_length(prev_hash) = 32),
    ADD CONSTRAINT audit_events_hash_check CHECK (octet_length(hash) = 32);

-- The chain order: the last link, pages for `doorward audit verify`, and
-- unchained rows (seq IS NULL).
CREATE UNIQUE INDEX audit_events_seq_key ON audit_events (seq);

-- Listings are newest first by (at, seq), filtered by user, type or time.
DROP INDEX audit_events_user_id_at_idx;
DROP INDEX audit_events_at_idx;
CREATE INDEX audit_events_at_seq_idx ON audit_events (at, seq);
CREATE INDEX audit_events_user_id_at_seq_idx ON audit_events (user_id, at, seq);
CREATE INDEX audit_events_type_at_seq_idx ON audit_events (type, at, seq);
