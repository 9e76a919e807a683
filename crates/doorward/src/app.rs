//! The composition root: builds the services from `Settings`, the router with
//! its layers, and the background tasks; serves until shutdown.

use std::convert::Infallible;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::serve::ListenerExt as _;
use axum::Router;
use doorward_core::accounts::Accounts;
use doorward_core::blocklist;
use doorward_core::clock::Clock;
use doorward_core::keys::{self, KeyVault};
use doorward_core::passwords::PasswordHasher;
use doorward_core::profiles::ProfileCache;
use doorward_core::store::{Store, StoreError};
use doorward_core::tokens::{Issuer, TokenSettings};
use doorward_guard::{Guard, VerifyPolicy};
use doorward_store::ConnectOptions;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tower::ServiceExt as _;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Settings;
use crate::http::problem::Problem;
use crate::http::{account, admin, auth, lifecycle, ops, wellknown};
use crate::revocation::GuardRevocations;
use crate::telemetry;

/// Clock leeway for `exp`/`nbf` (CONTRACT: at most 5 s).
pub const LEEWAY_SECS: u64 = 5;
/// Request bodies above this get 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler can reach: one `Arc`, because axum clones the state
/// for every extractor and layer of every request (a struct of a dozen
/// `Arc`s cost a dozen atomic increments and decrements each time: 14 % of
/// the CPU of `GET /v1/me`). Fields are reached through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services behind [`AppState`].
pub struct Services {
    pub accounts: Arc<Accounts>,
    pub guard: Guard,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    pub metrics: PrometheusHandle,
    pub revocations: Arc<GuardRevocations>,
    vault: Arc<KeyVault>,
    // Mail (issue 4): the core hands messages to `mailer`; `mail_queue` is the
    // same queue (tests wait on `idle()`, shutdown flushes it).
    pub mailer: Arc<dyn doorward_core::mail::Mailer>,
    pub mail_queue: crate::mail::MailHandle,
}

impl FromRef<AppState> for Guard {
    fn from_ref(state: &AppState) -> Guard {
        state.guard.clone()
    }
}

/// How long a rotated-out key stays published: the last token it signed
/// lives `access_ttl` more, plus leeway.
pub fn publish_for(settings: &Settings) -> time::Duration {
    settings.access_ttl + time::Duration::seconds(LEEWAY_SECS as i64 + 1)
}

/// Open the database (migrating it) and build the services; fails at once
/// when the database is not there. Used by the CLI subcommands that act on
/// accounts and keys (`serve` waits for the database, see `cli::serve`).
pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let store = open_store(&settings).await.map_err(|e| {
        anyhow::anyhow!(
            "opening the database {}: {e}",
            redact_url(&settings.database_url)
        )
    })?;
    build_with_store(settings, clock, store).await
}

/// Connect (and migrate) with the pool size of `settings`.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StoreError> {
    let options = ConnectOptions {
        max_connections: settings.database_max_connections,
        ..ConnectOptions::default()
    };
    doorward_store::connect(&settings.database_url, &options).await
}

/// Whether `error` says "the database cannot be reached now" (worth waiting
/// for) rather than "this cannot work" (worth stopping for).
pub fn is_unavailable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<StoreError>(),
            Some(StoreError::Unavailable(_))
        ) || matches!(
            cause.downcast_ref::<doorward_core::Error>(),
            Some(doorward_core::Error::Unavailable)
        )
    })
}

