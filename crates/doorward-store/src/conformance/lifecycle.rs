//! Conformance cases for the account lifecycle: verification and reset
//! tokens, password change, and the administrator's user changes.

use doorward_core::store::{
    AccountTokenKind, AuditKind, MailBudget, NewAccountToken, RevokedSession, TokenUse, UserPatch,
};
use time::Duration;
use uuid::Uuid;

use super::{all_audit, at, event, login, seeded, token, user, Fixture, DAY};

fn new_token(user_id: Uuid, kind: AccountTokenKind, created: i64, ttl: i64) -> NewAccountToken {
    NewAccountToken {
        hash: token(),
        user_id,
        kind,
        created_at: at(created),
        expires_at: at(created) + Duration::seconds(ttl),
    }
}

pub async fn account_tokens_are_single_use_and_expire(fx: &Fixture) {
    let store = fx.open().await;
    let (u, _) = seeded(&*store, "ada@example.org").await;
    let t = new_token(u.id, AccountTokenKind::VerifyEmail, 10, DAY);
    assert_eq!(
        store
            .issue_account_token(&t, false, None, None)
            .await
            .unwrap(),
        Some(Vec::new())
    );
    let stored = store.account_token(&t.hash).await.unwrap().unwrap();
    assert_eq!(stored.user_id, u.id);
    assert_eq!(stored.kind, AccountTokenKind::VerifyEmail);
    assert!(stored.usable(at(11)));
    assert!(!stored.usable(t.expires_at));

    let verified = event(AuditKind::EmailVerified, at(20), Some(u.id), None);
    // Wrong kind: nothing happens.
    assert!(store
        .use_account_token(
            &t.hash,
            AccountTokenKind::ResetPassword,
            at(20),
            &TokenUse::VerifyEmail,
            &verified
        )
        .await
        .unwrap()
        .is_none());
    let (now, revoked) = store
        .use_account_token(
            &t.hash,
            AccountTokenKind::VerifyEmail,
            at(20),
            &TokenUse::VerifyEmail,
            &verified,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(now.email_verified);
    assert!(revoked.is_empty());
    assert!(
        store
            .user_by_id(u.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    // Used: a second use changes nothing.
    assert!(store
        .use_account_token(
            &t.hash,
            AccountTokenKind::VerifyEmail,
            at(21),
            &TokenUse::VerifyEmail,
            &verified
        )
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store.account_token(&t.hash).await.unwrap().unwrap().used_at,
        Some(at(20))
    );
    let audit = all_audit(&*store).await;
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.kind == AuditKind::EmailVerified)
            .count(),
        1
    );

    // Expired: refused.
    let old = new_token(u.id, AccountTokenKind::VerifyEmail, 30, 60);
    store
        .issue_account_token(&old, false, None, None)
        .await
        .unwrap();
    assert!(store
        .use_account_token(
            &old.hash,
            AccountTokenKind::VerifyEmail,
            at(90),
            &TokenUse::VerifyEmail,
            &verified
        )
        .await
        .unwrap()
        .is_none());
    assert!(store.account_token(&token()).await.unwrap().is_none());
}

pub async fn a_newer_token_supersedes_older_ones_of_its_kind(fx: &Fixture) {
    let store = fx.open().await;
    let (u, _) = seeded(&*store, "ada@example.org").await;
    let first = new_token(u.id, AccountTokenKind::ResetPassword, 10, 1800);
    let verify = new_token(u.id, AccountTokenKind::VerifyEmail, 11, DAY);
    let second = new_token(u.id, AccountTokenKind::ResetPassword, 12, 1800);
    for t in [&first, &verify, &second] {
        let requested = event(
            AuditKind::PasswordResetRequested,
            t.created_at,
            Some(u.id),
            None,
        );
        store
            .issue_account_token(t, false, None, Some(&requested))
            .await
            .unwrap();
    }
    assert!(!store
        .account_token(&first.hash)
        .await
        .unwrap()
        .unwrap()
        .usable(at(13)));
    assert!(store
        .account_token(&verify.hash)
        .await
        .unwrap()
        .unwrap()
        .usable(at(13)));
    assert!(store
        .account_token(&second.hash)
        .await
        .unwrap()
        .unwrap()
        .usable(at(13)));
    assert_eq!(
        store
            .account_tokens_since(u.id, AccountTokenKind::ResetPassword, at(10))
            .await
            .unwrap(),
        vec![at(10), at(12)]
    );
    assert_eq!(
        store
            .account_tokens_since(u.id, AccountTokenKind::ResetPassword, at(11))
            .await
            .unwrap(),
        vec![at(12)]
    );
    let audit = all_audit(&*store).await;
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.kind == AuditKind::PasswordResetRequested)
            .count(),
        3
    );
}

