//! `doorward serve` over HTTPS, as an operator runs it (issue 5): `--dev-tls`
//! (a self-signed certificate kept in the data directory and reused),
//! `--tls-cert/--tls-key` (and their environment twins), what a client sees
//! (HSTS, `__Host-…; Secure` cookies, an https issuer), clients that fail
//! their handshake or speak plain HTTP, and bad certificate files.
//!
//! Every client here trusts exactly the certificate under test (its own root
//! store); one check shows a client trusting only the public roots is refused.

// Test binaries: helpers outside `#[test]` functions may unwrap and index
// too (clippy.toml's `allow-*-in-tests` only covers the test functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{doorward, free_port};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A `serve` child on a free port, killed if a test fails before it stops it.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    /// `doorward serve --listen 127.0.0.1:<free port> <args>` in `dir`.
    fn start(mut cmd: Command, args: &[&str], log: &Path) -> Server {
        let port = free_port();
        let file = std::fs::File::create(log).unwrap();
        let child = cmd
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Server {
            child,
            port,
            log: log.to_owned(),
        }
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until `file` exists (the certificate, made at start), then for
    /// a 200 from `/healthz` over HTTPS by a client trusting it.
    async fn wait_healthy(&mut self, trusted: &Path) -> reqwest::Client {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut client = None;
        loop {
            if client.is_none() && trusted.is_file() {
                client = Some(client_trusting(trusted));
            }
            if let Some(client) = &client {
                let answer = client.get(self.url("localhost", "/healthz")).send().await;
                if let Some(res) = answer.ok().filter(|r| r.status() != 503) {
                    assert_eq!(res.status(), 200, "{}", self.log());
                    return client.clone();
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("serve exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "serve not healthy over HTTPS after 20 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then wait (at most 10 s) for a clean exit.
    async fn terminate(&mut self) {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}:\n{}", self.log());
                return;
            }
            assert!(
                Instant::now() < deadline,
                "serve still running 10 s after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A client whose only root is the certificate in `pem` (no public roots).
fn client_trusting(pem: &Path) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(&std::fs::read(pem).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(cert)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// The SHA-256 fingerprint of the first certificate of a PEM file.
fn fingerprint_of(pem: &Path) -> String {
    use rustls::pki_types::pem::PemObject as _;
    let der = rustls::pki_types::CertificateDer::from_pem_file(pem).unwrap();
    doorward::tls::fingerprint(&der)
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// What every HTTPS answer of a running server shows: health, HSTS, the
/// https issuer, JWKS, and `__Host-…; Secure` cookies on the pages.
async fn check_https(server: &Server, client: &reqwest::Client, hsts: &str) {
    let res = client
        .get(server.url("localhost", "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["strict-transport-security"],
        hsts,
        "HSTS on the API"
    );
    let issuer = format!("https://127.0.0.1:{}", server.port);
    let oidc: Value = client
        .get(server.url("127.0.0.1", "/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(oidc["issuer"], issuer.as_str(), "{oidc}");
    let jwks = client
        .get(server.url("127.0.0.1", "/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    let jwks: Value = jwks.json().await.unwrap();
    assert!(!jwks["keys"].as_array().unwrap().is_empty(), "{jwks}");

    let login = client
        .get(server.url("localhost", "/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert_eq!(login.headers()["strict-transport-security"], hsts);
    let cookies = set_cookies(&login);
    assert!(!cookies.is_empty(), "the login page sets its CSRF cookie");
    for c in &cookies {
        assert!(
            c.starts_with("__Host-") && c.contains("; Secure") && c.contains("Path=/"),
            "{c}"
        );
    }
}

#[tokio::test]
async fn dev_tls_serves_https_and_keeps_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let cert = dir.path().join("doorward-data/dev-tls/cert.pem");
    let key = dir.path().join("doorward-data/dev-tls/key.pem");
    let mut server = Server::start(
        doorward(dir.path()),
        &["--dev-tls"],
        &logs.path().join("1.log"),
    );
    let client = server.wait_healthy(&cert).await;
    check_https(&server, &client, "max-age=300").await;

    // The log names the file, its fingerprint, and says what it is for.
    let first = fingerprint_of(&cert);
    let log = server.log();
    assert!(log.contains("LOCAL USE ONLY"), "{log}");
    assert!(log.contains(&first), "{first} not in:\n{log}");
    assert!(log.contains("cert.pem"), "{log}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "key.pem is private: {mode:o}");
    }

    // A client that trusts only the public roots is refused: the
    // certificate really is checked, not waved through.
    let public = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(public
        .get(server.url("localhost", "/healthz"))
        .send()
        .await
        .is_err());

    // Plain HTTP on the TLS port: told to use https://, and the server
    // carries on.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let res = plain
        .get(format!("http://127.0.0.1:{}/healthz", server.port))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "https_required", "{problem}");
    // A client that opens a handshake and stalls holds up no one else;
    // nor does one that sends garbage.
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).unwrap();
    // A handshake record holding an empty ClientHello: refused, closed.
    let mut garbage = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00])
        .unwrap();
    garbage
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // Closed at once (an alert, then end of stream; or a reset), not held
    // until the handshake timeout.
    let mut alert = Vec::new();
    if let Err(e) = garbage.read_to_end(&mut alert) {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    let res = client
        .get(server.url("localhost", "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(stalled);

    // A restart reuses the certificate, so a browser's exception still holds.
    server.terminate().await;
    let mut again = Server::start(
        doorward(dir.path()),
        &["--dev-tls"],
        &logs.path().join("2.log"),
    );
    let client = again.wait_healthy(&cert).await;
    assert_eq!(fingerprint_of(&cert), first, "the certificate was kept");
    assert!(again.log().contains(&first));
    check_https(&again, &client, "max-age=300").await;
    again.terminate().await;
}

/// A certificate authority and a server certificate it signed for
/// `localhost` and 127.0.0.1, as an operator would have them: (CA PEM,
/// chain PEM with the server's certificate first, server key PEM).
fn operator_certificates() -> (String, String, String) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Test CA");
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let leaf = leaf.signed_by(&leaf_key, &ca).unwrap();
    (
        ca.pem(),
        format!("{}{}", leaf.pem(), ca.pem()),
        leaf_key.serialize_pem(),
    )
}

#[tokio::test]
async fn tls_cert_and_key_serve_https_from_flags_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (ca, chain, key) = operator_certificates();
    std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
    std::fs::write(dir.path().join("chain.pem"), chain).unwrap();
    std::fs::write(dir.path().join("key.pem"), key).unwrap();
    let ca = dir.path().join("ca.pem");

    let mut server = Server::start(
        doorward(dir.path()),
        &["--tls-cert", "chain.pem", "--tls-key", "key.pem"],
        &logs.path().join("flags.log"),
    );
    let client = server.wait_healthy(&ca).await;
    check_https(&server, &client, "max-age=31536000").await;
    // No development certificate was made.
    assert!(!dir.path().join("doorward-data/dev-tls").exists());
    server.terminate().await;

    let mut cmd = doorward(dir.path());
    cmd.env("DOORWARD_TLS_CERT", "chain.pem")
        .env("DOORWARD_TLS_KEY", "key.pem");
    let mut server = Server::start(cmd, &[], &logs.path().join("env.log"));
    let client = server.wait_healthy(&ca).await;
    check_https(&server, &client, "max-age=31536000").await;
    server.terminate().await;
}

/// `serve` with `args` must stop at once: non-zero, one `error:` line naming
/// `names`, no panic, and no database made.
fn refused(dir: &Path, env: &[(&str, &str)], args: &[&str], names: &[&str]) {
    let mut cmd = doorward(dir);
    cmd.envs(env.iter().copied())
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .args(args);
    let out = run(&mut cmd);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} started:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("{args:?}: no error line in\n{err}"));
    for name in names {
        assert!(line.contains(name), "{args:?}: `{name}` not in `{line}`");
    }
    assert!(
        !dir.join("doorward-data").exists(),
        "{args:?} made a database"
    );
}

#[test]
fn bad_tls_files_stop_serve_with_a_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, chain, key) = operator_certificates();
    let (_, _, other_key) = operator_certificates();
    let d = dir.path();
    std::fs::write(d.join("chain.pem"), &chain).unwrap();
    std::fs::write(d.join("key.pem"), &key).unwrap();
    std::fs::write(d.join("other-key.pem"), other_key).unwrap();
    std::fs::write(d.join("garbage.pem"), "not a key at all\n").unwrap();
    std::fs::write(
        d.join("broken.pem"),
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(
        d.join("encrypted.pem"),
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    .unwrap();

    let files = |cert: &str, key: &str| ["--tls-cert", cert, "--tls-key", key].map(str::to_owned);
    for (args, names) in [
        (
            files("missing.pem", "key.pem"),
            &["missing.pem", "cannot read"][..],
        ),
        (
            files("chain.pem", "missing-key.pem"),
            &["missing-key.pem", "cannot read"],
        ),
        (
            files("chain.pem", "garbage.pem"),
            &["garbage.pem", "no private key"],
        ),
        (
            files("chain.pem", "broken.pem"),
            &["broken.pem", "not valid PEM"],
        ),
        (
            files("chain.pem", "encrypted.pem"),
            &["encrypted.pem", "encrypted"],
        ),
        (files("key.pem", "key.pem"), &["key.pem", "no certificate"]),
        (
            files("chain.pem", "other-key.pem"),
            &["other-key.pem", "chain.pem", "does not belong"],
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(d, &[], &args, names);
    }
    // The same checks for the environment twins.
    refused(
        d,
        &[
            ("DOORWARD_TLS_CERT", "chain.pem"),
            ("DOORWARD_TLS_KEY", "garbage.pem"),
        ],
        &[],
        &["garbage.pem"],
    );
    refused(d, &[("DOORWARD_TLS_CERT", "chain.pem")], &[], &["tls.key"]);
    refused(
        d,
        &[
            ("DOORWARD_TLS_DEV", "true"),
            ("DOORWARD_TLS_CERT", "chain.pem"),
            ("DOORWARD_TLS_KEY", "key.pem"),
        ],
        &[],
        &["tls.dev"],
    );

    // Flag combinations clap refuses, saying which flag is wrong.
    for (args, flag) in [
        (&["--tls-cert", "chain.pem"][..], "--tls-key"),
        (&["--tls-key", "key.pem"][..], "--tls-cert"),
        (
            &[
                "--dev-tls",
                "--tls-cert",
                "chain.pem",
                "--tls-key",
                "key.pem",
            ][..],
            "--dev-tls",
        ),
    ] {
        let out = run(doorward(d)
            .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
            .args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{args:?}: {}", stderr(&out));
    }
    assert!(!d.join("doorward-data").exists());
}

#[test]
fn serve_help_explains_the_tls_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(doorward(dir.path()).args(["serve", "--help"]));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "--tls-cert",
        "--tls-key",
        "--dev-tls",
        "DOORWARD_TLS_CERT",
        "DOORWARD_TLS_KEY",
        "DOORWARD_TLS_DEV",
        "PKCS#8",
        "local",
        "https://<listen>",
    ] {
        assert!(text.contains(word), "{word} missing:\n{text}");
    }
}