pub async fn build_with_store(
    settings: Settings,
    clock: Arc<dyn Clock>,
    store: Arc<dyn Store>,
) -> anyhow::Result<AppState> {
    let now = clock.now();
    let vault = Arc::new(KeyVault::new(settings.encryption_key));
    let keyring = keys::load_or_create(store.as_ref(), &vault, now, publish_for(&settings)).await?;
    let policy = VerifyPolicy {
        issuer: settings.issuer.clone(),
        audience: settings.audience.clone(),
        leeway_secs: LEEWAY_SECS,
        algorithms: vec![doorward_token::Algorithm::EdDSA],
    };
    let guard = Guard::new(policy, &keyring.jwks);
    let issuer = Arc::new(Issuer::new(
        TokenSettings {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            access_ttl: settings.access_ttl,
            refresh_ttl: settings.refresh_ttl,
            refresh_grace: settings.refresh_grace,
        },
        keyring,
    ));
    let revocations = Arc::new(GuardRevocations {
        guard: guard.clone(),
        keep_for: settings.access_ttl + time::Duration::seconds(LEEWAY_SECS as i64),
    });
    let preloaded = revocations.preload(store.as_ref(), now).await?;
    if preloaded > 0 {
        tracing::info!(sessions = preloaded, "loaded recently revoked sessions");
    }
    let hash = settings.hash;
    let pool = settings.hash_pool;
    let hasher = tokio::task::spawn_blocking(move || PasswordHasher::new(hash, pool)).await??;
    // The common list is a table in the binary: nothing to build.
    let policy = blocklist::standard_policy(settings.breached_file.as_deref())?;
    // Mail (issue 4): started last, so a failed build leaves no task behind.
    let mail_queue = crate::mail::start(&settings.mail, &settings.issuer)?;
    let mailer: Arc<dyn doorward_core::mail::Mailer> = Arc::new(mail_queue.clone());
    let accounts = Arc::new(Accounts {
        store,
        hasher: Arc::new(hasher),
        policy,
        issuer,
        revocations: revocations.clone(),
        mailer: mailer.clone(),
        require_email_verification: settings.require_email_verification,
        throttle: settings.throttle,
        profiles: ProfileCache::default(),
    });
    Ok(AppState(Arc::new(Services {
        accounts,
        guard,
        clock,
        settings: Arc::new(settings),
        metrics: telemetry::metrics_handle(),
        revocations,
        vault,
        mailer,
        mail_queue,
    })))
}

/// The router with every route and layer. Layers, outermost first:
/// request id (so every log line and 5xx carries it), trace span + one log
/// line per request, metrics, panic → 500 problem, timeout, body limit,
/// security headers.
pub fn router(state: AppState) -> Router {
    let timeout = state.settings.request_timeout;
    let api = Router::new()
        .route("/v1/signup", post(auth::signup))
        .route("/v1/login", post(auth::login))
        .route("/v1/refresh", post(auth::refresh))
        .route("/v1/logout", post(auth::logout))
        .route("/v1/me", get(account::me))
        .route("/v1/sessions", get(account::sessions))
        .route("/v1/sessions/{id}", delete(account::revoke_session))
        .route("/v1/me/password", post(lifecycle::change_password))
        .route("/v1/password/forgot", post(lifecycle::forgot_password))
        .route("/v1/password/reset", post(lifecycle::reset_password))
        .route("/v1/email/verify", post(lifecycle::verify_email))
        .route(
            "/v1/email/verify/resend",
            post(lifecycle::resend_verification),
        )
        .route("/v1/admin/users", get(admin::list_users))
        .route(
            "/v1/admin/users/{id}",
            get(admin::get_user)
                .patch(admin::update_user)
                .delete(admin::delete_user),
        )
        .route(
            "/v1/admin/users/{id}/password-reset",
            post(admin::force_password_reset),
        )
        .route("/v1/admin/audit", get(admin::list_audit))
        // Token-bearing answers must never sit in a cache.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    Router::new()
        .merge(api)
        .route("/.well-known/jwks.json", get(wellknown::jwks))
        .route("/.well-known/openid-configuration", get(wellknown::openid_configuration))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        // Pages (issue 5)
        .merge(crate::web::routes(&state))
        .fallback(not_found)
        .layer(axum::middleware::map_response(problem_for_bare_errors))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(CatchPanicLayer::custom(|_| {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side.").into_response()
        }))
        .layer(axum::middleware::from_fn(telemetry::track))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req.extensions().get::<RequestId>().and_then(|r| r.header_value().to_str().ok()).unwrap_or("-");
                    // The path only: queries may carry tokens (reset links).
                    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(|res: &Response, latency: StdDuration, _span: &tracing::Span| {
                    tracing::info!(status = res.status().as_u16(), latency_ms = latency.as_secs_f64() * 1000.0, "request");
                })
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::x_request_id(RequestUuid))
        .with_state(state)
}

/// A random (v4) UUID per request, drawn from the thread's userspace
/// generator: tower-http's `MakeRequestUuid` asks the kernel (`getrandom`)
/// for every request. A request id is a label, not a secret.
#[derive(Clone, Copy)]
struct RequestUuid;

impl MakeRequestId for RequestUuid {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let bytes: [u8; 16] = rand::random();
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = id.hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

async fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "No such endpoint. See /openapi.json for the API.",
    )
}

/// axum's own 405 (and 408 from the timeout) have empty bodies: give them
/// problem+json, keeping `Allow`.
async fn problem_for_bare_errors(res: Response) -> Response {
    let (code, detail) = match res.status() {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "This endpoint does not take this method; see the Allow header.",
        ),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "The request took too long."),
        _ => return res,
    };
    if res.headers().contains_key(header::CONTENT_TYPE) {
        return res;
    }
    let allow = res.headers().get(header::ALLOW).cloned();
    let mut out = Problem::new(res.status(), code, detail).into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

