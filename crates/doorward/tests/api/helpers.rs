//! `TestApp`: the real server on a random port with a fresh database and a
//! test clock, and a client whose helpers read like the API.
//!
//! The engine comes from `DOORWARD_TEST_ENGINE`: `sqlite` (the default; a
//! file in a temporary directory) or `postgres` (a database of its own per
//! test, see `postgres.rs`). The stories do not care which: two servers on
//! one database are `app.spawn_sharing()`, and `spawn_on` with a
//! `sqlite:PATH` URL means "the database kept at PATH" on either engine (on
//! PostgreSQL the path names a database, created when missing like the
//! file would be), so a server restarted "on the same file" finds its data.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use doorward::config::{Overrides, Settings};
use doorward_core::clock::{Clock as _, TestClock};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::postgres::PgDatabase;

/// Which storage engine the HTTP tests run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// From `DOORWARD_TEST_ENGINE` (`sqlite` when unset); anything else is a
    /// mistake worth stopping for, not a silent fallback.
    pub fn from_env() -> Engine {
        match std::env::var("DOORWARD_TEST_ENGINE").as_deref() {
            Err(_) | Ok("") | Ok("sqlite") => Engine::Sqlite,
            Ok("postgres") | Ok("postgresql") => Engine::Postgres,
            Ok(other) => panic!("DOORWARD_TEST_ENGINE=`{other}`: expected `sqlite` or `postgres`"),
        }
    }
}

/// PostgreSQL databases in use at once: each server may open a few
/// connections, and the server's `max_connections` (100 by default) is
/// shared with everything else running.
static PG_DATABASES: Semaphore = Semaphore::const_new(8);
/// Per server on PostgreSQL (the default of 8 is for production).
const PG_POOL: &str = "4";

/// The database of one or more `TestApp`s; on PostgreSQL dropped with the
/// last of them.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    postgres: Option<(PgDatabase, SemaphorePermit<'static>)>,
}

/// `sqlite:PATH` → the database standing for PATH. Apps hold their database;
/// this only finds it again (`Weak`), except for paths no app was created
/// in, whose database lives until their directory is gone (`keep`).
struct PathEntry {
    path: PathBuf,
    database: Weak<TestDatabase>,
    keep: Option<Arc<TestDatabase>>,
}

static BY_PATH: Mutex<Vec<PathEntry>> = Mutex::new(Vec::new());

fn sqlite_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(PathBuf::from)
}

impl TestDatabase {
    /// A new, empty database for an app living in `dir`.
    pub async fn fresh(dir: &Path) -> Arc<TestDatabase> {
        let path = dir.join("doorward.db");
        let db = match Engine::from_env() {
            Engine::Sqlite => TestDatabase {
                url: format!("sqlite:{}", path.display()),
                postgres: None,
            },
            Engine::Postgres => TestDatabase::new_postgres().await,
        };
        let db = Arc::new(db);
        Self::remember(path, &db, None);
        db
    }

    async fn new_postgres() -> TestDatabase {
        let permit = PG_DATABASES
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let pg = PgDatabase::create("doorward_api_").await;
        TestDatabase {
            url: pg.url.clone(),
            postgres: Some((pg, permit)),
        }
    }

    /// The database a URL names: itself on SQLite and for `postgres://`
    /// URLs; on PostgreSQL, `sqlite:PATH` is the database standing for PATH.
    pub async fn for_url(url: &str) -> Arc<TestDatabase> {
        let path = match (Engine::from_env(), sqlite_path(url)) {
            (Engine::Postgres, Some(path)) => path,
            _ => {
                return Arc::new(TestDatabase {
                    url: url.to_owned(),
                    postgres: None,
                })
            }
        };
        let known = {
            let mut entries = BY_PATH.lock().unwrap();
            Self::forget_gone(&mut entries);
            entries
                .iter()
                .find(|e| e.path == path)
                .and_then(|e| e.database.upgrade())
        };
        if let Some(db) = known {
            return db;
        }
        let db = Arc::new(TestDatabase::new_postgres().await);
        Self::remember(path, &db, Some(db.clone()));
        db
    }

    fn remember(path: PathBuf, db: &Arc<TestDatabase>, keep: Option<Arc<TestDatabase>>) {
        let mut entries = BY_PATH.lock().unwrap();
        Self::forget_gone(&mut entries);
        entries.push(PathEntry {
            path,
            database: Arc::downgrade(db),
            keep,
        });
    }

    /// Drops entries whose app is gone, and lets go of the databases kept for
    /// directories that no longer exist.
    fn forget_gone(entries: &mut Vec<PathEntry>) {
        entries.retain(|e| {
            let dir_exists = e.path.parent().is_some_and(Path::exists);
            e.database.strong_count() > 0 && (e.keep.is_none() || dir_exists)
        });
    }

    /// The PostgreSQL database, when the tests run on PostgreSQL.
    pub fn postgres(&self) -> Option<&PgDatabase> {
        self.postgres.as_ref().map(|(pg, _)| pg)
    }
}

pub struct TestApp {
    pub addr: String,
    pub client: reqwest::Client,
    pub clock: TestClock,
    pub settings: Settings,
    pub state: doorward::app::AppState,
    pub dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    /// Last: dropped (on PostgreSQL) after the server has been told to stop.
    pub database: Arc<TestDatabase>,
}

