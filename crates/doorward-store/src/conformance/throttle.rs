//! Conformance cases for login throttling (issue 4): counting failures,
//! blocks and their backoff, stale counts starting over, one `throttled` row
//! per block, clearing and pruning, concurrent failures from two handles
//! all counted, and the addresses of a user's sessions.

use std::sync::Arc;

use doorward_core::store::{AuditKind, NewSession, Store};
use doorward_core::throttle::{ThrottleKey, ThrottlePolicy, ThrottleRecord};
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;
use uuid::Uuid;

use super::{all_audit, at, event, seeded, session_for, Fixture, DAY};

/// 3 failures per account, 5 per IP, a 60 s window (so blocks start at 2 s).
fn policy() -> ThrottlePolicy {
    ThrottlePolicy {
        account_failures: 3,
        ip_failures: 5,
        window: Duration::seconds(60),
        known_ip_for: Duration::days(30),
    }
}

fn keys() -> Vec<ThrottleKey> {
    vec![
        ThrottleKey::account(Uuid::now_v7()),
        ThrottleKey::ip("198.51.100.2".parse().unwrap()),
    ]
}

async fn fail(store: &dyn Store, keys: &[ThrottleKey], now: OffsetDateTime) -> Vec<ThrottleRecord> {
    let audit = event(AuditKind::LoginFailed, now, None, None);
    let records = store
        .record_login_failure(keys, &policy(), now, &audit)
        .await
        .unwrap();
    assert_eq!(
        records.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        keys.iter().map(ThrottleKey::as_str).collect::<Vec<_>>(),
        "records come back in the order of the keys"
    );
    records
}

/// (failures, blocked_until) of each record.
fn counts(records: &[ThrottleRecord]) -> Vec<(u32, Option<OffsetDateTime>)> {
    records
        .iter()
        .map(|r| (r.failures, r.blocked_until))
        .collect()
}

async fn state(store: &dyn Store, keys: &[ThrottleKey]) -> Vec<ThrottleRecord> {
    let mut records = store.throttle_state(keys).await.unwrap();
    records.sort_by(|a, b| a.key.cmp(&b.key));
    records
}

pub async fn failures_count_per_key_and_block_at_the_threshold(fx: &Fixture) {
    let store = fx.open().await;
    let keys = keys();
    let [account, ip] = [&keys[0], &keys[1]];
    assert!(store.throttle_state(&keys).await.unwrap().is_empty());

    assert_eq!(
        counts(&fail(&*store, &keys, at(0)).await),
        [(1, None), (1, None)]
    );
    assert_eq!(
        counts(&fail(&*store, &keys, at(1)).await),
        [(2, None), (2, None)]
    );
    // The third reaches the account's threshold: 2 s, then doubling.
    assert_eq!(
        counts(&fail(&*store, &keys, at(2)).await),
        [(3, Some(at(4))), (3, None)]
    );
    assert_eq!(
        counts(&fail(&*store, &keys, at(5)).await),
        [(4, Some(at(9))), (4, None)]
    );
    // Only the IP key for this one (another account from the same client).
    let other = [ThrottleKey::account(Uuid::now_v7()), ip.clone()];
    assert_eq!(
        counts(&fail(&*store, &other, at(10)).await),
        [(1, None), (5, Some(at(12)))]
    );

    let read = state(&*store, &keys).await;
    assert_eq!(
        read,
        [
            ThrottleRecord {
                key: account.as_str().to_owned(),
                failures: 4,
                window_start: at(0),
                blocked_until: Some(at(9)),
            },
            ThrottleRecord {
                key: ip.as_str().to_owned(),
                failures: 5,
                window_start: at(0),
                blocked_until: Some(at(12)),
            },
        ]
    );
    // One login_failed row per failure, written with the counts.
    let failed = all_audit(&*store)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::LoginFailed)
        .count();
    assert_eq!(failed, 5);
}

