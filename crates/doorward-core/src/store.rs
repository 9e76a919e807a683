//! The one narrow interface between Doorward's decisions and its data.
//!
//! Every method is one transaction in the engine: a state change and the audit
//! row that records it land together or not at all. Engines live in
//! `doorward-store` (SQLite, PostgreSQL) and pass its conformance suite.
//! Time never comes from the engine: every method that needs "now" takes it.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

pub use crate::audit::AuditKind;
use crate::transfer::{Batch, Cursor, RowCounts};

/// What storage can say went wrong. Kept small on purpose: the core maps
/// these to outcomes, and nothing about SQL leaks past this type.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; names the field ("email", "username").
    #[error("conflict on {0}")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    /// The database could not be reached (or timed out): callers answer 503.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Other(String),
}

/// A 32-byte SHA-256 digest of an opaque token (refresh, reset, verification).
pub type TokenHash = [u8; 32];

/// A stored account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: Uuid,
    /// Normalised (trimmed, lower-case) email.
    pub email: String,
    pub username: Option<String>,
    /// PHC string (argon2id) or an imported bcrypt hash.
    pub password_hash: String,
    pub email_verified: bool,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A session: one family of refresh tokens, as it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    /// Sliding: moved forward on every refresh.
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A new session with its first refresh token.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub refresh_hash: TokenHash,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The state of a presented refresh token and its session, read inside the
/// rotation transaction (under a write lock) and handed to the core's pure
/// decision function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshState {
    pub session: SessionRecord,
    /// When this token was exchanged for a successor; `None` while it is the live one.
    pub rotated_at: Option<OffsetDateTime>,
    pub user: UserRecord,
}

/// What the core decided about a presented refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Mark the presented token rotated (if not already), store the
    /// replacement hash in the same session and slide the session's expiry.
    Rotate {
        new_hash: TokenHash,
        now: OffsetDateTime,
        new_expires_at: OffsetDateTime,
        audit: AuditEvent,
    },
    /// Reuse outside the grace window: revoke the whole session.
    RevokeSession {
        now: OffsetDateTime,
        audit: AuditEvent,
    },
    /// Expired, revoked, or the user is disabled: change nothing.
    Refuse,
}

/// What the engine did with the decision. (Returned once per refresh, so
/// its size does not matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The hash matched no stored refresh token.
    Unknown,
    /// The decision function ran; the engine applied it. Carries the state it saw.
    Decided {
        state: Box<RefreshState>,
        decision: RefreshDecision,
    },
}

/// A signing key as stored. The private key is PKCS#8 DER, encrypted by the
/// core when an encryption key is configured (see `keys::KeyVault`).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub kid: String,
    /// "EdDSA", "ES256", "RS256".
    pub alg: String,
    /// Serialized public JWK (JSON).
    pub public_jwk: String,
    /// Opaque bytes: `KeyVault` framing of the PKCS#8 private key.
    pub private_key: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// The key that signs new tokens is the one activated last.
    pub activated_at: OffsetDateTime,
    /// Set when another key took over signing; the public key stays
    /// published until `retired_at + access_ttl`.
    pub retired_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("activated_at", &self.activated_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A revoked session id and when it was revoked, for the in-memory revocation set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedSession {
    pub id: Uuid,
    pub revoked_at: OffsetDateTime,
}

/// Who is logging out: which sessions of a user to revoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeScope {
    /// Every session of the user.
    All,
    /// Every session except this one.
    AllExcept(Uuid),
    /// Only this one (it must belong to the user).
    One(Uuid),
}

/// One row of the audit log, written in the same transaction as its change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: OffsetDateTime,
    pub kind: AuditKind,
    pub actor_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// "success" or "failure" (with a short reason, never a secret).
    pub outcome: String,
}

/// A stored audit event (what `list_audit` returns).
pub type AuditRecord = AuditEvent;

// Account tokens and administration (issue 4) ---------------------------------

/// What a single-use account token is for. Stable strings: they are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccountTokenKind {
    /// Proves control of the mailbox (24 hours).
    VerifyEmail,
    /// Sets a new password (30 minutes).
    ResetPassword,
}

