//! Rows as SQLite stores them, and their conversion to the core's records.
//!
//! Columns hold plain SQLite types (TEXT uuids, INTEGER unix milliseconds,
//! JSON text roles); these structs are what `query_as` fills and
//! `TryFrom` turns into `UserRecord`, `SessionRecord`, ... A value that does
//! not parse is a corrupt row: `StoreError::Other` naming the column.

use doorward_core::store::{
    AuditEvent, AuditKind, KeyRecord, SessionRecord, StoreError, UserRecord,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// Unix milliseconds, the unit of every time column. Sub-millisecond
/// precision is dropped (rounded towards the past).
pub(super) fn ms(t: OffsetDateTime) -> i64 {
    t.unix_timestamp() * 1000 + i64::from(t.millisecond())
}

pub(super) fn time_of(ms: i64, column: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|_| corrupt(column))
}

fn opt_time_of(ms: Option<i64>, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    ms.map(|ms| time_of(ms, column)).transpose()
}

pub(super) fn uuid_of(s: &str, column: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|_| corrupt(column))
}

fn opt_uuid_of(s: Option<&str>, column: &str) -> Result<Option<Uuid>, StoreError> {
    s.map(|s| uuid_of(s, column)).transpose()
}

/// Uuids are stored hyphenated, lower-case.
pub(super) fn text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

pub(super) fn opt_text(id: Option<Uuid>) -> Option<String> {
    id.map(text)
}

fn corrupt(column: &str) -> StoreError {
    StoreError::Other(format!("malformed value in column {column}"))
}

pub(super) fn roles_json(roles: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(roles).map_err(|_| StoreError::Other("cannot encode roles".to_owned()))
}

#[derive(FromRow)]
pub(super) struct UserRow {
    id: String,
    email: String,
    username: Option<String>,
    password_hash: String,
    email_verified: bool,
    roles: String,
    disabled: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        Ok(UserRecord {
            id: uuid_of(&row.id, "users.id")?,
            email: row.email,
            username: row.username,
            password_hash: row.password_hash,
            email_verified: row.email_verified,
            roles: serde_json::from_str(&row.roles).map_err(|_| corrupt("users.roles"))?,
            disabled: row.disabled,
            created_at: time_of(row.created_at, "users.created_at")?,
            updated_at: time_of(row.updated_at, "users.updated_at")?,
        })
    }
}

#[derive(FromRow)]
pub(super) struct SessionRow {
    id: String,
    user_id: String,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StoreError;

    fn try_from(row: SessionRow) -> Result<Self, StoreError> {
        Ok(SessionRecord {
            id: uuid_of(&row.id, "sessions.id")?,
            user_id: uuid_of(&row.user_id, "sessions.user_id")?,
            created_at: time_of(row.created_at, "sessions.created_at")?,
            last_used_at: time_of(row.last_used_at, "sessions.last_used_at")?,
            expires_at: time_of(row.expires_at, "sessions.expires_at")?,
            revoked_at: opt_time_of(row.revoked_at, "sessions.revoked_at")?,
            ip: row.ip,
            user_agent: row.user_agent,
        })
    }
}

/// `refresh_tokens.rotated_at`.
pub(super) fn rotated_at_of(ms: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    opt_time_of(ms, "refresh_tokens.rotated_at")
}

/// One row of `sessions::refresh_state`'s join: the presented token's
/// rotation time, its session, the session's user (their columns in
/// `sessions::COLUMNS` and `users::COLUMNS` order) and the audit chain's
/// last link. By position: the three tables share column names.
pub(super) struct RefreshJoinRow {
    pub(super) rotated_at: Option<i64>,
    pub(super) session: SessionRow,
    pub(super) user: UserRow,
    pub(super) head_seq: Option<i64>,
    pub(super) head_hash: Option<Vec<u8>>,
}

impl<'r> FromRow<'r, SqliteRow> for RefreshJoinRow {
    fn from_row(row: &'r SqliteRow) -> sqlx::Result<Self> {
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
            head_seq: row.try_get(18)?,
            head_hash: row.try_get(19)?,
        })
    }
}

#[derive(FromRow)]
pub(super) struct KeyRow {
    kid: String,
    alg: String,
    public_jwk: String,
    private_key: Vec<u8>,
    created_at: i64,
    activated_at: i64,
    retired_at: Option<i64>,
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> Result<Self, StoreError> {
        Ok(KeyRecord {
            kid: row.kid,
            alg: row.alg,
            public_jwk: row.public_jwk,
            private_key: row.private_key,
            created_at: time_of(row.created_at, "signing_keys.created_at")?,
            activated_at: time_of(row.activated_at, "signing_keys.activated_at")?,
            retired_at: opt_time_of(row.retired_at, "signing_keys.retired_at")?,
        })
    }
}

#[derive(FromRow)]
pub(super) struct AuditRow {
    id: String,
    at: i64,
    #[sqlx(rename = "type")]
    kind: String,
    actor_id: Option<String>,
    user_id: Option<String>,
    session_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    outcome: String,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEvent {
            id: uuid_of(&row.id, "audit_events.id")?,
            at: time_of(row.at, "audit_events.at")?,
            kind: AuditKind::parse(&row.kind).ok_or_else(|| corrupt("audit_events.type"))?,
            actor_id: opt_uuid_of(row.actor_id.as_deref(), "audit_events.actor_id")?,
            user_id: opt_uuid_of(row.user_id.as_deref(), "audit_events.user_id")?,
            session_id: opt_uuid_of(row.session_id.as_deref(), "audit_events.session_id")?,
            ip: row.ip,
            user_agent: row.user_agent,
            outcome: row.outcome,
        })
    }
}

/// Collects converted rows, stopping at the first corrupt one.
pub(super) fn convert<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn milliseconds_round_trip_and_truncate() {
        let t = datetime!(2024-05-06 07:08:09.123_456_789 UTC);
        assert_eq!(ms(t), 1_714_979_289_123);
        assert_eq!(
            time_of(ms(t), "x").unwrap(),
            datetime!(2024-05-06 07:08:09.123 UTC)
        );
        let before_epoch = datetime!(1969-12-31 23:59:59.5 UTC);
        assert_eq!(ms(before_epoch), -500);
        assert_eq!(time_of(-500, "x").unwrap(), before_epoch);
    }

    #[test]
    fn out_of_range_times_are_corrupt_rows() {
        assert!(matches!(time_of(i64::MAX, "t"), Err(StoreError::Other(_))));
    }
}
