//! The queue between `Mailer::enqueue` (never blocks, never fails) and a
//! transport: a bounded channel drained by one background task, which
//! renders each message and delivers a few at a time, retrying transient
//! failures with exponential backoff. A full queue drops the message; a last
//! failure is logged (kind and reason, never the body or link) and counted.
//!
//! Metrics: `doorward_mail_sent_total{kind, outcome="sent|failed|dropped"}`
//! and the gauge `doorward_mail_queue_depth` (queued or being delivered).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use doorward_core::mail::{Mailer, OutgoingMail};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use super::render::Renderer;
use super::transport::Transport;

/// How often and how patiently a message is tried.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// Tries in all (the first included).
    pub attempts: u32,
    /// Wait after the first failure; each further wait doubles.
    pub first_delay: Duration,
}

impl Default for Backoff {
    /// A first try and 5 retries, 1 s, 2 s, 4 s, 8 s and 16 s later: a
    /// message gives up after ~31 s of failures (the person waiting for it
    /// can ask again).
    fn default() -> Backoff {
        Backoff {
            attempts: 6,
            first_delay: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    /// The wait after failed try number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(16);
        self.first_delay.saturating_mul(1 << doublings)
    }
}

/// The queue's shape; the defaults are for production, tests shrink them.
#[derive(Clone, Copy, Debug)]
pub struct QueueOptions {
    /// Messages waiting at most; beyond, `enqueue` drops.
    pub capacity: usize,
    /// Deliveries in flight at once (a slow or greylisting server holds up
    /// only its own message).
    pub concurrency: usize,
    pub backoff: Backoff,
}

impl Default for QueueOptions {
    fn default() -> QueueOptions {
        QueueOptions {
            capacity: 10_000,
            concurrency: 4,
            backoff: Backoff::default(),
        }
    }
}

/// Counts since start, for tests and logs (Prometheus has the same).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailStats {
    pub sent: u64,
    pub failed: u64,
    pub dropped: u64,
    /// Tries that failed and were retried.
    pub retried: u64,
}

/// The sending end: cheap to clone, implements [`Mailer`]. Without a
/// transport (`mail.*` unset) every message is dropped with a warning.
#[derive(Clone)]
pub struct MailHandle {
    tx: Option<mpsc::Sender<OutgoingMail>>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Messages accepted and not yet sent, failed or abandoned.
    depth: AtomicUsize,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retried: AtomicU64,
    /// Woken whenever `depth` reaches 0.
    idle: Notify,
    /// Asks the worker to stop taking new messages and finish the rest.
    stop: Notify,
    worker: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Clone, Copy)]
enum Outcome {
    Sent,
    Failed,
    Dropped,
}

impl Shared {
    fn count(&self, kind: &'static str, outcome: Outcome) {
        let (counter, label) = match outcome {
            Outcome::Sent => (&self.sent, "sent"),
            Outcome::Failed => (&self.failed, "failed"),
            Outcome::Dropped => (&self.dropped, "dropped"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("doorward_mail_sent_total", "kind" => kind, "outcome" => label)
            .increment(1);
    }

    /// One message is done with (sent, failed or dropped).
    fn finished(&self, kind: &'static str, outcome: Outcome) {
        self.count(kind, outcome);
        // Saturating: `close` may have zeroed the depth while this ran.
        let before = self
            .depth
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                Some(d.saturating_sub(1))
            })
            .unwrap_or(0);
        metrics::gauge!("doorward_mail_queue_depth").set(before.saturating_sub(1) as f64);
        if before <= 1 {
            self.idle.notify_waiters();
        }
    }
}

impl Mailer for MailHandle {
    fn enqueue(&self, mail: OutgoingMail) {
        let kind = mail.kind.name();
        let Some(tx) = &self.tx else {
            tracing::warn!(
                kind,
                "mail is not configured (set mail.smtp_url or mail.outbox_dir); message dropped"
            );
            self.shared.count(kind, Outcome::Dropped);
            return;
        };
        let depth = self.shared.depth.fetch_add(1, Ordering::AcqRel) + 1;
        metrics::gauge!("doorward_mail_queue_depth").set(depth as f64);
        if let Err(e) = tx.try_send(mail) {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the mail queue is full",
                mpsc::error::TrySendError::Closed(_) => "the mail queue is shut down",
            };
            tracing::error!(kind, "{why}; message dropped");
            self.shared.finished(kind, Outcome::Dropped);
        }
    }
}

impl MailHandle {
    /// A handle that drops everything (no transport configured).
    pub fn disabled() -> MailHandle {
        MailHandle {
            tx: None,
            shared: Arc::default(),
        }
    }

