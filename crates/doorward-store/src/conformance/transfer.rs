//! Conformance cases for the whole-database copy (`doorward migrate-data`):
//! row counts, pages in key order, all-or-nothing imports, and a copy out of
//! this engine, through SQLite, into this engine again that keeps every field.

use doorward_core::store::{
    AuditEvent, AuditKind, RefreshDecision, RefreshState, RevokeScope, Store, StoreError,
    TokenHash, UserRecord,
};
use doorward_core::transfer::{self, Batch, Cursor, RowCounts, Table, TransferError};
use time::Duration;
use uuid::Uuid;

use super::audit_chain::{assert_intact, whole_chain};
use super::keys::key;
use super::{all_audit, at, event, login, peek, seeded, token, user, Fixture, DAY};
use crate::ConnectOptions;

/// Every row of every table, read page by page (`limit` rows a page).
async fn export_all(store: &dyn Store, limit: u32) -> Vec<Batch> {
    let mut all = Vec::new();
    for table in Table::ALL {
        let mut cursor = Cursor::start(table);
        loop {
            let batch = store.export_batch(&cursor, limit).await.unwrap();
            assert_eq!(batch.table(), table);
            assert!(
                batch.len() <= limit as usize,
                "{table}: page over the limit"
            );
            let Some(next) = batch.next_cursor() else {
                break;
            };
            all.push(batch);
            cursor = next;
        }
    }
    all
}

/// The pages of `export_all` merged into one batch per table.
fn merged(pages: Vec<Batch>) -> Vec<Batch> {
    let mut out = vec![
        Batch::Users(Vec::new()),
        Batch::Sessions(Vec::new()),
        Batch::RefreshTokens(Vec::new()),
        Batch::SigningKeys(Vec::new()),
        Batch::AuditEvents(Vec::new()),
    ];
    for page in pages {
        match (
            &mut out[Table::ALL.iter().position(|t| *t == page.table()).unwrap()],
            page,
        ) {
            (Batch::Users(all), Batch::Users(rows)) => all.extend(rows),
            (Batch::Sessions(all), Batch::Sessions(rows)) => all.extend(rows),
            (Batch::RefreshTokens(all), Batch::RefreshTokens(rows)) => all.extend(rows),
            (Batch::SigningKeys(all), Batch::SigningKeys(rows)) => all.extend(rows),
            (Batch::AuditEvents(all), Batch::AuditEvents(rows)) => all.extend(rows),
            _ => unreachable!("pages are merged into their own table"),
        }
    }
    out
}

/// A database using every column: usernames and none, roles, flags, a
/// bcrypt hash, rotated and revoked sessions, sessions without ip or user
/// agent, a retired and a signing key, every audit kind with and without
/// its optional fields. Returns the refresh-token hashes it handed out.
async fn populate(store: &dyn Store) -> Vec<TokenHash> {
    let mut hashes = Vec::new();
    let (ada, first) = seeded(store, "ada@example.org").await;
    hashes.push(first.refresh_hash);
    for i in 0..6 {
        let mut u = user(&format!("user{i}@example.org"), Some(&format!("user_{i}")));
        u.roles = vec!["user".to_owned(), format!("team-{i}")];
        u.email_verified = i % 2 == 0;
        u.disabled = i == 3;
        u.updated_at = at(i + 7);
        if i == 1 {
            u.password_hash = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".into();
        }
        let e = event(AuditKind::Signup, at(i), Some(u.id), None);
        store.create_user(&u, None, &e).await.unwrap();
        let s = login(store, u.id, at(i + 1), DAY).await;
        hashes.push(s.refresh_hash);
    }

    // A session without ip and user agent, rotated twice, then revoked.
    let mut bare = super::session_for(ada.id, at(100), 30 * DAY);
    bare.ip = None;
    bare.user_agent = None;
    let e = event(AuditKind::Login, at(100), Some(ada.id), Some(bare.id));
    store.start_session(&bare, &e).await.unwrap();
    hashes.push(bare.refresh_hash);
    let mut presented = bare.refresh_hash;
    for step in 1..=2 {
        let next = token();
        let now = at(100 + step * 60);
        let decision = RefreshDecision::Rotate {
            new_hash: next,
            now,
            new_expires_at: now + Duration::days(30),
            audit: event(AuditKind::Refresh, now, Some(ada.id), Some(bare.id)),
        };
        let decide = move |_: &RefreshState| decision.clone();
        store.rotate_refresh(&presented, &decide).await.unwrap();
        hashes.push(next);
        presented = next;
    }
    let logout = event(AuditKind::Logout, at(400), Some(ada.id), None);
    store
        .revoke_sessions(ada.id, RevokeScope::One(bare.id), at(400), &logout)
        .await
        .unwrap();

    assert!(store
        .insert_first_signing_key(&key("k-one", at(0)))
        .await
        .unwrap());
    store
        .activate_signing_key(&key("k-two", at(500)))
        .await
        .unwrap();

    for (i, kind) in AuditKind::ALL.into_iter().enumerate() {
        let mut e = event(kind, at(600 + i as i64), None, None);
        if i % 2 == 0 {
            e.actor_id = Some(ada.id);
            e.user_id = Some(Uuid::now_v7()); // the audit log outlives users
            e.session_id = Some(first.id);
            e.outcome = "failure: naïve 💥".to_owned();
        } else {
            e.ip = None;
            e.user_agent = None;
        }
        store.record_event(&e).await.unwrap();
    }
    hashes
}

