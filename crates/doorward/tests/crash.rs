//! Crash safety: the built `doorward serve` under concurrent signups and
//! refreshes is killed with SIGKILL at random moments, five times, and
//! restarted on the same database (a SQLite file; a fresh PostgreSQL
//! database). Every request that got a 2xx is recorded; the proof:
//!
//! - right after each kill, before the restart, the database itself has no
//!   half-rotated session: every unrevoked session keeps at least one live
//!   refresh token (`rotated_at IS NULL`);
//! - after each restart, the latest acknowledged refresh token of every
//!   session refreshes (200). A refresh whose answer was lost to the kill may
//!   have rotated that token already; the grace window is set to an hour so
//!   such a token is legitimately superseded yet still answers 200, instead
//!   of the outcome depending on how long the restart took;
//! - at the end every acknowledged signup logs in with its password.
//!
//! Seeded from the clock; the seed is printed (`--nocapture`) and
//! `DOORWARD_CRASH_SEED` replays the same kill moments.
//! Needs PostgreSQL for the second test, like the storage tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "api/postgres.rs"]
mod postgres;

mod common;

use common::free_port;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::PgDatabase;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection as _;

const PASSWORD: &str = "correct horse battery staple";
const ISSUER: &str = "http://doorward-crash.test";
const KILLS: usize = 5;
const WORKERS: usize = 8;

/// SELECT: unrevoked sessions without a live refresh token (half-rotated).
const HALF_ROTATED: &str = "SELECT COUNT(*) FROM sessions s WHERE s.revoked_at IS NULL \
     AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = s.id AND r.rotated_at IS NULL)";

// ---------------------------------------------------------------- randomness

/// xorshift64*: enough to pick moments and operations, no extra dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    std::env::var("DOORWARD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}

// ---------------------------------------------------------------- the server