    /// Start the delivery task on the current tokio runtime.
    pub fn spawn(
        transport: Arc<dyn Transport>,
        renderer: Renderer,
        options: QueueOptions,
    ) -> MailHandle {
        let (tx, rx) = mpsc::channel(options.capacity.max(1));
        let shared = Arc::new(Shared::default());
        let worker = tokio::spawn(run(
            rx,
            Delivery {
                transport,
                renderer: Arc::new(renderer),
                backoff: options.backoff,
                shared: shared.clone(),
            },
            options.concurrency.max(1),
        ));
        if let Ok(mut slot) = shared.worker.lock() {
            *slot = Some(worker);
        }
        MailHandle {
            tx: Some(tx),
            shared,
        }
    }

    pub fn stats(&self) -> MailStats {
        let s = &self.shared;
        MailStats {
            sent: s.sent.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            retried: s.retried.load(Ordering::Relaxed),
        }
    }

    /// Messages queued or being delivered.
    pub fn depth(&self) -> usize {
        self.shared.depth.load(Ordering::Acquire)
    }

    /// Resolves once nothing is queued or in delivery (tests: "the mail of
    /// this request has been written").
    pub async fn idle(&self) {
        loop {
            let woken = self.shared.idle.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.depth() == 0 {
                return;
            }
            woken.await;
        }
    }

    /// Shutdown: stop taking messages, then give those queued or in
    /// delivery up to `within` (retries included) before abandoning them,
    /// each counted as dropped and their number logged.
    pub async fn close(&self, within: Duration) {
        let worker = self.shared.worker.lock().ok().and_then(|mut w| w.take());
        let Some(mut worker) = worker else { return };
        self.shared.stop.notify_one();
        if tokio::time::timeout(within, &mut worker).await.is_err() {
            worker.abort();
            let _ = worker.await;
            let left = self.shared.depth.swap(0, Ordering::AcqRel);
            metrics::gauge!("doorward_mail_queue_depth").set(0.0);
            if left > 0 {
                self.shared
                    .dropped
                    .fetch_add(left as u64, Ordering::Relaxed);
                metrics::counter!("doorward_mail_sent_total", "kind" => "any", "outcome" => "dropped")
                    .increment(left as u64);
                tracing::error!(
                    messages = left,
                    "shutting down: mail not yet delivered is abandoned"
                );
            }
            self.shared.idle.notify_waiters();
        }
    }
}

/// What every delivery needs.
#[derive(Clone)]
struct Delivery {
    transport: Arc<dyn Transport>,
    renderer: Arc<Renderer>,
    backoff: Backoff,
    shared: Arc<Shared>,
}

/// The background task: takes messages while deliveries are free; after a
/// stop (or once every handle is gone) finishes what is queued and exits.
async fn run(mut rx: mpsc::Receiver<OutgoingMail>, delivery: Delivery, concurrency: usize) {
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let stop = delivery.shared.clone();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = stop.stop.notified() => break,
        };
        let Ok(slot) = slot else { break };
        let mail = tokio::select! {
            mail = rx.recv() => mail,
            () = stop.stop.notified() => break,
        };
        let Some(mail) = mail else { break };
        let delivery = delivery.clone();
        tasks.spawn(async move {
            delivery.deliver(mail).await;
            drop(slot);
        });
        // Reap finished deliveries so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    // Nothing new from here on; what was accepted is still delivered.
    rx.close();
    while let Some(mail) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let delivery = delivery.clone();
        tasks.spawn(async move {
            delivery.deliver(mail).await;
            drop(slot);
        });
    }
    while tasks.join_next().await.is_some() {}
}

impl Delivery {
    /// Render once, then try up to `backoff.attempts` times.
    async fn deliver(&self, mail: OutgoingMail) {
        let kind = mail.kind.name();
        let message = match self.renderer.message(&mail) {
            Ok(message) => message,
            Err(e) => {
                tracing::error!(kind, error = %e, "mail not sent");
                self.shared.finished(kind, Outcome::Failed);
                return;
            }
        };
        drop(mail);
        let attempts = self.backoff.attempts.max(1);
        for attempt in 1..=attempts {
            match self.transport.send(&message).await {
                Ok(()) => {
                    tracing::info!(kind, attempt, "mail sent");
                    self.shared.finished(kind, Outcome::Sent);
                    return;
                }
                Err(e) if e.permanent || attempt == attempts => {
                    tracing::error!(
                        kind,
                        attempts = attempt,
                        permanent = e.permanent,
                        error = %e,
                        "mail could not be delivered; giving up"
                    );
                    self.shared.finished(kind, Outcome::Failed);
                    return;
                }
                Err(e) => {
                    let wait = self.backoff.delay_after(attempt);
                    tracing::warn!(
                        kind,
                        attempt,
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        error = %e,
                        "mail delivery failed; retrying"
                    );
                    self.shared.retried.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
