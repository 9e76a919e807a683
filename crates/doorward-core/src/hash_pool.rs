//! The threads that run password hashes.
//!
//! A fixed set of dedicated threads (one per core by default), not tokio's
//! blocking pool: each keeps one argon2 memory block of the configured size
//! and reuses it for every hash, so memory is bounded at threads × m (the
//! blocking pool's many short-lived threads each left a freed 19 MiB block in
//! its own malloc arena: 507 MiB peak during a login flood). A thread idle
//! for `RELEASE_AFTER` gives its block back to the OS.
//!
//! The threads run at the lowest scheduling priority (nice 19, per thread on
//! Linux), so the async workers that answer every other request preempt them:
//! a login flood slows logins, not `/v1/me`. With nothing else to run they
//! still get whole cores.
//!
//! In front of them sits a bounded queue: a job is admitted only while fewer
//! than `threads + max_queued` are running or waiting, otherwise the caller
//! gets `Error::Busy` (503 + Retry-After) at once.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::Block;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

/// How long a thread keeps its memory block without a job.
const RELEASE_AFTER: Duration = Duration::from_secs(30);

/// The nice value of the hash threads: the lowest priority.
const HASH_THREAD_NICE: i32 = 19;

/// One hash thread's reusable argon2 memory.
pub struct Scratch {
    blocks: Vec<Block>,
    /// Blocks kept between jobs (the configured memory cost).
    keep: usize,
}

/// Memory for one hash: the thread's own block, or, for a stored hash that
/// asks for more than the configured cost (imported), a temporary one
/// freed when the hash is done.
pub enum Memory<'a> {
    Kept(&'a mut [Block]),
    Temporary(Vec<Block>),
}

impl AsMut<[Block]> for Memory<'_> {
    fn as_mut(&mut self) -> &mut [Block] {
        match self {
            Memory::Kept(b) => b,
            Memory::Temporary(v) => v.as_mut_slice(),
        }
    }
}

impl Scratch {
    pub fn new(keep: usize) -> Self {
        Scratch {
            blocks: Vec::new(),
            keep,
        }
    }

    /// `count` blocks of memory for one hash.
    pub fn blocks(&mut self, count: usize) -> Memory<'_> {
        if count > self.keep {
            return Memory::Temporary(vec![Block::default(); count]);
        }
        if self.blocks.len() < self.keep {
            self.blocks = vec![Block::default(); self.keep];
        }
        match self.blocks.get_mut(..count) {
            Some(b) => Memory::Kept(b),
            None => Memory::Temporary(vec![Block::default(); count]),
        }
    }

    /// Give the kept block back (idle thread).
    fn release(&mut self) {
        self.blocks = Vec::new();
    }

    /// Whether a block is held now (tests).
    #[cfg(test)]
    pub fn holds_memory(&self) -> bool {
        !self.blocks.is_empty()
    }
}

type Job = Box<dyn FnOnce(&mut Scratch) + Send>;

/// Counts admitted jobs (running or waiting) in the gauge
/// `doorward_hash_queue_depth`.
struct QueueSlot;

impl QueueSlot {
    fn new() -> Self {
        metrics::gauge!("doorward_hash_queue_depth").increment(1.0);
        QueueSlot
    }
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        metrics::gauge!("doorward_hash_queue_depth").decrement(1.0);
    }
}

/// The pool. Dropping it ends its threads once their current job is done.
pub struct HashThreads {
    jobs: mpsc::Sender<Job>,
    admitted: Arc<Semaphore>,
    threads: usize,
}

impl HashThreads {
    /// Start `threads` threads (at least one), each keeping `keep_blocks`
    /// argon2 blocks, behind a queue of `max_queued`.
    pub fn start(threads: usize, max_queued: usize, keep_blocks: usize) -> Result<Self> {
        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("doorward-hash-{i}"))
                .spawn(move || work(&queue, keep_blocks))
                .map_err(|e| Error::Internal(format!("starting a hash thread: {e}")))?;
        }
        Ok(HashThreads {
            jobs,
            admitted: Arc::new(Semaphore::new(threads + max_queued)),
            threads,
        })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// A place in the queue, or `Error::Busy` when it is full. Taking the
    /// place before the work that leads up to a hash (a login's database
    /// reads) makes a refusal during a flood cost next to nothing.
    pub fn admit(&self) -> Result<Admission> {
        let permit = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Busy {
                retry_after_secs: 1,
            })?;
        Ok(Admission {
            _permit: permit,
            _slot: QueueSlot::new(),
        })
    }

    /// Run `job` on a hash thread, or `Error::Busy` when the queue is full.
    /// A job whose caller went away before it started is skipped; one that
    /// started runs to the end and holds its place until then.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Scratch) -> T + Send + 'static,
    ) -> Result<T> {
        let admission = self.admit()?;
        self.run_admitted(admission, job).await
    }

    /// [`run`](Self::run) with a place taken earlier by [`admit`](Self::admit).
    pub async fn run_admitted<T: Send + 'static>(
        &self,
        admission: Admission,
        job: impl FnOnce(&mut Scratch) -> T + Send + 'static,
    ) -> Result<T> {
        let (done, result) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move |scratch| {
            if done.is_closed() {
                return;
            }
            let out = span.in_scope(|| job(scratch));
            // The place is free once the work is: before the answer goes out.
            drop(admission);
            let _ = done.send(out);
        });
        self.jobs
            .send(job)
            .map_err(|_| Error::Internal("the hash threads stopped".into()))?;
        result
            .await
            .map_err(|_| Error::Internal("a hash job failed".into()))
    }
}

