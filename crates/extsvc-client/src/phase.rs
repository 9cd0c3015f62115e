//! Which [`Phase`] the current exchange is in, tracked without allocation.
//!
//! The deadline wrapper ([`tracked`]) stores a `Cell<Phase>` inside its own future
//! (a tokio task-local scope: no heap, no `Arc`); the connector layers and the client
//! call [`enter`] as they move on. Outside a tracked scope (e.g. a connector composed
//! into someone else's client) [`enter`] does nothing.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::error::{Error, Phase};

tokio::task_local! {
    static CURRENT: Cell<Phase>;
}

/// Marks the start of `phase` for the exchange being polled, if it is tracked.
pub(crate) fn enter(phase: Phase) {
    let _ = CURRENT.try_with(|cell| cell.set(phase));
}

/// Runs `fut` until `deadline`, starting in phase `start`. On expiry the error names
/// the phase that was running; `timeout` is the whole budget, for the message.
pub(crate) async fn tracked<F, T>(start: Phase, deadline: Instant, timeout: Duration, fut: F) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>>,
{
    scope(start, async move {
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(result) => result,
            Err(_elapsed) => Err(timed_out(timeout)),
        }
    })
    .await
}

/// Runs `fut` with its phase tracked, starting in `start`, without a deadline: `fut`
/// applies its own, with [`until`] or [`timed_out`].
pub(crate) async fn scope<F: Future>(start: Phase, fut: F) -> F::Output {
    CURRENT.scope(Cell::new(start), fut).await
}

/// The error of a deadline that passed in the current phase (`timeout`: the whole
/// budget, for the message).
pub(crate) fn timed_out(timeout: Duration) -> Error {
    let phase = CURRENT.try_with(Cell::get).unwrap_or(Phase::PoolWait);
    Error::timeout(phase, timeout)
}

/// Runs `fut` until `timer` fires ([`timed_out`] then). The timer is polled, and so
/// registered, only while `fut` is pending: a timer kept and reset for each use (a
/// connection's) moves its expiry later without taking the timer wheel's lock.
pub(crate) async fn until<F: Future>(
    mut timer: Pin<&mut Sleep>,
    timeout: Duration,
    fut: F,
) -> Result<F::Output, Error> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        timer.as_mut().poll(cx).map(|()| Err(timed_out(timeout)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_phase_that_runs_out_is_reported() {
        let deadline = Instant::now() + Duration::from_millis(50);
        let err = tracked(Phase::PoolWait, deadline, Duration::from_millis(50), async {
            enter(Phase::Tls);
            std::future::pending::<Result<(), Error>>().await
        })
        .await
        .unwrap_err();
        assert_eq!(err.phase(), Some(Phase::Tls));
        assert!(err.is_timeout());
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_timer_reset_for_each_use_ends_each_at_its_own_deadline() {
        let mut timer = Box::pin(tokio::time::sleep(Duration::from_secs(3600)));
        for (i, budget) in [50, 80, 30].into_iter().enumerate() {
            let budget = Duration::from_millis(budget);
            let start = Instant::now();
            timer.as_mut().reset(start + budget);
            // A use that finishes in time is not cut short by the timer.
            let quick = scope(Phase::ResponseHeaders, until(timer.as_mut(), budget, async { i })).await;
            assert_eq!(quick.unwrap(), i);
            let err = scope(
                Phase::ResponseHeaders,
                until(timer.as_mut(), budget, std::future::pending::<()>()),
            )
            .await
            .unwrap_err();
            assert_eq!(err.phase(), Some(Phase::ResponseHeaders));
            assert!(err.is_timeout());
            assert_eq!(start.elapsed(), budget, "use {i}");
        }
    }

    #[test]
    fn enter_outside_a_scope_is_harmless() {
        enter(Phase::Connect);
    }
}