pub async fn reset_sets_the_password_and_revokes_every_session(fx: &Fixture) {
    let store = fx.open().await;
    let (u, s0) = seeded(&*store, "ada@example.org").await;
    let s1 = login(&*store, u.id, at(5), DAY).await;
    let t = new_token(u.id, AccountTokenKind::ResetPassword, 10, 1800);
    let spare = new_token(u.id, AccountTokenKind::ResetPassword, 11, 1800);
    store
        .issue_account_token(&t, false, None, None)
        .await
        .unwrap();
    // Issued by another instance in the same second: different hashes.
    store
        .issue_account_token(&spare, false, None, None)
        .await
        .unwrap();
    let reset = event(AuditKind::PasswordReset, at(20), Some(u.id), None);
    let apply = TokenUse::ResetPassword {
        new_hash: "$argon2id$new".to_owned(),
    };
    let (after, mut revoked) = store
        .use_account_token(
            &spare.hash,
            AccountTokenKind::ResetPassword,
            at(20),
            &apply,
            &reset,
        )
        .await
        .unwrap()
        .unwrap();
    revoked.sort();
    let mut expected = vec![s0.id, s1.id];
    expected.sort();
    assert_eq!(revoked, expected);
    assert_eq!(after.password_hash, "$argon2id$new");
    assert!(after.email_verified);
    assert!(store
        .active_sessions(u.id, at(21))
        .await
        .unwrap()
        .is_empty());
    let since = store.revoked_since(at(20)).await.unwrap();
    assert_eq!(since.len(), 2);
}

pub async fn forced_reset_revokes_sessions_with_the_token(fx: &Fixture) {
    let store = fx.open().await;
    let (u, s0) = seeded(&*store, "ada@example.org").await;
    let t = new_token(u.id, AccountTokenKind::ResetPassword, 10, 1800);
    let revoked = store
        .issue_account_token(&t, true, None, None)
        .await
        .unwrap();
    assert_eq!(revoked, Some(vec![s0.id]));
    assert!(store
        .active_sessions(u.id, at(11))
        .await
        .unwrap()
        .is_empty());
}

pub async fn change_password_is_compare_and_set_and_keeps_the_current_session(fx: &Fixture) {
    let store = fx.open().await;
    let (u, s0) = seeded(&*store, "ada@example.org").await;
    let s1 = login(&*store, u.id, at(5), DAY).await;
    let s2 = login(&*store, u.id, at(6), DAY).await;
    let changed = event(AuditKind::PasswordChanged, at(10), Some(u.id), Some(s1.id));
    // A stale old hash changes nothing.
    assert!(store
        .change_password(u.id, "$stale", "$new", s1.id, at(10), &changed)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.active_sessions(u.id, at(10)).await.unwrap().len(), 3);
    let mut revoked = store
        .change_password(u.id, &u.password_hash, "$new", s1.id, at(10), &changed)
        .await
        .unwrap()
        .unwrap();
    revoked.sort();
    let mut expected = vec![s0.id, s2.id];
    expected.sort();
    assert_eq!(revoked, expected);
    let active = store.active_sessions(u.id, at(11)).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].id, s1.id);
    assert_eq!(
        store.user_by_id(u.id).await.unwrap().unwrap().password_hash,
        "$new"
    );
    assert!(all_audit(&*store)
        .await
        .iter()
        .any(|e| e.kind == AuditKind::PasswordChanged));
}

pub async fn list_users_pages_in_id_order_and_searches(fx: &Fixture) {
    let store = fx.open().await;
    let mut made = Vec::new();
    for i in 0..7 {
        let name = format!("user_{i}");
        let u = user(&format!("person{i}@example.org"), Some(&name));
        let e = event(AuditKind::Signup, at(0), Some(u.id), None);
        store.create_user(&u, None, &e).await.unwrap();
        made.push(u.id);
    }
    let odd = user("percent%sign@example.org", None);
    store
        .create_user(
            &odd,
            None,
            &event(AuditKind::Signup, at(0), Some(odd.id), None),
        )
        .await
        .unwrap();
    made.push(odd.id);

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_users(None, after, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        after = page.last().map(|u| u.id);
        seen.extend(page.into_iter().map(|u| u.id));
    }
    assert_eq!(seen, made);

    let hits = store.list_users(Some("PERSON3"), None, 50).await.unwrap();
    assert_eq!(hits.iter().map(|u| u.id).collect::<Vec<_>>(), vec![made[3]]);
    let hits = store.list_users(Some("user_5"), None, 50).await.unwrap();
    assert_eq!(hits.len(), 1);
    // `_` and `%` are literal: "r_" matches only "user_N", "%" only the odd one.
    assert_eq!(
        store.list_users(Some("r_"), None, 50).await.unwrap().len(),
        7
    );
    let hits = store.list_users(Some("%"), None, 50).await.unwrap();
    assert_eq!(hits.iter().map(|u| u.id).collect::<Vec<_>>(), vec![odd.id]);
    assert!(store
        .list_users(Some("nobody"), None, 50)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .list_users(Some("' OR 1=1 --"), None, 50)
        .await
        .unwrap()
        .is_empty());
}

