//! Which [`Phase`] the current exchange is in, tracked without allocation.
//!
//! The deadline wrapper ([`tracked`]) stores a `Cell<Phase>` inside its own future
//! (a tokio task-local scope: no heap, no `Arc`); the connector layers and the client
//! call [`enter`] as they move on. Outside a tracked scope (e.g. a connector composed
//! into someone else's client) [`enter`] does nothing.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

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
    CURRENT
        .scope(Cell::new(start), async move {
            match tokio::time::timeout_at(deadline, fut).await {
                Ok(result) => result,
                Err(_elapsed) => Err(Error::timeout(CURRENT.with(Cell::get), timeout)),
            }
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

    #[test]
    fn enter_outside_a_scope_is_harmless() {
        enter(Phase::Connect);
    }
}
