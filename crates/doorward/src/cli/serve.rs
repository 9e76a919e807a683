//! `doorward serve`: run the HTTP server until SIGINT/SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use doorward_core::clock::SystemClock;
use tokio::net::TcpListener;

use super::{load_settings, Cli};
use crate::app;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080) [env: DOORWARD_LISTEN]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

pub async fn run(cli: &Cli, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(&cli.overrides(args.listen.clone()))?;
    if settings.encryption_key.is_none() {
        tracing::warn!("keys.encryption_key is not set: private signing keys are stored unencrypted in the database");
    }
    let listen = settings.listen;
    let issuer = settings.issuer.clone();
    let database = app::redact_url(&settings.database_url);
    let state = app::build(settings, Arc::new(SystemClock)).await?;
    let listener = TcpListener::bind(listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {listen}: {e} (choose another with --listen or DOORWARD_LISTEN)"
        )
    })?;
    tracing::info!(%listen, %issuer, %database, "doorward is ready");
    app::serve(state, listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
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
