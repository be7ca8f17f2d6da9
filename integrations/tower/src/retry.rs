//! When a failed attempt may go to the key's next replica: the predicate,
//! the retry budget and the request's deadline.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use tonic::Code;
use tower::retry::budget::TpsBudget;

/// A failed attempt, as the retry predicate sees it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure<'a> {
    /// The inner service returned an error: connect refused, connection
    /// reset, the backend went away.
    Transport(&'a (dyn std::error::Error + Send + Sync + 'static)),
    /// The backend answered with this gRPC status in a trailers-only
    /// response (nothing of the answer was read yet).
    Status(Code),
}

/// The default predicate: transport errors and `UNAVAILABLE` are retried,
/// as gRPC's own retry policy suggests for requests not yet processed.
pub fn default_retryable(failure: &Failure<'_>) -> bool {
    match failure {
        Failure::Transport(_) => true,
        Failure::Status(code) => *code == Code::Unavailable,
    }
}

pub(crate) type Predicate = Arc<dyn Fn(&Failure<'_>) -> bool + Send + Sync>;

/// Retry settings of a [`RingrouteService`](crate::RingrouteService).
#[derive(Clone)]
pub struct RetryConfig {
    pub(crate) max_attempts: usize,
    pub(crate) budget_ttl: Duration,
    pub(crate) min_per_sec: u32,
    pub(crate) ratio: f32,
    pub(crate) predicate: Predicate,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            budget_ttl: Duration::from_secs(10),
            min_per_sec: 10,
            ratio: 0.2,
            predicate: Arc::new(default_retryable),
        }
    }
}

impl RetryConfig {
    /// Attempts per request, the first included (default 3; 1 turns
    /// failover off).
    pub fn max_attempts(mut self, n: usize) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The retry budget, as Finagle's and tower's `TpsBudget`: retries may
    /// add at most `ratio` (0..=1000) of the requests seen in the last
    /// `ttl` (1 s..=60 s), plus `min_per_sec` retries per second that are
    /// always allowed. Default: 20 % over 10 s, 10/s.
    pub fn budget(mut self, ttl: Duration, min_per_sec: u32, ratio: f32) -> Self {
        self.budget_ttl = ttl.clamp(Duration::from_secs(1), Duration::from_secs(60));
        self.min_per_sec = min_per_sec.min(1 << 30);
        self.ratio = ratio.clamp(0.0, 1000.0);
        self
    }

    /// Decides which failed attempts may be retried (default:
    /// [`default_retryable`]). Only idempotent calls should be retried
    /// after they may have reached the backend.
    pub fn retry_if(mut self, f: impl Fn(&Failure<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.predicate = Arc::new(f);
        self
    }

    pub(crate) fn build_budget(&self) -> TpsBudget {
        TpsBudget::new(self.budget_ttl, self.min_per_sec, self.ratio)
    }
}

impl fmt::Debug for RetryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryConfig")
            .field("max_attempts", &self.max_attempts)
            .field("budget_ttl", &self.budget_ttl)
            .field("min_per_sec", &self.min_per_sec)
            .field("ratio", &self.ratio)
            .finish_non_exhaustive()
    }
}

/// The `grpc-timeout` header, made once: looking a `&str` name up hashes
/// it on every request.
pub(crate) static GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// The request's `grpc-timeout` (gRPC over HTTP/2: up to 8 digits and a
/// unit H, M, S, m, u or n), if present and well formed.
pub(crate) fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = crate::key::header(headers, &GRPC_TIMEOUT)?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// `d` as a `grpc-timeout` value (milliseconds, rounded up so that a
/// retry never gets a zero timeout while time is left).
pub(crate) fn timeout_value(d: Duration) -> http::HeaderValue {
    let ms = d.as_micros().div_ceil(1000).clamp(1, 99_999_999);
    http::HeaderValue::from_str(&format!("{ms}m")).expect("digits and a unit")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("grpc-timeout", v.parse().unwrap());
        h
    }

    #[test]
    fn parses_grpc_timeout_units() {
        assert_eq!(grpc_timeout(&header("2S")), Some(Duration::from_secs(2)));
        assert_eq!(
            grpc_timeout(&header("150m")),
            Some(Duration::from_millis(150))
        );
        assert_eq!(grpc_timeout(&header("7u")), Some(Duration::from_micros(7)));
        assert_eq!(grpc_timeout(&header("1H")), Some(Duration::from_secs(3600)));
        assert_eq!(grpc_timeout(&header("123456789S")), None);
        assert_eq!(grpc_timeout(&header("S")), None);
        assert_eq!(grpc_timeout(&header("10x")), None);
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn timeout_value_rounds_up() {
        assert_eq!(timeout_value(Duration::from_micros(1500)), "2m");
        assert_eq!(timeout_value(Duration::ZERO), "1m");
    }

    #[test]
    fn default_predicate_retries_unavailable_only() {
        assert!(default_retryable(&Failure::Status(Code::Unavailable)));
        assert!(!default_retryable(&Failure::Status(Code::NotFound)));
        assert!(!default_retryable(&Failure::Status(Code::DeadlineExceeded)));
    }
}