pub async fn row_counts_see_every_table(fx: &Fixture) {
    let store = fx.open().await;
    assert_eq!(store.row_counts().await.unwrap(), RowCounts::default());
    assert!(store.row_counts().await.unwrap().is_empty());

    // Any one row makes a database non-empty, an audit row alone included.
    store
        .record_event(&event(AuditKind::LoginFailed, at(0), None, None))
        .await
        .unwrap();
    let counts = store.row_counts().await.unwrap();
    assert!(!counts.is_empty());
    assert_eq!(counts.audit_events, 1);

    assert!(store
        .insert_first_signing_key(&key("k1", at(0)))
        .await
        .unwrap());
    let (u, _) = seeded(&*store, "ada@example.org").await;
    login(&*store, u.id, at(10), DAY).await;
    assert_eq!(
        store.row_counts().await.unwrap(),
        RowCounts {
            users: 1,
            sessions: 2,
            refresh_tokens: 2,
            signing_keys: 1,
            audit_events: 3,
        }
    );
}

pub async fn export_pages_cover_every_row_once_in_key_order(fx: &Fixture) {
    let store = fx.open().await;
    let hashes = populate(&*store).await;
    let counts = store.row_counts().await.unwrap();
    assert_eq!(counts.refresh_tokens, hashes.len() as u64);

    for limit in [1, 2, 1000] {
        let all = merged(export_all(&*store, limit).await);
        for batch in &all {
            assert_eq!(batch.len() as u64, counts.get(batch.table()), "{limit}");
        }
        let [Batch::Users(users), Batch::Sessions(sessions), Batch::RefreshTokens(tokens), Batch::SigningKeys(keys), Batch::AuditEvents(events)] =
            &all[..]
        else {
            panic!("one batch per table, in foreign-key order");
        };
        // Ascending key order, the same on every engine: uuid bytes, hash bytes.
        let strictly_ascending = |keys: Vec<Vec<u8>>| keys.windows(2).all(|w| w[0] < w[1]);
        assert!(strictly_ascending(
            users.iter().map(|u| u.id.as_bytes().to_vec()).collect()
        ));
        assert!(strictly_ascending(
            sessions.iter().map(|s| s.id.as_bytes().to_vec()).collect()
        ));
        assert!(strictly_ascending(
            tokens.iter().map(|t| t.hash.to_vec()).collect()
        ));
        assert!(strictly_ascending(
            events
                .iter()
                .map(|e| e.event.id.as_bytes().to_vec())
                .collect()
        ));
        let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["k-one", "k-two"]);
        let mut exported: Vec<TokenHash> = tokens.iter().map(|t| t.hash).collect();
        let mut handed_out = hashes.clone();
        exported.sort();
        handed_out.sort();
        assert_eq!(exported, handed_out);
    }
}

