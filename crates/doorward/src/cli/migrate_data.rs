//! `doorward migrate-data --from URL --to URL`: copy a whole database into
//! an empty one, SQLite to PostgreSQL or back. The copy itself (order,
//! pages, the emptiness and count checks) is `doorward_core::transfer`; this
//! file opens the two databases and reports.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use doorward_core::transfer::{self, Table};
use doorward_store::ConnectOptions;

use crate::app::redact_url;

/// Rows per page: each page is one read from the source and one transaction
/// in the target, so memory stays flat however big the database is.
const PAGE_SIZE: u32 = 1000;

pub const ABOUT: &str = "\
Copies every user (password hash, roles, flags included), session, refresh token, signing key \
and audit event from one Doorward database into another, in either direction: SQLite to \
PostgreSQL, PostgreSQL to SQLite, or between two of the same kind. Users stay logged in: \
sessions, refresh tokens and signing keys move with them.

Both schemas are migrated first. The target must be empty: a new SQLite file (created when \
missing) or an existing PostgreSQL database with no Doorward rows (e.g. fresh from `createdb`). \
A target holding any row is refused and left as it is.

Stop every server using the source before copying: rows written meanwhile make the copy fail. \
Rows are copied in pages of 1000, one transaction each, with a progress line per page on \
stderr; at the end the row counts of both databases are compared. After a failure the target \
is no longer empty: copy again into a fresh one.

Signing keys are copied as stored: when `keys.encryption_key` encrypted them, servers on the \
target need the same key. `--database` and `--config` play no part: `--from` and `--to` name \
both databases.";

pub const EXAMPLES: &str = "\
Examples:
  doorward migrate-data --from sqlite:./doorward-data/doorward.db \\
                        --to postgres://doorward:PASSWORD@db.internal/doorward
  doorward migrate-data --from postgres://doorward:PASSWORD@db.internal/doorward \\
                        --to sqlite:./doorward-data/doorward.db";

#[derive(Args, Debug)]
#[command(next_help_heading = "Databases")]
pub struct MigrateDataArgs {
    /// The database to copy from: sqlite:PATH (must exist) or postgres://...
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The empty database to copy into: sqlite:PATH (created when missing) or postgres://... (must exist)
    #[arg(long, value_name = "URL")]
    pub to: String,
}

pub async fn run(args: &MigrateDataArgs) -> anyhow::Result<ExitCode> {
    let (from_shown, to_shown) = (redact_url(&args.from), redact_url(&args.to));
    if args.from.trim() == args.to.trim() {
        anyhow::bail!("--from and --to name the same database ({from_shown})");
    }
    // Opening a SQLite URL creates the file: a mistyped source path would
    // otherwise "copy" an empty database it just made.
    if let Some(path) = sqlite_file(&args.from) {
        if !path.exists() {
            anyhow::bail!("the source database file {} does not exist", path.display());
        }
    }

    let opts = ConnectOptions {
        max_connections: 2,
        migrate: true,
    };
    let to = doorward_store::connect(&args.to, &opts)
        .await
        .map_err(|e| anyhow::anyhow!("opening the target database {to_shown}: {e}"))?;
    let from = doorward_store::connect(&args.from, &opts)
        .await
        .map_err(|e| anyhow::anyhow!("opening the source database {from_shown}: {e}"))?;

    eprintln!("copying {from_shown} into {to_shown}");
    let mut progress = |table: Table, copied: u64| eprintln!("{table}: {copied} copied");
    let copied = transfer::copy(from.as_ref(), to.as_ref(), PAGE_SIZE, &mut progress).await?;
    println!("copied {copied}");
    Ok(ExitCode::SUCCESS)
}

/// The file a `sqlite:` URL names; `None` for other engines and in-memory databases.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let url = url.trim();
    let rest = ["sqlite://", "sqlite:"].iter().find_map(|scheme| {
        url.get(..scheme.len())
            .filter(|head| head.eq_ignore_ascii_case(scheme))
            .and_then(|_| url.get(scheme.len()..))
    })?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory");
    (!in_memory && !path.is_empty()).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        let file = |url| sqlite_file(url).map(|p| p.display().to_string());
        assert_eq!(file("sqlite:data/d.db").as_deref(), Some("data/d.db"));
        assert_eq!(
            file("SQLite:///abs/d.db?mode=rwc").as_deref(),
            Some("/abs/d.db")
        );
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(file("sqlite://x.db?mode=memory"), None);
        assert_eq!(file("postgres://u@h/db"), None);
    }
}
