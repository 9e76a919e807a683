//! The outbox: each message as one RFC 5322 `.eml` file in a folder
//! (`mail.outbox_dir`), for development and tests. Names sort by time and
//! never collide: `<unix-millis>-<uuid v7>.eml`. A file appears whole or not
//! at all: written under a hidden temporary name, synced, then renamed.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lettre::Message;

use super::transport::{DeliveryError, Transport};

pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    /// An outbox writing into `dir`, created now when missing (so a wrong
    /// path shows at start, not at the first mail).
    pub fn create(dir: &Path) -> std::io::Result<Outbox> {
        std::fs::create_dir_all(dir)?;
        Ok(Outbox {
            dir: dir.to_path_buf(),
        })
    }

    /// Write `bytes` as a new `.eml` file; returns its path.
    pub fn write(&self, bytes: &[u8]) -> std::io::Result<PathBuf> {
        // Recreated if someone emptied the folder by deleting it.
        std::fs::create_dir_all(&self.dir)?;
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let name = format!("{millis:013}-{}.eml", uuid::Uuid::now_v7());
        // A leading dot: readers looking for `*.eml` skip it meanwhile.
        let temp = self.dir.join(format!(".{name}.tmp"));
        let target = self.dir.join(name);
        let written = (|| {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&temp, &target)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written.map(|()| target)
    }
}

#[async_trait]
impl Transport for Outbox {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let bytes = message.formatted();
        let outbox = Outbox {
            dir: self.dir.clone(),
        };
        // File system calls block: off the runtime.
        tokio::task::spawn_blocking(move || outbox.write(&bytes))
            .await
            .map_err(|e| DeliveryError::transient(format!("outbox writer: {e}")))?
            .map(|_| ())
            .map_err(|e| {
                DeliveryError::transient(format!(
                    "writing to the outbox {}: {e}",
                    self.dir.display()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::render::Renderer;
    use doorward_core::mail::{MailKind, OutgoingMail};
    use mail_parser::MessageParser;

    #[tokio::test]
    async fn each_message_is_one_whole_eml_file_named_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("not/yet/there");
        let outbox = Outbox::create(&folder).unwrap();
        let renderer = Renderer::new(
            "http://localhost:8080",
            "no-reply@localhost".parse().unwrap(),
        );
        for token in ["first-token", "second-token"] {
            let message = renderer
                .message(&OutgoingMail {
                    to: "ada@example.org".into(),
                    kind: MailKind::VerifyEmail {
                        token: token.into(),
                    },
                })
                .unwrap();
            outbox.send(&message).await.unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
        let mut tokens = Vec::new();
        for name in &names {
            let (millis, rest) = name.split_once('-').unwrap();
            assert_eq!(millis.len(), 13, "{name}");
            assert!(millis.bytes().all(|b| b.is_ascii_digit()), "{name}");
            assert!(rest.ends_with(".eml"), "{name}");
            let raw = std::fs::read(folder.join(name)).unwrap();
            let msg = MessageParser::default().parse(&raw[..]).unwrap();
            assert_eq!(msg.subject(), Some("Confirm your email address"));
            assert_eq!(
                msg.to().unwrap().first().unwrap().address(),
                Some("ada@example.org")
            );
            assert_eq!(
                msg.from().unwrap().first().unwrap().address(),
                Some("no-reply@localhost")
            );
            assert!(msg.date().is_some() && msg.message_id().is_some());
            let text = msg.body_text(0).unwrap().into_owned();
            tokens.push(
                text.split("token=")
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert_eq!(tokens, ["first-token", "second-token"], "sorted by time");
    }

    #[test]
    fn an_unwritable_folder_is_an_error_at_creation() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert!(Outbox::create(&file.join("sub")).is_err());
    }
}