pub async fn import_batch_is_all_or_nothing(fx: &Fixture) {
    let store = fx.open().await;
    let (ada, _) = seeded(&*store, "ada@example.org").await;
    let before = store.row_counts().await.unwrap();

    // The second row's email is taken: the first must not land either.
    let fresh = user("new@example.org", Some("new"));
    let clash = user("ada@example.org", None);
    let err = store
        .import_batch(&Batch::Users(vec![fresh.clone(), clash]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("email")), "{err}");
    assert_eq!(store.user_by_id(fresh.id).await.unwrap(), None);

    // A session whose user is missing refers to nothing; the valid session
    // before it in the batch must not land either.
    let page = store
        .export_batch(&Cursor::start(Table::Sessions), 10)
        .await
        .unwrap();
    let Batch::Sessions(sessions) = page else {
        panic!("a sessions page");
    };
    let mut valid = sessions[0].clone();
    valid.id = Uuid::now_v7();
    assert_eq!(valid.user_id, ada.id);
    let mut lost = valid.clone();
    lost.id = Uuid::now_v7();
    lost.user_id = Uuid::now_v7();
    let err = store
        .import_batch(&Batch::Sessions(vec![valid.clone(), lost]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err}");
    assert_eq!(store.session(valid.id).await.unwrap(), None);

    assert_eq!(store.row_counts().await.unwrap(), before);
    // And the writer is usable afterwards.
    store
        .import_batch(&Batch::Users(vec![fresh.clone()]))
        .await
        .unwrap();
    assert_eq!(store.user_by_id(fresh.id).await.unwrap(), Some(fresh));
}

/// Reads `store` back through the ordinary getters.
async fn through_getters(
    store: &dyn Store,
    users: &[UserRecord],
    hashes: &[TokenHash],
) -> (
    Vec<Option<UserRecord>>,
    Vec<Option<RefreshState>>,
    Vec<AuditEvent>,
) {
    let mut found = Vec::new();
    for u in users {
        let by_id = store.user_by_id(u.id).await.unwrap();
        assert_eq!(store.user_by_email(&u.email).await.unwrap(), by_id);
        if let Some(name) = &u.username {
            assert_eq!(store.user_by_username(name).await.unwrap(), by_id);
        }
        found.push(by_id);
    }
    let mut states = Vec::new();
    for hash in hashes {
        states.push(peek(store, hash).await);
    }
    (found, states, all_audit(store).await)
}

pub async fn copy_through_sqlite_and_back_keeps_every_field(source: &Fixture, target: &Fixture) {
    let from = source.open().await;
    let hashes = populate(&*from).await;
    let exported = merged(export_all(&*from, 1000).await);
    let Batch::Users(users) = &exported[0] else {
        panic!("users first");
    };

    let middle = crate::connect("sqlite::memory:", &ConnectOptions::default())
        .await
        .unwrap();
    let to = target.open().await;
    let mut seen = Vec::new();
    let mut progress = |table: Table, copied: u64| seen.push((table, copied));
    let there = transfer::copy(&*from, &*middle, 2, &mut progress)
        .await
        .unwrap();
    let back = transfer::copy(&*middle, &*to, 3, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(there, from.row_counts().await.unwrap());
    assert_eq!(back, there);
    assert_eq!(seen.first(), Some(&(Table::Users, 2)));
    assert_eq!(seen.last(), Some(&(Table::AuditEvents, there.audit_events)));

    // Every row, every field, as the target exports it and as its getters read it.
    assert_eq!(merged(export_all(&*to, 1000).await), exported);
    assert_eq!(
        through_getters(&*to, users, &hashes).await,
        through_getters(&*from, users, &hashes).await
    );
    assert!(through_getters(&*to, users, &hashes)
        .await
        .1
        .iter()
        .all(Option::is_some));
    assert_eq!(
        to.signing_keys().await.unwrap(),
        from.signing_keys().await.unwrap()
    );
    for u in users {
        assert_eq!(
            to.active_sessions(u.id, at(300)).await.unwrap(),
            from.active_sessions(u.id, at(300)).await.unwrap()
        );
    }
    assert_eq!(
        to.revoked_since(at(0)).await.unwrap(),
        from.revoked_since(at(0)).await.unwrap()
    );

    // The target now holds rows: a second copy into it is refused untouched.
    let before = merged(export_all(&*to, 1000).await);
    let err = transfer::copy(&*middle, &*to, 100, &mut |_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransferError::TargetNotEmpty(c) if c == there),
        "{err}"
    );
    assert_eq!(merged(export_all(&*to, 1000).await), before);

    // The audit chain arrives link for link, verifies on both copies, and
    // the target's next event continues it.
    let chain = whole_chain(&*from).await;
    assert_eq!(chain.len() as u64, there.audit_events);
    assert_eq!(whole_chain(&*middle).await, chain);
    assert_eq!(whole_chain(&*to).await, chain);
    let head = assert_intact(&*to, there.audit_events).await;
    assert_eq!(head, assert_intact(&*middle, there.audit_events).await);
    to.record_event(&event(AuditKind::Login, at(900), None, None))
        .await
        .unwrap();
    let next = assert_intact(&*to, there.audit_events + 1).await;
    assert_eq!(
        whole_chain(&*to).await.last().unwrap().prev_hash,
        head.unwrap().hash
    );
    assert_ne!(next, head);
}