/// Cheap argon2 parameters so tests run fast; one test checks the defaults.
pub fn test_env(db: &str) -> Vec<(String, String)> {
    vec![
        ("DOORWARD_DATABASE_URL".into(), db.into()),
        ("DOORWARD_PASSWORD_HASH_MEMORY_KIB".into(), "1024".into()),
        ("DOORWARD_PASSWORD_HASH_ITERATIONS".into(), "1".into()),
    ]
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// Extra `DOORWARD_*` settings on top of the test defaults.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let database = TestDatabase::fresh(dir.path()).await;
        Self::spawn_in(dir, database, extra).await
    }

    /// A server on the database `db` names (see the module docs for
    /// `sqlite:PATH` on PostgreSQL).
    pub async fn spawn_on(dir: tempfile::TempDir, db: &str, extra: &[(&str, &str)]) -> TestApp {
        let database = TestDatabase::for_url(db).await;
        Self::spawn_in(dir, database, extra).await
    }

    /// Another instance on this app's database, behind the same issuer (as
    /// instances behind one load balancer are).
    pub async fn spawn_sharing(&self, extra: &[(&str, &str)]) -> TestApp {
        let mut all = vec![("DOORWARD_ISSUER", self.addr.as_str())];
        all.extend_from_slice(extra);
        Self::spawn_in(tempfile::tempdir().unwrap(), self.database.clone(), &all).await
    }

    async fn spawn_in(
        dir: tempfile::TempDir,
        database: Arc<TestDatabase>,
        extra: &[(&str, &str)],
    ) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let mut env = test_env(&database.url);
        if database.postgres.is_some() {
            env.push(("DOORWARD_DATABASE_MAX_CONNECTIONS".into(), PG_POOL.into()));
        }
        env.push(("DOORWARD_ISSUER".into(), addr.clone()));
        // Mail lands in `<dir>/outbox` (see `mailbox.rs`).
        env.push((
            "DOORWARD_MAIL_OUTBOX_DIR".into(),
            dir.path().join("outbox").display().to_string(),
        ));
        env.push((
            "DOORWARD_LISTEN".into(),
            listener.local_addr().unwrap().to_string(),
        ));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let settings = Settings::load(&Overrides::default(), &env).unwrap();
        let clock = TestClock::default();
        let state = doorward::app::build(settings.clone(), Arc::new(clock.clone()))
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serve_state = state.clone();
        tokio::spawn(async move {
            doorward::app::serve(serve_state, listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            addr,
            client: reqwest::Client::new(),
            clock,
            settings,
            state,
            dir,
            _shutdown: tx,
            database,
        }
    }

    /// The database URL this app runs on.
    pub fn database_url(&self) -> &str {
        &self.database.url
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Option<Value>) -> Response {
        let req = self.client.post(self.url(path)).bearer_auth(token);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        req.send().await.unwrap()
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn signup(&self, email: &str, password: &str) -> Response {
        self.post("/v1/signup", json!({"email": email, "password": password}))
            .await
    }

    /// Sign up and return the 201 body.
    pub async fn signed_up(&self, email: &str) -> Value {
        let res = self.signup(email, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post("/v1/login", json!({"email": email, "password": password}))
            .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post("/v1/refresh", json!({"refresh_token": refresh_token}))
            .await
    }

    pub async fn me(&self, access_token: &str) -> Response {
        self.get_auth("/v1/me", access_token).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Log in with `PASSWORD` and return the 200 body (a new session).
    pub async fn logged_in(&self, email: &str) -> Value {
        let res = self.login(email, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// `root@example.com` (username `root`, password `PASSWORD`), made an
    /// administrator as `doorward user create --admin` does; its id.
    pub async fn create_admin(&self) -> String {
        let input = doorward_core::accounts::SignupInput {
            email: "root@example.com",
            password: PASSWORD,
            username: Some("root"),
        };
        let user = self
            .state
            .accounts
            .create_user(input, true, self.clock.now())
            .await
            .unwrap();
        user.id.to_string()
    }

    /// That administrator (see [`create_admin`](Self::create_admin)),
    /// logged in: its access token.
    pub async fn admin_token(&self) -> String {
        self.create_admin().await;
        s(&self.logged_in("root@example.com").await["access_token"]).to_owned()
    }

    pub async fn logout(&self, access_token: &str, body: Option<Value>) -> Response {
        self.post_auth("/v1/logout", access_token, body).await
    }

    /// GET /v1/sessions, expecting 200.
    pub async fn sessions(&self, access_token: &str) -> Vec<Value> {
        let res = self.get_auth("/v1/sessions", access_token).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }
}

/// Read a problem+json body and check its shape; returns it.
pub async fn problem(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(ct, "application/problem+json", "content type");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(
        body["title"].is_string() && body["detail"].is_string() && body["type"].is_string(),
        "{body}"
    );
    body
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

/// The password `signed_up` uses; `logged_in` logs in with it.
pub const PASSWORD: &str = "correct horse battery staple";

/// A 401 from the bearer guard: `WWW-Authenticate: Bearer error="invalid_token"` and a
/// problem+json body with code `invalid_token`.
pub async fn invalid_token(res: Response) -> Value {
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "status");
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        Some("Bearer error=\"invalid_token\"")
    );
    problem(res, 401, "invalid_token").await
}

/// One base64url segment of a compact JWS, as JSON (0: header, 1: claims).
pub fn jwt_segment(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let segment = token.split('.').nth(index).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The claims of an access token (not verified: for looking, not trusting).
pub fn claims_of(token: &str) -> Value {
    jwt_segment(token, 1)
}

/// base64url (no padding) of a JSON value: for hand-made token segments.
pub fn b64_json(v: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// Seconds since the epoch by the system clock (the guard checks `exp` against it).
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
