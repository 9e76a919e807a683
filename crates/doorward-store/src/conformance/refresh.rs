//! Conformance cases for refresh rotation: each decision's effects, and
//! concurrent presentations of one token applying exactly one rotation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use doorward_core::store::{
    AuditEvent, AuditKind, RefreshDecision, RefreshOutcome, RefreshState, Store, TokenHash,
};
use time::OffsetDateTime;
use tokio::sync::Barrier;

use super::{all_audit, at, event, peek, seeded, token, Fixture, DAY};

fn rotate(new_hash: TokenHash, now: OffsetDateTime, audit: AuditEvent) -> RefreshDecision {
    RefreshDecision::Rotate {
        new_hash,
        now,
        new_expires_at: now + time::Duration::seconds(30 * DAY),
        audit,
    }
}

/// Presents `hash`, answering `decision` whatever the state; returns the
/// state the engine saw.
async fn present(store: &dyn Store, hash: &TokenHash, decision: RefreshDecision) -> RefreshState {
    let decide = move |_: &RefreshState| decision.clone();
    match store.rotate_refresh(hash, &decide).await.unwrap() {
        RefreshOutcome::Decided { state, .. } => *state,
        RefreshOutcome::Unknown => panic!("token unknown"),
    }
}

pub async fn rotate_unknown_hash_changes_nothing(fx: &Fixture) {
    let store = fx.open().await;
    let (u, s) = seeded(&*store, "ada@example.org").await;
    let called = AtomicBool::new(false);
    let decide = |_: &RefreshState| {
        called.store(true, Ordering::SeqCst);
        rotate(
            token(),
            at(60),
            event(AuditKind::Refresh, at(60), Some(u.id), Some(s.id)),
        )
    };
    let outcome = store.rotate_refresh(&token(), &decide).await.unwrap();
    assert_eq!(outcome, RefreshOutcome::Unknown);
    assert!(
        !called.load(Ordering::SeqCst),
        "decide must not run for an unknown hash"
    );
    assert_eq!(all_audit(&*store).await.len(), 1);
    assert_eq!(
        store.session(s.id).await.unwrap().unwrap().last_used_at,
        at(0)
    );
}

pub async fn rotate_slides_the_session_and_chains_tokens(fx: &Fixture) {
    let store = fx.open().await;
    let (u, s) = seeded(&*store, "ada@example.org").await;
    let session_before = store.session(s.id).await.unwrap().unwrap();

    let n1 = token();
    let e1 = event(AuditKind::Refresh, at(60), Some(u.id), Some(s.id));
    let d1 = rotate(n1, at(60), e1.clone());
    let decide = |_: &RefreshState| d1.clone();
    match store
        .rotate_refresh(&s.refresh_hash, &decide)
        .await
        .unwrap()
    {
        RefreshOutcome::Decided { state, decision } => {
            assert_eq!(state.rotated_at, None);
            assert_eq!(state.session, session_before);
            assert_eq!(state.user, u);
            assert_eq!(decision, d1);
        }
        RefreshOutcome::Unknown => panic!("first token unknown"),
    }
    let session = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(session.last_used_at, at(60));
    assert_eq!(session.expires_at, at(60 + 30 * DAY));
    assert_eq!(session.revoked_at, None);
    assert_eq!(
        peek(&*store, &s.refresh_hash).await.unwrap().rotated_at,
        Some(at(60))
    );
    let successor = peek(&*store, &n1).await.expect("successor stored");
    assert_eq!(successor.rotated_at, None);
    assert_eq!(successor.session, session);

    // The old token presented again (say within the grace window) and rotated
    // again: it keeps its first rotation time; the new successor is stored.
    let n2 = token();
    let e2 = event(AuditKind::Refresh, at(65), Some(u.id), Some(s.id));
    let seen = present(&*store, &s.refresh_hash, rotate(n2, at(65), e2.clone())).await;
    assert_eq!(seen.rotated_at, Some(at(60)));
    assert_eq!(
        peek(&*store, &s.refresh_hash).await.unwrap().rotated_at,
        Some(at(60))
    );
    assert_eq!(peek(&*store, &n2).await.unwrap().rotated_at, None);

    // The successor rotates in turn and slides the session again.
    let n3 = token();
    let e3 = event(AuditKind::Refresh, at(120), Some(u.id), Some(s.id));
    let seen = present(&*store, &n1, rotate(n3, at(120), e3.clone())).await;
    assert_eq!(seen.rotated_at, None);
    assert_eq!(seen.session.last_used_at, at(65));
    assert_eq!(peek(&*store, &n1).await.unwrap().rotated_at, Some(at(120)));
    assert_eq!(peek(&*store, &n3).await.unwrap().session.id, s.id);
    let session = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(session.last_used_at, at(120));
    assert_eq!(session.expires_at, at(120 + 30 * DAY));

    let refreshes: Vec<_> = all_audit(&*store)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::Refresh)
        .collect();
    assert_eq!(refreshes, vec![e3, e2, e1]);
}