/// `postgres://user:pass@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = url.get(scheme + 3..at).unwrap_or("");
            let user = creds.split(':').next().unwrap_or("");
            format!(
                "{}{user}:***{}",
                url.get(..scheme + 3).unwrap_or(""),
                url.get(at..).unwrap_or("")
            )
        }
        _ => url.to_owned(),
    }
}

/// Reload the keyring from the database (another instance or the CLI may
/// have rotated) and hand new public keys to the guard.
pub async fn reload_keys(state: &AppState) -> anyhow::Result<bool> {
    let keyring = keys::load(
        state.accounts.store.as_ref(),
        &state.vault,
        state.clock.now(),
        publish_for(&state.settings),
    )
    .await?;
    let current = state.accounts.issuer.keyring();
    let changed = keyring.signer.kid() != current.signer.kid() || keyring.jwks != current.jwks;
    if changed {
        tracing::info!(signer = %keyring.signer.kid(), published = keyring.jwks.keys.len(), "signing keys changed");
        state.guard.set_keys(&keyring.jwks);
        state.accounts.issuer.replace_keyring(keyring);
    }
    Ok(changed)
}

/// How far back each revocation poll looks before the last successful one:
/// generous, so clock skew between instances or a slow poll loses nothing
/// (re-adding an entry is harmless).
const REVOCATION_POLL_WINDOW: time::Duration = time::Duration::seconds(30);

/// Background upkeep: revocations by other instances (every 500 ms, so they
/// take effect here within a second), key reloads (every 2 s), pruning the
/// revocation set, stale login throttle counts and metrics upkeep (every 30 s). A database outage is
/// logged when it starts and when it ends, and the loop carries on: after it,
/// the revocation poll looks back to its last success, so a revocation made
/// by another instance meanwhile is not missed. Ends with the returned
/// handle's abort.
pub fn spawn_background(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut keys_tick = tokio::time::interval(StdDuration::from_secs(2));
        let mut prune_tick = tokio::time::interval(StdDuration::from_secs(30));
        let mut revocation_tick = tokio::time::interval(StdDuration::from_millis(500));
        for tick in [&mut keys_tick, &mut prune_tick, &mut revocation_tick] {
            // After an outage that held a tick up, no burst of catch-up ticks.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        let mut outage = Outage::default();
        // The build preloaded everything revoked before this moment.
        let mut polled_at = state.clock.now();
        loop {
            tokio::select! {
                _ = revocation_tick.tick() => {
                    let now = state.clock.now();
                    // Never further back than a revoked session's tokens can live.
                    let since = (polled_at - REVOCATION_POLL_WINDOW).max(now - state.revocations.keep_for);
                    match state.revocations.catch_up(state.accounts.store.as_ref(), since).await {
                        Ok(_) => {
                            polled_at = now;
                            outage.over();
                        }
                        Err(e) => outage.failed("polling revocations", &anyhow::Error::new(e)),
                    }
                }
                _ = keys_tick.tick() => {
                    match reload_keys(&state).await {
                        Ok(_) => outage.over(),
                        Err(e) => outage.failed("reloading signing keys (keeping the current ones)", &e),
                    }
                }
                _ = prune_tick.tick() => {
                    let pruned = state.guard.revocations().prune(state.clock.now().unix_timestamp());
                    if pruned > 0 {
                        tracing::debug!(pruned, "pruned expired revocations");
                    }
                    state.metrics.run_upkeep();
                    // Login throttling (issue 4): counts whose window has passed.
                    let stale_before = state.accounts.throttle.stale_before(state.clock.now());
                    match state.accounts.store.prune_throttle(stale_before).await {
                        Ok(pruned) if pruned > 0 => tracing::debug!(pruned, "pruned stale login throttle counts"),
                        Ok(_) => {}
                        Err(e) => outage.failed("pruning login throttle counts", &anyhow::Error::new(e)),
                    }
                }
            }
        }
    })
}

/// The background task's view of the database: one warning when it becomes
/// unreachable and one line when it is back, not one per tick.
#[derive(Default)]
struct Outage {
    since: Option<std::time::Instant>,
}

