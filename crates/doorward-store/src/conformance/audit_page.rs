//! Conformance cases for the admin audit listing (`Store::audit_page`):
//! filters combine, `since` is inclusive and `until` exclusive to the
//! millisecond, pages are newest first and cover every match exactly once.

use doorward_core::audit::{AuditCursor, AuditFilter};
use doorward_core::store::{AuditEvent, AuditKind, Store};
use time::Duration;
use uuid::Uuid;

use super::{at, event, Fixture};

/// Every event matching `filter`, page after page of `limit`.
async fn pages(store: &dyn Store, filter: &AuditFilter, limit: u32) -> Vec<AuditEvent> {
    let mut all = Vec::new();
    let mut after: Option<AuditCursor> = None;
    for _ in 0..1000 {
        let page = store.audit_page(filter, after, limit).await.unwrap();
        assert!(page.events.len() <= limit.max(1) as usize);
        all.extend(page.events);
        match page.next {
            // The cursor survives its string form (what clients hold).
            Some(next) => after = Some(AuditCursor::decode(&next.encode()).unwrap()),
            None => return all,
        }
    }
    panic!("paging never ended");
}

/// Which recorded events a filter should select.
type Keep = Box<dyn Fn(&AuditEvent) -> bool>;

/// The events of `recorded` that `keep` selects, newest first (by `at`; equal
/// times in recording order, newest last recorded first).
fn expected(recorded: &[AuditEvent], keep: impl Fn(&AuditEvent) -> bool) -> Vec<AuditEvent> {
    let mut out: Vec<(usize, AuditEvent)> = recorded
        .iter()
        .cloned()
        .enumerate()
        .filter(|(_, e)| keep(e))
        .collect();
    out.sort_by(|(i, a), (j, b)| b.at.cmp(&a.at).then(j.cmp(i)));
    out.into_iter().map(|(_, e)| e).collect()
}

pub async fn audit_page_filters_and_pages_newest_first(fx: &Fixture) {
    let store = fx.open().await;
    let (u1, u2) = (Uuid::now_v7(), Uuid::now_v7());
    let kinds = [AuditKind::Login, AuditKind::LoginFailed, AuditKind::Logout];
    let mut recorded = Vec::new();
    for i in 0..24i64 {
        let user = [Some(u1), Some(u2), None][(i % 3) as usize];
        let kind = kinds[(i % 4 % 3) as usize];
        // Several events share a millisecond; recording order is not time order.
        let when = at((i * 7) % 10) + Duration::milliseconds(i % 2);
        let mut e = event(kind, when, user, None);
        if i % 5 == 0 {
            e.actor_id = Some(u2); // an admin acting on u1: still u1's event
        }
        store.record_event(&e).await.unwrap();
        recorded.push(e);
    }

    let none = AuditFilter::default();
    let by_u1 = AuditFilter {
        user_id: Some(u1),
        ..none.clone()
    };
    let failed = AuditFilter {
        kind: Some(AuditKind::LoginFailed),
        ..none.clone()
    };
    // `since` inclusive, `until` exclusive: events lie on both edges.
    let ms = Duration::milliseconds(1);
    let window = AuditFilter {
        since: Some(at(3) + ms),
        until: Some(at(7) + ms),
        ..none.clone()
    };
    let combined = AuditFilter {
        user_id: Some(u1),
        kind: Some(AuditKind::Login),
        since: Some(at(2)),
        until: Some(at(9)),
    };
    // Sub-millisecond bounds: stored times are whole milliseconds.
    let precise = AuditFilter {
        since: Some(at(4) + Duration::microseconds(1)),
        until: Some(at(8) + Duration::microseconds(999)),
        ..none.clone()
    };
    let empty = AuditFilter {
        since: Some(at(5)),
        until: Some(at(5)),
        ..none.clone()
    };
    let cases: [(&str, &AuditFilter, Keep); 7] = [
        ("none", &none, Box::new(|_| true)),
        ("user", &by_u1, Box::new(move |e| e.user_id == Some(u1))),
        (
            "kind",
            &failed,
            Box::new(|e| e.kind == AuditKind::LoginFailed),
        ),
        (
            "window",
            &window,
            Box::new(move |e| e.at >= at(3) + ms && e.at < at(7) + ms),
        ),
        (
            "combined",
            &combined,
            Box::new(move |e| {
                e.user_id == Some(u1) && e.kind == AuditKind::Login && e.at >= at(2) && e.at < at(9)
            }),
        ),
        (
            "precise",
            &precise,
            Box::new(move |e| e.at >= at(4) + ms && e.at < at(8) + ms),
        ),
        ("empty", &empty, Box::new(|_| false)),
    ];
    for (name, filter, keep) in &cases {
        let want = expected(&recorded, keep);
        if *name != "empty" {
            assert!(!want.is_empty(), "{name}: the data exercises the filter");
        }
        for limit in [1, 2, 5, 200] {
            assert_eq!(
                pages(&*store, filter, limit).await,
                want,
                "{name} by {limit}"
            );
        }
    }
    // The window's edges are really there: events at `since` are in, at `until` out.
    let edges = pages(&*store, &window, 100).await;
    assert!(edges.iter().any(|e| e.at == at(3) + ms));
    assert!(!edges.iter().any(|e| e.at == at(7) + ms));
    assert!(recorded.iter().any(|e| e.at == at(7) + ms));

    // A full first page says whether there is more; the last page does not.
    let first = store.audit_page(&none, None, 24).await.unwrap();
    assert_eq!(first.events.len(), 24);
    assert_eq!(first.next, None);
    let first = store.audit_page(&none, None, 23).await.unwrap();
    assert!(first.next.is_some());
    // A zero limit is read as one.
    assert_eq!(
        store.audit_page(&none, None, 0).await.unwrap().events.len(),
        1
    );

    // A cursor from before new events were recorded still pages the old ones
    // exactly: newer events never shift into a page being read.
    let page = store.audit_page(&none, None, 10).await.unwrap();
    store
        .record_event(&event(AuditKind::Login, at(100), Some(u1), None))
        .await
        .unwrap();
    let rest = store.audit_page(&none, page.next, 100).await.unwrap();
    assert_eq!(rest.events, expected(&recorded, |_| true)[10..].to_vec());
    let newest = store.audit_page(&none, None, 1).await.unwrap();
    assert_eq!(newest.events[0].at, at(100));
}