pub async fn stale_counts_start_over(fx: &Fixture) {
    let store = fx.open().await;
    let keys = keys();
    fail(&*store, &keys, at(0)).await;
    fail(&*store, &keys, at(30)).await;
    // A window after the first failure, below the threshold: a new count.
    let records = fail(&*store, &keys, at(60)).await;
    assert_eq!(counts(&records), [(1, None), (1, None)]);
    assert_eq!(records[0].window_start, at(60));

    // Blocked: the count lives on until a window after the block ended.
    fail(&*store, &keys, at(61)).await;
    let blocked = fail(&*store, &keys, at(62)).await;
    assert_eq!(blocked[0].blocked_until, Some(at(64)));
    let later = fail(&*store, &keys, at(123)).await; // 64 + 60 > 123
    assert_eq!(
        (later[0].failures, later[0].blocked_until),
        (4, Some(at(127)))
    );
    let fresh = fail(&*store, &keys, at(187)).await; // 127 + 60 <= 187
    assert_eq!(counts(&fresh), [(1, None), (1, None)]);
    assert_eq!(fresh[0].window_start, at(187));
}

pub async fn a_block_never_moves_earlier(fx: &Fixture) {
    let store = fx.open().await;
    let keys = &keys()[..1];
    for s in 0..3 {
        fail(&*store, keys, at(100 + s)).await;
    }
    // Another instance whose clock is behind records the fourth failure.
    let late = fail(&*store, keys, at(90)).await;
    assert_eq!(late[0].failures, 4);
    assert_eq!(late[0].blocked_until, Some(at(104)));
}

pub async fn a_failed_audit_write_counts_nothing(fx: &Fixture) {
    let store = fx.open().await;
    let keys = keys();
    let audit = event(AuditKind::LoginFailed, at(0), None, None);
    store
        .record_login_failure(&keys, &policy(), at(0), &audit)
        .await
        .unwrap();
    // The same audit id again: the insert fails, the counts roll back.
    assert!(store
        .record_login_failure(&keys, &policy(), at(1), &audit)
        .await
        .is_err());
    assert_eq!(counts(&state(&*store, &keys).await), [(1, None), (1, None)]);
    assert_eq!(all_audit(&*store).await.len(), 1);
}

pub async fn throttled_is_audited_once_per_block(fx: &Fixture) {
    let store = fx.open().await;
    let keys = keys();
    let names: Vec<String> = keys.iter().map(|k| k.as_str().to_owned()).collect();
    let refused = |t| event(AuditKind::Throttled, at(t), None, None);
    fail(&*store, &keys, at(0)).await;
    // Not blocked: nothing to audit.
    assert!(!store
        .record_throttled(&names, at(0), &refused(0))
        .await
        .unwrap());
    fail(&*store, &keys, at(1)).await;
    fail(&*store, &keys, at(2)).await; // blocked until at(4)
    assert!(store
        .record_throttled(&names, at(2), &refused(2))
        .await
        .unwrap());
    assert!(!store
        .record_throttled(&names, at(3), &refused(3))
        .await
        .unwrap());
    // A block that has passed is not audited.
    assert!(!store
        .record_throttled(&names, at(4), &refused(4))
        .await
        .unwrap());
    // A new block is.
    fail(&*store, &keys, at(5)).await; // blocked until at(9)
    assert!(store
        .record_throttled(&names, at(5), &refused(5))
        .await
        .unwrap());
    assert!(!store
        .record_throttled(&names, at(6), &refused(6))
        .await
        .unwrap());
    // Unknown keys change nothing.
    assert!(!store
        .record_throttled(&["ip:192.0.2.1".to_owned()], at(6), &refused(6))
        .await
        .unwrap());

    let throttled: Vec<OffsetDateTime> = all_audit(&*store)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::Throttled)
        .map(|e| e.at)
        .collect();
    assert_eq!(throttled, [at(5), at(2)]);
}

