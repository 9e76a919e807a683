//! Refresh-token rotation: the pure decision the store applies inside its
//! transaction, and how revocations reach the token checkers.
//!
//! A session is a family of refresh tokens. Each use rotates the token. A
//! rotated token presented again within the grace window (two browser tabs
//! refreshing at once) is rotated again, so both tabs keep working; after the
//! window it is treated as stolen and the whole session is revoked
//! (OAuth 2.0 Security BCP, RFC 9700 section 4.14.2).

use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, AuditKind, ClientInfo};
use crate::store::{RefreshDecision, RefreshState, TokenHash};

/// Rotation rules.
#[derive(Clone, Copy, Debug)]
pub struct RotationPolicy {
    pub refresh_ttl: time::Duration,
    pub grace: time::Duration,
}

/// Decide what to do with a presented refresh token, given what the store saw.
pub fn decide(
    state: &RefreshState,
    policy: RotationPolicy,
    now: OffsetDateTime,
    new_hash: TokenHash,
    client: &ClientInfo,
) -> RefreshDecision {
    let session = &state.session;
    if session.revoked_at.is_some() || session.expires_at <= now || state.user.disabled {
        return RefreshDecision::Refuse;
    }
    let rotate = || RefreshDecision::Rotate {
        new_hash,
        now,
        new_expires_at: now + policy.refresh_ttl,
        audit: audit::event(
            AuditKind::Refresh,
            now,
            client,
            Some(state.user.id),
            Some(session.id),
            "success",
        ),
    };
    match state.rotated_at {
        None => rotate(),
        // A request that waited on the row lock may have read the clock a
        // moment before the winner rotated: a negative age is age zero, so
        // with zero grace it is reuse, never a second rotation.
        Some(rotated) if (now - rotated).max(time::Duration::ZERO) < policy.grace => rotate(),
        Some(_) => RefreshDecision::RevokeSession {
            now,
            audit: audit::event(
                AuditKind::RefreshReused,
                now,
                client,
                Some(state.user.id),
                Some(session.id),
                "failure: rotated refresh token presented again; session revoked",
            ),
        },
    }
}

/// Told about every revoked session so that access tokens of it stop
/// working at once (the server feeds `doorward-guard`'s revocation set).
pub trait RevocationListener: Send + Sync {
    fn revoked(&self, session_ids: &[Uuid], now: OffsetDateTime);
}

/// For the CLI and tests: nobody is listening.
pub struct NoListener;

impl RevocationListener for NoListener {
    fn revoked(&self, _: &[Uuid], _: OffsetDateTime) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SessionRecord, UserRecord};
    use time::Duration;

    fn state(now: OffsetDateTime, rotated_at: Option<OffsetDateTime>) -> RefreshState {
        let user = UserRecord {
            id: Uuid::now_v7(),
            email: "a@example.com".into(),
            username: None,
            password_hash: String::new(),
            email_verified: false,
            roles: vec![],
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        RefreshState {
            session: SessionRecord {
                id: Uuid::now_v7(),
                user_id: user.id,
                created_at: now,
                last_used_at: now,
                expires_at: now + Duration::days(30),
                revoked_at: None,
                ip: None,
                user_agent: None,
            },
            rotated_at,
            user,
        }
    }

    const POLICY: RotationPolicy = RotationPolicy {
        refresh_ttl: Duration::days(30),
        grace: Duration::seconds(10),
    };

    fn d(s: &RefreshState, p: RotationPolicy, now: OffsetDateTime) -> RefreshDecision {
        decide(s, p, now, [1; 32], &ClientInfo::default())
    }

    #[test]
    fn live_token_rotates_and_slides_expiry() {
        let now = OffsetDateTime::now_utc();
        match d(&state(now, None), POLICY, now + Duration::hours(1)) {
            RefreshDecision::Rotate {
                new_expires_at,
                audit,
                ..
            } => {
                assert_eq!(
                    new_expires_at,
                    now + Duration::hours(1) + Duration::days(30)
                );
                assert_eq!(audit.kind, AuditKind::Refresh);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rotated_token_within_grace_rotates_again() {
        let now = OffsetDateTime::now_utc();
        let s = state(now, Some(now));
        assert!(matches!(
            d(&s, POLICY, now + Duration::seconds(9)),
            RefreshDecision::Rotate { .. }
        ));
    }

    #[test]
    fn rotated_token_after_grace_revokes() {
        let now = OffsetDateTime::now_utc();
        let s = state(now, Some(now));
        match d(&s, POLICY, now + Duration::seconds(10)) {
            RefreshDecision::RevokeSession { audit, .. } => {
                assert_eq!(audit.kind, AuditKind::RefreshReused)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn zero_grace_means_any_reuse_revokes() {
        let now = OffsetDateTime::now_utc();
        let p = RotationPolicy {
            grace: Duration::ZERO,
            ..POLICY
        };
        assert!(matches!(
            d(&state(now, Some(now)), p, now),
            RefreshDecision::RevokeSession { .. }
        ));
    }

    #[test]
    fn zero_grace_with_a_clock_read_before_the_rotation_is_reuse() {
        let now = OffsetDateTime::now_utc();
        let p = RotationPolicy {
            grace: Duration::ZERO,
            ..POLICY
        };
        let s = state(now, Some(now + Duration::milliseconds(3)));
        assert!(matches!(
            d(&s, p, now),
            RefreshDecision::RevokeSession { .. }
        ));
    }

    #[test]
    fn revoked_expired_or_disabled_refuse() {
        let now = OffsetDateTime::now_utc();
        let mut s = state(now, None);
        s.session.revoked_at = Some(now);
        assert_eq!(d(&s, POLICY, now), RefreshDecision::Refuse);
        let mut s = state(now, None);
        s.session.expires_at = now;
        assert_eq!(d(&s, POLICY, now), RefreshDecision::Refuse);
        let mut s = state(now, None);
        s.user.disabled = true;
        assert_eq!(d(&s, POLICY, now), RefreshDecision::Refuse);
    }
}
