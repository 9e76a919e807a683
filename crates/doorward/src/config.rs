//! Configuration: defaults < TOML file < `DOORWARD_*` environment < flags,
//! layered with figment into `FileConfig` (unknown keys refused), then
//! validated into the typed `Settings` the server runs on. Errors name the
//! key and say what a valid value looks like.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use doorward_core::passwords::{HashParams, HashPool};
use doorward_core::throttle::ThrottlePolicy;
use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// One configuration key: its TOML path, environment name, default and meaning.
/// `serve --help` prints this table, and the unknown-variable warning uses it.
pub struct KeyDoc {
    pub key: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

/// Every configuration key (CONTRACT.md "Running").
pub const KEYS: &[KeyDoc] = &[
    KeyDoc {
        key: "listen",
        default: "127.0.0.1:8080",
        doc: "address to listen on",
    },
    KeyDoc {
        key: "database_url",
        default: "sqlite:./doorward-data/doorward.db",
        doc: "sqlite:PATH or postgres://...",
    },
    KeyDoc {
        key: "database_max_connections",
        default: "8",
        doc: "connections this instance may hold open (per instance: mind PostgreSQL's max_connections)",
    },
    KeyDoc {
        key: "issuer",
        default: "http://<listen>",
        doc: "public base URL: token `iss`, base of mail links (default https://<listen> when serving TLS)",
    },
    KeyDoc {
        key: "tokens.access_ttl",
        default: "15m",
        doc: "access token lifetime",
    },
    KeyDoc {
        key: "tokens.refresh_ttl",
        default: "30d",
        doc: "refresh token lifetime (sliding)",
    },
    KeyDoc {
        key: "tokens.refresh_grace",
        default: "10s",
        doc: "how long a rotated refresh token still works (two tabs); 0s allowed",
    },
    KeyDoc {
        key: "tokens.audience",
        default: "<issuer>",
        doc: "`aud` of access tokens",
    },
    KeyDoc {
        key: "keys.encryption_key",
        default: "unset",
        doc: "32 random bytes, base64: encrypts private signing keys at rest",
    },
    KeyDoc {
        key: "password.hash_memory_kib",
        default: "19456",
        doc: "argon2id memory cost (KiB)",
    },
    KeyDoc {
        key: "password.hash_iterations",
        default: "2",
        doc: "argon2id time cost",
    },
    KeyDoc {
        key: "password.hash_parallelism",
        default: "1",
        doc: "argon2id lanes",
    },
    KeyDoc {
        key: "password.hash_max_in_flight",
        default: "<cores>",
        doc: "password hashes computed at once",
    },
    KeyDoc {
        key: "password.hash_max_queued",
        default: "<cores × 32>",
        doc: "hashes that may wait; beyond, 503 + Retry-After",
    },
    KeyDoc {
        key: "password.breached_file",
        default: "unset",
        doc: "Have I Been Pwned SHA-1 file (HASH:COUNT lines, sorted); passwords in it are refused",
    },
    KeyDoc {
        key: "auth.require_email_verification",
        default: "false",
        doc: "refuse login (403 email_not_verified) and issue no tokens until the email is verified",
    },
    KeyDoc {
        key: "auth.trusted_proxies",
        default: "empty",
        doc: "IPs/CIDRs whose X-Forwarded-For/Forwarded is believed",
    },
    KeyDoc {
        key: "mail.smtp_url",
        default: "unset",
        doc: "smtp://[user:pass@]host[:port] (STARTTLS when offered; ?tls=required insists) or smtps://... (TLS); default ports 25 and 465",
    },
    KeyDoc {
        key: "mail.outbox_dir",
        default: "unset",
        doc: "write mail as .eml files into this folder instead of SMTP (wins when both are set)",
    },
    KeyDoc {
        key: "mail.from",
        default: "no-reply@<issuer host>",
        doc: "sender address, e.g. \"Example <no-reply@example.com>\"",
    },
    KeyDoc {
        key: "throttle.account_failures",
        default: "5",
        doc: "failed logins of one account within the window before it is throttled (429)",
    },
    KeyDoc {
        key: "throttle.ip_failures",
        default: "50",
        doc: "failed logins from one client IP (IPv6: /64) within the window before it is throttled",
    },
    KeyDoc {
        key: "throttle.window",
        default: "15m",
        doc: "how long failures count; also the longest a throttle lasts",
    },
    KeyDoc {
        key: "web.allowed_return_origins",
        default: "empty",
        doc: "origins besides the issuer's that the pages' `return_to` may lead to",
    },
    KeyDoc {
        key: "http.request_timeout",
        default: "30s",
        doc: "longest a request may take",
    },
    // HTTPS (issue 5)
    KeyDoc {
        key: "tls.cert",
        default: "unset",
        doc: "PEM certificate chain (leaf first): serve HTTPS with it and tls.key (like --tls-cert)",
    },
    KeyDoc {
        key: "tls.key",
        default: "unset",
        doc: "PEM private key of tls.cert: PKCS#8, RSA or SEC1 (EC), unencrypted (like --tls-key)",
    },
    KeyDoc {
        key: "tls.dev",
        default: "false",
        doc: "serve HTTPS with a self-signed certificate for localhost kept in the data directory; local use only (like --dev-tls)",
    },
];

/// The environment name of a key: `tokens.access_ttl` → `DOORWARD_TOKENS_ACCESS_TTL`.
pub fn env_name(key: &str) -> String {
    format!("DOORWARD_{}", key.replace('.', "_").to_uppercase())
}

/// The configuration as written by the operator: every field optional,
/// unknown keys refused. Kept apart from `Settings` (typed, validated).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    /// Upper bound of this instance's connection pool.
    pub database_max_connections: Option<u32>,
    pub issuer: Option<String>,
    #[serde(default)]
    pub tokens: TokensSection,
    #[serde(default)]
    pub keys: KeysSection,
    #[serde(default)]
    pub password: PasswordSection,
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub mail: MailSection,
    #[serde(default)]
    pub throttle: ThrottleSection,
    #[serde(default)]
    pub web: WebSection,
    #[serde(default)]
    pub http: HttpSection,
    #[serde(default)]
    pub tls: TlsSection,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokensSection {
    pub access_ttl: Option<String>,
    pub refresh_ttl: Option<String>,
    pub refresh_grace: Option<String>,
    pub audience: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    #[serde(skip_serializing)]
    pub encryption_key: Option<SecretString>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSection {
    pub hash_memory_kib: Option<u32>,
    pub hash_iterations: Option<u32>,
    pub hash_parallelism: Option<u32>,
    pub hash_max_in_flight: Option<usize>,
    pub hash_max_queued: Option<usize>,
    pub breached_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    pub require_email_verification: Option<bool>,
    #[serde(default, deserialize_with = "list")]
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailSection {
    #[serde(skip_serializing)]
    pub smtp_url: Option<SecretString>,
    pub outbox_dir: Option<PathBuf>,
    pub from: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSection {
    pub account_failures: Option<u32>,
    pub ip_failures: Option<u32>,
    pub window: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    #[serde(default, deserialize_with = "list")]
    pub allowed_return_origins: Vec<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    pub request_timeout: Option<String>,
}

/// `[tls]`: HTTPS with a certificate (`cert` + `key`) or the development one.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub dev: Option<bool>,
}

/// How `serve` speaks HTTPS (`Settings::tls`; `None` is plain HTTP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// `--tls-cert` / `--tls-key`: an operator's PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// `--dev-tls`: a self-signed certificate for local use (`tls::dev_certificate`).
    Dev,
}

impl TlsSection {
    /// The mode this section asks for; an empty path (e.g. `DOORWARD_TLS_CERT=`) is unset.
    fn mode(&self) -> Result<Option<TlsMode>, ConfigError> {
        let path = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
        let dev = self.dev.unwrap_or(false);
        match (path(&self.cert), path(&self.key)) {
            (Some(_), _) | (_, Some(_)) if dev => Err(ConfigError(
                "tls.dev: a development certificate and tls.cert/tls.key are both set; \
                 keep one (a flag --dev-tls or --tls-cert replaces the [tls] settings)"
                    .into(),
            )),
            (Some(cert), Some(key)) => Ok(Some(TlsMode::Files { cert, key })),
            (Some(_), None) => Err(ConfigError(
                "tls.key: tls.cert is set but tls.key is not; give the certificate's private key \
                 (PEM) too (--tls-key or DOORWARD_TLS_KEY)"
                    .into(),
            )),
            (None, Some(_)) => Err(ConfigError(
                "tls.cert: tls.key is set but tls.cert is not; give the certificate chain \
                 (PEM) too (--tls-cert or DOORWARD_TLS_CERT)"
                    .into(),
            )),
            (None, None) => Ok(dev.then_some(TlsMode::Dev)),
        }
    }
}

/// A list from TOML (array) or the environment (comma-separated string).
fn list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Raw::Many(v) => v,
    })
}

