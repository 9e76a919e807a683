//! Audit events: the contract's event types and a builder the services use.
//!
//! Rows are written by the store in the same transaction as the change they
//! describe (see `store.rs`); this module only names and assembles them.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::AuditEvent;

/// The event types of CONTRACT.md ("Audit and admin"). Stable strings: they
/// are stored and filtered on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditKind {
    Signup,
    Login,
    LoginFailed,
    Refresh,
    RefreshReused,
    Logout,
    SessionRevoked,
    PasswordChanged,
    PasswordResetRequested,
    PasswordReset,
    EmailVerified,
    Throttled,
    UserDisabled,
    UserEnabled,
    RolesChanged,
    UserDeleted,
    /// A signing key was created or rotated (operator action).
    KeyRotated,
}

impl AuditKind {
    pub const ALL: [AuditKind; 17] = [
        AuditKind::Signup,
        AuditKind::Login,
        AuditKind::LoginFailed,
        AuditKind::Refresh,
        AuditKind::RefreshReused,
        AuditKind::Logout,
        AuditKind::SessionRevoked,
        AuditKind::PasswordChanged,
        AuditKind::PasswordResetRequested,
        AuditKind::PasswordReset,
        AuditKind::EmailVerified,
        AuditKind::Throttled,
        AuditKind::UserDisabled,
        AuditKind::UserEnabled,
        AuditKind::RolesChanged,
        AuditKind::UserDeleted,
        AuditKind::KeyRotated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Signup => "signup",
            AuditKind::Login => "login",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::Refresh => "refresh",
            AuditKind::RefreshReused => "refresh_reused",
            AuditKind::Logout => "logout",
            AuditKind::SessionRevoked => "session_revoked",
            AuditKind::PasswordChanged => "password_changed",
            AuditKind::PasswordResetRequested => "password_reset_requested",
            AuditKind::PasswordReset => "password_reset",
            AuditKind::EmailVerified => "email_verified",
            AuditKind::Throttled => "throttled",
            AuditKind::UserDisabled => "user_disabled",
            AuditKind::UserEnabled => "user_enabled",
            AuditKind::RolesChanged => "roles_changed",
            AuditKind::UserDeleted => "user_deleted",
            AuditKind::KeyRotated => "key_rotated",
        }
    }

    pub fn parse(s: &str) -> Option<AuditKind> {
        AuditKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a request came from, carried into audit rows and session records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: Option<String>,
    /// Truncated to 512 characters by the HTTP layer.
    pub user_agent: Option<String>,
}

/// Build an audit row.
pub fn event(
    kind: AuditKind,
    at: OffsetDateTime,
    client: &ClientInfo,
    user_id: Option<Uuid>,
    session_id: Option<Uuid>,
    outcome: &str,
) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        at,
        kind,
        actor_id: user_id,
        user_id,
        session_id,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        outcome: outcome.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for k in AuditKind::ALL {
            assert_eq!(AuditKind::parse(k.as_str()), Some(k));
            assert!(seen.insert(k.as_str()));
        }
        assert_eq!(AuditKind::parse("nope"), None);
    }
}
