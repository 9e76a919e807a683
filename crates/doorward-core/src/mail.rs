//! What Doorward mails, as data. The core decides *that* a message goes out
//! and to whom; rendering (templates, links under the issuer) and delivery
//! (SMTP or the outbox folder, queued and retried) live in the binary's
//! `mail` module, behind [`Mailer`].

use std::fmt;

/// Which message, with what it needs. The tokens are the plain values the
/// user will present (`T` in `{issuer}/verify-email?token=T`); they never
/// appear in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub enum MailKind {
    /// "Confirm your address": a link to `{issuer}/verify-email?token=T`.
    VerifyEmail { token: String },
    /// "Reset your password": a link to `{issuer}/reset-password?token=T`.
    ResetPassword { token: String },
    /// Someone signed up with an address that already has an account (sent
    /// instead of a verification mail when verification is required, so the
    /// signup answer does not reveal the account).
    AlreadyRegistered,
    /// Notification: the password was changed by the signed-in user.
    PasswordChanged,
    /// Notification: the password was reset through a reset link.
    PasswordReset,
}

impl MailKind {
    /// A stable name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            MailKind::VerifyEmail { .. } => "verify_email",
            MailKind::ResetPassword { .. } => "reset_password",
            MailKind::AlreadyRegistered => "already_registered",
            MailKind::PasswordChanged => "password_changed",
            MailKind::PasswordReset => "password_reset",
        }
    }
}

impl fmt::Debug for MailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One message to one address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The normalised address of the account.
    pub to: String,
    pub kind: MailKind,
}

/// Hands messages to delivery. `enqueue` never blocks and never fails the
/// caller: delivery is retried in the background, and what cannot be
/// delivered is logged and counted in metrics.
pub trait Mailer: Send + Sync + 'static {
    fn enqueue(&self, mail: OutgoingMail);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let m = OutgoingMail {
            to: "a@example.com".into(),
            kind: MailKind::ResetPassword {
                token: "secret-token-value".into(),
            },
        };
        let shown = format!("{m:?}");
        assert!(!shown.contains("secret-token-value"), "{shown}");
        assert!(shown.contains("reset_password"));
    }
}