/// Values given on the command line (highest precedence).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub database_url: Option<String>,
    /// `--tls-cert/--tls-key` or `--dev-tls`: replaces the whole `[tls]`
    /// section of the file and environment (one flag picks the mode).
    pub tls: Option<TlsMode>,
}

/// The validated, typed configuration the server runs on.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    /// Pool size (1..=1000). Several instances on one PostgreSQL share its
    /// `max_connections` (100 by default): instances × this must stay below it.
    pub database_max_connections: u32,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: time::Duration,
    pub refresh_ttl: time::Duration,
    pub refresh_grace: time::Duration,
    pub encryption_key: Option<[u8; 32]>,
    pub hash: HashParams,
    pub hash_pool: HashPool,
    pub trusted_proxies: Vec<IpNet>,
    /// `password.breached_file`; opened (and so checked) in `app::build_with_store`.
    pub breached_file: Option<PathBuf>,
    pub request_timeout: std::time::Duration,
    /// `auth.require_email_verification`: no tokens until the address is verified.
    pub require_email_verification: bool,
    /// `throttle.*`: failed-login throttling (issue 4).
    pub throttle: ThrottlePolicy,
    // Mail (issue 4): `mail.*`, validated (the SMTP password stays out of Debug).
    pub mail: crate::mail::MailSettings,
    // Pages (issue 5)
    /// `web.allowed_return_origins`: where `/login?return_to=` may lead
    /// besides this server (see `web::return_to`).
    pub allowed_return_origins: Vec<String>,
    /// `tls.*` / `--tls-cert` / `--dev-tls`: `serve` speaks HTTPS (issue 5).
    pub tls: Option<TlsMode>,
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Where the sections' env variables map: `DOORWARD_TOKENS_ACCESS_TTL` → `tokens.access_ttl`.
const SECTIONS: &[&str] = &[
    "tokens", "keys", "password", "auth", "mail", "throttle", "web", "http", "tls",
];

