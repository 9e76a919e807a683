//! The command line: one file per subcommand. Every subcommand takes the
//! same `--config`, `--database` and environment as `serve`.

// Public for the fuzz target `import_readers` (fuzz/): `import::read_csv_from`.
pub mod import;
mod keys;
mod migrate;
mod migrate_data;
mod serve;
mod user;
// Audit chain (issue 4)
mod audit;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Overrides, Settings};
use crate::telemetry::{self, LogFormat};

#[derive(Parser, Debug)]
#[command(
    name = "doorward",
    version,
    about = "Doorward: a self-hosted authentication server",
    long_about = "Doorward: a self-hosted authentication server.\n\nSign-up and login with argon2id, short-lived EdDSA access tokens verifiable offline via JWKS, rotating refresh tokens with reuse detection, sessions and revocation. Data lives in SQLite (default) or PostgreSQL.\n\nStart with `doorward serve`; see `doorward serve --help` for every setting.",
    propagate_version = true
)]
pub struct Cli {
    /// TOML configuration file [env: DOORWARD_CONFIG]
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "DOORWARD_CONFIG",
        hide_env = true
    )]
    pub config: Option<PathBuf>,
    /// Database: sqlite:PATH (default sqlite:./doorward-data/doorward.db) or postgres://... [env: DOORWARD_DATABASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Log format [env: DOORWARD_LOG_FORMAT]; log level from RUST_LOG (default info)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "DOORWARD_LOG_FORMAT", hide_env = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (migrates the database and creates a signing key on first start)
    #[command(after_help = settings_help())]
    Serve(serve::ServeArgs),
    /// Apply database migrations and exit
    Migrate,
    /// Manage accounts
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage token signing keys
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Copy every user, session, key and audit event into an empty database (SQLite to PostgreSQL and back)
    #[command(long_about = migrate_data::ABOUT, after_help = migrate_data::EXAMPLES)]
    MigrateData(migrate_data::MigrateDataArgs),
    /// Import users from a CSV or a FastAPI app's SQLite database, keeping their password hashes
    #[command(long_about = import::ABOUT)]
    Import(import::ImportArgs),
    /// Check the audit log (`audit verify`: its hash chain is intact)
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

/// The settings table printed under `serve --help`.
fn settings_help() -> String {
    let mut out = String::from(
        "Settings (TOML `section.key`, environment `DOORWARD_SECTION_KEY`; precedence flag > environment > file > default;\ndurations like 10s, 15m, 30d; lists comma-separated in the environment):\n",
    );
    for k in config::KEYS {
        out.push_str(&format!(
            "  {:<34} {:<36} default {}\n      {}\n",
            k.key,
            config::env_name(k.key),
            k.default,
            k.doc
        ));
    }
    out
}

impl Cli {
    fn overrides(&self, listen: Option<String>) -> Overrides {
        Overrides {
            config: self.config.clone(),
            listen,
            database_url: self.database.clone(),
            tls: None,
        }
    }
}

/// Load settings, warning about unknown `DOORWARD_*` variables.
fn load_settings(overrides: &Overrides) -> anyhow::Result<Settings> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    for name in config::unknown_env_vars(env.iter().map(|(k, _)| k.clone())) {
        tracing::warn!(variable = %name, "unknown DOORWARD_* environment variable ignored (see `doorward serve --help`)");
    }
    Ok(Settings::load(overrides, &env)?)
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_logs(cli.log_format);
    let result = match &cli.command {
        Command::Serve(args) => serve::run(&cli, args).await,
        Command::Migrate => migrate::run(&cli).await,
        Command::User(cmd) => user::run(&cli, cmd).await,
        Command::Keys(cmd) => keys::run(&cli, cmd).await,
        Command::MigrateData(args) => migrate_data::run(args).await,
        Command::Import(args) => import::run(&cli, args).await,
        Command::Audit(cmd) => audit::run(&cli, cmd).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
