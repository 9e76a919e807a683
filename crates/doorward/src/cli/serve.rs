//! `doorward serve`: run the HTTP server until SIGINT/SIGTERM.
//!
//! A PostgreSQL server that is not up yet, or a database not created yet, is
//! waited for: `serve` then listens anyway and answers 503 to every request
//! until the database is reachable (see `app::serve_when_ready`), so
//! instances and their database can be started in any order.
//!
//! `--tls-cert FILE --tls-key FILE` serves HTTPS, `--dev-tls` HTTPS with a
//! self-signed certificate for local use (see `tls.rs`); the files are
//! checked before anything else happens, so a bad one stops the start with
//! one line naming it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use doorward_core::clock::{Clock, SystemClock};
use tokio::net::TcpListener;

use super::{load_settings, Cli};
use crate::app::{self, AppState};
use crate::config::{Settings, TlsMode};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080) [env: DOORWARD_LISTEN]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate
    /// first, then intermediates); needs --tls-key. The issuer then defaults
    /// to https://<listen>, cookies are Secure with the __Host- prefix, and
    /// answers carry HSTS [env: DOORWARD_TLS_CERT]
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert: PKCS#8 (BEGIN PRIVATE KEY), RSA or
    /// EC, unencrypted [env: DOORWARD_TLS_KEY]
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate for localhost, 127.0.0.1,
    /// ::1 and the --listen address, made on first use and kept in
    /// <data directory>/dev-tls/ (the SQLite file's folder, else
    /// ./doorward-data), reused while valid. For local development only:
    /// browsers warn until you accept it [env: DOORWARD_TLS_DEV]
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub dev_tls: bool,
}

impl ServeArgs {
    /// The TLS mode the flags pick, if any (it replaces the `[tls]` settings).
    fn tls(&self) -> Option<TlsMode> {
        if self.dev_tls {
            return Some(TlsMode::Dev);
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsMode::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            // clap requires both (`requires`).
            _ => None,
        }
    }
}

pub async fn run(cli: &Cli, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = cli.overrides(args.listen.clone());
    overrides.tls = args.tls();
    let settings = load_settings(&overrides)?;
    // Before the database is touched: a bad certificate stops the start here.
    let tls = crate::tls::server_config(&settings)?;
    let hsts = crate::web::session::hsts(&settings);
    if settings.encryption_key.is_none() {
        tracing::warn!("keys.encryption_key is not set: private signing keys are stored unencrypted in the database");
    }
    let listen = settings.listen;
    let issuer = settings.issuer.clone();
    let database = app::redact_url(&settings.database_url);
    // One attempt before listening: with the database up (the usual case)
    // the server is ready the moment it accepts connections.
    let mut start = Start::new(settings, Arc::new(SystemClock));
    let ready_now = start.attempt().await?;
    let listener = TcpListener::bind(listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {listen}: {e} (choose another with --listen or DOORWARD_LISTEN)"
        )
    })?;
    if ready_now.is_none() {
        tracing::info!(%listen, %database, "listening; every request gets 503 until the database is reachable");
    }
    let endpoint = match tls {
        Some(config) => app::Endpoint::Tls {
            listener,
            config,
            hsts,
        },
        None => app::Endpoint::Plain(listener),
    };
    let started = async move {
        let state = match ready_now {
            Some(state) => state,
            None => start.wait().await?,
        };
        tracing::info!(%listen, %issuer, %database, "doorward is ready");
        Ok(state)
    };
    app::serve_on(endpoint, started, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// First wait between attempts to reach the database; it doubles up to
/// `RETRY_MAX`.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Opening the database and building the services, waiting for a PostgreSQL
/// server that is not up yet (or a database not created yet, or credentials
/// not granted yet): retried with a backoff of 0.2 s doubling to 5 s, each
/// failed attempt logged with its reason and what to do. Anything waiting
/// cannot fix (a bad URL, a failed migration, a wrong encryption key), and
/// any error on SQLite, ends the start at once.
struct Start {
    settings: Settings,
    clock: Arc<dyn Clock>,
    attempts: u32,
    delay: Duration,
}

impl Start {
    fn new(settings: Settings, clock: Arc<dyn Clock>) -> Start {
        Start {
            settings,
            clock,
            attempts: 0,
            delay: RETRY_FIRST,
        }
    }

    /// One attempt: the services, or `None` when it is worth trying again.
    async fn attempt(&mut self) -> anyhow::Result<Option<AppState>> {
        self.attempts = self.attempts.saturating_add(1);
        let error = match app::open_store(&self.settings).await {
            Ok(store) => {
                let built =
                    app::build_with_store(self.settings.clone(), self.clock.clone(), store).await;
                match built {
                    Ok(state) => {
                        if self.attempts > 1 {
                            tracing::info!(attempts = self.attempts, "the database is reachable");
                        }
                        return Ok(Some(state));
                    }
                    Err(e) => e,
                }
            }
            Err(e) => anyhow::Error::new(e).context(format!(
                "opening the database {}",
                app::redact_url(&self.settings.database_url)
            )),
        };
        if !(self.settings.is_postgres() && app::is_unavailable(&error)) {
            return Err(error);
        }
        tracing::warn!(
            attempt = self.attempts,
            retry_in_ms = u64::try_from(self.delay.as_millis()).unwrap_or(u64::MAX),
            error = %format!("{error:#}"),
            "cannot reach the database yet: start PostgreSQL, create the database (`createdb NAME`) \
             or correct --database / DOORWARD_DATABASE_URL; every request gets 503 until then"
        );
        Ok(None)
    }

    /// Attempts after the backoff until one succeeds or fails for good.
    async fn wait(mut self) -> anyhow::Result<AppState> {
        loop {
            tokio::time::sleep(self.delay).await;
            self.delay = (self.delay * 2).min(RETRY_MAX);
            if let Some(state) = self.attempt().await? {
                return Ok(state);
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
