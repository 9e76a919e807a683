-- The audit log becomes a hash chain (see doorward-core `audit_chain`).
--
-- seq:       position in the chain, 1, 2, 3, ... in commit order (ids are
--            made before their transaction, so they do not give that order).
-- prev_hash: the previous row's hash (32 zero bytes for seq 1).
-- hash:      SHA-256(prev_hash || canonical encoding of the row, seq included).
--
-- Rows that exist when this runs get NULLs here; the engine chains them
-- (in `at`, id order, after the current last link) in one write transaction
-- right after migrating, which every later start repeats and finds nothing
-- to do. SQLite has no SHA-256, so this cannot be done in SQL.

ALTER TABLE audit_events ADD COLUMN seq INTEGER CHECK (seq > 0);
ALTER TABLE audit_events ADD COLUMN prev_hash BLOB CHECK (length(prev_hash) = 32);
ALTER TABLE audit_events ADD COLUMN hash BLOB CHECK (length(hash) = 32);

-- The chain order: the last link, pages for `doorward audit verify`, and
-- unchained rows (seq IS NULL).
CREATE UNIQUE INDEX audit_events_seq_key ON audit_events (seq);

-- Listings are newest first by (at, seq), filtered by user, type or time.
DROP INDEX audit_events_user_id_at_idx;
DROP INDEX audit_events_at_idx;
CREATE INDEX audit_events_at_seq_idx ON audit_events (at, seq);
CREATE INDEX audit_events_user_id_at_seq_idx ON audit_events (user_id, at, seq);
CREATE INDEX audit_events_type_at_seq_idx ON audit_events (type, at, seq);