/// One life of `doorward serve`; SIGKILLed by `kill` or when dropped.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    async fn start(database: &str, dir: &std::path::Path, life: usize) -> Server {
        let port = free_port();
        let log = dir.join(format!("serve-{life}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_doorward"));
        for (name, _) in std::env::vars() {
            if name.starts_with("DOORWARD_") {
                cmd.env_remove(name);
            }
        }
        cmd.current_dir(dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .env("DOORWARD_DATABASE_URL", database)
            .env("DOORWARD_ISSUER", ISSUER)
            .env("DOORWARD_PASSWORD_HASH_MEMORY_KIB", "1024")
            .env("DOORWARD_PASSWORD_HASH_ITERATIONS", "1")
            .env("DOORWARD_TOKENS_REFRESH_GRACE", "1h")
            .env("DOORWARD_DATABASE_MAX_CONNECTIONS", "4")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let mut server = Server {
            child: cmd.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_healthy().await;
        server
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_healthy(&mut self) {
        let started = Instant::now();
        loop {
            if let Ok(res) = http().get(format!("{}/healthz", self.base)).send().await {
                if res.status() == StatusCode::OK {
                    return;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("serve exited with {status}:\n{}", self.logs());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "not healthy after 20 s:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), and reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let logs = self.logs();
            let lines: Vec<&str> = logs.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            eprintln!("--- log of {} (last lines) ---\n{tail}", self.base);
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Option<(StatusCode, Value)> {
    let res = client.post(url).json(&body).send().await.ok()?;
    let status = res.status();
    let body = res.json().await.ok()?;
    Some((status, body))
}

// ---------------------------------------------------------------- the ledger

/// A session as the clients know it: the latest acknowledged refresh token,
/// and whether a refresh of it is on the wire.
struct Session {
    token: String,
    busy: bool,
}

/// Everything that got a 2xx, and anything that should not have happened.
#[derive(Default)]
struct Ledger {
    signups: Vec<String>,
    sessions: Vec<Session>,
    refreshes: u64,
    unanswered: u64,
    wrong: Vec<String>,
}

/// One worker: signups and refreshes of random sessions until told to stop.
/// A request without an answer (the server died under it) is not in the ledger.
async fn worker(
    base: String,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    counter: Arc<AtomicU64>,
    seed: u64,
) {
    let client = http();
    let mut rng = Rng(seed | 1);
    while !stop.load(Ordering::Relaxed) {
        let pick = {
            let mut l = ledger.lock().unwrap();
            let n = l.sessions.len() as u64;
            if n > 0 && rng.below(3) > 0 {
                let i = rng.below(n) as usize;
                let s = &mut l.sessions[i];
                if s.busy {
                    None
                } else {
                    s.busy = true;
                    Some((i, s.token.clone()))
                }
            } else {
                None
            }
        };
        match pick {
            Some((i, token)) => {
                let answer = post(
                    &client,
                    format!("{base}/v1/refresh"),
                    json!({"refresh_token": token}),
                )
                .await;
                let mut l = ledger.lock().unwrap();
                match answer {
                    Some((StatusCode::OK, body)) => {
                        let s = &mut l.sessions[i];
                        s.token = body["refresh_token"].as_str().unwrap().to_owned();
                        s.busy = false;
                        l.refreshes += 1;
                    }
                    // Still `busy`: the outcome is unknown until the restart.
                    None => l.unanswered += 1,
                    // Overloaded: the token stays the latest acknowledged one
                    // (and within the grace window even if it did rotate).
                    Some((StatusCode::SERVICE_UNAVAILABLE, _)) => {
                        l.sessions[i].busy = false;
                        l.unanswered += 1;
                    }
                    Some((status, body)) => {
                        l.sessions[i].busy = false;
                        l.wrong.push(format!("refresh: {status} {body}"));
                    }
                }
            }
            None => {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let email = format!("crash-{n}-{}@example.com", seed % 100_000);
                let answer = post(
                    &client,
                    format!("{base}/v1/signup"),
                    json!({"email": email, "password": PASSWORD}),
                )
                .await;
                let mut l = ledger.lock().unwrap();
                match answer {
                    Some((StatusCode::CREATED, body)) => {
                        l.signups.push(email);
                        l.sessions.push(Session {
                            token: body["refresh_token"].as_str().unwrap().to_owned(),
                            busy: false,
                        });
                    }
                    None | Some((StatusCode::SERVICE_UNAVAILABLE, _)) => l.unanswered += 1,
                    Some((status, body)) => l.wrong.push(format!("signup: {status} {body}")),
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
}

// ---------------------------------------------------------------- checks

/// The database, looked at directly while no server runs.
enum Db {
    Sqlite(String),
    Postgres(PgDatabase),
}

impl Db {
    fn url(&self) -> String {
        match self {
            Db::Sqlite(url) => url.clone(),
            Db::Postgres(pg) => pg.url.clone(),
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        match self {
            Db::Sqlite(url) => {
                let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
                let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
                conn.close().await.unwrap();
                n
            }
            Db::Postgres(pg) => pg.count(sql).await,
        }
    }
}

/// After a restart: the latest acknowledged token of every session refreshes.
async fn every_session_refreshes(base: &str, ledger: &Arc<Mutex<Ledger>>) {
    let client = http();
    let sessions: Vec<(usize, String)> = {
        let mut l = ledger.lock().unwrap();
        l.sessions
            .iter_mut()
            .enumerate()
            .map(|(i, s)| {
                s.busy = false;
                (i, s.token.clone())
            })
            .collect()
    };
    for (i, token) in sessions {
        let (status, body) = post(
            &client,
            format!("{base}/v1/refresh"),
            json!({"refresh_token": token}),
        )
        .await
        .expect("the restarted server answers");
        assert_eq!(
            status,
            StatusCode::OK,
            "session {i}: its latest acknowledged refresh token was refused: {body}"
        );
        ledger.lock().unwrap().sessions[i].token =
            body["refresh_token"].as_str().unwrap().to_owned();
    }
}

async fn crash_and_restart(db: Db) {
    let seed = seed();
    println!("DOORWARD_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();

    for life in 0..=KILLS {
        let server = Server::start(&db.url(), dir.path(), life).await;
        if life > 0 {
            every_session_refreshes(&server.base, &ledger).await;
        }
        if life == KILLS {
            // The last life: every acknowledged signup logs in.
            let client = http();
            let emails = ledger.lock().unwrap().signups.clone();
            for email in &emails {
                let (status, body) = post(
                    &client,
                    format!("{}/v1/login", server.base),
                    json!({"email": email, "password": PASSWORD}),
                )
                .await
                .expect("the server answers");
                assert_eq!(status, StatusCode::OK, "{email} was acknowledged: {body}");
            }
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                tokio::spawn(worker(
                    server.base.clone(),
                    ledger.clone(),
                    stop.clone(),
                    counter.clone(),
                    rng.next(),
                ))
            })
            .collect();
        // A random moment, then SIGKILL under load.
        tokio::time::sleep(Duration::from_millis(300 + rng.below(1200))).await;
        let mut server = server;
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.await.unwrap();
        }
        let half = db.count(HALF_ROTATED).await;
        assert_eq!(
            half,
            0,
            "after kill {}: {half} half-rotated sessions",
            life + 1
        );
        let l = ledger.lock().unwrap();
        assert!(l.wrong.is_empty(), "unexpected answers: {:?}", l.wrong);
        println!(
            "kill {}: {} signups and {} refreshes acknowledged so far, {} requests cut off",
            life + 1,
            l.signups.len(),
            l.refreshes,
            l.unanswered
        );
    }
    let (signups, sessions, refreshes) = {
        let l = ledger.lock().unwrap();
        (l.signups.len(), l.sessions.len(), l.refreshes)
    };
    assert!(
        signups >= 10 && refreshes >= 10,
        "too little load to prove anything: {signups} signups, {refreshes} refreshes"
    );
    let users = db.count("SELECT COUNT(*) FROM users").await;
    assert!(users >= signups as i64, "{users} users in the database");
    assert_eq!(db.count(HALF_ROTATED).await, 0);
    println!(
        "{KILLS} kills in {:?}: {signups} signups log in, {sessions} sessions refresh, \
         {refreshes} refreshes acknowledged",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_acknowledged_write_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("doorward.db").display());
    crash_and_restart(Db::Sqlite(url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_acknowledged_write_on_postgres() {
    let pg = PgDatabase::create("doorward_crash_").await;
    crash_and_restart(Db::Postgres(pg)).await;
}
