//! `doorward audit verify`: check the audit log's hash chain, page by page
//! (memory stays flat however long the log), with the core's verifier.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use doorward_core::audit_chain::{self, ChainHead, VerifyError};

use super::{load_settings, Cli};
use crate::app::{self, redact_url};

/// Links read per query.
const PAGE_SIZE: u32 = 1000;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain of the audit log: exit 0 when intact, 1 naming the first event that does not match
    #[command(long_about = VERIFY_ABOUT)]
    Verify(VerifyArgs),
}

const VERIFY_ABOUT: &str = "Check the hash chain of the audit log: exit 0 when intact, 1 naming the first event that does not match.\n\nEvery audit event stores the SHA-256 of the previous event's hash and its own fields. A changed field, a deleted or reordered event breaks the chain at that event. Someone who can write to the database can still rewrite the chain from some event on, or delete events from its end: keep the last line this command prints somewhere else (a log shipper, a ticket) and pass it back with --anchor to catch that.";

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// A chain head printed by an earlier run (SEQ:HASH): also check that the chain still holds that event unchanged
    #[arg(long, value_name = "SEQ:HASH")]
    pub anchor: Option<String>,
}

pub async fn run(cli: &Cli, cmd: &AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify(args) = cmd;
    let anchor = match args.anchor.as_deref() {
        None => None,
        Some(s) => Some(ChainHead::parse(s).ok_or_else(|| {
            anyhow::anyhow!(
                "--anchor takes SEQ:HASH as `doorward audit verify` prints it (a number, a colon, 64 hex digits)"
            )
        })?),
    };
    let settings = load_settings(&cli.overrides(None))?;
    // Only the store: a check must not create a signing key in an empty database.
    let store = app::open_store(&settings).await.map_err(|e| {
        anyhow::anyhow!(
            "opening the database {}: {e}",
            redact_url(&settings.database_url)
        )
    })?;
    match audit_chain::verify(store.as_ref(), PAGE_SIZE, anchor).await {
        Ok(None) => println!("audit log intact: 0 events"),
        Ok(Some(head)) => {
            println!("audit log intact: {} events", head.seq);
            println!("chain head: {head}");
        }
        Err(VerifyError::Broken(broken)) => {
            println!("{}", VerifyError::Broken(broken));
            return Ok(ExitCode::FAILURE);
        }
        Err(e @ VerifyError::Store(_)) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}
