//! The account lifecycle: email verification, password reset and change.
//!
//! Tokens are single-use, stored as hashes, and a newer one of a kind
//! supersedes the older (see `Store::issue_account_token`). Mail is handed to
//! the `Mailer` after the change committed; it never blocks the request.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::accounts::Accounts;
use crate::audit::{self, AuditKind, ClientInfo};
use crate::error::{Error, Result};
use crate::mail::{MailKind, OutgoingMail};
use crate::store::{AccountTokenKind, MailBudget, NewAccountToken, TokenUse, UserRecord};
use crate::throttle::ThrottleKey;
use crate::tokens;
use crate::types::{Email, FieldError, Password, Username};

/// How long a verification link works.
pub const VERIFY_TTL: Duration = Duration::hours(24);
/// How long a reset link works.
pub const RESET_TTL: Duration = Duration::minutes(30);
/// Mails of one kind per account per `MAIL_WINDOW` (CONTRACT.md "Mail").
pub const MAIL_LIMIT: usize = 5;
pub const MAIL_WINDOW: Duration = Duration::hours(1);

/// Whether another mail of `kind` may go out now; when not, the seconds
/// until the oldest mail in the window leaves it.
fn mail_budget(sent: &[OffsetDateTime], now: OffsetDateTime) -> std::result::Result<(), u64> {
    if sent.len() < MAIL_LIMIT {
        return Ok(());
    }
    let oldest = sent.first().copied().unwrap_or(now);
    let wait = (oldest + MAIL_WINDOW - now).whole_seconds().max(1);
    Err(u64::try_from(wait).unwrap_or(1))
}

/// The first instant inside the mail window ending at `now`: a mail sent
/// exactly `MAIL_WINDOW` ago has left it.
fn window_start(now: OffsetDateTime) -> OffsetDateTime {
    now - MAIL_WINDOW + Duration::milliseconds(1)
}

fn budget(now: OffsetDateTime) -> MailBudget {
    MailBudget {
        since: window_start(now),
        max: MAIL_LIMIT as u32,
    }
}

fn ttl(kind: AccountTokenKind) -> Duration {
    match kind {
        AccountTokenKind::VerifyEmail => VERIFY_TTL,
        AccountTokenKind::ResetPassword => RESET_TTL,
    }
}

impl Accounts {
    fn mail(&self, to: &str, kind: MailKind) {
        self.mailer.enqueue(OutgoingMail {
            to: to.to_owned(),
            kind,
        });
    }