impl AccountTokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountTokenKind::VerifyEmail => "verify_email",
            AccountTokenKind::ResetPassword => "reset_password",
        }
    }

    pub fn parse(s: &str) -> Option<AccountTokenKind> {
        [
            AccountTokenKind::VerifyEmail,
            AccountTokenKind::ResetPassword,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A new verification or reset token, stored only as its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccountToken {
    pub hash: TokenHash,
    pub user_id: Uuid,
    pub kind: AccountTokenKind,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A stored account token (without its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountTokenRecord {
    pub user_id: Uuid,
    pub kind: AccountTokenKind,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Set when it was used, or superseded by a newer token of its kind.
    pub used_at: Option<OffsetDateTime>,
}

impl AccountTokenRecord {
    /// Unused and unexpired at `now`.
    pub fn usable(&self, now: OffsetDateTime) -> bool {
        self.used_at.is_none() && now < self.expires_at
    }
}

/// What using an account token changes, besides marking it used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenUse {
    /// Mark the email verified.
    VerifyEmail,
    /// Set the password hash, mark the email verified (the link reached the
    /// mailbox), revoke every session and every other unused reset token.
    ResetPassword { new_hash: String },
}

/// At most `max` tokens of a kind per user created at or after `since`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailBudget {
    pub since: OffsetDateTime,
    pub max: u32,
}

/// An administrator's change to an account; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub disabled: Option<bool>,
    pub roles: Option<Vec<String>>,
}

/// The storage interface. Object-safe: `AppState` holds `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap liveness check (for `/healthz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Insert a user, and when `session` is given its first session, plus the audit row.
    /// `Conflict("email")` / `Conflict("username")` on duplicates.
    async fn create_user(
        &self,
        user: &UserRecord,
        session: Option<&NewSession>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError>;
    /// `email` is already normalised.
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Replace the password hash only if it still equals `old_hash`
    /// (a concurrent change wins); returns whether it was replaced.
    async fn upgrade_password_hash(
        &self,
        user_id: Uuid,
        old_hash: &str,
        new_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Start a session for an existing user (login), with the audit row.
    async fn start_session(
        &self,
        session: &NewSession,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Record an event that changes nothing else (failed login, ...).
    async fn record_event(&self, audit: &AuditEvent) -> Result<(), StoreError>;

    /// Look up the presented refresh token under a write lock, let `decide`
    /// choose, and apply its choice, all in one transaction. Two concurrent
    /// calls with the same hash are serialised: the second sees the first's effect.
    async fn rotate_refresh(
        &self,
        presented: &TokenHash,
        decide: &(dyn for<'s> Fn(&'s RefreshState) -> RefreshDecision + Send + Sync),
    ) -> Result<RefreshOutcome, StoreError>;

    async fn session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError>;

    /// A user's sessions that are neither revoked nor expired at `now`, newest first.
    async fn active_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError>;

    /// Revoke the user's sessions that `scope` names and that are still active;
    /// one audit row per revoked session is derived from `audit` (its
    /// `session_id` replaced). Returns the ids revoked (empty when none matched;
    /// for `One` of another user's session, empty).
    async fn revoke_sessions(
        &self,
        user_id: Uuid,
        scope: RevokeScope,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Sessions revoked at or after `since` (to rebuild the revocation set at start).
    async fn revoked_since(&self, since: OffsetDateTime)
        -> Result<Vec<RevokedSession>, StoreError>;

    /// Every signing key, newest first.
    async fn signing_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;

    /// Insert `key` and retire (set `retired_at = key.activated_at`) every
    /// other key that is not retired yet, in one transaction.
    async fn activate_signing_key(&self, key: &KeyRecord) -> Result<(), StoreError>;

    /// Insert `key` only if no signing key exists yet (first start; several
    /// instances may race). Returns whether it was inserted.
    async fn insert_first_signing_key(&self, key: &KeyRecord) -> Result<bool, StoreError>;

    /// Audit events, newest first (bounded by `limit`).
    async fn recent_audit(
        &self,
        user_id: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;

    // Whole-database copy (`doorward migrate-data`, see `transfer`).

    /// How many rows each table holds, read in one snapshot.
    async fn row_counts(&self) -> Result<RowCounts, StoreError>;

    /// Up to `limit` full rows of the cursor's table, in ascending primary-key
    /// order, starting after the cursor's key.
    async fn export_batch(&self, from: &Cursor, limit: u32) -> Result<Batch, StoreError>;

    /// Inserts the rows of `batch` exactly as they are (ids, hashes, times,
    /// key bytes), in one transaction: all of them land or none.
    /// `Conflict(field)` on a duplicate, `NotFound` when a parent row is missing.
    async fn import_batch(&self, batch: &Batch) -> Result<(), StoreError>;

    // Account tokens and administration (issue 4)

    /// Store a verification or reset token. Every older unused token of the
    /// same kind for the same user is marked used (superseded). With
    /// `revoke_sessions`, every active session of the user is revoked too
    /// (an administrator's forced reset). The audit row, when given, lands
    /// in the same transaction. Returns the ids of revoked sessions.
    ///
    /// With `budget`, nothing is written (and `None` returned) when the
    /// user already has `budget.max` tokens of this kind created at or after
    /// `budget.since`; the count and the insert are one step under the
    /// user's lock, so concurrent requests cannot overspend it.
    async fn issue_account_token(
        &self,
        token: &NewAccountToken,
        revoke_sessions: bool,
        budget: Option<MailBudget>,
        audit: Option<&AuditEvent>,
    ) -> Result<Option<Vec<Uuid>>, StoreError>;

    /// Creation times of the user's tokens of `kind` created at or after
    /// `since`, oldest first (mail rate limits).
    async fn account_tokens_since(
        &self,
        user_id: Uuid,
        kind: AccountTokenKind,
        since: OffsetDateTime,
    ) -> Result<Vec<OffsetDateTime>, StoreError>;

    /// The token stored under `hash`, whatever its state.
    async fn account_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<AccountTokenRecord>, StoreError>;

    /// Use a token in one transaction: only when it is of `kind`, unused and
    /// unexpired at `now` (checked under the write lock, so two concurrent
    /// uses cannot both succeed), mark it used, apply `apply`, write `audit`.
    /// `None` when the token was not usable (nothing changed); otherwise the
    /// user as it is now and the ids of the sessions revoked.
    async fn use_account_token(
        &self,
        hash: &TokenHash,
        kind: AccountTokenKind,
        now: OffsetDateTime,
        apply: &TokenUse,
        audit: &AuditEvent,
    ) -> Result<Option<(UserRecord, Vec<Uuid>)>, StoreError>;

    /// Replace the password hash while it still equals `old_hash` and revoke
    /// every active session of the user except `keep`, with `audit`, in one
    /// transaction. `None` when the hash changed meanwhile (nothing changed).
    async fn change_password(
        &self,
        user_id: Uuid,
        old_hash: &str,
        new_hash: &str,
        keep: Uuid,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Option<Vec<Uuid>>, StoreError>;

    /// Users in id (creation) order after `after`, at most `limit`; with
    /// `query`, only those whose email or username contains it
    /// (case-insensitive; `%` and `_` match themselves).
    async fn list_users(
        &self,
        query: Option<&str>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<UserRecord>, StoreError>;

    /// Apply `patch` and, when `revoke`, revoke every active session of the
    /// user, with `audit` rows, in one transaction. `NotFound` for an
    /// unknown user. Returns the user as it is now and the revoked ids.
    async fn update_user(
        &self,
        user_id: Uuid,
        patch: &UserPatch,
        revoke: bool,
        now: OffsetDateTime,
        audit: &[AuditEvent],
    ) -> Result<(UserRecord, Vec<Uuid>), StoreError>;

    /// Delete the user (sessions, refresh and account tokens go with it),
    /// remembering its active sessions as revoked so `revoked_since` still
    /// reports them to every instance; with `audit`, in one transaction.
    /// `NotFound` for an unknown user. Returns the revoked session ids.
    async fn delete_user(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Vec<Uuid>, StoreError>;

    // Audit chain and queries (issue 4). Every audit row is a link of a hash
    // chain (`audit_chain`), appended one at a time across processes.

    /// Events matching `filter`, newest first (by `at`, then chain position),
    /// starting after `after`: at most `limit` (at least 1), with a `next`
    /// cursor when more match. Events not yet in the chain are not listed.
    async fn audit_page(
        &self,
        filter: &crate::audit::AuditFilter,
        after: Option<crate::audit::AuditCursor>,
        limit: u32,
    ) -> Result<crate::audit::AuditPage, StoreError>;

    /// The chain's last link and the number of events outside the chain.
    async fn audit_chain_state(&self) -> Result<crate::audit_chain::ChainState, StoreError>;

    /// Up to `limit` links with `seq > after`, in chain order, exactly as
    /// stored (for `audit_chain::verify`).
    async fn audit_chain(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<crate::audit_chain::ChainedEvent>, StoreError>;

    // Login throttling (issue 4): see `throttle` for the model. Keys are
    // `ThrottleKey::as_str` strings; state shared by every instance.

    /// The stored state of those of `keys` that have one (absent: no failures).
    async fn throttle_state(
        &self,
        keys: &[crate::throttle::ThrottleKey],
    ) -> Result<Vec<crate::throttle::ThrottleRecord>, StoreError>;

    /// Counts one failed login against every key and writes `audit` (the
    /// `login_failed` row), in one transaction. Per key, atomically even
    /// against other instances: a record stale at `now`
    /// (`policy.stale_before`) starts a new count at 1 from `now`, else the
    /// count goes up by one; then, when `policy.blocked_until` says so for the
    /// new count, `blocked_until` moves to that time (never earlier).
    /// Returns the keys' new state, in the order of `keys`.
    async fn record_login_failure(
        &self,
        keys: &[crate::throttle::ThrottleKey],
        policy: &crate::throttle::ThrottlePolicy,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Vec<crate::throttle::ThrottleRecord>, StoreError>;

    /// Writes `audit` (a `throttled` row) unless every one of `keys` that is
    /// blocked at `now` has had one for its current block already; returns
    /// whether it was written. Bounds the audit log under a flood of refused
    /// attempts to one row per key per block.
    async fn record_throttled(
        &self,
        keys: &[String],
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Forgets a key's failures (successful login, password reset).
    async fn clear_throttle(&self, key: &str) -> Result<(), StoreError>;

    /// Deletes the records stale at `stale_before` (see `record_login_failure`);
    /// returns how many.
    async fn prune_throttle(&self, stale_before: OffsetDateTime) -> Result<u64, StoreError>;

    /// Distinct client IPs (as stored at session start) of `user_id`'s
    /// sessions last used at or after `since`, revoked ones included, most
    /// recently used first, at most `limit`: the networks the account's
    /// owner is known to log in from.
    async fn recent_login_ips(
        &self,
        user_id: Uuid,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;
}
