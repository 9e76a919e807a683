//! Mail delivery: what `doorward_core::mail` asks for, rendered and sent.
//!
//! - `settings.rs`: the `mail.*` keys, validated at start (`MailSettings`).
//! - `render.rs`: each `MailKind` as a multipart/alternative message (text
//!   and HTML, `templates/layout.html`).
//! - `transport.rs`: SMTP (STARTTLS when offered, or TLS); `outbox.rs`: one
//!   `.eml` file per message in a folder.
//! - `queue.rs`: the bounded queue and background delivery with retries;
//!   `MailHandle` is the `Mailer` the app hands to the core.
//!
//! [`start`] picks the transport: the outbox when `mail.outbox_dir` is set,
//! else SMTP when `mail.smtp_url` is set, else none (messages are dropped
//! with a warning).

mod outbox;
mod queue;
mod render;
mod settings;
mod transport;

use std::sync::Arc;

pub use outbox::Outbox;
pub use queue::{Backoff, MailHandle, MailStats, QueueOptions};
pub use render::{RenderError, Renderer};
pub use settings::{Delivery, MailSettings, SmtpCredentials, SmtpSecurity, SmtpUrl};
pub use transport::{DeliveryError, Smtp, Transport};

/// How long a stopping server keeps delivering what is queued.
pub const SHUTDOWN_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// Start mail delivery for `issuer` (the base of every link) with the
/// production queue; see [`start_with`].
pub fn start(settings: &MailSettings, issuer: &str) -> anyhow::Result<MailHandle> {
    start_with(settings, issuer, QueueOptions::default())
}

/// Start mail delivery with the given queue shape, spawning the delivery
/// task on the current tokio runtime. Logs which transport is used (never a
/// password). Fails when the outbox folder cannot be created.
pub fn start_with(
    settings: &MailSettings,
    issuer: &str,
    options: QueueOptions,
) -> anyhow::Result<MailHandle> {
    let renderer = Renderer::new(issuer, settings.from.clone());
    let from = settings.from.to_string();
    let transport: Arc<dyn Transport> = match settings.delivery() {
        Delivery::Outbox(dir) => {
            let outbox = Outbox::create(dir).map_err(|e| {
                anyhow::anyhow!("mail.outbox_dir: cannot create {}: {e}", dir.display())
            })?;
            tracing::info!(outbox = %dir.display(), %from, "mail: written as .eml files into the outbox folder");
            if let Some(url) = &settings.smtp {
                tracing::warn!(smtp = %url, "mail: mail.outbox_dir is set, so mail.smtp_url is not used");
            }
            Arc::new(outbox)
        }
        Delivery::Smtp(url) => {
            let smtp = Smtp::new(url).map_err(|e| anyhow::anyhow!("mail.smtp_url: {e}"))?;
            tracing::info!(smtp = %url, %from, "mail: delivered over SMTP");
            Arc::new(smtp)
        }
        Delivery::Off => {
            tracing::warn!(
                "mail is not configured (set mail.smtp_url or mail.outbox_dir): verification, \
                 reset and notification mails are dropped"
            );
            return Ok(MailHandle::disabled());
        }
    };
    Ok(MailHandle::spawn(transport, renderer, options))
}
