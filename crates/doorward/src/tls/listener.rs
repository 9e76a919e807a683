//! The TLS listener `axum::serve` accepts from. One task accepts TCP
//! connections and hands each to its own handshake task, bounded by
//! `HANDSHAKE_TIMEOUT`; finished handshakes queue for `axum::serve`. So a
//! client that stalls its handshake, or fails it, holds up nobody else: the
//! accept loop never waits on a handshake.
//!
//! A plain-HTTP request on the TLS port gets a short 400 problem saying to
//! use https:// (as nginx does), not a connection closed without a word.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::http::problem::Problem;

/// Longest a client may take from connecting to a finished handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Finished handshakes waiting for `axum::serve` to take them.
const READY_QUEUE: usize = 64;

/// TLS connections for `axum::serve`; the accept task ends when this is
/// dropped (the server stopped).
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    accepting: JoinHandle<()>,
}

impl TlsListener {
    /// Start accepting on `listener` (a runtime must be running).
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<TlsListener> {
        let local_addr = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let accepting = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), tx));
        Ok(TlsListener {
            ready,
            local_addr,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // Only if the accept task died (it never returns): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                tokio::spawn(handshake(acceptor.clone(), tcp, peer, ready.clone()));
            }
            Err(e) => accept_failed(e).await,
        }
    }
}

/// As `axum::serve` does for plain TCP: a connection that went away before
/// it was accepted is nothing; anything else (out of file descriptors) is
/// logged and given a second before the next try.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    // Small writes (the handshake's, then responses) go out at once.
    let _ = tcp.set_nodelay(true);
    let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        if is_plain_http(&tcp).await? {
            answer_plain_http(tcp).await;
            return Ok(None);
        }
        acceptor.accept(tcp).await.map(Some)
    })
    .await;
    match outcome {
        Ok(Ok(Some(stream))) => {
            // Fails only when the server has stopped: the connection just closes.
            let _ = ready.send((stream, peer)).await;
        }
        Ok(Ok(None)) => {
            tracing::debug!(%peer, "plain HTTP on the HTTPS port: told to use https://")
        }
        // Failed handshakes are the client's business (an untrusted
        // certificate, a scanner): not worth more than debug.
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// Whether the client's first byte starts an HTTP request (a letter, as in
/// `GET`) rather than a TLS record (0x16, handshake).
async fn is_plain_http(tcp: &TcpStream) -> io::Result<bool> {
    let mut first = [0u8; 1];
    let n = tcp.peek(&mut first).await?;
    Ok(n == 1 && first.iter().all(u8::is_ascii_uppercase))
}

/// 400 with a problem saying to use https://; then the connection closes
/// gracefully (our FIN first, the rest of the request read and dropped),
/// so the client reads the answer instead of a reset.
async fn answer_plain_http(mut tcp: TcpStream) {
    let problem = Problem::new(
        StatusCode::BAD_REQUEST,
        "https_required",
        "This server speaks HTTPS on this port: use https:// instead of http://.",
    );
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\n\
         content-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    );
    if tcp.write_all(head.as_bytes()).await.is_err() || tcp.write_all(&body).await.is_err() {
        return;
    }
    let _ = tcp.shutdown().await;
    let mut sink = [0u8; 4096];
    let mut left: usize = 64 * 1024;
    while left > 0 {
        match tcp.read(&mut sink).await {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}
