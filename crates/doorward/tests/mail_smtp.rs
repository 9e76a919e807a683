//! Mail delivery end to end. Over a real SMTP server: Python's aiosmtpd
//! (`mail_smtp/aiosmtpd_sink.py`), installed by the test itself into a venv
//! under the temp dir (`doorward-test-aiosmtpd-venv`, made once and reused).
//! Without python3 (and its venv module) or PyPI the tests fail, saying what
//! to install.
//!
//! Covered: delivery with the right envelope, headers, both parts and the
//! link; AUTH with credentials from the URL (right and wrong); `tls=required`
//! refusing a server without STARTTLS; a server that
//! is down at first (retried with backoff until it is up); permanent
//! failures (a refused recipient, a server that never comes) counted and
//! logged, without panics; and the app built from `Settings` writing into
//! `mail.outbox_dir`.

// Test binaries: helpers outside `#[test]` functions may unwrap and index
// too (clippy.toml's `allow-*-in-tests` only covers the test functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use doorward::config::{Overrides, Settings};
use doorward::mail::{self, Backoff, MailHandle, QueueOptions};
use doorward_core::mail::{MailKind, Mailer, OutgoingMail};
use mail_parser::MessageParser;
use serde_json::Value;

const AIOSMTPD: &str = "aiosmtpd==1.4.6";
const SINK: &str = include_str!("mail_smtp/aiosmtpd_sink.py");
const ISSUER: &str = "https://auth.example.com";

/// The venv's python, with aiosmtpd; made once per machine. Concurrent
/// test processes each build in a folder of their own and rename it into
/// place; the first rename wins.
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = std::env::temp_dir().join("doorward-test-aiosmtpd-venv");
            let marker = format!("installed-{AIOSMTPD}");
            if !venv.join(&marker).exists() {
                let staging = std::env::temp_dir().join(format!(
                    "doorward-test-aiosmtpd-venv.{}.{}",
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_nanos()
                ));
                let made = Command::new("python3")
                    .args(["-m", "venv"])
                    .arg(&staging)
                    .output();
                match made {
                    Ok(out) if out.status.success() => {}
                    other => {
                        let _ = std::fs::remove_dir_all(&staging);
                        panic!(
                        "cannot make a Python venv ({other:?}). The SMTP tests need python3 with \
                         its venv module (Debian/Ubuntu: apt-get install python3 python3-venv)"
                        )
                    }
                }
                let pip = Command::new(staging.join("bin").join("python"))
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--disable-pip-version-check",
                        "--no-input",
                    ])
                    .args(["-q", AIOSMTPD])
                    .output()
                    .expect("running pip in the new venv");
                if !pip.status.success() {
                    let _ = std::fs::remove_dir_all(&staging);
                }
                assert!(
                    pip.status.success(),
                    "`pip install {AIOSMTPD}` failed; the SMTP tests need PyPI (or install \
                     {AIOSMTPD} into {}):\n{}",
                    venv.display(),
                    String::from_utf8_lossy(&pip.stderr)
                );
                std::fs::write(staging.join(&marker), b"").unwrap();
                if std::fs::rename(&staging, &venv).is_err() {
                    if venv.join(&marker).exists() {
                        // Another test process was quicker.
                        let _ = std::fs::remove_dir_all(&staging);
                    } else {
                        // A venv left half-made by an interrupted run.
                        let _ = std::fs::remove_dir_all(&venv);
                        std::fs::rename(&staging, &venv).unwrap();
                    }
                }
            }
            venv.join("bin").join("python")
        })
        .clone()
}

/// A port nobody listens on (for now).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One aiosmtpd process writing what it receives into a folder.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// A message as received: envelope and the parsed message's main parts.
#[derive(Debug)]
struct Received {
    envelope: Value,
    subject: String,
    from: String,
    text: String,
    html: String,
}

impl SmtpSink {
    fn start(port: u16, auth: Option<(&str, &str)>) -> SmtpSink {
        let python = python();
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        std::fs::create_dir(&inbox).unwrap();
        let script = dir.path().join("aiosmtpd_sink.py");
        std::fs::write(&script, SINK).unwrap();
        let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut command = Command::new(python);
        command
            .arg(&script)
            .arg(port.to_string())
            .arg(&inbox)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some((user, password)) = auth {
            command.args([user, password]);
        }
        let mut child = command.spawn().expect("starting aiosmtpd");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "aiosmtpd did not start on port {port}:\n{}",
                std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
            );
        }
        SmtpSink { child, port, dir }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first.
    fn received(&self) -> Vec<Received> {
        received_in(&self.dir.path().join("inbox"))
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn received_in(inbox: &Path) -> Vec<Received> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(inbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|eml| {
            let raw = std::fs::read(eml).unwrap();
            let envelope: Value =
                serde_json::from_slice(&std::fs::read(eml.with_extension("json")).unwrap())
                    .unwrap();
            let msg = MessageParser::default().parse(&raw[..]).unwrap();
            assert_eq!((msg.text_body_count(), msg.html_body_count()), (1, 1));
            Received {
                envelope,
                subject: msg.subject().unwrap_or_default().to_owned(),
                from: msg
                    .from()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or_default()
                    .to_owned(),
                text: msg.body_text(0).unwrap().into_owned(),
                html: msg.body_html(0).unwrap().into_owned(),
            }
        })
        .collect()
}

