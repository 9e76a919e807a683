//! The `doorward` binary as an operator runs it, each test in a fresh
//! directory: `--help` texts, `migrate`, `user create`, `keys list|rotate`,
//! configuration errors, and `serve` (default data path, `/healthz`, a CLI
//! user logging in over HTTP, a CLI rotation picked up, SIGTERM, restart).

// Test binaries: helpers outside `#[test]` functions may unwrap and index
// too (clippy.toml's `allow-*-in-tests` only covers the test functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::doorward;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Run to completion, feeding `stdin`.
fn run_with(mut cmd: Command, stdin: &str) -> Output {
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

fn run(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = doorward(dir);
    cmd.args(args);
    run_with(cmd, "")
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

fn create_user(dir: &Path, email: &str, admin: bool, password: &str) -> Output {
    let mut cmd = doorward(dir);
    cmd.args(["user", "create", "--email", email, "--password-stdin"]);
    if admin {
        cmd.arg("--admin");
    }
    run_with(cmd, &format!("{password}\n"))
}

/// `keys list` rows as (kid, state).
fn key_states(dir: &Path) -> Vec<(String, String)> {
    let out = run(dir, &["keys", "list"]);
    assert_ok(&out);
    stdout(&out)
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols[0].to_owned(), cols[2].to_owned())
        })
        .collect()
}

#[test]
fn help_lists_the_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--help"]);
    assert_ok(&out);
    let text = stdout(&out);
    for sub in ["serve", "migrate", "user", "keys"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(sub)),
            "{sub} missing:\n{text}"
        );
    }
    for args in [
        &["migrate", "--help"][..],
        &["user", "create", "--help"],
        &["keys", "--help"],
        &["keys", "rotate", "--help"],
    ] {
        let out = run(dir.path(), args);
        assert_ok(&out);
        assert!(
            stdout(&out).contains("--database"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
    let text = stdout(&run(dir.path(), &["user", "create", "--help"]));
    for flag in ["--email", "--username", "--admin", "--password-stdin"] {
        assert!(text.contains(flag), "{flag} missing:\n{text}");
    }
    // `--help` touched nothing.
    assert!(!dir.path().join("doorward-data").exists());
}

#[test]
fn serve_help_names_every_setting_and_its_environment_twin() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["serve", "--help"]);
    assert_ok(&out);
    let text = stdout(&out);
    let keys = [
        "tokens.access_ttl",
        "tokens.refresh_ttl",
        "tokens.refresh_grace",
        "tokens.audience",
        "mail.smtp_url",
        "mail.outbox_dir",
        "mail.from",
        "auth.require_email_verification",
        "auth.trusted_proxies",
        "password.breached_file",
        "throttle.account_failures",
        "throttle.ip_failures",
        "throttle.window",
        "web.allowed_return_origins",
        "keys.encryption_key",
    ];
    for key in keys {
        assert!(text.contains(key), "{key} missing:\n{text}");
        let env = format!("DOORWARD_{}", key.replace('.', "_").to_uppercase());
        assert!(text.contains(&env), "{env} missing:\n{text}");
    }
    for word in [
        "--listen",
        "--database",
        "--config",
        "DOORWARD_LISTEN",
        "DOORWARD_DATABASE_URL",
        "DOORWARD_CONFIG",
        "DOORWARD_ISSUER",
    ] {
        assert!(text.contains(word), "{word} missing:\n{text}");
    }
}

#[test]
fn migrate_creates_the_named_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["migrate", "--database", "sqlite:./x.db"]);
    assert_ok(&out);
    assert!(dir.path().join("x.db").is_file());
    // Again: nothing to do, still fine.
    assert_ok(&run(
        dir.path(),
        &["migrate", "--database", "sqlite:./x.db"],
    ));
    // In a directory that does not exist yet.
    assert_ok(&run(
        dir.path(),
        &["migrate", "--database", "sqlite:./nested/dir/y.db"],
    ));
    assert!(dir.path().join("nested/dir/y.db").is_file());
    assert!(!dir.path().join("doorward-data").exists());
}

