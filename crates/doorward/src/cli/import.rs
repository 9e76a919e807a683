//! `doorward import`: users from an older system, keeping their password
//! hashes, from a CSV (`email,username,password_hash`) or from the SQLite
//! database of a FastAPI tutorial-style app (table `user`). See docs/import.md.
//!
//! Each row is one `Accounts::import_user` call (one transaction with its
//! audit row), so the import works on a live database and a row that
//! conflicts is skipped, not fatal. The legacy SQLite file is read with sqlx
//! directly, opened read-only: it is someone else's schema, not our store.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use doorward_core::clock::{Clock, SystemClock};
use doorward_core::Error;

use super::{load_settings, Cli};
use crate::app;

pub const ABOUT: &str = "Import users from an older system, keeping their password hashes.\n\n\
`--format csv`: a CSV file with the header `email,username,password_hash` (username may be empty; hashes are argon2 PHC strings or bcrypt $2a$/$2b$/$2y$).\n\
`--format fastapi-sqlite`: the SQLite database of a FastAPI app built like the common tutorial (table `user` with `username`, `email`, `hashed_password` holding passlib bcrypt hashes); opened read-only.\n\n\
Imported users log in with their old password; that first login re-hashes it to argon2id. Rows whose email or username exists already, or that are malformed, are skipped and reported on stderr by line (CSV) or row id (SQLite); the last line on stdout is `imported N, skipped M`.";

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// What FILE is
    #[arg(long, value_enum)]
    pub format: ImportFormat,
    /// The CSV file or the legacy SQLite database
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// CSV with header `email,username,password_hash`
    Csv,
    /// SQLite database of a FastAPI tutorial app (table `user`)
    FastapiSqlite,
}

/// One user read from the old system, or why its row cannot be one.
pub struct LegacyRow {
    /// `line N` (CSV) or `row N` (SQLite rowid): how the operator finds it.
    pub place: String,
    pub user: Result<LegacyUser, String>,
}

/// A row's fields as read, before `Accounts::import_user` validates them.
pub struct LegacyUser {
    pub email: String,
    pub username: Option<String>,
    pub password_hash: String,
}

pub async fn run(cli: &Cli, args: &ImportArgs) -> anyhow::Result<ExitCode> {
    // Read the whole source first: a file that cannot be read at all
    // imports nothing (and says why) instead of stopping half-way.
    let rows = match args.format {
        ImportFormat::Csv => read_csv(&args.file)?,
        ImportFormat::FastapiSqlite => read_fastapi_sqlite(&args.file).await?,
    };
    let settings = load_settings(&cli.overrides(None))?;
    let clock = Arc::new(SystemClock);
    let state = app::build(settings, clock.clone()).await?;
    let (mut imported, mut skipped) = (0u64, 0u64);
    for row in rows {
        let outcome = match row.user {
            Err(why) => Err(why),
            Ok(u) => match state
                .accounts
                .import_user(
                    &u.email,
                    u.username.as_deref(),
                    &u.password_hash,
                    clock.now(),
                )
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => Err(skip_reason(e)?),
            },
        };
        match outcome {
            Ok(()) => imported += 1,
            Err(why) => {
                skipped += 1;
                eprintln!("{}: skipped: {why}", row.place);
            }
        }
    }
    println!("imported {imported}, skipped {skipped}");
    Ok(ExitCode::SUCCESS)
}

/// Why a row is skipped; errors that are not about the row stop the import.
fn skip_reason(e: Error) -> anyhow::Result<String> {
    Ok(match e {
        Error::EmailTaken => "email exists".into(),
        Error::UsernameTaken => "username exists".into(),
        Error::Invalid(errors) => errors
            .iter()
            .map(|f| match f.field {
                "email" => "invalid email".to_owned(),
                "username" => format!("invalid username ({})", f.message),
                "password_hash" => "unsupported password hash".to_owned(),
                other => format!("invalid {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => return Err(other.into()),
    })
}

fn empty_to_none(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn read_csv(path: &Path) -> anyhow::Result<Vec<LegacyRow>> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    read_csv_from(file, &path.display().to_string())
}

/// The rows of a CSV import from any reader (`name` is the file, for the
/// messages). Public for the fuzz target `import_readers`.
pub fn read_csv_from(source: impl std::io::Read, name: &str) -> anyhow::Result<Vec<LegacyRow>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(source);
    let headers = reader
        .headers()
        .map_err(|e| anyhow::anyhow!("reading {name}: {e}"))?
        .clone();
    let column = |column_name: &str| {
        headers.iter().position(|h| h == column_name).ok_or_else(|| {
            anyhow::anyhow!(
                "{name}: the header must name the columns email,username,password_hash (missing `{column_name}`)"
            )
        })
    };
    let (email, username, hash) = (
        column("email")?,
        column("username")?,
        column("password_hash")?,
    );
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let (line, user) = match record {
            Ok(r) => {
                let line = r.position().map_or(index as u64 + 2, |p| p.line());
                let field = |i: usize| r.get(i).map(str::to_owned);
                let user = match (field(email), field(hash)) {
                    (Some(e), Some(h)) if !e.is_empty() && !h.is_empty() => Ok(LegacyUser {
                        email: e,
                        username: empty_to_none(field(username)),
                        password_hash: h,
                    }),
                    _ => Err("malformed row (email and password_hash are required)".to_owned()),
                };
                (line, user)
            }
            Err(e) => {
                let line = e.position().map_or(index as u64 + 2, |p| p.line());
                (line, Err(format!("malformed row ({})", csv_problem(&e))))
            }
        };
        rows.push(LegacyRow {
            place: format!("line {line}"),
            user,
        });
    }
    Ok(rows)
}

fn csv_problem(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields, expected {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_owned(),
        _ => e.to_string(),
    }
}

async fn read_fastapi_sqlite(path: &Path) -> anyhow::Result<Vec<LegacyRow>> {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions as _, Row as _};

    if !path.is_file() {
        anyhow::bail!("{}: no such file", path.display());
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
    let records = sqlx::query(
        r#"SELECT rowid, CAST(username AS TEXT), CAST(email AS TEXT), CAST(hashed_password AS TEXT) FROM "user" ORDER BY rowid"#,
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "{}: expected a table `user` with columns username, email, hashed_password: {e}",
            path.display()
        )
    })?;
    let mut rows = Vec::with_capacity(records.len());
    for r in records {
        let rowid: i64 = r.try_get(0)?;
        let username: Option<String> = r.try_get(1)?;
        let email: Option<String> = r.try_get(2)?;
        let hash: Option<String> = r.try_get(3)?;
        let user = match (empty_to_none(email), empty_to_none(hash)) {
            (Some(email), Some(password_hash)) => Ok(LegacyUser {
                email,
                username: empty_to_none(username),
                password_hash,
            }),
            (None, _) => Err("no email".to_owned()),
            (_, None) => Err("no hashed_password".to_owned()),
        };
        rows.push(LegacyRow {
            place: format!("row {rowid}"),
            user,
        });
    }
    Ok(rows)
}
