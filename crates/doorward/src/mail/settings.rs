//! The `mail.*` keys, validated at start: `mail.smtp_url` parsed into an
//! [`SmtpUrl`] (scheme, host, port, credentials), `mail.outbox_dir`, and
//! `mail.from` (default `no-reply@<issuer host>`).

use std::fmt;
use std::path::PathBuf;

use lettre::message::Mailbox;
use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{ConfigError, MailSection};

/// SMTP's port without TLS (`smtp://`).
pub const SMTP_PORT: u16 = 25;
/// SMTP over TLS from the first byte (`smtps://`, RFC 8314).
pub const SMTPS_PORT: u16 = 465;

/// What the `mail.*` keys say. Both a URL and a folder may be set: the
/// outbox then wins (see [`MailSettings::delivery`]).
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// `mail.smtp_url`.
    pub smtp: Option<SmtpUrl>,
    /// `mail.outbox_dir`.
    pub outbox_dir: Option<PathBuf>,
    /// `mail.from`, or `no-reply@<issuer host>`.
    pub from: Mailbox,
}

/// Where messages go.
#[derive(Clone, Debug)]
pub enum Delivery<'a> {
    /// One `.eml` file per message in this folder.
    Outbox(&'a std::path::Path),
    Smtp(&'a SmtpUrl),
    /// Nowhere: messages are dropped with a warning.
    Off,
}

impl MailSettings {
    /// The outbox when `mail.outbox_dir` is set (a developer who sets it wants
    /// to read the mail, even with an SMTP URL left in the environment), else
    /// SMTP when `mail.smtp_url` is set, else nothing.
    pub fn delivery(&self) -> Delivery<'_> {
        match (&self.outbox_dir, &self.smtp) {
            (Some(dir), _) => Delivery::Outbox(dir),
            (None, Some(url)) => Delivery::Smtp(url),
            (None, None) => Delivery::Off,
        }
    }

    /// Validate the `[mail]` section; `issuer` gives the default sender's
    /// domain. Empty values (as from `DOORWARD_MAIL_SMTP_URL=`) mean unset.
    pub fn from_section(section: &MailSection, issuer: &str) -> Result<MailSettings, ConfigError> {
        let smtp = match section.smtp_url.as_ref().map(|u| u.expose_secret().trim()) {
            None | Some("") => None,
            Some(raw) => Some(
                SmtpUrl::parse(raw)
                    .map_err(|what| ConfigError(format!("mail.smtp_url: {what}")))?,
            ),
        };
        let outbox_dir = section
            .outbox_dir
            .clone()
            .filter(|p| !p.as_os_str().is_empty());
        let from = match section.from.as_deref().map(str::trim) {
            None | Some("") => default_from(issuer)?,
            Some(raw) => raw.parse::<Mailbox>().map_err(|_| {
                ConfigError(format!(
                    "mail.from: `{raw}` is not an address like no-reply@example.com \
                     or \"Example <no-reply@example.com>\""
                ))
            })?,
        };
        Ok(MailSettings {
            smtp,
            outbox_dir,
            from,
        })
    }
}

/// `no-reply@<issuer host>`. An IPv4 host stands bare (`no-reply@127.0.0.1`);
/// an IPv6 host gives `no-reply@localhost`. Domain literals (`[127.0.0.1]`,
/// RFC 5322 section 3.4.1) would be more exact, but lettre cannot read them
/// back when it builds the envelope.
fn default_from(issuer: &str) -> Result<Mailbox, ConfigError> {
    let no_default = || {
        ConfigError(format!(
            "mail.from: no default sender can be made from the issuer `{issuer}`; set mail.from"
        ))
    };
    let url = url::Url::parse(issuer).map_err(|_| no_default())?;
    let domain = match url.host().ok_or_else(no_default)? {
        url::Host::Domain(d) => d.to_owned(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(_) => "localhost".to_owned(),
    };
    format!("no-reply@{domain}")
        .parse::<Mailbox>()
        .map_err(|_| no_default())
}

/// How the connection to the SMTP server is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: STARTTLS when the server offers it, plain otherwise.
    StartTlsWhenOffered,
    /// `smtp://...?tls=required`: STARTTLS, or no delivery.
    StartTlsRequired,
    /// `smtps://`: TLS from the first byte.
    Tls,
}

