//! `doorward audit verify` as an operator runs it: events made by the real
//! binary (`user create`) verify; a row changed or deleted directly in the
//! database (SQLite file, PostgreSQL) makes it exit 1 naming that row; an
//! anchor kept from an earlier run catches rows deleted from the end. Also
//! the structured log line each committed event gets (and a failed change
//! does not), and a chain copied by `migrate-data` verifying on the target.
//!
//! Needs PostgreSQL for its second half, like the storage tests (see `api/postgres.rs`).

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

use postgres::PgDatabase;
use sqlx::{Connection, PgConnection, SqliteConnection};

const PREFIX: &str = "doorward_audit_";
const PASSWORD: &str = "correct horse battery staple";

/// The binary, run in `dir` with cheap argon2 and nothing of the outer
/// `DOORWARD_*` or `RUST_LOG`.
fn doorward(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_doorward"));
    cmd.current_dir(dir).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("DOORWARD_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("RUST_LOG")
        .env("DOORWARD_PASSWORD_HASH_MEMORY_KIB", "1024")
        .env("DOORWARD_PASSWORD_HASH_ITERATIONS", "1")
        .stdin(Stdio::piped())
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

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Makes one account per name (one `signup` event each) with the CLI;
/// returns the JSON log lines of the first run.
fn create_users(dir: &Path, db: &str, names: &[&str]) -> Vec<serde_json::Value> {
    let mut first_log = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let email = format!("{name}@example.org");
        let args = [
            "user",
            "create",
            "--log-format",
            "json",
            "--database",
            db,
            "--email",
            &email,
            "--password-stdin",
        ];
        let out = doorward(dir, &args, &format!("{PASSWORD}\n"));
        assert!(out.status.success(), "{}", text(&out));
        if i == 0 {
            first_log = json_lines(&out);
        }
    }
    first_log
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn audit_lines(log: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    log.iter()
        .filter(|l| l["target"] == "doorward::audit")
        .collect()
}

/// Runs `audit verify`; returns (exit code, stdout and stderr).
fn verify(dir: &Path, db: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["audit", "verify", "--database", db];
    args.extend_from_slice(extra);
    let out = doorward(dir, &args, "");
    (out.status.code().unwrap(), text(&out))
}

/// The "chain head: SEQ:HASH" line of an intact run.
fn head_of(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix("chain head: "))
        .unwrap_or_else(|| panic!("no chain head in {output}"))
        .trim()
        .to_owned()
}

#[test]
fn help_names_the_subcommand_and_the_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let out = doorward(dir.path(), &["--help"], "");
    assert!(String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim_start().starts_with("audit")));
    let out = doorward(dir.path(), &["audit", "verify", "--help"], "");
    assert!(out.status.success(), "{}", text(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "--database",
        "--anchor",
        "exit 0 when intact",
        "--anchor to catch",
    ] {
        assert!(help.contains(word), "{word} missing:\n{help}");
    }
}

#[test]
fn a_malformed_anchor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}/doorward.db", dir.path().display());
    let (code, out) = verify(dir.path(), &db, &["--anchor", "12:abc"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("--anchor takes SEQ:HASH"), "{out}");
}