#[test]
fn database_flag_beats_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = doorward(dir.path());
    cmd.env("DOORWARD_DATABASE_URL", "sqlite:./env.db").args([
        "migrate",
        "--database",
        "sqlite:./flag.db",
    ]);
    assert_ok(&run_with(cmd, ""));
    assert!(dir.path().join("flag.db").is_file());
    assert!(!dir.path().join("env.db").exists());
    let mut cmd = doorward(dir.path());
    cmd.env("DOORWARD_DATABASE_URL", "sqlite:./env.db")
        .arg("migrate");
    assert_ok(&run_with(cmd, ""));
    assert!(dir.path().join("env.db").is_file());
}

#[test]
fn user_create_prints_the_id_and_refuses_duplicates_and_weak_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let out = create_user(dir.path(), "a@example.com", true, "correct horse battery");
    assert_ok(&out);
    let printed = stdout(&out);
    let id = printed
        .split(|c: char| c.is_whitespace() || c == '<' || c == '>')
        .find_map(|w| uuid::Uuid::parse_str(w).ok());
    assert!(id.is_some(), "no user id in {printed:?}");
    assert!(printed.contains("a@example.com"), "{printed}");
    // The default database was created.
    assert!(dir.path().join("doorward-data/doorward.db").is_file());

    let again = create_user(dir.path(), "A@Example.com", false, "another fine password");
    assert!(!again.status.success());
    let err = stderr(&again);
    assert!(err.contains("exists already"), "{err}");
    assert!(!err.contains("another fine password"), "{err}");

    let weak = create_user(dir.path(), "b@example.com", false, "short");
    assert!(!weak.status.success());
    assert!(stderr(&weak).contains("password"), "{}", stderr(&weak));
    let weak = create_user(dir.path(), "c@example.com", false, "my c@example.com pw");
    assert!(!weak.status.success());
    assert!(stderr(&weak).contains("password"), "{}", stderr(&weak));
    let empty = create_user(dir.path(), "d@example.com", false, "");
    assert!(!empty.status.success());
    let bad_email = create_user(dir.path(), "not-an-email", false, "correct horse battery");
    assert!(!bad_email.status.success());
    assert!(
        stderr(&bad_email).contains("email"),
        "{}",
        stderr(&bad_email)
    );
    // The refused accounts do not exist: creating them properly works.
    assert_ok(&create_user(
        dir.path(),
        "b@example.com",
        false,
        "correct horse battery",
    ));
}

#[test]
fn keys_rotate_adds_a_signer_and_keeps_the_old_key_published() {
    let dir = tempfile::tempdir().unwrap();
    let before = key_states(dir.path());
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0].1, "signing");

    let out = run(dir.path(), &["keys", "rotate"]);
    assert_ok(&out);
    let after = key_states(dir.path());
    assert_eq!(after.len(), 2, "{after:?}");
    let signing: Vec<&(String, String)> = after.iter().filter(|(_, s)| s == "signing").collect();
    let published: Vec<&(String, String)> =
        after.iter().filter(|(_, s)| s == "published").collect();
    assert_eq!(signing.len(), 1, "{after:?}");
    assert_eq!(published.len(), 1, "{after:?}");
    assert_eq!(
        published[0].0, before[0].0,
        "the old key is the published one"
    );
    assert!(
        stdout(&out).contains(&signing[0].0),
        "rotate names the new kid: {}",
        stdout(&out)
    );
}