    /// Checks the per-account mail budget for `kind`.
    async fn mail_allowed(
        &self,
        user_id: Uuid,
        kind: AccountTokenKind,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<(), u64>> {
        let sent = self
            .store
            .account_tokens_since(user_id, kind, window_start(now))
            .await?;
        Ok(mail_budget(&sent, now))
    }

    /// Stores a new token of `kind` (superseding older ones) and returns the
    /// plain value for the mail, with the sessions revoked on the way.
    async fn issue(
        &self,
        user_id: Uuid,
        kind: AccountTokenKind,
        revoke_sessions: bool,
        limited: bool,
        audit: Option<&crate::store::AuditEvent>,
        now: OffsetDateTime,
    ) -> Result<Option<String>> {
        let (token, hash) = tokens::account_token();
        let record = NewAccountToken {
            hash,
            user_id,
            kind,
            created_at: now,
            expires_at: now + ttl(kind),
        };
        let budget = limited.then(|| budget(now));
        let Some(revoked) = self
            .store
            .issue_account_token(&record, revoke_sessions, budget, audit)
            .await?
        else {
            return Ok(None);
        };
        self.revocations.revoked(&revoked, now);
        Ok(Some(token))
    }

    /// Mails a verification link (within the mail budget). Best effort: a
    /// failure is logged, and the user can ask for another mail.
    pub(crate) async fn send_verification(&self, user: &UserRecord, now: OffsetDateTime) {
        let result = async {
            match self
                .issue(
                    user.id,
                    AccountTokenKind::VerifyEmail,
                    false,
                    true,
                    None,
                    now,
                )
                .await?
            {
                Some(token) => self.mail(&user.email, MailKind::VerifyEmail { token }),
                None => tracing::info!(
                    user_id = %user.id,
                    "verification mail skipped: hourly limit reached"
                ),
            }
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(user_id = %user.id, error = %e, "verification mail not sent");
        }
    }

    /// Signup with an address that has an account (verification required):
    /// an unverified owner gets a fresh verification link, a verified one a
    /// note that someone tried to sign up.
    pub(crate) async fn mail_existing_owner(&self, email: &str, now: OffsetDateTime) {
        match self.store.user_by_email(email).await {
            Ok(Some(owner)) if !owner.email_verified => self.send_verification(&owner, now).await,
            Ok(Some(owner)) => self.mail(&owner.email, MailKind::AlreadyRegistered),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not look up the existing account"),
        }
    }

    /// `POST /v1/email/verify`: marks the address verified.
    pub async fn verify_email(
        &self,
        token: &str,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<UserRecord> {
        let hash = usable_shape(token)?;
        let Some(record) = self.store.account_token(&hash).await? else {
            return Err(Error::InvalidOrExpiredToken);
        };
        let event = audit::event(
            AuditKind::EmailVerified,
            now,
            client,
            Some(record.user_id),
            None,
            "success",
        );
        let (user, _) = self
            .store
            .use_account_token(
                &hash,
                AccountTokenKind::VerifyEmail,
                now,
                &TokenUse::VerifyEmail,
                &event,
            )
            .await?
            .ok_or(Error::InvalidOrExpiredToken)?;
        self.profiles.forget(user.id);
        Ok(user)
    }

    /// `POST /v1/email/verify/resend`: another verification mail, at most
    /// `MAIL_LIMIT` an hour (then `RateLimited`). Nothing to do when verified.
    pub async fn resend_verification(&self, user_id: Uuid, now: OffsetDateTime) -> Result<()> {
        let user = self.me(user_id).await?;
        if user.email_verified {
            return Ok(());
        }
        // The budget is checked where it is spent (one transaction); only a
        // refusal reads the log again, for `Retry-After`.
        let issued = self
            .issue(
                user.id,
                AccountTokenKind::VerifyEmail,
                false,
                true,
                None,
                now,
            )
            .await?;
        let Some(token) = issued else {
            let retry_after_secs = self
                .mail_allowed(user.id, AccountTokenKind::VerifyEmail, now)
                .await?
                .err()
                // Freed again by now: any wait is a guess; one second.
                .unwrap_or(1);
            return Err(Error::RateLimited { retry_after_secs });
        };
        self.mail(&user.email, MailKind::VerifyEmail { token });
        Ok(())
    }

    /// Parses the address of `POST /v1/password/forgot` (the only check that
    /// may answer differently: it says nothing about accounts).
    pub fn parse_forgot_email(email: &str) -> Result<Email> {
        Email::parse(email).map_err(|e| Error::Invalid(vec![e]))
    }

    /// Mails a reset link when the address has an enabled account, within
    /// the mail budget; otherwise does nothing. Callers answer 202 before
    /// this runs, so its outcome and duration are invisible to the client.
    pub async fn forgot_password(
        &self,
        email: &Email,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<()> {
        let Some(user) = self.store.user_by_email(email.as_str()).await? else {
            return Ok(());
        };
        if user.disabled {
            return Ok(());
        }
        let event = audit::event(
            AuditKind::PasswordResetRequested,
            now,
            client,
            Some(user.id),
            None,
            "success",
        );
        let token = self
            .issue(
                user.id,
                AccountTokenKind::ResetPassword,
                false,
                true,
                Some(&event),
                now,
            )
            .await?;
        match token {
            Some(token) => self.mail(&user.email, MailKind::ResetPassword { token }),
            None => tracing::info!(user_id = %user.id, "reset mail skipped: hourly limit reached"),
        }
        Ok(())
    }

    /// An administrator's forced reset: every session ends and the owner
    /// gets a reset link (no mail budget: an administrator asked).
    pub async fn force_password_reset(
        &self,
        actor: Uuid,
        user_id: Uuid,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<()> {
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(Error::NotFound)?;
        let mut event = audit::event(
            AuditKind::PasswordResetRequested,
            now,
            client,
            Some(user.id),
            None,
            "success: forced by administrator",
        );
        event.actor_id = Some(actor);
        let token = self
            .issue(
                user.id,
                AccountTokenKind::ResetPassword,
                true,
                false,
                Some(&event),
                now,
            )
            .await?;
        if let Some(token) = token {
            self.mail(&user.email, MailKind::ResetPassword { token });
        }
        Ok(())
    }

    /// `POST /v1/password/reset`: a new password through a reset link; every
    /// session ends, and the owner is told.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<()> {
        let hash = usable_shape(token)?;
        // Checked before hashing, so random tokens cost no argon2 work.
        let record = match self.store.account_token(&hash).await? {
            Some(r) if r.kind == AccountTokenKind::ResetPassword && r.usable(now) => r,
            _ => return Err(Error::InvalidOrExpiredToken),
        };
        let user = self
            .store
            .user_by_id(record.user_id)
            .await?
            .ok_or(Error::InvalidOrExpiredToken)?;
        let password = self.new_password_for(&user, new_password)?;
        let new_hash = self.hasher.hash(&password).await?;
        let event = audit::event(
            AuditKind::PasswordReset,
            now,
            client,
            Some(user.id),
            None,
            "success",
        );
        let apply = TokenUse::ResetPassword { new_hash };
        let (user, revoked) = self
            .store
            .use_account_token(&hash, AccountTokenKind::ResetPassword, now, &apply, &event)
            .await?
            .ok_or(Error::InvalidOrExpiredToken)?;
        self.profiles.forget(user.id);
        self.revocations.revoked(&revoked, now);
        // The owner proved control of the mailbox: an attacker's failed
        // guesses no longer hold the account back.
        if let Err(e) = self.clear_login_throttle(user.id).await {
            tracing::warn!(user_id = %user.id, error = %e, "login throttle not cleared after reset");
        }
        self.mail(&user.email, MailKind::PasswordReset);
        Ok(())
    }

    /// `POST /v1/me/password`: needs the current password; every other
    /// session ends, this one stays, and the owner is told.
    pub async fn change_password(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        current_password: &str,
        new_password: &str,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<()> {
        let user = self.me(user_id).await?;
        let new = self.new_password_for(&user, new_password)?;
        // Guesses at the current password (with a stolen access token) count
        // like failed logins of the account and from the client, and meet
        // the same block (429), passed from the owner's known networks.
        let gate = self
            .throttle_gate(ThrottleKey::account(user.id), Some(user.id), client, now)
            .await?;
        let current = Password::for_login(current_password).unwrap_or_else(Password::placeholder);
        let wrong_current = || {
            Error::Invalid(vec![FieldError::new(
                "current_password",
                "incorrect_password",
                "The current password is not right.",
            )])
        };
        if !self
            .hasher
            .verify(&current, Some(&user.password_hash))
            .await?
            .ok
        {
            let event = audit::event(
                AuditKind::PasswordChanged,
                now,
                client,
                Some(user.id),
                Some(session_id),
                "failure: wrong current password",
            );
            return Err(match self.count_failure(&gate, &event, now).await? {
                Some(retry_after_secs) => Error::TooManyAttempts { retry_after_secs },
                None => wrong_current(),
            });
        }
        let new_hash = self.hasher.hash(&new).await?;
        let event = audit::event(
            AuditKind::PasswordChanged,
            now,
            client,
            Some(user.id),
            Some(session_id),
            "success",
        );
        let revoked = self
            .store
            .change_password(
                user.id,
                &user.password_hash,
                &new_hash,
                session_id,
                now,
                &event,
            )
            .await?
            // The password changed in between: the "current" one may not be.
            .ok_or_else(wrong_current)?;
        self.profiles.forget(user.id);
        self.revocations.revoked(&revoked, now);
        // Knowing the password forgets the account's failures, as a login does.
        self.throttle_success(&gate).await;
        self.mail(&user.email, MailKind::PasswordChanged);
        Ok(())
    }

    /// Parses a new password (field `new_password`) and applies the policy.
    fn new_password_for(&self, user: &UserRecord, raw: &str) -> Result<Password> {
        let password = Password::parse(raw, "new_password").map_err(|e| Error::Invalid(vec![e]))?;
        let email = Email::parse(&user.email).map_err(|e| Error::Invalid(vec![e]))?;
        let username = user
            .username
            .as_deref()
            .and_then(|u| Username::parse(u).ok());
        self.policy
            .check(&password, &email, username.as_ref())
            .map_err(|e| match e {
                Error::WeakPassword { reason, .. } => Error::WeakPassword {
                    field: "new_password",
                    reason,
                },
                other => other,
            })?;
        Ok(password)
    }
}

/// The hash of a presented token, or `InvalidOrExpiredToken` when it cannot
/// be one of ours (no database work for garbage).
fn usable_shape(token: &str) -> Result<crate::store::TokenHash> {
    if tokens::plausible_opaque_token(token) {
        Ok(tokens::hash_token(token))
    } else {
        Err(Error::InvalidOrExpiredToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_mail_budget_opens_when_the_oldest_mail_leaves_the_window() {
        let now = datetime!(2030-01-01 12:00 UTC);
        let sent: Vec<_> = (0..4).map(|m| now - Duration::minutes(50 - m)).collect();
        assert_eq!(mail_budget(&sent, now), Ok(()));
        let sent: Vec<_> = (0..5).map(|m| now - Duration::minutes(50 - m)).collect();
        // The oldest (50 minutes ago) leaves in 10 minutes.
        assert_eq!(mail_budget(&sent, now), Err(600));
    }

    #[test]
    fn garbage_tokens_are_refused_without_a_lookup() {
        assert!(matches!(
            usable_shape("' OR 1=1 --"),
            Err(Error::InvalidOrExpiredToken)
        ));
        assert!(usable_shape(&"a".repeat(43)).is_ok());
    }
}
