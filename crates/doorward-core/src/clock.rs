//! Time as a parameter: the server reads a `Clock`, tests set one.

use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// Where "now" comes from. Core and store functions take `now` as an
/// argument; only the edges (handlers, background tasks) ask a clock.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that tests move by hand. Starts at the system time.
#[derive(Clone, Debug)]
pub struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl Default for TestClock {
    fn default() -> Self {
        TestClock(Arc::new(Mutex::new(OffsetDateTime::now_utc())))
    }
}

impl TestClock {
    pub fn advance(&self, by: time::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        match self.0.lock() {
            Ok(t) => *t,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}