#[test]
fn unknown_config_keys_are_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("doorward.toml"),
        "[tokens]\nacess_ttl = \"5m\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["migrate", "--config", "doorward.toml"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("tokens.acess_ttl"),
        "{}",
        stderr(&out)
    );
    // The same through DOORWARD_CONFIG, and for serve (which then never listens).
    let mut cmd = doorward(dir.path());
    cmd.env("DOORWARD_CONFIG", "doorward.toml")
        .args(["serve", "--listen", "127.0.0.1:1"]);
    let out = run_with(cmd, "");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("tokens.acess_ttl"),
        "{}",
        stderr(&out)
    );

    std::fs::write(dir.path().join("top.toml"), "listn = \"127.0.0.1:9\"\n").unwrap();
    let out = run(dir.path(), &["migrate", "--config", "top.toml"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("listn"), "{}", stderr(&out));

    let out = run(dir.path(), &["migrate", "--config", "missing.toml"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
    // Nothing was created by the failed runs.
    assert!(!dir.path().join("doorward-data").exists());
}

#[test]
fn unknown_environment_variables_get_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = doorward(dir.path());
    cmd.env("DOORWARD_TOKENS_ACESS_TTL", "5m")
        .args(["migrate", "--database", "sqlite:./w.db"]);
    let out = run_with(cmd, "");
    assert_ok(&out);
    assert!(
        stderr(&out).contains("DOORWARD_TOKENS_ACESS_TTL"),
        "{}",
        stderr(&out)
    );
}

/// A `serve` child, killed if a test fails before it stops it.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path, log: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(log).unwrap();
        let child = doorward(dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_healthy(&mut self, client: &reqwest::Client, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = client.get(format!("{}/healthz", self.base)).send().await;
            // 503 while the server is still starting (it listens first).
            if let Some(res) = answer.ok().filter(|r| r.status() != 503) {
                assert_eq!(res.status(), 200);
                assert_eq!(res.json::<Value>().await.unwrap(), json!({"status": "ok"}));
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "serve exited with {status}:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "serve not healthy after 20 s:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then wait (at most 10 s) for a clean exit.
    async fn terminate(&mut self) -> std::process::ExitStatus {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve still running 10 s after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{base}/v1/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    serde_json::from_slice::<Value>(&header).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn serve_runs_with_defaults_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("serve.log");
    let client = reqwest::Client::new();
    let mut server = Server::start(dir.path(), &log);
    server.wait_healthy(&client, &log).await;
    // No --database: the default SQLite file, created with its directory.
    assert!(dir.path().join("doorward-data/doorward.db").is_file());

    // An operator creates an admin while the server runs; it logs in over HTTP.
    assert_ok(&create_user(
        dir.path(),
        "root@example.com",
        true,
        "correct horse battery",
    ));
    let res = login(
        &client,
        &server.base,
        "root@example.com",
        "correct horse battery",
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let me = client
        .get(format!("{}/v1/me", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["roles"], json!(["user", "admin"]));
    assert_eq!(me["email"], "root@example.com");

    // A rotation by the CLI is used within 5 seconds; the old token still works.
    let old_kid = kid_of(&token);
    assert_ok(&run(dir.path(), &["keys", "rotate"]));
    let deadline = Instant::now() + Duration::from_secs(5);
    let new_token = loop {
        let res = login(
            &client,
            &server.base,
            "root@example.com",
            "correct horse battery",
        )
        .await;
        let body: Value = res.json().await.unwrap();
        let t = body["access_token"].as_str().unwrap().to_owned();
        if kid_of(&t) != old_kid {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "the server still signs with {old_kid} 5 s after `keys rotate`"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for t in [&token, &new_token] {
        let res = client
            .get(format!("{}/v1/me", server.base))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    let status = server.terminate().await;
    assert!(
        status.success(),
        "serve exited with {status}:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // A second start reuses the database and the keys: the account and the new key are there.
    let mut again = Server::start(dir.path(), &log);
    again.wait_healthy(&client, &log).await;
    let res = login(
        &client,
        &again.base,
        "root@example.com",
        "correct horse battery",
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        kid_of(body["access_token"].as_str().unwrap()),
        kid_of(&new_token)
    );
    assert!(again.terminate().await.success());
}
