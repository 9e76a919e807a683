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

#[path = "mail_smtp/sink.rs"]
mod sink;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use doorward::config::{Overrides, Settings};
use doorward::mail::{self, Backoff, MailHandle, QueueOptions};
use doorward_core::mail::{MailKind, Mailer, OutgoingMail};
use mail_parser::MessageParser;

use sink::{free_port, SmtpSink};

const ISSUER: &str = "https://auth.example.com";

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
