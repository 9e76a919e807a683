-- Doorward's first PostgreSQL schema: the same tables as migrations/sqlite,
-- in native types.
--
-- Conventions: ids are UUID; times are TIMESTAMPTZ holding whole
-- milliseconds (the engine truncates before it writes, so a time reads back
-- exactly as SQLite's INTEGER milliseconds do); token hashes are 32-byte
-- SHA-256 BYTEA (the tokens themselves are never stored). Constraints are
-- named: the engine maps a unique violation to the field by constraint name.
-- Never edit this file once merged: add 0002_*.sql instead.

CREATE TABLE users (
    id             UUID        NOT NULL,
    -- Normalised (trimmed, lower-case) by the core before it gets here.
    email          TEXT        NOT NULL,
    -- NULL for users without one; UNIQUE allows any number of NULLs.
    username       TEXT,
    -- PHC string (argon2id) or an imported bcrypt hash.
    password_hash  TEXT        NOT NULL,
    email_verified BOOLEAN     NOT NULL DEFAULT FALSE,
    roles          TEXT[]      NOT NULL DEFAULT '{}',
    disabled       BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_username_key UNIQUE (username)
);

-- One row per session: one family of refresh tokens.
CREATE TABLE sessions (
    id           UUID        NOT NULL,
    user_id      UUID        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ NOT NULL,
    -- Sliding: moved forward on every refresh.
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    ip           TEXT,
    user_agent   TEXT,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
-- revoked_since() rebuilds the revocation set at start from this.
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE refresh_tokens (
    hash       BYTEA       NOT NULL,
    session_id UUID        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    -- When this token was exchanged for its successor (the first time).
    rotated_at TIMESTAMPTZ,
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (hash),
    CONSTRAINT refresh_tokens_hash_check CHECK (octet_length(hash) = 32),
    CONSTRAINT refresh_tokens_session_id_fkey FOREIGN KEY (session_id)
        REFERENCES sessions (id) ON DELETE CASCADE
);

-- For the ON DELETE CASCADE from sessions.
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid          TEXT        NOT NULL,
    alg          TEXT        NOT NULL,
    -- Serialized public JWK, kept as TEXT (not JSONB) so it reads back
    -- byte for byte as it was written.
    public_jwk   TEXT        NOT NULL,
    -- KeyVault framing of the PKCS#8 private key (encrypted when configured).
    private_key  BYTEA       NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    activated_at TIMESTAMPTZ NOT NULL,
    retired_at   TIMESTAMPTZ,
    CONSTRAINT signing_keys_pkey PRIMARY KEY (kid)
);

-- No foreign keys: the audit log outlives the users and sessions it names.
CREATE TABLE audit_events (
    id         UUID        NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    type       TEXT        NOT NULL,
    actor_id   UUID,
    user_id    UUID,
    session_id UUID,
    ip         TEXT,
    user_agent TEXT,
    outcome    TEXT        NOT NULL,
    CONSTRAINT audit_events_pkey PRIMARY KEY (id)
);

CREATE INDEX audit_events_user_id_at_idx ON audit_events (user_id, at);
CREATE INDEX audit_events_at_idx ON audit_events (at);