/// Each committed event is one JSON log line with its fields; a change that
/// fails (the email is taken) logs none.
#[test]
fn every_committed_event_is_logged_once_and_failures_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}/doorward.db", dir.path().display());
    let log = create_users(dir.path(), &db, &["ada"]);
    let lines = audit_lines(&log);
    assert_eq!(lines.len(), 1, "{log:?}");
    let line = lines[0];
    assert_eq!(line["type"], "signup", "{line}");
    assert!(
        line["outcome"].as_str().unwrap().starts_with("success"),
        "{line}"
    );
    assert_eq!(line["seq"], 1, "{line}");
    assert!(
        line["user_id"].as_str().is_some_and(|id| id.len() == 36),
        "{line}"
    );
    assert!(line["event_id"].is_string(), "{line}");
    assert!(!line.to_string().contains(PASSWORD));
    assert!(!line.to_string().contains("argon2"));

    let again = doorward(
        dir.path(),
        &[
            "user",
            "create",
            "--log-format",
            "json",
            "--database",
            &db,
            "--email",
            "ada@example.org",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(!again.status.success(), "{}", text(&again));
    assert!(
        audit_lines(&json_lines(&again)).is_empty(),
        "{}",
        text(&again)
    );
    let (code, out) = verify(dir.path(), &db, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit log intact: 1 events"), "{out}");
}

#[tokio::test]
async fn sqlite_tampering_is_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}/doorward.db", dir.path().display());
    create_users(dir.path(), &db, &["u1", "u2", "u3", "u4"]);
    let (code, out) = verify(dir.path(), &db, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit log intact: 4 events"), "{out}");

    let mut conn = SqliteConnection::connect(&db).await.unwrap();
    let (id2, outcome): (String, String) =
        sqlx::query_as("SELECT id, outcome FROM audit_events WHERE seq = 2")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    sqlx::query("UPDATE audit_events SET outcome = 'failure' WHERE seq = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    let (code, out) = verify(dir.path(), &db, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("event seq 2 (id {id2}): hash mismatch")),
        "{out}"
    );

    // Put back, it is intact again: the check reads what is stored, nothing else.
    sqlx::query("UPDATE audit_events SET outcome = ? WHERE seq = 2")
        .bind(&outcome)
        .execute(&mut conn)
        .await
        .unwrap();
    let (code, out) = verify(dir.path(), &db, &[]);
    assert_eq!(code, 0, "{out}");
    let head = head_of(&out);

    let id3: String = sqlx::query_scalar("SELECT id FROM audit_events WHERE seq = 3")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_events WHERE seq = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    let (code, out) = verify(dir.path(), &db, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("event seq 3 (id {id3}): gap, expected seq 2")),
        "{out}"
    );

    // Deleting from the end leaves a shorter chain that is whole in itself:
    // only the anchor kept from before notices.
    sqlx::query("DELETE FROM audit_events WHERE seq >= 3")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let (code, out) = verify(dir.path(), &db, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit log intact: 1 events"), "{out}");
    let (code, out) = verify(dir.path(), &db, &["--anchor", &head]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("events deleted from the end"), "{out}");
}

/// A chain copied by `migrate-data` verifies on PostgreSQL with the same
/// head, grows there, and tampering there is found like on SQLite.
#[tokio::test]
async fn postgres_copy_verifies_and_tampering_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}/doorward.db", dir.path().display());
    create_users(dir.path(), &sqlite, &["u1", "u2", "u3"]);
    let (code, out) = verify(dir.path(), &sqlite, &[]);
    assert_eq!(code, 0, "{out}");
    let head = head_of(&out);

    let pg = PgDatabase::create(PREFIX).await;
    let copy = doorward(
        dir.path(),
        &["migrate-data", "--from", &sqlite, "--to", &pg.url],
        "",
    );
    assert!(copy.status.success(), "{}", text(&copy));
    let (code, out) = verify(dir.path(), &pg.url, &["--anchor", &head]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(head_of(&out), head);

    create_users(dir.path(), &pg.url, &["u4", "u5"]);
    let (code, out) = verify(dir.path(), &pg.url, &["--anchor", &head]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit log intact: 5 events"), "{out}");

    let mut conn = PgConnection::connect(&pg.url).await.unwrap();
    let id4: uuid::Uuid = sqlx::query_scalar("SELECT id FROM audit_events WHERE seq = 4")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET at = at + interval '1 millisecond' WHERE seq = 4")
        .execute(&mut conn)
        .await
        .unwrap();
    let (code, out) = verify(dir.path(), &pg.url, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("event seq 4 (id {id4}): hash mismatch")),
        "{out}"
    );

    let id3: uuid::Uuid = sqlx::query_scalar("SELECT id FROM audit_events WHERE seq = 3")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_events WHERE seq = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let (code, out) = verify(dir.path(), &pg.url, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("event seq 3 (id {id3}): gap, expected seq 2")),
        "{out}"
    );
}
