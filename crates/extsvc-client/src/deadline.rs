//! Deadlines as every client of this crate computes them (HTTP and Redis alike): a
//! timeout from now, clamped so that adding it to the clock cannot overflow.

use std::time::Duration;

use tokio::time::Instant;

/// The longest deadline a request or connection gets: one year. Longer timeouts are
/// clamped to it, so that adding one to the clock cannot overflow.
#[doc(hidden)]
pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// The deadline `timeout` from now, `timeout` clamped to [`MAX_TIMEOUT`].
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    deadline_from(Instant::now(), timeout)
}

/// The deadline `timeout` after `start` (a clock reading the caller has already made),
/// `timeout` clamped to [`MAX_TIMEOUT`].
pub(crate) fn deadline_from(start: Instant, timeout: Duration) -> Instant {
    start + timeout.min(MAX_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_endless_timeout_is_a_year_not_an_overflow() {
        assert!(deadline_after(Duration::MAX) > Instant::now() + Duration::from_secs(300 * 24 * 3600));
    }
}
