//! HTTPS for `serve` (issue 5): the rustls server configuration from an
//! operator's PEM files (`--tls-cert`/`--tls-key`) or from a self-signed
//! certificate made for local use (`--dev-tls`), and the listener that does
//! the TLS handshakes (`listener.rs`).
//!
//! rustls with the ring provider: the same TLS stack lettre (SMTP) and the
//! test client already use, so the binary carries one. Every error here is
//! one line naming the file and what to do about it.

mod listener;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier as _;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{InconsistentKeys, RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::config::{Settings, TlsMode};

pub use listener::TlsListener;

/// A `--tls-cert`/`--tls-key` or `--dev-tls` problem, said for an operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// The rustls configuration `serve` needs, or `None` for plain HTTP. With
/// `--dev-tls` the certificate is made (or reused) here, and logged.
pub fn server_config(settings: &Settings) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    let config = match &settings.tls {
        None => return Ok(None),
        Some(TlsMode::Files { cert, key }) => {
            let chain = read_chain(cert)?;
            let key_der = read_key(key)?;
            let config = config_for(chain, key_der).map_err(|e| pair_error(cert, key, &e))?;
            tracing::info!(cert = %cert.display(), "serving HTTPS");
            config
        }
        Some(TlsMode::Dev) => {
            let dev = dev_certificate(
                &settings.data_dir(),
                settings.listen,
                OffsetDateTime::now_utc(),
            )?;
            tracing::warn!(
                cert = %dev.cert_path.display(),
                sha256 = %dev.fingerprint,
                names = %dev.names.join(", "),
                made_now = dev.made,
                "--dev-tls: serving HTTPS with a self-signed certificate, FOR LOCAL USE ONLY. \
                 Browsers warn until you accept it (check the SHA-256 fingerprint) or trust the \
                 file; never expose it: give a real certificate with --tls-cert/--tls-key"
            );
            dev.config
        }
    };
    Ok(Some(Arc::new(config)))
}

/// The provider every TLS connection of the server uses.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// rustls' safe defaults (TLS 1.2 and 1.3), no client certificates, HTTP/1.1
/// announced in ALPN (the server speaks HTTP/1 only). Fails when the key
/// does not belong to the certificate.
fn config_for(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn read(path: &Path, what: &str, flag: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| {
        TlsError(format!(
            "cannot read the TLS {what} {}: {e} (check {flag})",
            path.display()
        ))
    })
}

/// The PEM certificate chain of `path`, leaf first.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_text = read(path, "certificate", "--tls-cert / tls.cert")?;
    let chain = CertificateDer::pem_slice_iter(&pem_text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            TlsError(format!(
                "the TLS certificate {} is not valid PEM: {}",
                path.display(),
                pem_problem(&e)
            ))
        })?;
    if chain.is_empty() {
        return Err(TlsError(format!(
            "no certificate in {}: --tls-cert needs PEM `BEGIN CERTIFICATE` blocks, the server's \
             certificate first, then its intermediates (is it the key file?)",
            path.display()
        )));
    }
    Ok(chain)
}

/// The first PEM private key of `path`: PKCS#8, RSA (PKCS#1) or SEC1 (EC).
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem_text = read(path, "key", "--tls-key / tls.key")?;
    match PrivateKeyDer::from_pem_slice(&pem_text) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) if contains(&pem_text, b"ENCRYPTED PRIVATE KEY") => {
            Err(TlsError(format!(
                "the TLS key {} is encrypted: give it unencrypted, readable by this user only \
                 (`openssl pkey -in {0} -out plain.pem`)",
                path.display()
            )))
        }
        Err(pem::Error::NoItemsFound) => Err(TlsError(format!(
            "no private key in {}: --tls-key needs a PEM `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE \
             KEY` or `BEGIN EC PRIVATE KEY` block (is it the certificate file?)",
            path.display()
        ))),
        Err(e) => Err(TlsError(format!(
            "the TLS key {} is not valid PEM: {}",
            path.display(),
            pem_problem(&e)
        ))),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A PEM error without echoing file contents (a key's line could be in it).
fn pem_problem(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a block has no END line",
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a block is not valid base64",
        pem::Error::Io(_) => "it cannot be read",
        pem::Error::NoItemsFound => "it holds no block of the expected kind",
        pem::Error::SectionTooLarge => "a block is too large",
        _ => "it cannot be parsed",
    }
}

