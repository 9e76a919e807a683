//! Audit events: the contract's event types and a builder the services use.
//!
//! Rows are written by the store in the same transaction as the change they
//! describe (see `store.rs`); this module only names and assembles them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
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

// Queries over the log (issue 4): the admin listing's filter, page and cursor.

/// Which events an audit listing shows; every field that is set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The account the event is about.
    pub user_id: Option<Uuid>,
    pub kind: Option<AuditKind>,
    /// Inclusive.
    pub since: Option<OffsetDateTime>,
    /// Exclusive.
    pub until: Option<OffsetDateTime>,
}

/// Where the next page of a listing starts: after the event with this
/// (`at`, chain position). Listings are ordered by both, newest first, so
/// rows recorded while a client pages never shift what it has not seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditCursor {
    /// The stored (whole-millisecond) time of the last event shown.
    pub at: OffsetDateTime,
    pub seq: u64,
}

impl AuditCursor {
    /// An opaque, URL-safe string for the `cursor` query parameter.
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 16];
        let (at, seq) = bytes.split_at_mut(8);
        at.copy_from_slice(&crate::audit_chain::millis(self.at).to_be_bytes());
        seq.copy_from_slice(&self.seq.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads back [`encode`](Self::encode); `None` for anything else.
    pub fn decode(s: &str) -> Option<AuditCursor> {
        let bytes: [u8; 16] = URL_SAFE_NO_PAD.decode(s).ok()?.try_into().ok()?;
        let (at, seq) = bytes.split_at(8);
        let at = i64::from_be_bytes(at.try_into().ok()?);
        let at = crate::audit_chain::from_millis(at)?;
        Some(AuditCursor {
            at,
            seq: u64::from_be_bytes(seq.try_into().ok()?),
        })
    }
}

/// One page of a listing, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Set when more events match: pass it back for the next page.
    pub next: Option<AuditCursor>,
}

impl AuditPage {
    /// The page of the first `limit` of `links`, listing order, which an
    /// engine fetched one more than `limit` of to learn whether more match.
    pub fn from_links(mut links: Vec<crate::audit_chain::ChainedEvent>, limit: u32) -> AuditPage {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = links.len() > limit;
        links.truncate(limit);
        let next = match (more, links.last()) {
            (true, Some(last)) => Some(AuditCursor {
                at: last.event.at,
                seq: last.seq,
            }),
            _ => None,
        };
        AuditPage {
            events: links.into_iter().map(|l| l.event).collect(),
            next,
        }
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

    #[test]
    fn cursors_round_trip_and_reject_anything_else() {
        let cursor = AuditCursor {
            at: time::macros::datetime!(2030-01-02 03:04:05.678 UTC),
            seq: 42,
        };
        let s = cursor.encode();
        assert!(s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(AuditCursor::decode(&s), Some(cursor));
        let before_1970 = AuditCursor {
            at: time::macros::datetime!(1969-12-31 23:59:59.5 UTC),
            seq: u64::MAX,
        };
        assert_eq!(
            AuditCursor::decode(&before_1970.encode()),
            Some(before_1970)
        );
        for bad in [
            "",
            "x",
            "AAAA",
            &format!("{s}A"),
            &s[1..],
            "////////////////////////",
        ] {
            assert_eq!(AuditCursor::decode(bad), None, "{bad}");
        }
    }
}
