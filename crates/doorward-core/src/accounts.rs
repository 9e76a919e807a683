//! Accounts and sessions as the API sees them: sign up, log in, refresh, log
//! out, list and revoke sessions. Each operation parses its input, decides,
//! and makes one store call per state change.

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, AuditKind, ClientInfo};
use crate::error::{Error, Result};
use crate::mail::Mailer;
use crate::passwords::{PasswordHasher, PasswordPolicy};
use crate::profiles::ProfileCache;
use crate::sessions::{self, RevocationListener, RotationPolicy};
use crate::store::{
    NewSession, RefreshDecision, RefreshOutcome, RevokeScope, SessionRecord, Store, StoreError,
    UserRecord,
};
use crate::throttle::{ThrottleKey, ThrottlePolicy};
use crate::tokens::{self, Issuer, RefreshToken, TokenPair};
use crate::types::{Email, FieldError, Password, Username};

/// Role every account has.
pub const ROLE_USER: &str = "user";
/// Role that opens the admin API.
pub const ROLE_ADMIN: &str = "admin";

/// Sign-up input as received (unparsed).
pub struct SignupInput<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub username: Option<&'a str>,
}

/// Who is logging in: by email or by username.
pub enum LoginId<'a> {
    Email(&'a str),
    Username(&'a str),
}

/// Which sessions a logout ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogoutScope {
    Local,
    Global,
    Others,
}

/// A session as the owner sees it.
#[derive(Clone, Debug)]
pub struct SessionView {
    pub record: SessionRecord,
    pub current: bool,
}

/// What a signup did. (Returned once per signup, so its size does not matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum SignupOutcome {
    /// The account exists and is signed in.
    SignedIn(UserRecord, TokenPair),
    /// Verification is required: a mail went out (to a new account, or to
    /// the owner of an existing one); no tokens until the address is verified.
    VerificationSent,
}

/// The account service.
pub struct Accounts {
    pub store: Arc<dyn Store>,
    pub hasher: Arc<PasswordHasher>,
    pub policy: PasswordPolicy,
    pub issuer: Arc<Issuer>,
    pub revocations: Arc<dyn RevocationListener>,
    /// Where verification, reset and notification mail goes.
    pub mailer: Arc<dyn Mailer>,
    /// `auth.require_email_verification`: no tokens until the address is verified.
    pub require_email_verification: bool,
    /// Failed-login throttling (`throttle.*`).
    pub throttle: ThrottlePolicy,
    /// Profiles for `GET /v1/me` (at most 1 s old; see `profiles`). Every
    /// change to a user made here calls `profiles.forget`.
    pub profiles: ProfileCache,
}

