//! The SMTP server of the mail tests: `aiosmtpd_sink.py` run by a venv's
//! python with aiosmtpd, made by [`python`] under the temp dir
//! (`doorward-test-aiosmtpd-venv`) on first use and reused after.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use mail_parser::MessageParser;
use serde_json::Value;

const AIOSMTPD: &str = "aiosmtpd==1.4.6";
const SINK: &str = include_str!("aiosmtpd_sink.py");

/// The venv's python, with aiosmtpd; made once per machine. Concurrent
/// test processes each build in a folder of their own and rename it into
/// place; the first rename wins.
pub fn python() -> PathBuf {
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
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One aiosmtpd process writing what it receives into a folder.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// A message as received: envelope and the parsed message's main parts.
#[derive(Debug)]
pub struct Received {
    pub envelope: Value,
    pub subject: String,
    pub from: String,
    pub text: String,
    pub html: String,
}

impl SmtpSink {
    pub fn start(port: u16, auth: Option<(&str, &str)>) -> SmtpSink {
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

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        received_in(&self.dir.path().join("inbox"))
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn received_in(inbox: &Path) -> Vec<Received> {
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
