//! The conformance suite: what every storage engine must do, one case per
//! behaviour, each against a fresh empty database.
//!
//! An engine's test file provides an async function making a fresh database
//! and expands [`conformance_tests!`](crate::conformance_tests) with it, which
//! turns every case into its own `#[tokio::test]`:
//!
//! ```ignore
//! async fn fresh_sqlite() -> doorward_store::conformance::Fixture {
//!     let dir = tempfile::tempdir().unwrap();
//!     let url = format!("sqlite:{}", dir.path().join("doorward.db").display());
//!     doorward_store::conformance::Fixture::new(url, dir)
//! }
//! doorward_store::conformance_tests!(fresh_sqlite);
//! ```
//!
//! Cases open the database through [`crate::connect`], so URL dispatch and
//! migrations are part of what is checked, and open it twice where a second
//! process matters (races between instances, the CLI). Times are whole
//! milliseconds, the precision every engine keeps.

// Test code compiled into the library so every engine's test binary runs the
// same cases: a failed expectation must abort the case.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod audit;
mod audit_chain;
mod audit_page;
mod keys;
mod lifecycle;
mod refresh;
mod sessions;
mod throttle;
mod transfer;
mod users;

pub use audit::*;
pub use audit_chain::*;
pub use audit_page::*;
pub use keys::*;
pub use lifecycle::*;
pub use refresh::*;
pub use sessions::*;
pub use throttle::*;
pub use transfer::*;
pub use users::*;

use std::any::Any;
use std::sync::Arc;

use doorward_core::store::{
    AuditEvent, AuditKind, NewSession, RefreshDecision, RefreshOutcome, RefreshState, Store,
    TokenHash, UserRecord,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::ConnectOptions;

/// A fresh, empty database for one case: its URL, and whatever must stay
/// alive while the case runs (a temporary directory, a database to drop).
pub struct Fixture {
    url: String,
    _guard: Box<dyn Any + Send + Sync>,
}

impl Fixture {
    pub fn new(url: impl Into<String>, guard: impl Any + Send + Sync) -> Fixture {
        Fixture {
            url: url.into(),
            _guard: Box::new(guard),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Opens (and migrates) the database; each call is an independent
    /// handle with its own connections, like another process would have.
    pub async fn open(&self) -> Arc<dyn Store> {
        crate::connect(&self.url, &ConnectOptions::default())
            .await
            .expect("open the test database")
    }
}

/// Expands to one `#[tokio::test]` per conformance case, each calling
/// `$fresh().await` (an `async fn() -> Fixture`) for its own database.
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:path) => {
        $crate::conformance_tests!(@cases $fresh;
            user_round_trips_by_id_email_and_username,
            create_user_with_session_stores_session_token_and_audit,
            duplicate_email_is_a_conflict_and_writes_nothing,
            duplicate_username_is_a_conflict_and_writes_nothing,
            users_without_username_never_conflict,
            upgrade_password_hash_is_compare_and_set,
            times_are_kept_to_the_millisecond,
            start_session_lists_active_sessions_newest_first,
            start_session_for_an_unknown_user_writes_nothing,
            revoke_all_revokes_every_active_session_of_the_user,
            revoke_all_except_keeps_the_named_session,
            revoke_one_touches_only_the_users_own_session,
            revoked_since_is_inclusive_and_ordered,
            rotate_unknown_hash_changes_nothing,
            rotate_slides_the_session_and_chains_tokens,
            rotate_revoke_session_revokes_and_audits,
            rotate_refuse_changes_nothing,
            concurrent_rotations_of_one_token_apply_once,
            concurrent_rotations_from_two_handles_apply_once,
            first_signing_key_is_inserted_only_into_an_empty_table,
            first_signing_key_race_inserts_exactly_one,
            activate_signing_key_retires_the_previous,
            failed_activation_rolls_back_the_retirement,
            recent_audit_is_newest_first_filtered_and_limited,
            every_audit_kind_round_trips,
            instances_starting_together_on_an_empty_database,
            row_counts_see_every_table,
            export_pages_cover_every_row_once_in_key_order,
            import_batch_is_all_or_nothing,
            // Account lifecycle (issue 4)
            account_tokens_are_single_use_and_expire,
            a_newer_token_supersedes_older_ones_of_its_kind,
            reset_sets_the_password_and_revokes_every_session,
            forced_reset_revokes_sessions_with_the_token,
            change_password_is_compare_and_set_and_keeps_the_current_session,
            list_users_pages_in_id_order_and_searches,
            update_user_patches_and_revokes_in_one_step,
            deleted_users_sessions_stay_reported_as_revoked,
            a_mail_budget_is_never_overspent,
            // Audit chain and queries (issue 4)
            every_write_appends_one_link_in_commit_order,
            concurrent_appends_keep_the_chain_intact,
            audit_page_filters_and_pages_newest_first,
            // Login throttling (issue 4)
            failures_count_per_key_and_block_at_the_threshold,
            stale_counts_start_over,
            a_block_never_moves_earlier,
            a_failed_audit_write_counts_nothing,
            throttled_is_audited_once_per_block,
            clear_and_prune_forget_counts,
            concurrent_failures_from_two_handles_are_all_counted,
            recent_login_ips_are_distinct_newest_first,
        );
        // Cases that need two fresh databases. Keep these few: a fixture may
        // bound how many databases exist at once (the PostgreSQL one allows
        // 4), and cases each holding one while waiting for a second must
        // never be able to take every slot.
        $crate::conformance_tests!(@pairs $fresh;
            copy_through_sqlite_and_back_keeps_every_field,
        );
    };
    (@cases $fresh:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let fixture = $fresh().await;
                $crate::conformance::$case(&fixture).await;
            }
        )*
    };
    (@pairs $fresh:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let first = $fresh().await;
                let second = $fresh().await;
                $crate::conformance::$case(&first, &second).await;
            }
        )*
    };
}