fn collect<T>(r: std::result::Result<T, FieldError>, errors: &mut Vec<FieldError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

impl Accounts {
    pub(crate) fn rotation(&self) -> RotationPolicy {
        let s = self.issuer.settings();
        RotationPolicy {
            refresh_ttl: s.refresh_ttl,
            grace: s.refresh_grace,
        }
    }

    fn new_session(
        &self,
        user_id: Uuid,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> (NewSession, RefreshToken) {
        let (refresh, refresh_hash) = RefreshToken::generate();
        let session = NewSession {
            id: Uuid::now_v7(),
            user_id,
            refresh_hash,
            created_at: now,
            expires_at: now + self.issuer.settings().refresh_ttl,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
        };
        (session, refresh)
    }

    /// Parse and check a new account's fields; all field errors at once.
    fn parse_new_account(
        &self,
        input: &SignupInput<'_>,
    ) -> Result<(Email, Option<Username>, Password)> {
        let mut errors = Vec::new();
        let email = collect(Email::parse(input.email), &mut errors);
        let username = match input.username {
            Some(u) => collect(Username::parse(u), &mut errors).map(Some),
            None => Some(None),
        };
        let password = collect(Password::parse(input.password, "password"), &mut errors);
        let (Some(email), Some(username), Some(password)) = (email, username, password) else {
            return Err(Error::Invalid(errors));
        };
        self.policy.check(&password, &email, username.as_ref())?;
        Ok((email, username, password))
    }

    fn user_record(
        email: Email,
        username: Option<Username>,
        hash: String,
        roles: Vec<String>,
        now: OffsetDateTime,
    ) -> UserRecord {
        UserRecord {
            id: Uuid::now_v7(),
            email: email.as_str().to_owned(),
            username: username.map(|u| u.as_str().to_owned()),
            password_hash: hash,
            email_verified: false,
            roles,
            disabled: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// Create an account. Without required verification: its first session
    /// and a verification mail. With it: a verification mail only, and the
    /// same answer when the address has an account already (whose owner is
    /// mailed instead), so signup does not reveal who has an account.
    #[tracing::instrument(skip_all)]
    pub async fn signup(
        &self,
        input: SignupInput<'_>,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<SignupOutcome> {
        let (email, username, password) = self.parse_new_account(&input)?;
        let hash = self.hasher.hash(&password).await?;
        let user = Self::user_record(email, username, hash, vec![ROLE_USER.to_owned()], now);
        if self.require_email_verification {
            let event = audit::event(
                AuditKind::Signup,
                now,
                client,
                Some(user.id),
                None,
                "success",
            );
            match self.store.create_user(&user, None, &event).await {
                Ok(()) => self.send_verification(&user, now).await,
                Err(StoreError::Conflict("email")) => {
                    self.mail_existing_owner(&user.email, now).await
                }
                Err(e) => return Err(e.into()),
            }
            return Ok(SignupOutcome::VerificationSent);
        }
        let (session, refresh) = self.new_session(user.id, client, now);
        let event = audit::event(
            AuditKind::Signup,
            now,
            client,
            Some(user.id),
            Some(session.id),
            "success",
        );
        self.store
            .create_user(&user, Some(&session), &event)
            .await?;
        self.send_verification(&user, now).await;
        let pair = self.issuer.pair(&user, session.id, refresh, now)?;
        Ok(SignupOutcome::SignedIn(user, pair))
    }

    /// Create an account without a session (operator CLI).
    pub async fn create_user(
        &self,
        input: SignupInput<'_>,
        admin: bool,
        now: OffsetDateTime,
    ) -> Result<UserRecord> {
        let (email, username, password) = self.parse_new_account(&input)?;
        let hash = self.hasher.hash(&password).await?;
        let mut roles = vec![ROLE_USER.to_owned()];
        if admin {
            roles.push(ROLE_ADMIN.to_owned());
        }
        let user = Self::user_record(email, username, hash, roles, now);
        let mut event = audit::event(
            AuditKind::Signup,
            now,
            &ClientInfo::default(),
            Some(user.id),
            None,
            "success: created by operator",
        );
        event.actor_id = None;
        self.store.create_user(&user, None, &event).await?;
        Ok(user)
    }

    /// Create an account from another system, keeping its password hash
    /// (argon2 PHC or bcrypt; `doorward import`). The first login with the
    /// old password re-hashes it to argon2id (see `login`). The password
    /// policy cannot apply: the password is not known.
    pub async fn import_user(
        &self,
        email: &str,
        username: Option<&str>,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<UserRecord> {
        let mut errors = Vec::new();
        let email = collect(Email::parse(email), &mut errors);
        let username = match username {
            Some(u) => collect(Username::parse(u), &mut errors).map(Some),
            None => Some(None),
        };
        if !crate::passwords::is_supported_hash(password_hash) {
            errors.push(FieldError::new(
                "password_hash",
                "unsupported_hash",
                "Not an argon2 PHC or bcrypt ($2a$/$2b$/$2y$) hash, or a cost beyond what a login may spend (argon2 m <= 262144 KiB and t <= 64, bcrypt cost <= 16).",
            ));
        }
        let (Some(email), Some(username), true) = (email, username, errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        let user = Self::user_record(
            email,
            username,
            password_hash.to_owned(),
            vec![ROLE_USER.to_owned()],
            now,
        );
        let mut event = audit::event(
            AuditKind::Signup,
            now,
            &ClientInfo::default(),
            Some(user.id),
            None,
            "success: imported by operator",
        );
        event.actor_id = None;
        self.store.create_user(&user, None, &event).await?;
        Ok(user)
    }

    /// Check a password and start a session. Unknown user and wrong password
    /// are one outcome, and cost the same (the hasher verifies a dummy hash).
    /// Throttled (see `throttle`) before the password is verified: an unknown
    /// identifier is counted under its own key exactly like an account.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        id: LoginId<'_>,
        password: &str,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<(UserRecord, TokenPair)> {
        // A place for the verification first: when the hash queue is full
        // the answer is 503 before any database read, so a flood's refusals
        // cost next to nothing. The same for every identifier, known or not.
        let ticket = self.hasher.admit()?;
        let (field, normalised, user) = match id {
            LoginId::Email(e) => match Email::parse(e) {
                Ok(e) => (
                    "email",
                    e.as_str().to_owned(),
                    self.store.user_by_email(e.as_str()).await?,
                ),
                Err(_) => ("email", e.trim().to_lowercase(), None),
            },
            LoginId::Username(u) => match Username::parse(u) {
                Ok(u) => (
                    "username",
                    u.as_str().to_owned(),
                    self.store.user_by_username(u.as_str()).await?,
                ),
                Err(_) => ("username", u.trim().to_lowercase(), None),
            },
        };
        let key = match &user {
            Some(u) => ThrottleKey::account(u.id),
            None => ThrottleKey::identifier(field, &normalised),
        };
        let gate = self
            .throttle_gate(key, user.as_ref().map(|u| u.id), client, now)
            .await?;
        // An impossible password still costs one verification.
        let password = Password::for_login(password).unwrap_or_else(Password::placeholder);
        let verified = self
            .hasher
            .verify_admitted(
                ticket,
                &password,
                user.as_ref().map(|u| u.password_hash.as_str()),
            )
            .await?;
        let user = match user {
            Some(u) if verified.ok => u,
            other => {
                let user_id = other.map(|u| u.id);
                return Err(self.throttle_failure(&gate, user_id, client, now).await);
            }
        };
        if user.disabled {
            metrics::counter!("doorward_logins_total", "outcome" => "disabled").increment(1);
            let event = audit::event(
                AuditKind::LoginFailed,
                now,
                client,
                Some(user.id),
                None,
                "failure: account disabled",
            );
            self.store.record_event(&event).await?;
            return Err(Error::AccountDisabled);
        }
        if self.require_email_verification && !user.email_verified {
            metrics::counter!("doorward_logins_total", "outcome" => "email_not_verified")
                .increment(1);
            let event = audit::event(
                AuditKind::LoginFailed,
                now,
                client,
                Some(user.id),
                None,
                "failure: email not verified",
            );
            self.store.record_event(&event).await?;
            return Err(Error::EmailNotVerified);
        }
        if verified.needs_rehash {
            self.upgrade_hash(&user, &password, now).await;
        }
        let (session, refresh) = self.new_session(user.id, client, now);
        let event = audit::event(
            AuditKind::Login,
            now,
            client,
            Some(user.id),
            Some(session.id),
            "success",
        );
        self.store.start_session(&session, &event).await?;
        self.throttle_success(&gate).await;
        metrics::counter!("doorward_logins_total", "outcome" => "success").increment(1);
        let pair = self.issuer.pair(&user, session.id, refresh, now)?;
        Ok((user, pair))
    }

    /// Re-hash with the configured parameters; a failure only delays it to the next login.
    async fn upgrade_hash(&self, user: &UserRecord, password: &Password, now: OffsetDateTime) {
        let result = match self.hasher.hash(password).await {
            Ok(new_hash) => self
                .store
                .upgrade_password_hash(user.id, &user.password_hash, &new_hash, now)
                .await
                .map_err(Error::from),
            Err(e) => Err(e),
        };
        match result {
            Ok(true) => {
                tracing::info!(user_id = %user.id, "password hash upgraded to the configured argon2id parameters")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(user_id = %user.id, error = %e, "password hash upgrade postponed")
            }
        }
    }

    /// Exchange a refresh token for a new pair (rotation, reuse detection).
    #[tracing::instrument(skip_all)]
    pub async fn refresh(
        &self,
        token: &str,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<TokenPair> {
        if !tokens::plausible_opaque_token(token) {
            return Err(Error::InvalidRefreshToken);
        }
        let presented = tokens::hash_token(token);
        let (replacement, new_hash) = RefreshToken::generate();
        let policy = self.rotation();
        let decide = |state: &crate::store::RefreshState| {
            sessions::decide(state, policy, now, new_hash, client)
        };
        match self.store.rotate_refresh(&presented, &decide).await? {
            RefreshOutcome::Unknown => Err(Error::InvalidRefreshToken),
            RefreshOutcome::Decided { state, decision } => match decision {
                RefreshDecision::Rotate { .. } => {
                    self.issuer
                        .pair(&state.user, state.session.id, replacement, now)
                }
                RefreshDecision::RevokeSession { .. } => {
                    tracing::warn!(user_id = %state.user.id, session_id = %state.session.id, "refresh token reuse detected; session revoked");
                    self.revocations.revoked(&[state.session.id], now);
                    Err(Error::RefreshReused)
                }
                RefreshDecision::Refuse => Err(Error::InvalidRefreshToken),
            },
        }
    }

    /// End sessions of the caller. `session_id` is the caller's own (the `sid` claim).
    pub async fn logout(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        scope: LogoutScope,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<()> {
        let scope = match scope {
            LogoutScope::Local => RevokeScope::One(session_id),
            LogoutScope::Global => RevokeScope::All,
            LogoutScope::Others => RevokeScope::AllExcept(session_id),
        };
        let event = audit::event(
            AuditKind::Logout,
            now,
            client,
            Some(user_id),
            Some(session_id),
            "success",
        );
        let revoked = self
            .store
            .revoke_sessions(user_id, scope, now, &event)
            .await?;
        self.revocations.revoked(&revoked, now);
        Ok(())
    }

    /// Revoke one of the caller's own sessions; another user's id is `NotFound`.
    pub async fn revoke_session(
        &self,
        user_id: Uuid,
        target: Uuid,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<()> {
        let event = audit::event(
            AuditKind::SessionRevoked,
            now,
            client,
            Some(user_id),
            Some(target),
            "success",
        );
        let revoked = self
            .store
            .revoke_sessions(user_id, RevokeScope::One(target), now, &event)
            .await?;
        if revoked.is_empty() {
            return Err(Error::NotFound);
        }
        self.revocations.revoked(&revoked, now);
        Ok(())
    }

    pub async fn sessions(
        &self,
        user_id: Uuid,
        current: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionView>> {
        let sessions = self.store.active_sessions(user_id, now).await?;
        Ok(sessions
            .into_iter()
            .map(|record| SessionView {
                current: record.id == current,
                record,
            })
            .collect())
    }

    /// The caller's profile for display (`GET /v1/me`): from the profile
    /// cache when fresh, without the password hash. For decisions (password
    /// checks, verification state) use `me`, which reads the database.
    pub async fn profile(&self, user_id: Uuid) -> Result<Arc<UserRecord>> {
        let user = match self.profiles.get(user_id) {
            Some(u) => u,
            None => {
                let ticket = self.profiles.ticket(user_id);
                let user = self
                    .store
                    .user_by_id(user_id)
                    .await?
                    .ok_or(Error::NotFound)?;
                self.profiles.insert(ticket, user)
            }
        };
        if user.disabled {
            return Err(Error::NotFound);
        }
        Ok(user)
    }

    pub async fn me(&self, user_id: Uuid) -> Result<UserRecord> {
        match self.store.user_by_id(user_id).await? {
            Some(u) if !u.disabled => Ok(u),
            _ => Err(Error::NotFound),
        }
    }
}
