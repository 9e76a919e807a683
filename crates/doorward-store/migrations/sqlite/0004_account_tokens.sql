-- Single-use account tokens (email verification, password reset), and the
-- sessions of deleted users.

CREATE TABLE account_tokens (
    -- SHA-256 of the token; the token itself is only ever in the mail.
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('verify_email', 'reset_password')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    -- Used, or superseded by a newer token of the same kind.
    used_at    INTEGER
);

-- Superseding older tokens and counting recent ones (mail rate limits).
CREATE INDEX account_tokens_user_kind_idx ON account_tokens (user_id, kind, created_at);

-- A deleted user's sessions go with it (ON DELETE CASCADE), but every
-- instance must still learn that they are revoked: revoked_since() reads
-- this table too.
CREATE TABLE deleted_sessions (
    id         TEXT    NOT NULL PRIMARY KEY,
    revoked_at INTEGER NOT NULL
);

CREATE INDEX deleted_sessions_revoked_at_idx ON deleted_sessions (revoked_at);
