//! Queue tests with a scripted transport: retries, permanent failures, a
//! full queue, shutdown.

use std::collections::VecDeque;

use async_trait::async_trait;
use doorward_core::mail::MailKind;
use lettre::Message;

use super::*;
use crate::mail::transport::DeliveryError;

/// Answers from a script (`Err(true)` = permanent failure), then succeeds;
/// optionally waits for a permit before each answer.
#[derive(Default)]
struct Scripted {
    script: Mutex<VecDeque<Result<(), bool>>>,
    tries: AtomicUsize,
    delivered: Mutex<Vec<String>>,
    gate: Option<Arc<Semaphore>>,
}

impl Scripted {
    fn failing(answers: &[Result<(), bool>]) -> Arc<Scripted> {
        Arc::new(Scripted {
            script: Mutex::new(answers.iter().copied().collect()),
            ..Scripted::default()
        })
    }

    fn gated(gate: Arc<Semaphore>) -> Arc<Scripted> {
        Arc::new(Scripted {
            gate: Some(gate),
            ..Scripted::default()
        })
    }

    fn tries(&self) -> usize {
        self.tries.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Transport for Scripted {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        self.tries.fetch_add(1, Ordering::SeqCst);
        let answer = self.script.lock().unwrap().pop_front().unwrap_or(Ok(()));
        match answer {
            Ok(()) => {
                let raw = String::from_utf8(message.formatted()).unwrap();
                self.delivered.lock().unwrap().push(raw);
                Ok(())
            }
            Err(permanent) => Err(DeliveryError {
                permanent,
                reason: "550 scripted".into(),
            }),
        }
    }
}

fn options(attempts: u32) -> QueueOptions {
    QueueOptions {
        capacity: 100,
        concurrency: 2,
        backoff: Backoff {
            attempts,
            first_delay: Duration::from_millis(1),
        },
    }
}

fn start(transport: Arc<Scripted>, options: QueueOptions) -> MailHandle {
    let renderer = Renderer::new("http://localhost", "no-reply@localhost".parse().unwrap());
    MailHandle::spawn(transport, renderer, options)
}

fn reset(to: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.into(),
        kind: MailKind::ResetPassword {
            token: "the-token".into(),
        },
    }
}

async fn idle(handle: &MailHandle) {
    tokio::time::timeout(Duration::from_secs(10), handle.idle())
        .await
        .expect("the queue drains");
}

#[tokio::test]
async fn messages_are_rendered_and_delivered_in_the_background() {
    let transport = Scripted::failing(&[]);
    let handle = start(transport.clone(), options(3));
    handle.enqueue(reset("a@example.org"));
    handle.enqueue(reset("b@example.org"));
    idle(&handle).await;
    assert_eq!(
        handle.stats(),
        MailStats {
            sent: 2,
            ..MailStats::default()
        }
    );
    let delivered = transport.delivered.lock().unwrap();
    assert!(delivered
        .iter()
        .any(|m| m.contains("To: a@example.org") && m.contains("token=the-token")));
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff() {
    let transport = Scripted::failing(&[Err(false), Err(false)]);
    let handle = start(transport.clone(), options(3));
    handle.enqueue(reset("a@example.org"));
    idle(&handle).await;
    assert_eq!(transport.tries(), 3);
    assert_eq!(
        handle.stats(),
        MailStats {
            sent: 1,
            retried: 2,
            ..MailStats::default()
        }
    );
}

#[tokio::test]
async fn permanent_failures_are_not_retried_and_the_last_failure_gives_up() {
    let transport = Scripted::failing(&[Err(true)]);
    let handle = start(transport.clone(), options(5));
    handle.enqueue(reset("a@example.org"));
    idle(&handle).await;
    assert_eq!(transport.tries(), 1);
    assert_eq!(handle.stats().failed, 1);

    let transport = Scripted::failing(&[Err(false), Err(false), Err(false), Err(false)]);
    let handle = start(transport.clone(), options(3));
    handle.enqueue(reset("a@example.org"));
    idle(&handle).await;
    assert_eq!(transport.tries(), 3, "gives up after `attempts` tries");
    assert_eq!(
        handle.stats(),
        MailStats {
            failed: 1,
            retried: 2,
            ..MailStats::default()
        }
    );
}

#[tokio::test]
async fn a_bad_recipient_fails_without_a_try() {
    let transport = Scripted::failing(&[]);
    let handle = start(transport.clone(), options(3));
    handle.enqueue(reset("not an address"));
    idle(&handle).await;
    assert_eq!((transport.tries(), handle.stats().failed), (0, 1));
}

#[tokio::test]
async fn a_full_queue_drops_without_blocking() {
    let gate = Arc::new(Semaphore::new(0));
    let transport = Scripted::gated(gate.clone());
    let handle = start(
        transport.clone(),
        QueueOptions {
            capacity: 1,
            concurrency: 1,
            ..options(1)
        },
    );
    // The (single-threaded) worker has not run yet: the first message fills
    // the queue and the next two do not fit.
    for to in ["a@example.org", "b@example.org", "c@example.org"] {
        handle.enqueue(reset(to));
    }
    assert_eq!(handle.stats().dropped, 2);
    assert_eq!(handle.depth(), 1);
    gate.add_permits(10);
    idle(&handle).await;
    assert_eq!(
        handle.stats(),
        MailStats {
            sent: 1,
            dropped: 2,
            ..MailStats::default()
        }
    );
}

#[tokio::test]
async fn without_a_transport_messages_are_counted_as_dropped() {
    let handle = MailHandle::disabled();
    handle.enqueue(reset("a@example.org"));
    assert_eq!(handle.stats().dropped, 1);
    idle(&handle).await;
    handle.close(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn close_delivers_what_was_queued_then_refuses_more() {
    let transport = Scripted::failing(&[Err(false)]);
    let handle = start(
        transport.clone(),
        QueueOptions {
            concurrency: 1,
            ..options(3)
        },
    );
    for to in ["a@example.org", "b@example.org", "c@example.org"] {
        handle.enqueue(reset(to));
    }
    handle.close(Duration::from_secs(10)).await;
    assert_eq!(handle.stats().sent, 3);
    handle.enqueue(reset("late@example.org"));
    assert_eq!(handle.stats().dropped, 1, "closed: dropped, not queued");
    assert_eq!(handle.depth(), 0);
}

#[tokio::test]
async fn close_gives_up_after_its_time_and_counts_what_is_left() {
    let gate = Arc::new(Semaphore::new(0));
    let handle = start(Scripted::gated(gate), options(1));
    handle.enqueue(reset("a@example.org"));
    handle.enqueue(reset("b@example.org"));
    let started = std::time::Instant::now();
    handle.close(Duration::from_millis(50)).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(handle.stats().dropped, 2);
    assert_eq!(handle.depth(), 0);
    idle(&handle).await;
}

#[test]
fn the_default_backoff_doubles_from_one_second() {
    let b = Backoff::default();
    let waits: Vec<u64> = (1..b.attempts)
        .map(|a| b.delay_after(a).as_secs())
        .collect();
    assert_eq!(waits, [1, 2, 4, 8, 16]);
    assert_eq!(QueueOptions::default().capacity, 10_000);
}