/// A place in the hash queue, held from [`HashThreads::admit`] until the
/// job run with it is done (or until it is dropped unused).
pub struct Admission {
    // Both are held for their `Drop`: the place is given back.
    _permit: OwnedSemaphorePermit,
    _slot: QueueSlot,
}

fn work(queue: &Mutex<mpsc::Receiver<Job>>, keep_blocks: usize) {
    lower_priority();
    let mut scratch = Scratch::new(keep_blocks);
    loop {
        let next = match queue.lock() {
            Ok(queue) => queue.recv_timeout(RELEASE_AFTER),
            // Another thread panicked while holding the lock (it cannot: a
            // job runs after the lock is released); stop this one.
            Err(_) => return,
        };
        match next {
            Ok(job) => {
                // A panicking job drops its answer channel (the caller gets
                // an internal error); the thread carries on.
                if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut scratch))).is_err() {
                    tracing::error!("a password hash job panicked");
                }
            }
            Err(RecvTimeoutError::Timeout) => scratch.release(),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Nice 19 for the calling thread only (Linux applies `setpriority` with a
/// thread id to that thread). Raising one's own nice value needs no
/// privilege; a failure leaves the thread at normal priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take no pointers and only affect
        // this thread's scheduling.
        let result = unsafe {
            let tid = libc::syscall(libc::SYS_gettid);
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, HASH_THREAD_NICE)
        };
        if result != 0 {
            tracing::debug!("could not lower the hash thread's priority");
        }
    }
}

/// The nice value of the calling thread (tests).
#[cfg(all(test, target_os = "linux"))]
fn current_nice() -> i32 {
    // SAFETY: as in `lower_priority`.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid);
        libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_named_low_priority_threads() {
        let pool = HashThreads::start(2, 4, 8).unwrap();
        let (name, nice) = pool
            .run(|_| {
                let name = std::thread::current().name().map(str::to_owned);
                #[cfg(target_os = "linux")]
                let nice = current_nice();
                #[cfg(not(target_os = "linux"))]
                let nice = HASH_THREAD_NICE;
                (name, nice)
            })
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("doorward-hash-"));
        assert_eq!(nice, HASH_THREAD_NICE);
    }

    #[tokio::test]
    async fn scratch_memory_is_kept_and_reused() {
        let pool = HashThreads::start(1, 4, 8).unwrap();
        let first = pool
            .run(|s| {
                let ptr = s.blocks(8).as_mut().as_ptr() as usize;
                (ptr, s.holds_memory())
            })
            .await
            .unwrap();
        let second = pool
            .run(|s| s.blocks(4).as_mut().as_ptr() as usize)
            .await
            .unwrap();
        assert!(first.1);
        assert_eq!(first.0, second, "the one thread reuses its block");
        // More than the configured cost: a temporary block, the kept one stays.
        let (len, kept) = pool
            .run(|s| {
                let len = s.blocks(16).as_mut().len();
                (len, s.blocks.len())
            })
            .await
            .unwrap();
        assert_eq!((len, kept), (16, 8));
    }

    #[tokio::test]
    async fn full_queue_answers_busy_and_frees_when_done() {
        let pool = Arc::new(HashThreads::start(1, 1, 1).unwrap());
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let p = pool.clone();
        let running = tokio::spawn(async move { p.run(move |_| wait.recv().is_ok()).await });
        // Wait until the job is taken (running), then fill the one queue place.
        while pool.admitted.available_permits() == 2 {
            tokio::task::yield_now().await;
        }
        let p = pool.clone();
        let queued = tokio::spawn(async move { p.run(|_| 7).await });
        while pool.admitted.available_permits() == 1 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            pool.run(|_| ()).await,
            Err(Error::Busy {
                retry_after_secs: 1
            })
        ));
        release.send(()).unwrap();
        assert!(running.await.unwrap().unwrap());
        assert_eq!(queued.await.unwrap().unwrap(), 7);
        assert_eq!(pool.run(|_| 8).await.unwrap(), 8);
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let pool = HashThreads::start(1, 1, 1).unwrap();
        #[allow(clippy::panic)]
        let failed = pool.run(|_| -> u8 { panic!("boom") }).await;
        assert!(matches!(failed, Err(Error::Internal(_))));
        assert_eq!(pool.run(|_| 3).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_job_whose_caller_left_is_skipped() {
        let pool = Arc::new(HashThreads::start(1, 4, 1).unwrap());
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let p = pool.clone();
        let blocker = tokio::spawn(async move { p.run(move |_| wait.recv().is_ok()).await });
        while pool.admitted.available_permits() == 5 {
            tokio::task::yield_now().await;
        }
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let p = pool.clone();
        let abandoned = tokio::spawn(async move {
            p.run(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst))
                .await
        });
        while pool.admitted.available_permits() == 4 {
            tokio::task::yield_now().await;
        }
        abandoned.abort();
        let _ = abandoned.await;
        release.send(()).unwrap();
        assert!(blocker.await.unwrap().unwrap());
        // The next job runs after the abandoned one was taken off the queue.
        pool.run(|_| ()).await.unwrap();
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(pool.admitted.available_permits(), 5);
    }
}