pub async fn rotate_revoke_session_revokes_and_audits(fx: &Fixture) {
    let store = fx.open().await;
    let (u, s) = seeded(&*store, "ada@example.org").await;
    let n1 = token();
    let e1 = event(AuditKind::Refresh, at(60), Some(u.id), Some(s.id));
    present(&*store, &s.refresh_hash, rotate(n1, at(60), e1)).await;

    let reused = event(AuditKind::RefreshReused, at(200), Some(u.id), Some(s.id));
    let decision = RefreshDecision::RevokeSession {
        now: at(200),
        audit: reused.clone(),
    };
    let seen = present(&*store, &s.refresh_hash, decision).await;
    assert_eq!(seen.rotated_at, Some(at(60)));
    assert_eq!(seen.session.revoked_at, None);

    let session = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(session.revoked_at, Some(at(200)));
    assert_eq!(
        session.last_used_at,
        at(60),
        "revocation does not count as use"
    );
    assert!(store
        .active_sessions(u.id, at(200))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.revoked_since(at(200)).await.unwrap().len(), 1);
    assert_eq!(all_audit(&*store).await[0], reused);
    // Every token of the family now shows the revoked session.
    assert_eq!(
        peek(&*store, &n1).await.unwrap().session.revoked_at,
        Some(at(200))
    );

    // Revoking again keeps the first revocation time.
    let again = RefreshDecision::RevokeSession {
        now: at(300),
        audit: event(AuditKind::RefreshReused, at(300), Some(u.id), Some(s.id)),
    };
    present(&*store, &n1, again).await;
    assert_eq!(
        store.session(s.id).await.unwrap().unwrap().revoked_at,
        Some(at(200))
    );
}

pub async fn rotate_refuse_changes_nothing(fx: &Fixture) {
    let store = fx.open().await;
    let (_, s) = seeded(&*store, "ada@example.org").await;
    let session_before = store.session(s.id).await.unwrap();
    let audit_before = all_audit(&*store).await;

    let decide = |_: &RefreshState| RefreshDecision::Refuse;
    match store
        .rotate_refresh(&s.refresh_hash, &decide)
        .await
        .unwrap()
    {
        RefreshOutcome::Decided { state, decision } => {
            assert_eq!(decision, RefreshDecision::Refuse);
            assert_eq!(Some(state.session), session_before);
        }
        RefreshOutcome::Unknown => panic!("token unknown"),
    }
    assert_eq!(store.session(s.id).await.unwrap(), session_before);
    assert_eq!(all_audit(&*store).await, audit_before);
    assert_eq!(
        peek(&*store, &s.refresh_hash).await.unwrap().rotated_at,
        None
    );
}

const RACERS: usize = 16;

/// `RACERS` tasks present the same token at once (spread over `handles`),
/// each rotating only if nobody has yet. Exactly one rotation must land.
async fn race_one_token(handles: Vec<Arc<dyn Store>>) {
    let store = handles[0].clone();
    let (u, s) = seeded(&*store, "ada@example.org").await;
    let candidates: Vec<TokenHash> = (0..RACERS).map(|_| token()).collect();
    let barrier = Arc::new(Barrier::new(RACERS));

    let mut tasks = Vec::new();
    for (i, candidate) in candidates.iter().copied().enumerate() {
        let store = handles[i % handles.len()].clone();
        let barrier = barrier.clone();
        let presented = s.refresh_hash;
        let audit = event(AuditKind::Refresh, at(60), Some(u.id), Some(s.id));
        tasks.push(tokio::spawn(async move {
            let decide = move |state: &RefreshState| {
                // Widen the gap between the engine's read and its write, so
                // an engine that reads before it takes the write lock loses
                // the race here instead of once a month in production.
                std::thread::sleep(std::time::Duration::from_millis(2));
                match state.rotated_at {
                    None => rotate(candidate, at(60), audit.clone()),
                    Some(_) => RefreshDecision::Refuse,
                }
            };
            barrier.wait().await;
            store.rotate_refresh(&presented, &decide).await
        }));
    }

    let mut rotations = 0;
    let mut refusals = 0;
    for task in tasks {
        match task.await.unwrap().expect("every presentation is answered") {
            RefreshOutcome::Decided {
                decision: RefreshDecision::Rotate { .. },
                ..
            } => rotations += 1,
            RefreshOutcome::Decided {
                decision: RefreshDecision::Refuse,
                state,
            } => {
                assert_eq!(state.rotated_at, Some(at(60)), "a refusal saw the rotation");
                refusals += 1;
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((rotations, refusals), (1, RACERS - 1));

    let mut stored = 0;
    for candidate in &candidates {
        if peek(&*store, candidate).await.is_some() {
            stored += 1;
        }
    }
    assert_eq!(stored, 1, "exactly one successor token exists");
    let refreshes = all_audit(&*store)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::Refresh)
        .count();
    assert_eq!(refreshes, 1);
}

pub async fn concurrent_rotations_of_one_token_apply_once(fx: &Fixture) {
    race_one_token(vec![fx.open().await]).await;
}

/// Two handles stand for two processes (server and CLI, two instances): the
/// engine's own lock, not just its in-process queue, must serialise them.
pub async fn concurrent_rotations_from_two_handles_apply_once(fx: &Fixture) {
    let first = fx.open().await;
    let second = fx.open().await;
    race_one_token(vec![first, second]).await;
}