/// The epoch of every case: times are `at(seconds)` after it.
const T0: OffsetDateTime = datetime!(2030-01-01 00:00 UTC);
const DAY: i64 = 86_400;

fn at(seconds: i64) -> OffsetDateTime {
    T0 + Duration::seconds(seconds)
}

/// A random 32-byte stand-in for a token's SHA-256.
fn token() -> TokenHash {
    let mut hash = [0u8; 32];
    hash[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    hash[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    hash
}

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA";

fn user(email: &str, username: Option<&str>) -> UserRecord {
    UserRecord {
        id: Uuid::now_v7(),
        email: email.to_owned(),
        username: username.map(str::to_owned),
        password_hash: HASH.to_owned(),
        email_verified: false,
        roles: Vec::new(),
        disabled: false,
        created_at: at(0),
        updated_at: at(0),
    }
}

fn session_for(user_id: Uuid, created_at: OffsetDateTime, lifetime_seconds: i64) -> NewSession {
    NewSession {
        id: Uuid::now_v7(),
        user_id,
        refresh_hash: token(),
        created_at,
        expires_at: created_at + Duration::seconds(lifetime_seconds),
        ip: Some("203.0.113.7".to_owned()),
        user_agent: Some("conformance/1.0".to_owned()),
    }
}

fn event(
    kind: AuditKind,
    at: OffsetDateTime,
    user_id: Option<Uuid>,
    session_id: Option<Uuid>,
) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        at,
        kind,
        actor_id: user_id,
        user_id,
        session_id,
        ip: Some("198.51.100.2".to_owned()),
        user_agent: Some("conformance/1.0".to_owned()),
        outcome: "success".to_owned(),
    }
}

/// A user with one 30-day session started at `at(0)` (signup).
async fn seeded(store: &dyn Store, email: &str) -> (UserRecord, NewSession) {
    let u = user(email, None);
    let s = session_for(u.id, at(0), 30 * DAY);
    let signup = event(AuditKind::Signup, at(0), Some(u.id), Some(s.id));
    store.create_user(&u, Some(&s), &signup).await.unwrap();
    (u, s)
}

/// Starts a session (login) for an existing user.
async fn login(
    store: &dyn Store,
    user_id: Uuid,
    created_at: OffsetDateTime,
    lifetime: i64,
) -> NewSession {
    let s = session_for(user_id, created_at, lifetime);
    let e = event(AuditKind::Login, created_at, Some(user_id), Some(s.id));
    store.start_session(&s, &e).await.unwrap();
    s
}

/// Every audit row, newest first.
async fn all_audit(store: &dyn Store) -> Vec<AuditEvent> {
    store.recent_audit(None, 10_000).await.unwrap()
}

/// The state of a refresh token, read through a rotation that refuses (and
/// so changes nothing); `None` when the hash is unknown.
async fn peek(store: &dyn Store, hash: &TokenHash) -> Option<RefreshState> {
    let refuse = |_: &RefreshState| RefreshDecision::Refuse;
    match store.rotate_refresh(hash, &refuse).await.unwrap() {
        RefreshOutcome::Unknown => None,
        RefreshOutcome::Decided { state, decision } => {
            assert_eq!(decision, RefreshDecision::Refuse);
            Some(*state)
        }
    }
}
