-- Single-use account tokens (email verification, password reset), and the
-- sessions of deleted users. Same tables as migrations/sqlite.

CREATE TABLE account_tokens (
    -- SHA-256 of the token; the token itself is only ever in the mail.
    hash       BYTEA       NOT NULL,
    user_id    UUID        NOT NULL,
    kind       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    -- Used, or superseded by a newer token of the same kind.
    used_at    TIMESTAMPTZ,
    CONSTRAINT account_tokens_pkey PRIMARY KEY (hash),
    CONSTRAINT account_tokens_hash_len CHECK (length(hash) = 32),
    CONSTRAINT account_tokens_kind_check CHECK (kind IN ('verify_email', 'reset_password')),
    CONSTRAINT account_tokens_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE
);

-- Superseding older tokens and counting recent ones (mail rate limits).
CREATE INDEX account_tokens_user_kind_idx ON account_tokens (user_id, kind, created_at);

-- A deleted user's sessions go with it (ON DELETE CASCADE), but every
-- instance must still learn that they are revoked: revoked_since() reads
-- this table too.
CREATE TABLE deleted_sessions (
    id         UUID        NOT NULL,
    revoked_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT deleted_sessions_pkey PRIMARY KEY (id)
);

CREATE INDEX deleted_sessions_revoked_at_idx ON deleted_sessions (revoked_at);