/// `mail.smtp_url`, parsed. `Debug` and `Display` never show the password.
#[derive(Clone, Debug)]
pub struct SmtpUrl {
    pub security: SmtpSecurity,
    /// A name or an IP address (without brackets).
    pub host: String,
    pub port: u16,
    pub credentials: Option<SmtpCredentials>,
}

/// The user and password from the URL, percent-decoded.
#[derive(Clone, Debug)]
pub struct SmtpCredentials {
    pub user: String,
    pub password: SecretString,
}

impl SmtpUrl {
    /// Parse `smtp://[user:pass@]host[:port][?tls=required]` or
    /// `smtps://[user:pass@]host[:port]`. The error says what is expected and
    /// never repeats the URL (it may hold a password).
    pub fn parse(raw: &str) -> Result<SmtpUrl, String> {
        const SHAPE: &str = "expected smtp://[user:pass@]host[:port] (STARTTLS when the server \
                             offers it) or smtps://[user:pass@]host[:port] (TLS)";
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL ({e}); {SHAPE}"))?;
        let mut security = match url.scheme() {
            "smtp" => SmtpSecurity::StartTlsWhenOffered,
            "smtps" => SmtpSecurity::Tls,
            other => return Err(format!("the scheme `{other}` is not supported; {SHAPE}")),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(format!("no host; {SHAPE}")),
        };
        let port = match url.port() {
            Some(0) => return Err("port 0 is not a port".into()),
            Some(port) => port,
            None if security == SmtpSecurity::Tls => SMTPS_PORT,
            None => SMTP_PORT,
        };
        if !matches!(url.path(), "" | "/") {
            return Err(format!("a path is not expected; {SHAPE}"));
        }
        if url.fragment().is_some() {
            return Err(format!("a #fragment is not expected; {SHAPE}"));
        }
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref(), security) {
                ("tls", "required", SmtpSecurity::StartTlsWhenOffered) => {
                    security = SmtpSecurity::StartTlsRequired;
                }
                ("tls", "required", _) => {}
                _ => {
                    return Err(
                        "the only query parameter understood is tls=required (smtp:// that \
                         refuses to send without STARTTLS)"
                            .into(),
                    )
                }
            }
        }
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            ("", Some(_)) => return Err("a password without a user name".into()),
            (_, None) => return Err("a user name without a password (user:pass@host)".into()),
            (user, Some(password)) => Some(SmtpCredentials {
                user: decode(user, "user name")?,
                password: SecretString::from(decode(password, "password")?),
            }),
        };
        Ok(SmtpUrl {
            security,
            host,
            port,
            credentials,
        })
    }
}

fn decode(part: &str, what: &str) -> Result<String, String> {
    percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("the {what} is not UTF-8 once percent-decoded"))
}

