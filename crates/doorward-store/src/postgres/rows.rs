//! Rows as PostgreSQL stores them, and their conversion to the core's records.
//!
//! Columns hold native types (UUID, TIMESTAMPTZ, BOOLEAN, TEXT[], BYTEA), so
//! sqlx decodes most fields directly; these structs are what `query_as`
//! fills and `TryFrom` turns into `UserRecord`, `SessionRecord`, ... Only
//! the audit event type can fail to parse: a corrupt row,
//! `StoreError::Other` naming the column.

use doorward_core::store::{
    AuditEvent, AuditKind, KeyRecord, SessionRecord, StoreError, UserRecord,
};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// `t` truncated to whole milliseconds (towards the past), the precision
/// every engine keeps: TIMESTAMPTZ would keep microseconds, and a time must
/// read back the same from either engine. Every time is written through this.
pub(super) fn ms(t: OffsetDateTime) -> OffsetDateTime {
    // `nanosecond()` counts from the start of the second (also before 1970),
    // so dropping its sub-millisecond part rounds towards the past. The new
    // value is below 10^9, so `replace_nanosecond` cannot fail.
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000_000).unwrap_or(t)
}

pub(super) fn opt_ms(t: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    t.map(ms)
}

fn corrupt(column: &str) -> StoreError {
    StoreError::Other(format!("malformed value in column {column}"))
}

#[derive(FromRow)]
pub(super) struct UserRow {
    id: Uuid,
    email: String,
    username: Option<String>,
    password_hash: String,
    email_verified: bool,
    roles: Vec<String>,
    disabled: bool,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl From<UserRow> for UserRecord {
    fn from(row: UserRow) -> Self {
        UserRecord {
            id: row.id,
            email: row.email,
            username: row.username,
            password_hash: row.password_hash,
            email_verified: row.email_verified,
            roles: row.roles,
            disabled: row.disabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(FromRow)]
pub(super) struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    created_at: OffsetDateTime,
    last_used_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    revoked_at: Option<OffsetDateTime>,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl From<SessionRow> for SessionRecord {
    fn from(row: SessionRow) -> Self {
        SessionRecord {
            id: row.id,
            user_id: row.user_id,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            ip: row.ip,
            user_agent: row.user_agent,
        }
    }
}

/// One row of `sessions::refresh_state_for_update`'s join: the presented
/// token's rotation time, its session and the session's user (their columns
/// in `sessions::COLUMNS` and `users::COLUMNS` order). By position: the
/// three tables share column names.
pub(super) struct RefreshJoinRow {
    pub(super) rotated_at: Option<OffsetDateTime>,
    pub(super) session: SessionRow,
    pub(super) user: UserRow,
}

impl<'r> FromRow<'r, PgRow> for RefreshJoinRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(RefreshJoinRow {
            rotated_at: row.try_get(0)?,
            session: SessionRow {
                id: row.try_get(1)?,
                user_id: row.try_get(2)?,
                created_at: row.try_get(3)?,
                last_used_at: row.try_get(4)?,
                expires_at: row.try_get(5)?,
                revoked_at: row.try_get(6)?,
                ip: row.try_get(7)?,
                user_agent: row.try_get(8)?,
            },
            user: UserRow {
                id: row.try_get(9)?,
                email: row.try_get(10)?,
                username: row.try_get(11)?,
                password_hash: row.try_get(12)?,
                email_verified: row.try_get(13)?,
                roles: row.try_get(14)?,
                disabled: row.try_get(15)?,
                created_at: row.try_get(16)?,
                updated_at: row.try_get(17)?,
            },
        })
    }
}

#[derive(FromRow)]
pub(super) struct KeyRow {
    kid: String,
    alg: String,
    public_jwk: String,
    private_key: Vec<u8>,
    created_at: OffsetDateTime,
    activated_at: OffsetDateTime,
    retired_at: Option<OffsetDateTime>,
}

impl From<KeyRow> for KeyRecord {
    fn from(row: KeyRow) -> Self {
        KeyRecord {
            kid: row.kid,
            alg: row.alg,
            public_jwk: row.public_jwk,
            private_key: row.private_key,
            created_at: row.created_at,
            activated_at: row.activated_at,
            retired_at: row.retired_at,
        }
    }
}

#[derive(FromRow)]
pub(super) struct AuditRow {
    id: Uuid,
    at: OffsetDateTime,
    #[sqlx(rename = "type")]
    kind: String,
    actor_id: Option<Uuid>,
    user_id: Option<Uuid>,
    session_id: Option<Uuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    outcome: String,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEvent {
            id: row.id,
            at: row.at,
            kind: AuditKind::parse(&row.kind).ok_or_else(|| corrupt("audit_events.type"))?,
            actor_id: row.actor_id,
            user_id: row.user_id,
            session_id: row.session_id,
            ip: row.ip,
            user_agent: row.user_agent,
            outcome: row.outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_are_truncated_to_the_millisecond_towards_the_past() {
        assert_eq!(
            ms(datetime!(2024-05-06 07:08:09.123_456_789 UTC)),
            datetime!(2024-05-06 07:08:09.123 UTC)
        );
        assert_eq!(
            ms(datetime!(1969-12-31 23:59:59.998_5 UTC)),
            datetime!(1969-12-31 23:59:59.998 UTC)
        );
        let whole = datetime!(2030-01-01 00:00:00.5 UTC);
        assert_eq!(ms(whole), whole);
        assert_eq!(opt_ms(None), None);
    }
}
