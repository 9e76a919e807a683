-- Doorward's first SQLite schema.
--
-- Conventions: ids are hyphenated UUID text; times are INTEGER unix
-- milliseconds, UTC; booleans are 0/1; token hashes are 32-byte SHA-256 BLOBs
-- (the tokens themselves are never stored). Never edit this file once merged:
-- add 0002_*.sql instead.

CREATE TABLE users (
    id             TEXT    NOT NULL PRIMARY KEY,
    -- Normalised (trimmed, lower-case) by the core before it gets here.
    email          TEXT    NOT NULL UNIQUE,
    -- NULL for users without one; UNIQUE allows any number of NULLs.
    username       TEXT             UNIQUE,
    -- PHC string (argon2id) or an imported bcrypt hash.
    password_hash  TEXT    NOT NULL,
    email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    -- JSON array of role names, e.g. '["admin"]'.
    roles          TEXT    NOT NULL DEFAULT '[]',
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- One row per session: one family of refresh tokens.
CREATE TABLE sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    -- Sliding: moved forward on every refresh.
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    ip           TEXT,
    user_agent   TEXT
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
-- revoked_since() rebuilds the revocation set at start from this.
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    -- When this token was exchanged for its successor (the first time).
    rotated_at INTEGER
);

-- For the ON DELETE CASCADE from sessions.
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid          TEXT    NOT NULL PRIMARY KEY,
    alg          TEXT    NOT NULL,
    -- Serialized public JWK (JSON).
    public_jwk   TEXT    NOT NULL,
    -- KeyVault framing of the PKCS#8 private key (encrypted when configured).
    private_key  BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    activated_at INTEGER NOT NULL,
    retired_at   INTEGER
);

-- No foreign keys: the audit log outlives the users and sessions it names.
CREATE TABLE audit_events (
    id         TEXT    NOT NULL PRIMARY KEY,
    at         INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    actor_id   TEXT,
    user_id    TEXT,
    session_id TEXT,
    ip         TEXT,
    user_agent TEXT,
    outcome    TEXT    NOT NULL
);

CREATE INDEX audit_events_user_id_at_idx ON audit_events (user_id, at);
CREATE INDEX audit_events_at_idx ON audit_events (at);
