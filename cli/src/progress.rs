//! A one-line progress indicator on stderr, for runs long enough to wonder.
//!
//! It only draws when stderr is a terminal, so pipes, logs and tests never
//! see it, and only after a short delay, so quick runs stay silent.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

const QUIET_START: Duration = Duration::from_millis(300);
const REDRAW_EVERY: Duration = Duration::from_millis(100);

pub struct Progress {
    enabled: bool,
    label: &'static str,
    done: u64,
    total: u64,
    next_draw: Instant,
    drawn: bool,
}

impl Progress {
    /// `total` is in whatever unit the caller advances by.
    pub fn new(label: &'static str, total: u64) -> Self {
        Progress {
            enabled: io::stderr().is_terminal(),
            label,
            done: 0,
            total: total.max(1),
            next_draw: Instant::now() + QUIET_START,
            drawn: false,
        }
    }

    pub fn advance(&mut self, units: u64) {
        self.done += units;
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now < self.next_draw {
            return;
        }
        self.next_draw = now + REDRAW_EVERY;
        let percent = (self.done as f64 / self.total as f64 * 100.0).min(100.0);
        // Errors are ignored: progress is a courtesy, never a reason to fail.
        let _ = write!(io::stderr(), "\r{}: {percent:5.1}%", self.label);
        self.drawn = true;
    }

    /// Erases the line, so the report (or an error) starts on a clean one.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = write!(io::stderr(), "\r\x1b[2K");
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