/// rustls' refusal of a certificate/key pair, naming the files.
fn pair_error(cert: &Path, key: &Path, e: &rustls::Error) -> TlsError {
    let (cert, key) = (cert.display(), key.display());
    TlsError(match e {
        rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => format!(
            "the TLS key {key} does not belong to the certificate {cert}: give the key the \
             certificate was issued for"
        ),
        rustls::Error::InconsistentKeys(InconsistentKeys::Unknown) => {
            format!("cannot check that the TLS key {key} belongs to the certificate {cert}")
        }
        rustls::Error::General(_) => format!(
            "the TLS key {key} cannot be used: {e} (supported: RSA, ECDSA P-256/P-384, Ed25519)"
        ),
        _ => format!("the TLS certificate {cert} with key {key} cannot be used: {e}"),
    })
}

/// `SHA-256 AB:CD:…`, as browsers show a certificate's fingerprint.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// How long a new development certificate is valid.
const DEV_VALIDITY: time::Duration = time::Duration::days(365);
/// A development certificate expiring sooner than this is made anew.
const DEV_RENEW_BEFORE: time::Duration = time::Duration::days(30);

/// The `--dev-tls` certificate and where it is kept.
pub struct DevCertificate {
    pub config: ServerConfig,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub fingerprint: String,
    pub names: Vec<String>,
    /// Made at this start (rather than reused).
    pub made: bool,
}

/// The names a development certificate must cover: `localhost`, the
/// loopback addresses and the address `serve` listens on (when it is one
/// a client can use, not 0.0.0.0 or ::).
pub fn dev_names(listen: SocketAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
    let ip = listen.ip();
    if !ip.is_unspecified() && !names.contains(&ip.to_string()) {
        names.push(ip.to_string());
    }
    names
}

/// The development certificate in `<data_dir>/dev-tls/`: reused when it
/// still covers `listen`'s names and is valid for 30 more days (so a
/// browser's exception for it keeps working), else made anew (ECDSA P-256,
/// valid a year; the key file readable by this user only).
pub fn dev_certificate(
    data_dir: &Path,
    listen: SocketAddr,
    now: OffsetDateTime,
) -> Result<DevCertificate, TlsError> {
    let dir = data_dir.join("dev-tls");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    let names = dev_names(listen);
    let stored = match (std::fs::read(&cert_path), std::fs::read(&key_path)) {
        (Ok(cert), Ok(key)) => Some(reusable(&cert, &key, &names, now + DEV_RENEW_BEFORE)),
        _ => None,
    };
    let (cert_der, config, made) = match stored {
        Some(Ok((cert_der, config))) => (cert_der, config, false),
        found => {
            if let Some(Err(why)) = found {
                tracing::info!(cert = %cert_path.display(), reason = %why, "--dev-tls: making a new development certificate");
            }
            let (cert_pem, key_pem) = make_dev_certificate(&names, now)?;
            std::fs::create_dir_all(&dir).map_err(|e| {
                TlsError(format!(
                    "cannot create {} for the --dev-tls certificate: {e} (choose another data \
                     directory with --database)",
                    dir.display()
                ))
            })?;
            write_file(&key_path, key_pem.as_bytes(), true)?;
            write_file(&cert_path, cert_pem.as_bytes(), false)?;
            let (cert_der, config) = reusable(cert_pem.as_bytes(), key_pem.as_bytes(), &names, now)
                .map_err(|why| TlsError(format!("the new --dev-tls certificate: {why}")))?;
            (cert_der, config, true)
        }
    };
    Ok(DevCertificate {
        config,
        cert_path,
        key_path,
        fingerprint: fingerprint(&cert_der),
        names,
        made,
    })
}

/// A stored development certificate with its server configuration, if a
/// client trusting it would accept it for every one of `names` at `at`
/// (checked with rustls' own verifier) and the key belongs to it; else why not.
fn reusable(
    cert_pem: &[u8],
    key_pem: &[u8],
    names: &[String],
    at: OffsetDateTime,
) -> Result<(CertificateDer<'static>, ServerConfig), String> {
    let cert = CertificateDer::from_pem_slice(cert_pem).map_err(|_| "no certificate in it")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| "no private key in key.pem")?;
    let config =
        config_for(vec![cert.clone()], key).map_err(|e| format!("unusable with key.pem: {e}"))?;
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).map_err(|e| e.to_string())?;
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| e.to_string())?;
    let at = u64::try_from(at.unix_timestamp())
        .map(|secs| UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs)))
        .map_err(|_| "bad time")?;
    for name in names {
        let server_name = ServerName::try_from(name.as_str()).map_err(|e| e.to_string())?;
        verifier
            .verify_server_cert(&cert, &[], &server_name, &[], at)
            .map_err(|e| format!("not valid for {name} in 30 days: {e}"))?;
    }
    Ok((cert, config))
}

