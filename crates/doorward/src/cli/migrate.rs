//! `doorward migrate`: apply the schema migrations and exit.

use std::process::ExitCode;

use super::{load_settings, Cli};
use crate::app::redact_url;

pub async fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let settings = load_settings(&cli.overrides(None))?;
    doorward_store::migrate(&settings.database_url)
        .await
        .map_err(|e| anyhow::anyhow!("migrating {}: {e}", redact_url(&settings.database_url)))?;
    println!(
        "database {} is up to date",
        redact_url(&settings.database_url)
    );
    Ok(ExitCode::SUCCESS)
}
