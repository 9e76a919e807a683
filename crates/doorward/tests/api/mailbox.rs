//! The mail a `TestApp` sent: every app writes its mail to the outbox folder
//! `<its dir>/outbox` (`mail.outbox_dir`), one `.eml` per message; these
//! helpers parse them (MIME decoding included) and find the links.

use std::time::Duration;

use mail_parser::MessageParser;

use crate::helpers::TestApp;

/// One delivered message, decoded.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The token of the `{issuer}{path}?token=T` link in the text part
    /// (checked to be in the HTML part too).
    pub fn token(&self, path: &str) -> String {
        let marker = format!("{path}?token=");
        let start = self
            .text
            .find(&marker)
            .unwrap_or_else(|| panic!("no {marker} link in:\n{}", self.text))
            + marker.len();
        let token: String = self.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        assert!(token.len() >= 43, "token too short: {token}");
        assert!(self.html.contains(&token), "HTML part lacks the link");
        token
    }
}

impl TestApp {
    /// Every message in the outbox, oldest first.
    pub fn mails_now(&self) -> Vec<Mail> {
        let dir = self.dir.path().join("outbox");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                let raw = std::fs::read(p).unwrap();
                let m = MessageParser::default()
                    .parse(&raw[..])
                    .unwrap_or_else(|| panic!("{} is not a message", p.display()));
                Mail {
                    to: m
                        .to()
                        .and_then(|a| a.first())
                        .and_then(|a| a.address())
                        .unwrap_or_default()
                        .to_owned(),
                    subject: m.subject().unwrap_or_default().to_owned(),
                    text: m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
                    html: m.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Waits (up to 10 s: delivery is queued) until `to` has received `n`
    /// messages; returns them, oldest first.
    pub async fn mails_to(&self, to: &str, n: usize) -> Vec<Mail> {
        for _ in 0..200 {
            let mine: Vec<Mail> = self
                .mails_now()
                .into_iter()
                .filter(|m| m.to == to)
                .collect();
            if mine.len() >= n {
                return mine;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let got: Vec<String> = self
            .mails_now()
            .iter()
            .map(|m| format!("{} {}", m.to, m.subject))
            .collect();
        panic!("expected {n} mails to {to}; the outbox holds {got:?}");
    }

    /// The newest message to `to` once there are `n`.
    pub async fn nth_mail_to(&self, to: &str, n: usize) -> Mail {
        self.mails_to(to, n).await.swap_remove(n - 1)
    }

    /// Asserts that `to` has exactly `n` messages after a pause long
    /// enough for a queued one to arrive.
    pub async fn assert_mail_count(&self, to: &str, n: usize) {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let got = self.mails_now().into_iter().filter(|m| m.to == to).count();
        assert_eq!(got, n, "mails to {to}");
    }
}
