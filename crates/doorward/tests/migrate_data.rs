//! `doorward migrate-data` as an operator runs it: the built binary copies a
//! SQLite database made by the real code (CLI users, signups, a refresh, a
//! logout, a key rotation, encrypted keys) into a fresh PostgreSQL database
//! and from there into a fresh SQLite file; every row arrives unchanged,
//! users log in and refresh against the copy, `keys list` reads the same.
//! A non-empty target is refused and left as it was; mistakes fail before
//! anything is written, without printing a password.
//!
//! Needs PostgreSQL, like the storage tests (see `api/postgres.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "api/postgres.rs"]
mod postgres;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use doorward::app::AppState;
use doorward::config::{Overrides, Settings};
use doorward_core::accounts::{LoginId, LogoutScope, SignupInput, SignupOutcome};
use doorward_core::audit::ClientInfo;
use doorward_core::clock::{Clock, SystemClock};
use doorward_core::store::Store;
use doorward_core::transfer::{Batch, Cursor, Table};
use doorward_store::ConnectOptions;
use postgres::PgDatabase;

const PREFIX: &str = "doorward_migr_";
const PASSWORD: &str = "correct horse battery staple";
const ISSUER: &str = "http://doorward.test";
/// Keys are stored encrypted: the copy must move them without the key.
const ENCRYPTION_KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

/// The settings every run shares: cheap argon2, one issuer, one encryption key.
fn base_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("DOORWARD_PASSWORD_HASH_MEMORY_KIB", "1024"),
        ("DOORWARD_PASSWORD_HASH_ITERATIONS", "1"),
        ("DOORWARD_ISSUER", ISSUER),
        ("DOORWARD_KEYS_ENCRYPTION_KEY", ENCRYPTION_KEY),
    ]
}

/// The binary, run in `dir` with `base_env` and nothing of the outer
/// `DOORWARD_*` or `RUST_LOG`.
fn doorward(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_doorward"));
    cmd.current_dir(dir).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("DOORWARD_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("RUST_LOG").envs(base_env());
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

fn migrate_data(dir: &Path, from: &str, to: &str) -> Output {
    doorward(dir, &["migrate-data", "--from", from, "--to", to], "")
}

fn create_user(dir: &Path, db: &str, email: &str, extra: &[&str]) {
    let mut args = vec!["user", "create", "--database", db, "--email", email];
    args.extend_from_slice(extra);
    args.push("--password-stdin");
    assert_ok(&doorward(dir, &args, &format!("{PASSWORD}\n")));
}

fn keys_list(dir: &Path, db: &str) -> String {
    let out = doorward(dir, &["keys", "list", "--database", db], "");
    assert_ok(&out);
    stdout(&out)
}

/// The real services on `db`, as `serve` builds them.
async fn app(db: &str) -> AppState {
    let mut env: Vec<(String, String)> = base_env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    env.push(("DOORWARD_DATABASE_URL".to_owned(), db.to_owned()));
    let settings = Settings::load(&Overrides::default(), &env).unwrap();
    doorward::app::build(settings, Arc::new(SystemClock))
        .await
        .unwrap()
}

async fn open(db: &str) -> Arc<dyn Store> {
    doorward_store::connect(db, &ConnectOptions::default())
        .await
        .unwrap()
}

/// Every row of every table, in full, as the engine exports it (keys by
/// kid: text order is the engine's own).
async fn everything(db: &str) -> Vec<Batch> {
    let store = open(db).await;
    let mut all = Vec::new();
    for table in Table::ALL {
        let mut cursor = Cursor::start(table);
        loop {
            let batch = store.export_batch(&cursor, 1000).await.unwrap();
            let Some(next) = batch.next_cursor() else {
                break;
            };
            all.push(batch);
            cursor = next;
        }
    }
    for batch in &mut all {
        if let Batch::SigningKeys(keys) = batch {
            keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        }
    }
    all
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("203.0.113.9".to_owned()),
        user_agent: Some("migrate-data test".to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_to_postgres_to_sqlite_keeps_every_row_and_every_login() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let source = format!("sqlite:{}", dir.join("source.db").display());
    let last = format!("sqlite:{}", dir.join("last/copy.db").display());

    // A database as the real code leaves it.
    create_user(
        dir,
        &source,
        "root@example.org",
        &["--username", "root", "--admin"],
    );
    let src = app(&source).await;
    let client = client();
    let now = SystemClock.now();
    let signup = |email| SignupInput {
        email,
        password: PASSWORD,
        username: None,
    };
    let SignupOutcome::SignedIn(ada, ada_pair) = src
        .accounts
        .signup(signup("ada@example.org"), &client, now)
        .await
        .unwrap()
    else {
        panic!("signup without required verification signs in");
    };
    let SignupOutcome::SignedIn(bob, bob_pair) = src
        .accounts
        .signup(signup("bob@example.org"), &client, now)
        .await
        .unwrap()
    else {
        panic!("signup without required verification signs in");
    };
    let ada_pair = src
        .accounts
        .refresh(&ada_pair.refresh_token, &client, now)
        .await
        .unwrap();
    let bob_session = src.guard.check_now(&bob_pair.access_token).unwrap().sid;
    src.accounts
        .logout(
            bob.id,
            bob_session.parse().unwrap(),
            LogoutScope::Local,
            &client,
            now,
        )
        .await
        .unwrap();
    let failed = src
        .accounts
        .login(LoginId::Username("root"), "x", &client, now);
    assert!(failed.await.is_err());
    drop(src);
    assert_ok(&doorward(
        dir,
        &["keys", "rotate", "--database", &source],
        "",
    ));
    let original = everything(&source).await;
    let counts = open(&source).await.row_counts().await.unwrap();

    // SQLite → PostgreSQL.
    let pg = PgDatabase::create(PREFIX).await;
    let out = migrate_data(dir, &source, &pg.url);
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "copied 3 users, 2 sessions, 3 refresh tokens, 2 keys, {} audit events\n",
            counts.audit_events
        )
    );
    let progress = stderr(&out);
    for line in [
        "users: 3 copied",
        "refresh tokens: 3 copied",
        "keys: 2 copied",
    ] {
        assert!(
            progress.lines().any(|l| l == line),
            "{line} in:\n{progress}"
        );
    }
    assert_eq!(
        everything(&pg.url).await,
        original,
        "PostgreSQL holds every row as it was"
    );

    // Again into the same, now non-empty, database: refused, nothing written.
    let again = migrate_data(dir, &source, &pg.url);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));
    assert_eq!(everything(&pg.url).await, original);

    // PostgreSQL → SQLite (a file and directory that do not exist yet).
    assert_ok(&migrate_data(dir, &pg.url, &last));
    assert_eq!(
        everything(&last).await,
        original,
        "the last copy holds every row as it was"
    );
    assert_eq!(keys_list(dir, &last), keys_list(dir, &source));
    let copy = open(&last).await;
    let from = open(&source).await;
    for email in ["root@example.org", "ada@example.org", "bob@example.org"] {
        let user = copy.user_by_email(email).await.unwrap().unwrap();
        assert_eq!(Some(user), from.user_by_email(email).await.unwrap());
    }

    // The copy serves everyone as the original did.
    let dst = app(&last).await;
    let now = SystemClock.now();
    let (root, pair) = dst
        .accounts
        .login(LoginId::Email("root@example.org"), PASSWORD, &client, now)
        .await
        .unwrap();
    assert!(root.roles.iter().any(|r| r == "admin"));
    let newest_kid = copy.signing_keys().await.unwrap()[0].kid.clone();
    let header = jsonwebtoken::decode_header(&pair.access_token).unwrap();
    assert_eq!(
        header.kid.as_deref(),
        Some(newest_kid.as_str()),
        "signs with the rotated key"
    );
    // Tokens from before the copy: an access token of the retired key still
    // verifies, the refresh token still rotates, the logged-out session stays out.
    let claims = dst.guard.check_now(&ada_pair.access_token).unwrap();
    assert_eq!(claims.sub, ada.id.to_string());
    dst.accounts
        .refresh(&ada_pair.refresh_token, &client, now)
        .await
        .unwrap();
    assert!(dst.guard.check_now(&bob_pair.access_token).is_err());
    assert!(dst
        .accounts
        .refresh(&bob_pair.refresh_token, &client, now)
        .await
        .is_err());
    let (_, bob_again) = dst
        .accounts
        .login(LoginId::Email("bob@example.org"), PASSWORD, &client, now)
        .await
        .unwrap();
    dst.guard.check_now(&bob_again.access_token).unwrap();
}