/// A self-signed certificate for `names` valid from a day ago (clocks
/// differ) for a year: (certificate PEM, PKCS#8 key PEM).
fn make_dev_certificate(
    names: &[String],
    now: OffsetDateTime,
) -> Result<(String, String), TlsError> {
    let failed = |e: rcgen::Error| TlsError(format!("cannot make the --dev-tls certificate: {e}"));
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(failed)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "Doorward development certificate (localhost)",
    );
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Doorward --dev-tls");
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + DEV_VALIDITY;
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let cert = params.self_signed(&key).map_err(failed)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Write `path` whole or not at all (a temporary file renamed over it);
/// `private`: readable by this user only.
fn write_file(path: &Path, contents: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write as _;
    let failed = |e: std::io::Error| {
        TlsError(format!(
            "cannot write {} for --dev-tls: {e} (check the data directory's permissions)",
            path.display()
        ))
    };
    let tmp = path.with_extension("pem.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp).map_err(failed)?;
    file.write_all(contents).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(addr: &str) -> SocketAddr {
        addr.parse().unwrap()
    }

    #[test]
    fn dev_names_cover_loopback_and_a_usable_listen_address() {
        assert_eq!(
            dev_names(listen("0.0.0.0:8443")),
            ["localhost", "127.0.0.1", "::1"]
        );
        assert_eq!(dev_names(listen("[::]:8443")).len(), 3);
        assert_eq!(dev_names(listen("127.0.0.1:8443")).len(), 3);
        assert_eq!(
            dev_names(listen("192.0.2.7:8443")).last().unwrap(),
            "192.0.2.7"
        );
    }

    #[test]
    fn a_dev_certificate_is_kept_until_it_nears_its_end_or_misses_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let days = time::Duration::days;
        let local = listen("127.0.0.1:8443");
        let first = dev_certificate(dir.path(), local, now).unwrap();
        assert!(first.made);
        assert_eq!(first.cert_path, dir.path().join("dev-tls/cert.pem"));
        assert!(first.key_path.is_file());
        let kept = dev_certificate(dir.path(), local, now + days(300)).unwrap();
        assert!(!kept.made);
        assert_eq!(kept.fingerprint, first.fingerprint);
        // 30 days before its end (a year) it is made anew.
        let renewed = dev_certificate(dir.path(), local, now + days(340)).unwrap();
        assert!(renewed.made);
        assert_ne!(renewed.fingerprint, first.fingerprint);
        // Listening on another address it does not cover: made anew for it.
        let lan = dev_certificate(dir.path(), listen("192.0.2.7:8443"), now + days(340)).unwrap();
        assert!(lan.made);
        assert!(lan.names.contains(&"192.0.2.7".to_owned()));
        // The loopback one covers it too: kept.
        let back = dev_certificate(dir.path(), local, now + days(340)).unwrap();
        assert!(!back.made);
        assert_eq!(back.fingerprint, lan.fingerprint);
        // A damaged key file: made anew rather than failing the start.
        std::fs::write(&back.key_path, "damaged").unwrap();
        assert!(dev_certificate(dir.path(), local, now).unwrap().made);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_by_name() {
        let now = OffsetDateTime::now_utc();
        let names = dev_names(listen("127.0.0.1:1"));
        let (cert, _) = make_dev_certificate(&names, now).unwrap();
        let (_, other_key) = make_dev_certificate(&names, now).unwrap();
        let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(other_key.as_bytes()).unwrap();
        let e = config_for(chain, key).unwrap_err();
        let message = pair_error(Path::new("c.pem"), Path::new("k.pem"), &e).to_string();
        assert!(
            message.contains("k.pem does not belong to the certificate c.pem"),
            "{message}"
        );
    }

    #[test]
    fn fingerprints_read_like_a_browser_shows_them() {
        let f = fingerprint(b"");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.starts_with("E3:B0:C4:42:"), "{f}");
    }
}