fn env_key(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    for s in SECTIONS {
        if let Some(rest) = lower.strip_prefix(&format!("{s}_")) {
            return format!("{s}.{rest}");
        }
    }
    lower
}

/// Names of `DOORWARD_*` variables that match no key (warned about at start).
pub fn unknown_env_vars(vars: impl Iterator<Item = String>) -> Vec<String> {
    vars.filter(|v| v.starts_with("DOORWARD_") && !is_process_var(v) && !is_setting_var(v))
        .collect()
}

/// `DOORWARD_*` variables read by the CLI itself, not settings.
fn is_process_var(name: &str) -> bool {
    ["DOORWARD_CONFIG", "DOORWARD_LOG", "DOORWARD_LOG_FORMAT"].contains(&name)
}

/// The environment twin of one of `KEYS`.
fn is_setting_var(name: &str) -> bool {
    KEYS.iter().any(|k| env_name(k.key) == name)
}

impl Settings {
    /// Layer the sources and validate. `env` is the process environment
    /// (a parameter so tests can pass their own).
    pub fn load(overrides: &Overrides, env: &[(String, String)]) -> Result<Settings, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(FileConfig::default()));
        if let Some(path) = &overrides.config {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file(path));
        }
        let mut env_fig = Figment::new();
        for (k, v) in env {
            if let Some(rest) = k.strip_prefix("DOORWARD_") {
                // Process variables and unknown names (warned about) are not settings.
                if !is_setting_var(k) {
                    continue;
                }
                // Parse like figment's own Env provider: "5" is a number, "true" a bool.
                let value: figment::value::Value = match v.parse() {
                    Ok(value) => value,
                    Err(never) => match never {},
                };
                env_fig = env_fig.merge(Serialized::default(&env_key(rest), value));
            }
        }
        fig = fig.merge(env_fig);
        if let Some(l) = &overrides.listen {
            fig = fig.merge(Serialized::default("listen", l));
        }
        if let Some(d) = &overrides.database_url {
            fig = fig.merge(Serialized::default("database_url", d));
        }
        let mut file: FileConfig = fig
            .extract()
            .map_err(|e| ConfigError(describe_figment(e)))?;
        match &overrides.tls {
            Some(TlsMode::Files { cert, key }) => {
                file.tls = TlsSection {
                    cert: Some(cert.clone()),
                    key: Some(key.clone()),
                    dev: None,
                }
            }
            Some(TlsMode::Dev) => {
                file.tls = TlsSection {
                    dev: Some(true),
                    ..TlsSection::default()
                }
            }
            None => {}
        }
        Settings::validate(file)
    }

    pub fn validate(f: FileConfig) -> Result<Settings, ConfigError> {
        let listen_raw = f.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_raw.parse().map_err(|_| {
            ConfigError(format!(
                "listen: `{listen_raw}` is not an address like 127.0.0.1:8080"
            ))
        })?;
        let database_url = f
            .database_url
            .unwrap_or_else(|| "sqlite:./doorward-data/doorward.db".into());
        let database_max_connections = f.database_max_connections.unwrap_or(8);
        if !(1..=1000).contains(&database_max_connections) {
            return Err(ConfigError(format!(
                "database_max_connections: `{database_max_connections}` must be between 1 and 1000"
            )));
        }
        let tls = f.tls.mode()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let issuer = f
            .issuer
            .unwrap_or_else(|| format!("{scheme}://{listen}"))
            .trim_end_matches('/')
            .to_owned();
        if !(issuer.starts_with("http://") || issuer.starts_with("https://")) {
            return Err(ConfigError(format!(
                "issuer: `{issuer}` must be an http:// or https:// URL"
            )));
        }
        let audience = f.tokens.audience.unwrap_or_else(|| issuer.clone());
        let access_ttl = duration("tokens.access_ttl", f.tokens.access_ttl.as_deref(), "15m")?;
        let refresh_ttl = duration("tokens.refresh_ttl", f.tokens.refresh_ttl.as_deref(), "30d")?;
        let refresh_grace = duration(
            "tokens.refresh_grace",
            f.tokens.refresh_grace.as_deref(),
            "10s",
        )?;
        if access_ttl < time::Duration::seconds(10) {
            return Err(ConfigError(
                "tokens.access_ttl: must be at least 10s".into(),
            ));
        }
        if refresh_ttl <= access_ttl {
            return Err(ConfigError(
                "tokens.refresh_ttl: must be longer than tokens.access_ttl".into(),
            ));
        }
        let encryption_key = match &f.keys.encryption_key {
            None => None,
            Some(k) => Some(decode_key(k.expose_secret())?),
        };
        let defaults = HashParams::default();
        let hash = HashParams {
            memory_kib: f.password.hash_memory_kib.unwrap_or(defaults.memory_kib),
            iterations: f.password.hash_iterations.unwrap_or(defaults.iterations),
            parallelism: f.password.hash_parallelism.unwrap_or(defaults.parallelism),
        };
        hash.validate()
            .map_err(|e| ConfigError(format!("password.hash_*: {e}")))?;
        let pool_defaults = HashPool::default();
        let hash_pool = HashPool {
            max_in_flight: f
                .password
                .hash_max_in_flight
                .unwrap_or(pool_defaults.max_in_flight)
                .max(1),
            max_queued: f
                .password
                .hash_max_queued
                .unwrap_or(pool_defaults.max_queued),
        };
        let trusted_proxies = f
            .auth
            .trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        ConfigError(format!(
                            "auth.trusted_proxies: `{p}` is not an IP address or CIDR"
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let throttle = throttle_policy(&f.throttle)?;
        let allowed_return_origins = f
            .web
            .allowed_return_origins
            .iter()
            .map(|o| {
                crate::web::return_to::origin_of(o).ok_or_else(|| {
                    ConfigError(format!(
                        "web.allowed_return_origins: `{o}` is not an http:// or https:// origin"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let request_timeout = duration(
            "http.request_timeout",
            f.http.request_timeout.as_deref(),
            "30s",
        )?;
        // Mail (issue 4).
        let mail = crate::mail::MailSettings::from_section(&f.mail, &issuer)?;
        Ok(Settings {
            listen,
            database_url,
            database_max_connections,
            issuer,
            audience,
            access_ttl,
            refresh_ttl,
            refresh_grace,
            encryption_key,
            hash,
            hash_pool,
            trusted_proxies,
            // An empty value (e.g. `DOORWARD_PASSWORD_BREACHED_FILE=`) means unset.
            breached_file: f
                .password
                .breached_file
                .filter(|p| !p.as_os_str().is_empty()),
            request_timeout: request_timeout
                .try_into()
                .unwrap_or(std::time::Duration::from_secs(30)),
            require_email_verification: f.auth.require_email_verification.unwrap_or(false),
            throttle,
            mail,
            allowed_return_origins,
            tls,
        })
    }

    /// Whether the database is a PostgreSQL server (which may be down or not
    /// up yet, unlike a SQLite file).
    pub fn is_postgres(&self) -> bool {
        let url = self.database_url.trim_start().to_ascii_lowercase();
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// The SQLite file this configuration points at, if any.
    pub fn sqlite_path(&self) -> Option<&Path> {
        let rest = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))?;
        Some(Path::new(rest))
    }

    /// Where files that belong to this server but not in its database live
    /// (the `--dev-tls` certificate): the folder of the SQLite file, or
    /// `./doorward-data` (the default database's folder) for PostgreSQL and
    /// an in-memory SQLite database.
    pub fn data_dir(&self) -> PathBuf {
        let default = || PathBuf::from("./doorward-data");
        let Some(file) = self.sqlite_path() else {
            return default();
        };
        let file = file.to_string_lossy();
        let file = file.split('?').next().unwrap_or_default();
        if file.is_empty() || file.starts_with(':') {
            return default();
        }
        match Path::new(file).parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }
}

fn duration(key: &str, value: Option<&str>, default: &str) -> Result<time::Duration, ConfigError> {
    let raw = value.unwrap_or(default).trim();
    let parsed = if raw == "0" {
        Ok(std::time::Duration::ZERO)
    } else {
        humantime::parse_duration(raw)
    };
    let d = parsed.map_err(|_| {
        ConfigError(format!(
            "{key}: `{raw}` is not a duration such as 10s, 15m, 30d"
        ))
    })?;
    time::Duration::try_from(d).map_err(|_| ConfigError(format!("{key}: `{raw}` is too long")))
}

/// `throttle.*` (issue 4): thresholds of at least 1, a window longer than 0.
fn throttle_policy(t: &ThrottleSection) -> Result<ThrottlePolicy, ConfigError> {
    let defaults = ThrottlePolicy::default();
    let failures = |key: &str, value: Option<u32>, default: u32| match value.unwrap_or(default) {
        0 => Err(ConfigError(format!("{key}: must be at least 1"))),
        n => Ok(n),
    };
    let window = duration("throttle.window", t.window.as_deref(), "15m")?;
    if window <= time::Duration::ZERO {
        return Err(ConfigError(
            "throttle.window: must be longer than 0s".into(),
        ));
    }
    Ok(ThrottlePolicy {
        account_failures: failures(
            "throttle.account_failures",
            t.account_failures,
            defaults.account_failures,
        )?,
        ip_failures: failures("throttle.ip_failures", t.ip_failures, defaults.ip_failures)?,
        window,
        known_ip_for: defaults.known_ip_for,
    })
}

fn decode_key(b64: &str) -> Result<[u8; 32], ConfigError> {
    let bad = || {
        ConfigError("keys.encryption_key: must be 32 random bytes in base64 (make one with `openssl rand -base64 32`)".into())
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

fn describe_figment(e: figment::Error) -> String {
    let mut out = Vec::new();
    for err in e {
        let key = err.path.join(".");
        let what = match &err.kind {
            figment::error::Kind::UnknownField(name, _) => {
                let full = if key.is_empty() {
                    name.clone()
                } else {
                    format!("{key}.{name}")
                };
                format!("unknown key `{full}` (see `doorward serve --help` for the keys)")
            }
            other => {
                if key.is_empty() {
                    other.to_string()
                } else {
                    format!("{key}: {other}")
                }
            }
        };
        out.push(what);
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = Settings::load(&Overrides::default(), &[]).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite:./doorward-data/doorward.db");
        assert_eq!(s.database_max_connections, 8);
        assert!(!s.is_postgres());
        assert_eq!(s.issuer, "http://127.0.0.1:8080");
        assert_eq!(s.audience, s.issuer);
        assert_eq!(s.access_ttl, time::Duration::minutes(15));
        assert_eq!(s.refresh_ttl, time::Duration::days(30));
        assert_eq!(s.refresh_grace, time::Duration::seconds(10));
        assert_eq!(s.hash, HashParams::default());
        assert!(s.encryption_key.is_none());
        assert_eq!(s.throttle, ThrottlePolicy::default());
        assert_eq!(
            (
                s.throttle.account_failures,
                s.throttle.ip_failures,
                s.throttle.window
            ),
            (5, 50, time::Duration::minutes(15))
        );
    }

    #[test]
    fn throttle_settings_load_and_are_checked() {
        let s = Settings::load(
            &Overrides::default(),
            &env(&[
                ("DOORWARD_THROTTLE_ACCOUNT_FAILURES", "3"),
                ("DOORWARD_THROTTLE_IP_FAILURES", "7"),
                ("DOORWARD_THROTTLE_WINDOW", "2s"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (
                s.throttle.account_failures,
                s.throttle.ip_failures,
                s.throttle.window
            ),
            (3, 7, time::Duration::seconds(2))
        );
        for (var, value, key) in [
            (
                "DOORWARD_THROTTLE_ACCOUNT_FAILURES",
                "0",
                "throttle.account_failures",
            ),
            ("DOORWARD_THROTTLE_IP_FAILURES", "0", "throttle.ip_failures"),
            (
                "DOORWARD_THROTTLE_IP_FAILURES",
                "-1",
                "throttle.ip_failures",
            ),
            ("DOORWARD_THROTTLE_WINDOW", "0s", "throttle.window"),
            ("DOORWARD_THROTTLE_WINDOW", "soon", "throttle.window"),
        ] {
            let e = Settings::load(&Overrides::default(), &env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{var}={value}: {e}");
        }
    }

    #[test]
    fn precedence_is_flag_env_file_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1111\"\nissuer = \"https://file.example\"\n[tokens]\naccess_ttl = \"5m\"\nrefresh_grace = \"1s\"\n").unwrap();
        let o = Overrides {
            config: Some(path),
            ..Default::default()
        };
        let e = env(&[
            ("DOORWARD_LISTEN", "127.0.0.1:2222"),
            ("DOORWARD_TOKENS_REFRESH_GRACE", "0s"),
        ]);
        let s = Settings::load(&o, &e).unwrap();
        assert_eq!(s.listen.port(), 2222);
        assert_eq!(s.issuer, "https://file.example");
        assert_eq!(s.access_ttl, time::Duration::minutes(5));
        assert_eq!(s.refresh_grace, time::Duration::ZERO);
        let o = Overrides {
            listen: Some("127.0.0.1:3333".into()),
            ..o
        };
        assert_eq!(Settings::load(&o, &e).unwrap().listen.port(), 3333);
    }

    #[test]
    fn every_key_has_an_env_twin_that_loads() {
        let values = [
            ("listen", "127.0.0.1:9"),
            ("database_url", "sqlite:/tmp/x.db"),
            ("database_max_connections", "16"),
            ("issuer", "https://auth.example"),
            ("tokens.access_ttl", "1m"),
            ("tokens.refresh_ttl", "2d"),
            ("tokens.refresh_grace", "3s"),
            ("tokens.audience", "api"),
            (
                "keys.encryption_key",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
            ("password.hash_memory_kib", "8192"),
            ("password.hash_iterations", "3"),
            ("password.hash_parallelism", "1"),
            ("password.hash_max_in_flight", "2"),
            ("password.hash_max_queued", "10"),
            ("password.breached_file", "/tmp/pwned.txt"),
            ("auth.require_email_verification", "true"),
            ("auth.trusted_proxies", "10.0.0.0/8, 127.0.0.1"),
            ("mail.smtp_url", "smtp://localhost:25"),
            ("mail.outbox_dir", "/tmp/outbox"),
            ("mail.from", "a@b.c"),
            ("throttle.account_failures", "5"),
            ("throttle.ip_failures", "50"),
            ("throttle.window", "15m"),
            (
                "web.allowed_return_origins",
                "https://a.example,https://b.example",
            ),
            ("http.request_timeout", "5s"),
            ("tls.cert", "/etc/doorward/cert.pem"),
            ("tls.key", "/etc/doorward/key.pem"),
            ("tls.dev", "false"),
        ];
        assert_eq!(values.len(), KEYS.len(), "every documented key is tested");
        let e: Vec<_> = values
            .iter()
            .map(|(k, v)| (env_name(k), v.to_string()))
            .collect();
        assert!(unknown_env_vars(e.iter().map(|(k, _)| k.clone())).is_empty());
        let s = Settings::load(&Overrides::default(), &e).unwrap();
        assert_eq!(s.listen.port(), 9);
        assert_eq!(s.database_max_connections, 16);
        assert_eq!(s.audience, "api");
        assert_eq!(s.refresh_grace, time::Duration::seconds(3));
        assert_eq!(s.hash.memory_kib, 8192);
        assert_eq!(s.trusted_proxies.len(), 2);
        assert_eq!(s.encryption_key.unwrap()[31], 31);
        assert_eq!(
            s.tls,
            Some(TlsMode::Files {
                cert: "/etc/doorward/cert.pem".into(),
                key: "/etc/doorward/key.pem".into()
            })
        );
    }

    // HTTPS (issue 5).
    #[test]
    fn tls_turns_the_default_issuer_to_https() {
        let s = Settings::load(&Overrides::default(), &[]).unwrap();
        assert_eq!(s.tls, None);
        let s = Settings::load(
            &Overrides {
                listen: Some("127.0.0.1:8443".into()),
                ..Default::default()
            },
            &env(&[("DOORWARD_TLS_DEV", "true")]),
        )
        .unwrap();
        assert_eq!(s.tls, Some(TlsMode::Dev));
        assert_eq!(s.issuer, "https://127.0.0.1:8443");
        assert_eq!(s.audience, s.issuer);
        // An issuer the operator set is kept (a proxy's public name).
        let s = Settings::load(
            &Overrides::default(),
            &env(&[
                ("DOORWARD_TLS_CERT", "c.pem"),
                ("DOORWARD_TLS_KEY", "k.pem"),
                ("DOORWARD_ISSUER", "https://auth.example"),
            ]),
        )
        .unwrap();
        assert_eq!(s.issuer, "https://auth.example");
        assert!(matches!(s.tls, Some(TlsMode::Files { .. })));
    }

    #[test]
    fn tls_settings_must_be_complete_and_not_mixed() {
        for (pairs, key) in [
            (&[("DOORWARD_TLS_CERT", "c.pem")][..], "tls.key"),
            (&[("DOORWARD_TLS_KEY", "k.pem")][..], "tls.cert"),
            (
                &[("DOORWARD_TLS_CERT", "c.pem"), ("DOORWARD_TLS_KEY", "")][..],
                "tls.key",
            ),
            (
                &[
                    ("DOORWARD_TLS_DEV", "true"),
                    ("DOORWARD_TLS_CERT", "c.pem"),
                    ("DOORWARD_TLS_KEY", "k.pem"),
                ][..],
                "tls.dev",
            ),
            (&[("DOORWARD_TLS_DEV", "sometimes")][..], "tls.dev"),
        ] {
            let e = Settings::load(&Overrides::default(), &env(pairs))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{pairs:?}: {e}");
        }
        // Empty values are unset, as for the other paths.
        let s = Settings::load(
            &Overrides::default(),
            &env(&[("DOORWARD_TLS_CERT", ""), ("DOORWARD_TLS_KEY", "")]),
        )
        .unwrap();
        assert_eq!(s.tls, None);
        assert!(s.issuer.starts_with("http://"));
    }

    #[test]
    fn a_tls_flag_replaces_the_tls_settings_of_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.toml");
        std::fs::write(
            &path,
            "[tls]\ncert = \"/etc/c.pem\"\nkey = \"/etc/k.pem\"\n",
        )
        .unwrap();
        let file = Overrides {
            config: Some(path),
            ..Default::default()
        };
        let s = Settings::load(&file, &[]).unwrap();
        assert_eq!(
            s.tls,
            Some(TlsMode::Files {
                cert: "/etc/c.pem".into(),
                key: "/etc/k.pem".into()
            })
        );
        let dev = Overrides {
            tls: Some(TlsMode::Dev),
            ..file
        };
        assert_eq!(Settings::load(&dev, &[]).unwrap().tls, Some(TlsMode::Dev));
        let flags = Overrides {
            tls: Some(TlsMode::Files {
                cert: "a.pem".into(),
                key: "b.pem".into(),
            }),
            ..Default::default()
        };
        let s = Settings::load(&flags, &env(&[("DOORWARD_TLS_DEV", "true")])).unwrap();
        assert_eq!(
            s.tls,
            Some(TlsMode::Files {
                cert: "a.pem".into(),
                key: "b.pem".into()
            })
        );
    }

    #[test]
    fn the_data_dir_is_the_sqlite_folder() {
        let at = |url: &str| {
            Settings::load(
                &Overrides {
                    database_url: Some(url.into()),
                    ..Default::default()
                },
                &[],
            )
            .unwrap()
            .data_dir()
        };
        assert_eq!(
            at("sqlite:./doorward-data/doorward.db"),
            Path::new("./doorward-data")
        );
        assert_eq!(
            at("sqlite:/var/lib/doorward/d.db?mode=rwc"),
            Path::new("/var/lib/doorward")
        );
        assert_eq!(at("sqlite:x.db"), Path::new("."));
        assert_eq!(at("sqlite::memory:"), Path::new("./doorward-data"));
        assert_eq!(at("postgres://u@h/db"), Path::new("./doorward-data"));
    }

    #[test]
    fn contract_keys_are_all_documented() {
        let contract = [
            "tokens.access_ttl",
            "tokens.refresh_ttl",
            "tokens.refresh_grace",
            "tokens.audience",
            "mail.smtp_url",
            "mail.outbox_dir",
            "mail.from",
            "auth.require_email_verification",
            "auth.trusted_proxies",
            "password.breached_file",
            "throttle.account_failures",
            "throttle.ip_failures",
            "throttle.window",
            "web.allowed_return_origins",
            "keys.encryption_key",
        ];
        for k in contract {
            assert!(KEYS.iter().any(|d| d.key == k), "{k} missing");
        }
    }

    #[test]
    fn the_pool_size_is_bounded_and_postgres_is_recognised() {
        for bad in ["0", "1001", "many"] {
            let e = Settings::load(
                &Overrides::default(),
                &env(&[("DOORWARD_DATABASE_MAX_CONNECTIONS", bad)]),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("database_max_connections"), "{e}");
        }
        let s = Settings::load(
            &Overrides {
                database_url: Some("postgresql://u@127.0.0.1/db".into()),
                ..Default::default()
            },
            &env(&[("DOORWARD_DATABASE_MAX_CONNECTIONS", "32")]),
        )
        .unwrap();
        assert!(s.is_postgres());
        assert_eq!(s.database_max_connections, 32);
    }

    #[test]
    fn errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.toml");
        std::fs::write(&path, "[tokens]\nacess_ttl = \"5m\"\n").unwrap();
        let o = Overrides {
            config: Some(path.clone()),
            ..Default::default()
        };
        let e = Settings::load(&o, &[]).unwrap_err().to_string();
        assert!(e.contains("tokens.acess_ttl"), "{e}");
        let e = Settings::load(
            &Overrides::default(),
            &env(&[("DOORWARD_TOKENS_ACCESS_TTL", "soon")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("tokens.access_ttl"), "{e}");
        let e = Settings::load(
            &Overrides::default(),
            &env(&[("DOORWARD_KEYS_ENCRYPTION_KEY", "short")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("keys.encryption_key") && !e.contains("short"),
            "{e}"
        );
        let e = Settings::load(
            &Overrides {
                listen: Some("nope".into()),
                ..Default::default()
            },
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("listen"), "{e}");
        assert_eq!(
            unknown_env_vars(["DOORWARD_TOKENS_ACESS_TTL".to_string(), "PATH".into()].into_iter()),
            vec!["DOORWARD_TOKENS_ACESS_TTL"]
        );
    }

    // Mail (issue 4).
    #[test]
    fn mail_keys_are_validated_and_the_smtp_password_is_never_shown() {
        let s = Settings::load(
            &Overrides::default(),
            &env(&[(
                "DOORWARD_MAIL_SMTP_URL",
                "smtps://u:hunter2@mail.example.com",
            )]),
        )
        .unwrap();
        let url = s.mail.smtp.as_ref().unwrap();
        assert_eq!((url.host.as_str(), url.port), ("mail.example.com", 465));
        assert_eq!(s.mail.from.to_string(), "no-reply@127.0.0.1");
        assert!(!format!("{s:?}").contains("hunter2"), "{s:?}");
        for bad in ["http://mail.example.com", "smtp://u:hunter2@"] {
            let e = Settings::load(
                &Overrides::default(),
                &env(&[("DOORWARD_MAIL_SMTP_URL", bad)]),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("mail.smtp_url") && e.contains("smtps://"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let e = Settings::load(
            &Overrides::default(),
            &env(&[("DOORWARD_MAIL_FROM", "nobody")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("mail.from"), "{e}");
    }
}
