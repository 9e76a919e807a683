-- Login throttling (issue 4): failed logins counted per key, shared by every
-- instance on this database. Keys: `acct:<user id>`, `login:<sha256 of an
-- identifier no account has>`, `ip:<address or IPv6 /64>`. No foreign key:
-- a count may outlive its account for the rest of its window.
--
-- A row is stale once `COALESCE(blocked_until, window_start)` is a full
-- window in the past: the next failure starts a new count, and the server's
-- prune task deletes it (hence the index).
CREATE TABLE login_throttle (
    key           TEXT    NOT NULL PRIMARY KEY,
    failures      INTEGER NOT NULL CHECK (failures >= 1),
    -- First failure of the current count (unix milliseconds, UTC).
    window_start  INTEGER NOT NULL,
    -- Set when the count reached the threshold; kept after it passed.
    blocked_until INTEGER,
    -- The block for which a `throttled` audit row was written already.
    audited_until INTEGER
);

CREATE INDEX login_throttle_stale_idx ON login_throttle (COALESCE(blocked_until, window_start));