pub async fn clear_and_prune_forget_counts(fx: &Fixture) {
    let store = fx.open().await;
    let keys = keys();
    let late = [ThrottleKey::account(Uuid::now_v7())];
    for s in 0..3 {
        fail(&*store, &keys, at(s)).await; // account blocked until at(4)
    }
    fail(&*store, &late, at(30)).await;

    store.clear_throttle(keys[0].as_str()).await.unwrap();
    store.clear_throttle("acct:nobody").await.unwrap();
    let left = state(&*store, &keys).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key, keys[1].as_str());
    assert_eq!(counts(&fail(&*store, &keys, at(3)).await)[0], (1, None));

    // Stale at `stale_before`: COALESCE(blocked_until, window_start) <= it.
    let p = policy();
    assert_eq!(store.prune_throttle(at(-1)).await.unwrap(), 0);
    assert_eq!(
        store.prune_throttle(p.stale_before(at(63))).await.unwrap(),
        2
    );
    assert!(store.throttle_state(&keys).await.unwrap().is_empty());
    assert_eq!(store.throttle_state(&late).await.unwrap().len(), 1);
    assert_eq!(store.prune_throttle(at(30)).await.unwrap(), 1);
    assert!(store.throttle_state(&late).await.unwrap().is_empty());
}

const RACERS: usize = 16;

/// Instances counting failures of one key at the same moment: none lost.
pub async fn concurrent_failures_from_two_handles_are_all_counted(fx: &Fixture) {
    let handles: Vec<Arc<dyn Store>> = vec![fx.open().await, fx.open().await];
    let keys = Arc::new(keys());
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let store = handles[i % handles.len()].clone();
        let (keys, barrier) = (keys.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let audit = event(AuditKind::LoginFailed, at(0), None, None);
            barrier.wait().await;
            store
                .record_login_failure(&keys, &policy(), at(0), &audit)
                .await
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        let records = task.await.unwrap().expect("every failure is recorded");
        seen.push(records[0].failures);
    }
    seen.sort_unstable();
    let expected: Vec<u32> = (1..=RACERS as u32).collect();
    assert_eq!(seen, expected, "each failure saw its own count");
    let n = RACERS as u32;
    assert_eq!(
        counts(&state(&*handles[0], &keys).await),
        [(n, Some(at(60))), (n, Some(at(60)))]
    );
    assert_eq!(all_audit(&*handles[1]).await.len(), RACERS);
}

fn session_from(user_id: Uuid, ip: Option<&str>, created: i64) -> NewSession {
    NewSession {
        ip: ip.map(str::to_owned),
        ..session_for(user_id, at(created), DAY)
    }
}

pub async fn recent_login_ips_are_distinct_newest_first(fx: &Fixture) {
    let store = fx.open().await;
    let (u, _) = seeded(&*store, "ada@example.org").await; // 203.0.113.7 at(0)
    let (w, _) = seeded(&*store, "bob@example.org").await;
    for (user, ip, t) in [
        (u.id, Some("192.0.2.1"), 100),
        (u.id, Some("2001:db8::1"), 200),
        (u.id, None, 250),
        (u.id, Some("192.0.2.1"), 300),
        (w.id, Some("192.0.2.99"), 400),
    ] {
        let s = session_from(user, ip, t);
        let e = event(AuditKind::Login, at(t), Some(user), Some(s.id));
        store.start_session(&s, &e).await.unwrap();
    }
    let ips = |since, limit| {
        let store = store.clone();
        async move {
            store
                .recent_login_ips(u.id, at(since), limit)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        ips(0, 10).await,
        ["192.0.2.1", "2001:db8::1", "203.0.113.7"]
    );
    assert_eq!(ips(150, 10).await, ["192.0.2.1", "2001:db8::1"]);
    assert_eq!(ips(0, 1).await, ["192.0.2.1"]);
    assert!(ips(301, 10).await.is_empty());
    assert!(store
        .recent_login_ips(Uuid::now_v7(), at(0), 10)
        .await
        .unwrap()
        .is_empty());
}