impl Outage {
    fn failed(&mut self, task: &str, error: &anyhow::Error) {
        if !is_unavailable(error) {
            tracing::warn!(error = %format!("{error:#}"), "{task} failed; retrying");
        } else if self.since.is_none() {
            self.since = Some(std::time::Instant::now());
            tracing::warn!(
                error = %format!("{error:#}"),
                "the database is unreachable ({task}): requests that need it get 503 with \
                 Retry-After; retrying until it is back"
            );
        } else {
            tracing::debug!(error = %format!("{error:#}"), "{task}: the database is still unreachable");
        }
    }

    fn over(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                down_for_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                "the database is reachable again"
            );
        }
    }
}

/// Serve the ready `state` on `listener` until `shutdown` resolves; in-flight
/// requests finish.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_when_ready(listener, async { Ok(state) }, shutdown).await
}

/// Serve plain HTTP on `listener` while `start` runs: see [`serve_on`].
pub async fn serve_when_ready(
    listener: TcpListener,
    start: impl std::future::Future<Output = anyhow::Result<AppState>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_on(Endpoint::Plain(listener), start, shutdown).await
}

/// Where `serve_on` answers: plain HTTP, or HTTPS (issue 5).
pub enum Endpoint {
    Plain(TcpListener),
    Tls {
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        /// `Strict-Transport-Security` for every answer (`web::session::hsts`).
        hsts: Option<HeaderValue>,
    },
}

/// Serve on `endpoint` while `start` (opening the database, possibly waiting
/// for it) is still running: until it is done every request, `/healthz`
/// included, gets 503 `unavailable` with `Retry-After`, so a load balancer
/// sees an instance that is up but not ready rather than a refused
/// connection. Then the full router and the background tasks take over on
/// the same socket. An error of `start` ends the server; so does `shutdown`,
/// also before the start is done. Over TLS, handshakes happen off the
/// accept loop (`tls::TlsListener`) and every answer carries HSTS.
pub async fn serve_on(
    endpoint: Endpoint,
    start: impl std::future::Future<Output = anyhow::Result<AppState>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let ready: Arc<OnceLock<Router>> = Arc::default();
    let front = {
        let ready = ready.clone();
        Router::new().fallback_service(tower::service_fn(move |req: Request<Body>| {
            let app = ready.get().cloned();
            async move {
                Ok::<Response, Infallible>(match app {
                    Some(app) => match app.oneshot(req).await {
                        Ok(res) => res,
                        Err(never) => match never {},
                    },
                    None => starting().into_response(),
                })
            }
        }))
    };
    let mut serving: Serving = match endpoint {
        Endpoint::Plain(listener) => Box::pin(
            axum::serve(
                listener,
                front.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .into_future(),
        ),
        Endpoint::Tls {
            listener,
            config,
            hsts,
        } => {
            let front = match hsts {
                Some(value) => front.layer(SetResponseHeaderLayer::if_not_present(
                    header::STRICT_TRANSPORT_SECURITY,
                    value,
                )),
                None => front,
            };
            // `tap_io` (a no-op here) is what gives a custom listener's
            // peer address to `ConnectInfo<SocketAddr>`.
            let listener = crate::tls::TlsListener::new(listener, config)?.tap_io(|_| {});
            Box::pin(
                axum::serve(
                    listener,
                    front.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(shutdown)
                .into_future(),
            )
        }
    };
    tokio::pin!(start);
    let state = tokio::select! {
        stopped = &mut serving => return stopped.map_err(Into::into),
        built = &mut start => built?,
    };
    let background = spawn_background(state.clone());
    let mail_queue = state.mail_queue.clone();
    // Only this function sets it, once.
    let _ = ready.set(router(state));
    let result = serving.await;
    background.abort();
    // Mail (issue 4): what is queued gets a few seconds to go out.
    mail_queue.close(crate::mail::SHUTDOWN_FLUSH).await;
    result.map_err(Into::into)
}

/// `axum::serve` on a plain or a TLS listener (two types), until shutdown.
type Serving = std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>;

/// The answer to every request while the server is starting.
fn starting() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "The server is starting and cannot reach its database yet; try again shortly.",
    )
    .retry_after(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite:./x.db"), "sqlite:./x.db");
    }

    #[test]
    fn unavailability_is_found_anywhere_in_the_chain() {
        let e = anyhow::Error::new(StoreError::Unavailable("refused".into())).context("opening");
        assert!(is_unavailable(&e));
        let e = anyhow::Error::new(doorward_core::Error::Unavailable).context("loading keys");
        assert!(is_unavailable(&e));
        let e = anyhow::Error::new(StoreError::Other("invalid URL".into())).context("opening");
        assert!(!is_unavailable(&e));
        assert!(!is_unavailable(&anyhow::anyhow!("migration failed")));
    }
}
