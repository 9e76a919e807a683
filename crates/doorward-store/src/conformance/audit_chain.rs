//! Conformance cases for the audit hash chain: every write appends one link
//! in commit order, concurrent appends (one handle or two, like two
//! instances) never share a position, and the chain reads back page by page.

use std::sync::Arc;

use doorward_core::audit_chain::{self, ChainBreak, ChainHead, ChainedEvent, VerifyError, GENESIS};
use doorward_core::store::{AuditKind, RefreshDecision, RefreshState, RevokeScope, Store};
use time::Duration;
use uuid::Uuid;

use super::{all_audit, at, event, login, seeded, token, user, Fixture, DAY};

/// Every link, in chain order, one page at a time.
pub(super) async fn whole_chain(store: &dyn Store) -> Vec<ChainedEvent> {
    let mut links = Vec::new();
    loop {
        let after = links.last().map_or(0, |l: &ChainedEvent| l.seq);
        let page = store.audit_chain(after, 7).await.unwrap();
        if page.is_empty() {
            return links;
        }
        links.extend(page);
    }
}

/// `verify` says intact and returns the head: `n` links.
pub(super) async fn assert_intact(store: &dyn Store, n: u64) -> Option<ChainHead> {
    let head = audit_chain::verify(store, 4, None)
        .await
        .unwrap_or_else(|e| panic!("chain not intact: {e}"));
    assert_eq!(head.map_or(0, |h| h.seq), n);
    head
}

pub async fn every_write_appends_one_link_in_commit_order(fx: &Fixture) {
    let store = fx.open().await;
    assert_eq!(store.audit_chain_state().await.unwrap().head, None);
    assert_eq!(assert_intact(&*store, 0).await, None);

    let (ada, first) = seeded(&*store, "ada@example.org").await;
    let second = login(&*store, ada.id, at(10), DAY).await;
    store
        .record_event(&event(AuditKind::LoginFailed, at(20), Some(ada.id), None))
        .await
        .unwrap();
    let now = at(30);
    let decision = RefreshDecision::Rotate {
        new_hash: token(),
        now,
        new_expires_at: now + Duration::days(30),
        audit: event(AuditKind::Refresh, now, Some(ada.id), Some(second.id)),
    };
    let decide = move |_: &RefreshState| decision.clone();
    store
        .rotate_refresh(&second.refresh_hash, &decide)
        .await
        .unwrap();
    let logout = event(AuditKind::Logout, at(40), Some(ada.id), None);
    let revoked = store
        .revoke_sessions(ada.id, RevokeScope::All, at(40), &logout)
        .await
        .unwrap();
    assert_eq!(revoked.len(), 2);
    // A conflict writes no audit row, and so takes no place in the chain.
    let clash = user("ada@example.org", None);
    let signup = event(AuditKind::Signup, at(50), Some(clash.id), None);
    assert!(store.create_user(&clash, None, &signup).await.is_err());

    let links = whole_chain(&*store).await;
    let kinds: Vec<AuditKind> = links.iter().map(|l| l.event.kind).collect();
    use AuditKind::*;
    assert_eq!(kinds, [Signup, Login, LoginFailed, Refresh, Logout, Logout]);
    assert_eq!(
        links.iter().map(|l| l.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(links[0].prev_hash, GENESIS);
    assert_eq!(links[0].event.session_id, Some(first.id));
    for pair in links.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    // The chain holds exactly the events the log lists.
    let mut listed = all_audit(&*store).await;
    listed.reverse();
    assert_eq!(
        links.iter().map(|l| l.event.clone()).collect::<Vec<_>>(),
        listed
    );
    let head = assert_intact(&*store, 6).await;
    let state = store.audit_chain_state().await.unwrap();
    assert_eq!(state.head, head);
    assert_eq!(state.unchained, 0);

    // Pages start after the given position and stop at the limit.
    let page = store.audit_chain(2, 3).await.unwrap();
    assert_eq!(page, links[2..5].to_vec());
    assert!(store.audit_chain(6, 10).await.unwrap().is_empty());

    // An anchor taken now still matches later, and a wrong one is caught.
    let anchor = head.unwrap();
    store
        .record_event(&event(AuditKind::Login, at(60), Some(ada.id), None))
        .await
        .unwrap();
    audit_chain::verify(&*store, 2, Some(anchor)).await.unwrap();
    let forged = ChainHead {
        hash: [7; 32],
        ..anchor
    };
    let err = audit_chain::verify(&*store, 2, Some(forged))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Broken(ChainBreak::AnchorMismatch { seq: 6, .. })
        ),
        "{err}"
    );
    let ahead = ChainHead { seq: 9, ..anchor };
    let err = audit_chain::verify(&*store, 2, Some(ahead))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Broken(ChainBreak::Truncated {
                expected: 9,
                last: 7
            })
        ),
        "{err}"
    );
}

/// Appends racing from many tasks on one handle and on a second handle (a
/// second instance or the CLI), events and sign-ups mixed: every append
/// lands, each at its own position, and the chain verifies.
pub async fn concurrent_appends_keep_the_chain_intact(fx: &Fixture) {
    const EVENTS: usize = 50;
    const SIGNUPS: usize = 10;
    let stores: [Arc<dyn Store>; 2] = [fx.open().await, fx.open().await];
    let mut tasks = Vec::new();
    for i in 0..EVENTS {
        let store = stores[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let e = event(AuditKind::LoginFailed, at(i as i64), None, None);
            store.record_event(&e).await.map(|()| e.id)
        }));
    }
    for i in 0..SIGNUPS {
        let store = stores[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let u = user(&format!("racer{i}@example.org"), None);
            let s = super::session_for(u.id, at(0), DAY);
            let e = event(AuditKind::Signup, at(0), Some(u.id), Some(s.id));
            store.create_user(&u, Some(&s), &e).await.map(|()| e.id)
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().expect("every append lands"));
    }
    let total = (EVENTS + SIGNUPS) as u64;
    assert_intact(&*stores[0], total).await;
    assert_intact(&*stores[1], total).await;
    let mut chained: Vec<Uuid> = whole_chain(&*stores[1])
        .await
        .into_iter()
        .map(|l| l.event.id)
        .collect();
    chained.sort();
    ids.sort();
    assert_eq!(chained, ids);
}
