//! Transports: how one built message leaves. [`Smtp`] hands it to a
//! server (lettre, rustls); the outbox (`outbox.rs`) writes it to a folder.
//! The queue (`queue.rs`) retries what fails, unless the failure is
//! permanent.

use std::time::Duration;

use async_trait::async_trait;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::settings::{SmtpSecurity, SmtpUrl};

/// One way of delivering a message.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError>;
}

/// Why a delivery failed: never the message, its link or a password.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct DeliveryError {
    /// Retrying cannot help (the server answered 5xx: no such mailbox,
    /// authentication refused, message refused).
    pub permanent: bool,
    pub reason: String,
}

impl DeliveryError {
    pub fn transient(reason: impl Into<String>) -> DeliveryError {
        DeliveryError {
            permanent: false,
            reason: reason.into(),
        }
    }
}

/// Longest a single SMTP exchange may take before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Delivery to an SMTP server, connections pooled.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Smtp {
    /// A transport for `url`: STARTTLS when offered (`smtp://`), STARTTLS or
    /// nothing (`?tls=required`), TLS from the first byte (`smtps://`); the
    /// server's certificate is checked against the web PKI roots. Nothing is
    /// connected yet.
    pub fn new(url: &SmtpUrl) -> Result<Smtp, DeliveryError> {
        let tls_for = |host: &str| {
            TlsParameters::new(host.to_owned())
                .map_err(|e| DeliveryError::transient(format!("TLS setup: {e}")))
        };
        let tls = match url.security {
            SmtpSecurity::StartTlsWhenOffered => Tls::Opportunistic(tls_for(&url.host)?),
            SmtpSecurity::StartTlsRequired => Tls::Required(tls_for(&url.host)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_for(&url.host)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.clone())
            .port(url.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let Some(c) = &url.credentials {
            builder = builder.credentials(Credentials::new(
                c.user.clone(),
                c.password.expose_secret().to_owned(),
            ));
        }
        Ok(Smtp {
            transport: builder.build(),
        })
    }
}

#[async_trait]
impl Transport for Smtp {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        match self.transport.send(message.clone()).await {
            Ok(_) => Ok(()),
            // 5xx answers, and client-side refusals (no STARTTLS under
            // `tls=required`, no common AUTH mechanism), stay as they are.
            Err(e) => Err(DeliveryError {
                permanent: e.is_permanent() || e.is_client(),
                reason: e.to_string(),
            }),
        }
    }
}
