//! `doorward import` as an operator runs it: a CSV with argon2 and bcrypt
//! ($2b$, $2y$) hashes plus malformed and duplicate rows, then a FastAPI
//! tutorial-style SQLite database built here, into the same (live) database;
//! then `doorward serve` and imported users log in over HTTP with their old
//! passwords, which re-hashes them to argon2id.

// Test binaries: helpers outside `#[test]` functions may unwrap and index
// too (clippy.toml's `allow-*-in-tests` only covers the test functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use doorward_core::passwords::{HashParams, HashPool, PasswordHasher};
use doorward_core::types::Password;
use serde_json::json;
use sqlx::{ConnectOptions as _, Connection as _};

/// The binary, run in `dir` (see `common::doorward`) on the database there.
fn doorward(dir: &Path) -> Command {
    let mut cmd = common::doorward(dir);
    cmd.env("DOORWARD_DATABASE_URL", db_url(dir));
    cmd
}

fn db_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("doorward.db").display())
}

fn import(dir: &Path, format: &str, file: &Path) -> Output {
    doorward(dir)
        .args(["import", "--format", format])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn bcrypt_hash(password: &str, version: bcrypt::Version) -> String {
    bcrypt::hash_with_result(password, 4)
        .unwrap()
        .format_for_version(version)
}

async fn argon2_hash(password: &str) -> String {
    let h = PasswordHasher::new(
        HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        HashPool::default(),
    )
    .unwrap();
    h.hash(&Password::parse(password, "password").unwrap())
        .await
        .unwrap()
}

/// The table SQLModel creates for the FastAPI tutorial's `User` model.
async fn fastapi_db(path: &Path, users: &[(&str, Option<&str>, &str)]) {
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE user (
            id INTEGER NOT NULL,
            username VARCHAR NOT NULL,
            email VARCHAR,
            full_name VARCHAR,
            disabled BOOLEAN,
            hashed_password VARCHAR NOT NULL,
            PRIMARY KEY (id)
        )",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("CREATE UNIQUE INDEX ix_user_username ON user (username)")
        .execute(&mut conn)
        .await
        .unwrap();
    for (username, email, hash) in users {
        sqlx::query(
            "INSERT INTO user (username, email, full_name, disabled, hashed_password) VALUES (?, ?, 'Some One', 0, ?)",
        )
        .bind(username)
        .bind(email)
        .bind(hash)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    conn.close().await.unwrap();
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(dir: &Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let child = doorward(dir)
        .args(["serve", "--listen", &listen])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("http://{listen}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = client
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            return server;
        }
        assert!(Instant::now() < deadline, "doorward serve did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stored_hash(dir: &Path, email: &str) -> String {
    let env = vec![("DOORWARD_DATABASE_URL".to_owned(), db_url(dir))];
    let settings =
        doorward::config::Settings::load(&doorward::config::Overrides::default(), &env).unwrap();
    let store = doorward::app::open_store(&settings).await.unwrap();
    store
        .user_by_email(email)
        .await
        .unwrap()
        .unwrap()
        .password_hash
}

#[tokio::test]
async fn csv_then_fastapi_sqlite_import_and_imported_users_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // -- CSV into a new database. Argon2 PHC strings hold commas
    // (`m=...,t=...,p=...`), so that field is quoted, as any CSV writer does.
    let argon = argon2_hash("argon secret one").await;
    let b2b = bcrypt_hash("bcrypt b secret", bcrypt::Version::TwoB);
    let b2y = bcrypt_hash("bcrypt y secret", bcrypt::Version::TwoY);
    let csv = format!(
        "email,username,password_hash\n\
         ann@example.com,ann,\"{argon}\"\n\
         bob@example.com,bob,{b2b}\n\
         cy@example.com,,{b2y}\n\
         not-an-email,dan,{b2b}\n\
         eve@example.com,eve,plaintext-password\n\
         ANN@example.com,ann2,{b2b}\n\
         fay@example.com,bob,{b2b}\n\
         only,two\n"
    );
    let csv_path = d.join("users.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let out = import(d, "csv", &csv_path);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.trim_end().lines().last(),
        Some("imported 3, skipped 5"),
        "{stdout}\n{stderr}"
    );
    for expected in [
        "line 5: skipped: invalid email",
        "line 6: skipped: unsupported password hash",
        "line 7: skipped: email exists",
        "line 8: skipped: username exists",
        "line 9: skipped: malformed row",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("line 2:") && !stderr.contains("line 3:"),
        "{stderr}"
    );

    // -- A FastAPI tutorial database into the same, now live, database.
    let legacy = d.join("fastapi.db");
    let gus = bcrypt_hash("gus old password", bcrypt::Version::TwoB);
    fastapi_db(
        &legacy,
        &[
            ("gus", Some("gus@example.com"), &gus),
            (
                "hal",
                Some("hal@example.com"),
                &bcrypt_hash("hal old password", bcrypt::Version::TwoB),
            ),
            ("ivy", None, &gus),
            ("bob", Some("bob2@example.com"), &gus),
            ("joe", Some("bob@example.com"), &gus),
        ],
    )
    .await;
    let out = import(d, "fastapi-sqlite", &legacy);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.trim_end().lines().last(),
        Some("imported 2, skipped 3"),
        "{stdout}\n{stderr}"
    );
    for expected in [
        "row 3: skipped: no email",
        "row 4: skipped: username exists",
        "row 5: skipped: email exists",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }

    // -- Imported users log in with their old passwords; bcrypt becomes argon2id.
    assert!(stored_hash(d, "gus@example.com").await.starts_with("$2b$"));
    assert!(stored_hash(d, "cy@example.com").await.starts_with("$2y$"));
    let server = serve(d).await;
    let client = reqwest::Client::new();
    let login = |email: &'static str, password: &'static str| {
        let client = client.clone();
        let url = format!("{}/v1/login", server.base);
        async move {
            client
                .post(url)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(login("gus@example.com", "wrong password!").await, 401);
    assert_eq!(login("gus@example.com", "gus old password").await, 200);
    assert_eq!(login("bob@example.com", "bcrypt b secret").await, 200);
    assert_eq!(login("cy@example.com", "bcrypt y secret").await, 200);
    assert_eq!(login("ann@example.com", "argon secret one").await, 200);
    assert_eq!(login("hal@example.com", "hal old password").await, 200);
    drop(server);
    for email in [
        "gus@example.com",
        "bob@example.com",
        "cy@example.com",
        "hal@example.com",
    ] {
        let h = stored_hash(d, email).await;
        assert!(h.starts_with("$argon2id$"), "{email}: {h}");
    }
    // The argon2 hash stays as imported when it is not weaker than configured.
    assert!(stored_hash(d, "ann@example.com")
        .await
        .starts_with("$argon2id$"));
    // And the upgraded users still log in (with the new hash).
    let server = serve(d).await;
    let status = reqwest::Client::new()
        .post(format!("{}/v1/login", server.base))
        .json(&json!({"email": "gus@example.com", "password": "gus old password"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unreadable_sources_fail_without_importing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = import(d, "csv", &d.join("missing.csv"));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("missing.csv"),
        "{}",
        text(&out.stderr)
    );

    let bad_header = d.join("bad.csv");
    std::fs::write(&bad_header, "mail,user,hash\na@example.com,a,x\n").unwrap();
    let out = import(d, "csv", &bad_header);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("password_hash"),
        "{}",
        text(&out.stderr)
    );

    let out = import(d, "fastapi-sqlite", &d.join("missing.db"));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("missing.db"),
        "{}",
        text(&out.stderr)
    );

    let help = doorward(d).args(["import", "--help"]).output().unwrap();
    assert!(help.status.success());
    assert!(text(&help.stdout).contains("fastapi-sqlite"));
}
