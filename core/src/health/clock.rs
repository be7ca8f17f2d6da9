//! Where the health detectors' `now` comes from.
//!
//! The detectors never read a clock themselves: every call takes
//! `now: Duration`, the time elapsed since an epoch the clock picks. Only
//! differences between two readings of the *same* clock mean anything, so a
//! monotonic clock suffices (wall-clock jumps would fake silences or bursts),
//! and a test can drive time by hand with [`ManualClock`] and get exact,
//! repeatable results.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A source of monotonic time, as an offset from the clock's own epoch.
///
/// Readings must never go backwards. The epoch is arbitrary (process start,
/// clock creation, ...); readings from different clocks must not be mixed.
pub trait Clock: Send + Sync + 'static {
    /// The time elapsed since this clock's epoch.
    fn now(&self) -> Duration;
}

/// A shared clock is a clock, so one [`ManualClock`] can drive a router and
/// the test that steers it (`Arc<ManualClock>`, or `Arc<dyn Clock>`).
impl<C: Clock + ?Sized> Clock for Arc<C> {
    #[inline]
    fn now(&self) -> Duration {
        (**self).now()
    }
}

/// The real clock: [`Instant`]-based, with its epoch at creation.
///
/// `now()` starts near zero and never goes backwards, even when the system's
/// wall clock is adjusted.
#[derive(Copy, Clone, Debug)]
pub struct MonotonicClock {
    start: Instant,
}

impl MonotonicClock {
    /// A clock whose epoch is this instant.
    pub fn new() -> Self {
        MonotonicClock {
            start: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A clock that moves only when told to: for tests and simulations.
///
/// Holds nanoseconds in an [`AtomicU64`], so it can be shared (`Arc`) and
/// moved from one thread while another reads it. Times beyond `u64::MAX`
/// nanoseconds (about 584 years) saturate.
///
/// ```
/// use std::time::Duration;
/// use ringroute::health::{Clock, ManualClock};
///
/// let clock = ManualClock::new(Duration::from_secs(10));
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now(), Duration::from_millis(11_500));
/// clock.set(Duration::ZERO);
/// assert_eq!(clock.now(), Duration::ZERO);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

/// Saturating, because a test that pushes time absurdly far should see a
/// clock stuck at its maximum rather than one that wraps back to the past.
fn to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl ManualClock {
    /// A clock that reads `start` until moved.
    pub fn new(start: Duration) -> Self {
        ManualClock {
            nanos: AtomicU64::new(to_nanos(start)),
        }
    }

    /// Moves the clock forward by `d` (saturating).
    pub fn advance(&self, d: Duration) {
        let step = to_nanos(d);
        // SeqCst: a test clock is no hot path, and the strongest ordering
        // keeps "advance, then signal another thread" trivially correct.
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(step))
            });
    }

    /// Sets the clock to `t`.
    ///
    /// Unlike a real clock this may move time backwards; the detectors
    /// tolerate it (a negative gap counts as zero), but it is meant for
    /// resetting a test, not for modelling time.
    pub fn set(&self, t: Duration) {
        self.nanos.store(to_nanos(t), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}
