//! `doorward keys rotate|list`: token signing keys.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use doorward_core::clock::{Clock, SystemClock};
use doorward_core::keys::{self, KeyVault};

use super::{load_settings, Cli};
use crate::app::{self, publish_for};
use crate::http::rfc3339;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Add a new signing key and make it the signer; old keys stay published until their tokens expire
    Rotate,
    /// List signing keys: which signs, which are still published
    List,
}

pub async fn run(cli: &Cli, cmd: &KeysCommand) -> anyhow::Result<ExitCode> {
    let settings = load_settings(&cli.overrides(None))?;
    let vault = KeyVault::new(settings.encryption_key);
    let publish = publish_for(&settings);
    let clock = Arc::new(SystemClock);
    let state = app::build(settings, clock.clone()).await?;
    let store = state.accounts.store.as_ref();
    match cmd {
        KeysCommand::Rotate => {
            let record = keys::rotate(store, &vault, clock.now()).await?;
            println!(
                "new signing key {} ({}); running servers pick it up within seconds",
                record.kid, record.alg
            );
        }
        KeysCommand::List => {
            let now = clock.now();
            println!(
                "{:<24} {:<6} {:<10} {:<22} {:<22}",
                "KID", "ALG", "STATE", "CREATED", "RETIRED"
            );
            for r in store.signing_keys().await? {
                let state = match r.retired_at {
                    None => "signing",
                    Some(t) if t + publish > now => "published",
                    Some(_) => "expired",
                };
                let retired = r.retired_at.map(rfc3339).unwrap_or_else(|| "-".into());
                println!(
                    "{:<24} {:<6} {:<10} {:<22} {:<22}",
                    r.kid,
                    r.alg,
                    state,
                    rfc3339(r.created_at),
                    retired
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