/// The mail settings for `smtp_url`, through the real configuration path.
fn start_mail(smtp_url: &str, backoff: Backoff) -> MailHandle {
    let env = [
        ("DOORWARD_ISSUER".to_string(), ISSUER.to_string()),
        ("DOORWARD_MAIL_SMTP_URL".to_string(), smtp_url.to_string()),
    ];
    let settings = Settings::load(&Overrides::default(), &env).unwrap();
    let options = QueueOptions {
        backoff,
        ..QueueOptions::default()
    };
    mail::start_with(&settings.mail, &settings.issuer, options).unwrap()
}

fn quick(attempts: u32) -> Backoff {
    Backoff {
        attempts,
        first_delay: Duration::from_millis(5),
    }
}

async fn idle(handle: &MailHandle) {
    tokio::time::timeout(Duration::from_secs(60), handle.idle())
        .await
        .expect("the mail queue drains within a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_mail_arrives_over_smtp_with_both_parts_and_the_link() {
    let sink = SmtpSink::start(free_port(), None);
    let mailer = start_mail(&sink.url(), quick(3));
    mailer.enqueue(OutgoingMail {
        to: "ada@example.org".into(),
        kind: MailKind::VerifyEmail {
            token: "Zm9vYmFy_tok-123".into(),
        },
    });
    idle(&mailer).await;
    assert_eq!(mailer.stats().sent, 1, "{:?}", mailer.stats());
    let got = sink.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(
        m.envelope["rcpt_tos"],
        serde_json::json!(["ada@example.org"])
    );
    assert_eq!(m.envelope["mail_from"], "no-reply@auth.example.com");
    assert_eq!(m.from, "no-reply@auth.example.com");
    assert_eq!(m.subject, "Confirm your email address");
    let link = "https://auth.example.com/verify-email?token=Zm9vYmFy_tok-123";
    assert!(m.text.contains(link), "{}", m.text);
    assert!(m.html.contains(&format!("href=\"{link}\"")), "{}", m.html);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_the_url_log_in_and_wrong_ones_fail_for_good() {
    let sink = SmtpSink::start(free_port(), Some(("mailer@corp", "p@ss w:rd/")));
    let url = format!(
        "smtp://mailer%40corp:p%40ss%20w%3Ard%2F@127.0.0.1:{}",
        sink.port
    );
    let mailer = start_mail(&url, quick(3));
    mailer.enqueue(OutgoingMail {
        to: "ada@example.org".into(),
        kind: MailKind::PasswordChanged,
    });
    idle(&mailer).await;
    assert_eq!(mailer.stats().sent, 1, "{:?}", mailer.stats());
    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].envelope["authenticated"], true);
    assert_eq!(got[0].subject, "Your Doorward password was changed");
    assert!(got[0]
        .text
        .contains("https://auth.example.com/forgot-password"));

    let wrong = format!("smtp://mailer%40corp:guess@127.0.0.1:{}", sink.port);
    let mailer = start_mail(&wrong, quick(3));
    mailer.enqueue(OutgoingMail {
        to: "ada@example.org".into(),
        kind: MailKind::PasswordChanged,
    });
    idle(&mailer).await;
    let stats = mailer.stats();
    assert_eq!(
        (stats.sent, stats.failed, stats.retried),
        (0, 1, 0),
        "535 is permanent"
    );
    assert_eq!(sink.received().len(), 1, "nothing more arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_at_first_gets_the_mail_once_it_is_up() {
    let port = free_port();
    let mailer = start_mail(
        &format!("smtp://127.0.0.1:{port}"),
        Backoff {
            attempts: 10,
            first_delay: Duration::from_millis(100),
        },
    );
    mailer.enqueue(OutgoingMail {
        to: "ada@example.org".into(),
        kind: MailKind::ResetPassword {
            token: "late-token".into(),
        },
    });
    let waited = Instant::now();
    while mailer.stats().retried < 2 {
        assert!(waited.elapsed() < Duration::from_secs(10), "no retries");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(mailer.stats().sent, 0);
    let sink = tokio::task::spawn_blocking(move || SmtpSink::start(port, None))
        .await
        .unwrap();
    idle(&mailer).await;
    let stats = mailer.stats();
    assert_eq!((stats.sent, stats.failed), (1, 0), "{stats:?}");
    assert!(stats.retried >= 2, "{stats:?}");
    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].subject, "Reset your Doorward password");
    assert!(got[0]
        .text
        .contains("https://auth.example.com/reset-password?token=late-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_required_never_falls_back_to_plain_text() {
    // aiosmtpd here offers no STARTTLS.
    let sink = SmtpSink::start(free_port(), None);
    let mailer = start_mail(&format!("{}?tls=required", sink.url()), quick(3));
    mailer.enqueue(OutgoingMail {
        to: "ada@example.org".into(),
        kind: MailKind::PasswordChanged,
    });
    idle(&mailer).await;
    let stats = mailer.stats();
    assert_eq!(
        (stats.sent, stats.failed, stats.retried),
        (0, 1, 0),
        "{stats:?}"
    );
    assert!(sink.received().is_empty());
}

/// `doorward_mail_sent_total{kind, outcome}` as `/metrics` shows it.
fn counter(kind: &str, outcome: &str) -> f64 {
    let text = doorward::telemetry::metrics_handle().render();
    text.lines()
        .filter(|l| l.starts_with("doorward_mail_sent_total{"))
        .filter(|l| l.contains(&format!("kind=\"{kind}\"")))
        .find(|l| l.contains(&format!("outcome=\"{outcome}\"")))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failures_are_counted_in_metrics_without_panicking() {
    let before = counter("password_reset", "failed");
    // A recipient the server refuses (550): one try, no retries.
    let sink = SmtpSink::start(free_port(), None);
    let mailer = start_mail(&sink.url(), quick(4));
    mailer.enqueue(OutgoingMail {
        to: "nobody@rejected.example".into(),
        kind: MailKind::PasswordReset,
    });
    mailer.enqueue(OutgoingMail {
        to: "ada@example.org".into(),
        kind: MailKind::PasswordReset,
    });
    idle(&mailer).await;
    let stats = mailer.stats();
    assert_eq!(
        (stats.sent, stats.failed, stats.retried),
        (1, 1, 0),
        "{stats:?}"
    );
    assert_eq!(sink.received().len(), 1);

    // A server that never comes: every try fails, then the message is given up.
    let dead = start_mail(&format!("smtp://127.0.0.1:{}", free_port()), quick(3));
    dead.enqueue(OutgoingMail {
        to: "ada@example.org".into(),
        kind: MailKind::PasswordReset,
    });
    idle(&dead).await;
    let stats = dead.stats();
    assert_eq!(
        (stats.sent, stats.failed, stats.retried),
        (0, 1, 2),
        "{stats:?}"
    );

    assert_eq!(counter("password_reset", "failed") - before, 2.0);
    assert!(counter("password_reset", "sent") >= 1.0);
    let text = doorward::telemetry::metrics_handle().render();
    assert!(text.contains("doorward_mail_queue_depth"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_built_with_an_outbox_writes_mail_there() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let env = [
        (
            "DOORWARD_DATABASE_URL".to_string(),
            format!("sqlite:{}", dir.path().join("doorward.db").display()),
        ),
        ("DOORWARD_ISSUER".into(), ISSUER.into()),
        // The outbox wins over SMTP (here a server that does not exist).
        ("DOORWARD_MAIL_SMTP_URL".into(), "smtp://127.0.0.1:1".into()),
        (
            "DOORWARD_MAIL_OUTBOX_DIR".into(),
            outbox.display().to_string(),
        ),
        (
            "DOORWARD_MAIL_FROM".into(),
            "Example <hello@example.com>".into(),
        ),
    ];
    let settings = Settings::load(&Overrides::default(), &env).unwrap();
    let clock = std::sync::Arc::new(doorward_core::clock::SystemClock);
    let state = doorward::app::build(settings, clock).await.unwrap();
    assert!(outbox.is_dir(), "created at start");
    state.mailer.enqueue(OutgoingMail {
        to: "ada@example.org".into(),
        kind: MailKind::ResetPassword {
            token: "from-the-app".into(),
        },
    });
    tokio::time::timeout(Duration::from_secs(10), state.mail_queue.idle())
        .await
        .unwrap();
    let files: Vec<PathBuf> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|e| e == "eml"));
    let raw = std::fs::read(&files[0]).unwrap();
    let msg = MessageParser::default().parse(&raw[..]).unwrap();
    assert_eq!(msg.subject(), Some("Reset your Doorward password"));
    assert_eq!(
        msg.from().unwrap().first().unwrap().address(),
        Some("hello@example.com")
    );
    assert!(msg
        .body_text(0)
        .unwrap()
        .contains("https://auth.example.com/reset-password?token=from-the-app"));
    state.mail_queue.close(Duration::from_secs(1)).await;
}