pub async fn update_user_patches_and_revokes_in_one_step(fx: &Fixture) {
    let store = fx.open().await;
    let (u, s0) = seeded(&*store, "ada@example.org").await;
    let admin = Uuid::now_v7();
    let mut disabled = event(AuditKind::UserDisabled, at(10), Some(u.id), None);
    disabled.actor_id = Some(admin);
    let patch = UserPatch {
        disabled: Some(true),
        roles: None,
    };
    let (after, revoked) = store
        .update_user(u.id, &patch, true, at(10), &[disabled.clone()])
        .await
        .unwrap();
    assert!(after.disabled);
    assert_eq!(after.roles, u.roles);
    assert_eq!(revoked, vec![s0.id]);
    let roles = UserPatch {
        disabled: None,
        roles: Some(vec!["user".to_owned(), "admin".to_owned()]),
    };
    let (after, revoked) = store
        .update_user(u.id, &roles, false, at(11), &[])
        .await
        .unwrap();
    assert!(after.disabled, "untouched fields are kept");
    assert_eq!(after.roles, vec!["user".to_owned(), "admin".to_owned()]);
    assert!(revoked.is_empty());
    assert!(all_audit(&*store)
        .await
        .iter()
        .any(|e| e.kind == AuditKind::UserDisabled
            && e.actor_id == Some(admin)
            && e.user_id == Some(u.id)));
    assert!(matches!(
        store
            .update_user(Uuid::now_v7(), &patch, true, at(12), &[disabled])
            .await,
        Err(doorward_core::store::StoreError::NotFound)
    ));
}

pub async fn deleted_users_sessions_stay_reported_as_revoked(fx: &Fixture) {
    let store = fx.open().await;
    let (u, s0) = seeded(&*store, "ada@example.org").await;
    let (w, other) = seeded(&*store, "bob@example.org").await;
    let t = new_token(u.id, AccountTokenKind::ResetPassword, 5, 1800);
    store
        .issue_account_token(&t, false, None, None)
        .await
        .unwrap();
    let deleted = event(AuditKind::UserDeleted, at(10), Some(u.id), None);
    let revoked = store.delete_user(u.id, at(10), &deleted).await.unwrap();
    assert_eq!(revoked, vec![s0.id]);
    assert!(store.user_by_id(u.id).await.unwrap().is_none());
    assert!(store.session(s0.id).await.unwrap().is_none());
    assert!(store.account_token(&t.hash).await.unwrap().is_none());
    assert_eq!(
        store.revoked_since(at(10)).await.unwrap(),
        vec![RevokedSession {
            id: s0.id,
            revoked_at: at(10)
        }]
    );
    assert!(store.revoked_since(at(11)).await.unwrap().is_empty());
    // Others untouched; the audit row stays.
    assert_eq!(
        store.active_sessions(w.id, at(11)).await.unwrap()[0].id,
        other.id
    );
    assert!(all_audit(&*store)
        .await
        .iter()
        .any(|e| e.kind == AuditKind::UserDeleted && e.user_id == Some(u.id)));
    assert!(matches!(
        store.delete_user(u.id, at(12), &deleted).await,
        Err(doorward_core::store::StoreError::NotFound)
    ));
}

pub async fn a_mail_budget_is_never_overspent(fx: &Fixture) {
    let store = fx.open().await;
    let (u, _) = seeded(&*store, "ada@example.org").await;
    let budget = MailBudget {
        since: at(0),
        max: 3,
    };
    // Ten concurrent requests for one user: exactly three get a token.
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let t = new_token(u.id, AccountTokenKind::ResetPassword, 10, 1800);
                store
                    .issue_account_token(&t, false, Some(budget), None)
                    .await
                    .unwrap()
                    .is_some()
            })
        })
        .collect();
    let mut issued = 0;
    for t in tasks {
        issued += usize::from(t.await.unwrap());
    }
    assert_eq!(issued, 3);
    assert_eq!(
        store
            .account_tokens_since(u.id, AccountTokenKind::ResetPassword, at(0))
            .await
            .unwrap()
            .len(),
        3
    );
    // Outside the budget's window the count starts over; other kinds have their own.
    let later = MailBudget {
        since: at(11),
        max: 3,
    };
    let t = new_token(u.id, AccountTokenKind::ResetPassword, 11, 1800);
    assert!(store
        .issue_account_token(&t, false, Some(later), None)
        .await
        .unwrap()
        .is_some());
    let v = new_token(u.id, AccountTokenKind::VerifyEmail, 11, DAY);
    assert!(store
        .issue_account_token(&v, false, Some(budget), None)
        .await
        .unwrap()
        .is_some());
}