#[test]
fn a_non_empty_target_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let source = format!("sqlite:{}", dir.join("source.db").display());
    let target = format!("sqlite:{}", dir.join("target.db").display());
    create_user(dir, &source, "ada@example.org", &[]);
    create_user(dir, &target, "bob@example.org", &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let before = rt.block_on(everything(&target));

    let out = migrate_data(dir, &source, &target);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("error: the target database is not empty (it holds 1 users, 0 sessions, 0 refresh tokens, 1 keys, 1 audit events)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(rt.block_on(everything(&target)), before);
    let ada = rt.block_on(async { open(&target).await.user_by_email("ada@example.org").await });
    assert_eq!(ada.unwrap(), None);
}

#[test]
fn mistakes_fail_before_anything_is_written_and_never_show_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let target = format!("sqlite:{}", dir.join("target.db").display());

    // A mistyped source path is not created (and copied from, empty).
    let missing = format!("sqlite:{}", dir.join("typo.db").display());
    let out = migrate_data(dir, &missing, &target);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("typo.db does not exist"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("typo.db").exists());
    assert!(!dir.join("target.db").exists());

    let out = migrate_data(dir, &target, &target);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the same database"),
        "{}",
        stderr(&out)
    );

    let source = format!("sqlite:{}", dir.join("source.db").display());
    create_user(dir, &source, "ada@example.org", &[]);
    let out = migrate_data(
        dir,
        &source,
        "postgres://doorward:hunter2@127.0.0.1:1/doorward",
    );
    assert_eq!(out.status.code(), Some(1));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("postgres://doorward:***@127.0.0.1:1/doorward"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn help_explains_both_directions_and_both_flags_are_required() {
    let dir = tempfile::tempdir().unwrap();
    let out = doorward(dir.path(), &["--help"], "");
    assert_ok(&out);
    assert!(stdout(&out)
        .lines()
        .any(|l| l.trim_start().starts_with("migrate-data")));

    let out = doorward(dir.path(), &["migrate-data", "--help"], "");
    assert_ok(&out);
    let help = stdout(&out);
    for needle in [
        "--from <URL>",
        "--to <URL>",
        "SQLite to PostgreSQL",
        "PostgreSQL to SQLite",
        "must be empty",
        "keys.encryption_key",
    ] {
        assert!(help.contains(needle), "{needle} missing:\n{help}");
    }

    let out = doorward(dir.path(), &["migrate-data", "--from", "sqlite:x.db"], "");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(stderr(&out).contains("--to <URL>"), "{}", stderr(&out));
    assert!(!dir.path().join("x.db").exists());
}