/// `smtp://user@host:587 (STARTTLS when offered)`: for logs.
impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, how) = match self.security {
            SmtpSecurity::StartTlsWhenOffered => ("smtp", "STARTTLS when offered"),
            SmtpSecurity::StartTlsRequired => ("smtp", "STARTTLS required"),
            SmtpSecurity::Tls => ("smtps", "TLS"),
        };
        let user = match &self.credentials {
            Some(c) => format!("{}@", c.user),
            None => String::new(),
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{scheme}://{user}{host}:{} ({how})", self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(smtp: Option<&str>, outbox: Option<&str>, from: Option<&str>) -> MailSection {
        MailSection {
            smtp_url: smtp.map(|s| SecretString::from(s.to_owned())),
            outbox_dir: outbox.map(PathBuf::from),
            from: from.map(str::to_owned),
        }
    }

    #[test]
    fn smtp_is_starttls_when_offered_on_port_25_by_default() {
        let u = SmtpUrl::parse("smtp://mail.example.com").unwrap();
        assert_eq!(u.security, SmtpSecurity::StartTlsWhenOffered);
        assert_eq!((u.host.as_str(), u.port), ("mail.example.com", 25));
        assert!(u.credentials.is_none());
        let u = SmtpUrl::parse("smtp://mail.example.com:587/").unwrap();
        assert_eq!(u.port, 587);
        let u = SmtpUrl::parse("smtp://mail.example.com:587?tls=required").unwrap();
        assert_eq!(u.security, SmtpSecurity::StartTlsRequired);
    }

    #[test]
    fn smtps_is_tls_on_port_465_by_default() {
        let u = SmtpUrl::parse("smtps://mail.example.com").unwrap();
        assert_eq!(u.security, SmtpSecurity::Tls);
        assert_eq!(u.port, 465);
        assert_eq!(SmtpUrl::parse("smtps://h:2465").unwrap().port, 2465);
        let u = SmtpUrl::parse("smtp://[::1]:2525").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 2525));
        assert_eq!(u.to_string(), "smtp://[::1]:2525 (STARTTLS when offered)");
    }

    #[test]
    fn credentials_are_percent_decoded_and_never_shown() {
        let u = SmtpUrl::parse("smtps://apikey%40corp:p%40ss%3Aw%2Frd@smtp.example.com").unwrap();
        let c = u.credentials.as_ref().unwrap();
        assert_eq!(c.user, "apikey@corp");
        assert_eq!(c.password.expose_secret(), "p@ss:w/rd");
        for shown in [format!("{u:?}"), u.to_string()] {
            assert!(
                !shown.contains("p@ss") && !shown.contains("p%40ss"),
                "{shown}"
            );
        }
        assert_eq!(
            u.to_string(),
            "smtps://apikey@corp@smtp.example.com:465 (TLS)"
        );
    }

    #[test]
    fn bad_urls_say_what_is_expected_without_the_password() {
        for (bad, says) in [
            ("mail.example.com", "not a URL"),
            ("http://mail.example.com", "scheme `http`"),
            ("smtp://", "no host"),
            ("smtp://h:0", "port 0"),
            ("smtp://h:99999", "not a URL"),
            ("smtp://u:secret@h/path", "path"),
            ("smtp://h?tls=maybe", "tls=required"),
            ("smtp://h#x", "fragment"),
            ("smtp://user@h", "without a password"),
            ("smtp://:secret@h", "password without a user"),
        ] {
            let e = SmtpUrl::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains("secret"), "{bad}: {e}");
        }
        let e = MailSettings::from_section(&section(Some("ftp://h"), None, None), "http://a.b")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mail.smtp_url") && e.contains("smtps://"), "{e}");
    }

    #[test]
    fn from_defaults_to_no_reply_at_the_issuer_host() {
        let s = MailSettings::from_section(&section(None, None, None), "https://auth.example.com")
            .unwrap();
        assert_eq!(s.from.to_string(), "no-reply@auth.example.com");
        assert!(matches!(s.delivery(), Delivery::Off));
        let s = MailSettings::from_section(&section(None, None, Some("")), "http://127.0.0.1:8080")
            .unwrap();
        assert_eq!(s.from.email.to_string(), "no-reply@127.0.0.1");
        let s = MailSettings::from_section(
            &section(None, None, Some("Example <hello@example.com>")),
            "http://x",
        )
        .unwrap();
        assert_eq!(s.from.email.to_string(), "hello@example.com");
        assert_eq!(s.from.name.as_deref(), Some("Example"));
        let e = MailSettings::from_section(&section(None, None, Some("nobody")), "http://x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mail.from"), "{e}");
    }

    #[test]
    fn the_outbox_wins_over_smtp_and_empty_means_unset() {
        let s = MailSettings::from_section(
            &section(Some("smtp://h"), Some("/tmp/outbox"), None),
            "http://x",
        )
        .unwrap();
        assert!(
            matches!(s.delivery(), Delivery::Outbox(p) if p == std::path::Path::new("/tmp/outbox"))
        );
        let s = MailSettings::from_section(&section(Some("smtp://h"), Some(""), None), "http://x")
            .unwrap();
        assert!(matches!(s.delivery(), Delivery::Smtp(u) if u.host == "h"));
        let s = MailSettings::from_section(&section(Some(" "), None, None), "http://x").unwrap();
        assert!(matches!(s.delivery(), Delivery::Off));
    }
}
