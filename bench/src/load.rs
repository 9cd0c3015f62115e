//! The load driver: `concurrency` workers send requests back to back for a fixed window,
//! each recording every request's latency into its own preallocated vector.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clients::{BenchClient, Target};

/// Latencies kept per worker before the vector grows.
const LATENCIES_PER_WORKER: usize = 1 << 16;
/// A worker stops after this many errors in one window (the table shows them).
const MAX_ERRORS_PER_WORKER: u64 = 100;

/// What one window measured.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// Requests completed with a full body.
    pub(crate) requests: u64,
    /// Requests that failed.
    pub(crate) errors: u64,
    /// The first error's text, if any.
    pub(crate) first_error: Option<String>,
    /// From the start until the last worker finished.
    pub(crate) elapsed: Duration,
    /// Every successful request's latency, in nanoseconds, sorted.
    pub(crate) latencies_ns: Vec<u64>,
}

impl Window {
    /// Successful requests per second.
    pub(crate) fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile (0..=1) of the latencies, in microseconds (nearest rank).
    pub(crate) fn quantile_us(&self, q: f64) -> f64 {
        if self.latencies_ns.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * self.latencies_ns.len() as f64).ceil() as usize).clamp(1, self.latencies_ns.len());
        self.latencies_ns[rank - 1] as f64 / 1000.0
    }
}

struct WorkerResult {
    latencies_ns: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// Runs `concurrency` workers against `target` for `duration` on the current runtime.
/// A worker starts a request only before the window ends; requests under way at the end
/// finish and count (`elapsed` covers them).
pub(crate) async fn run_window(
    client: &Arc<BenchClient>,
    target: &Arc<Target>,
    concurrency: usize,
    duration: Duration,
) -> Window {
    let start = Instant::now();
    let end = start + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let client = client.clone();
            let target = target.clone();
            tokio::spawn(async move {
                let mut result = WorkerResult {
                    latencies_ns: Vec::with_capacity(LATENCIES_PER_WORKER),
                    errors: 0,
                    first_error: None,
                };
                loop {
                    let sent = Instant::now();
                    if sent >= end || result.errors >= MAX_ERRORS_PER_WORKER {
                        break;
                    }
                    match client.get(&target).await {
                        Ok(_) => result.latencies_ns.push(sent.elapsed().as_nanos() as u64),
                        Err(e) => {
                            result.errors += 1;
                            result.first_error.get_or_insert(e);
                        }
                    }
                }
                result
            })
        })
        .collect();
    let mut window = Window {
        requests: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latencies_ns: Vec::new(),
    };
    for worker in workers {
        match worker.await {
            Ok(result) => {
                window.latencies_ns.extend_from_slice(&result.latencies_ns);
                window.errors += result.errors;
                if window.first_error.is_none() {
                    window.first_error = result.first_error;
                }
            }
            Err(e) => {
                window.errors += 1;
                window
                    .first_error
                    .get_or_insert_with(|| format!("worker panicked: {e}"));
            }
        }
    }
    window.elapsed = start.elapsed();
    window.requests = window.latencies_ns.len() as u64;
    window.latencies_ns.sort_unstable();
    window
}

/// The median over rounds of `ours[i] / theirs[i]` (rounds where `theirs` is 0 left
/// out): each round runs the clients back to back, so a slow moment of the machine hits
/// both sides of a ratio alike. `None` without a round.
pub(crate) fn median_of_ratios(ours: &[f64], theirs: &[f64]) -> Option<f64> {
    let mut ratios: Vec<f64> = ours
        .iter()
        .zip(theirs)
        .filter(|(_, t)| **t > 0.0)
        .map(|(o, t)| o / t)
        .collect();
    (!ratios.is_empty()).then(|| median(&mut ratios))
}

/// The median of some values (the mean of the middle two for an even count); NaN when empty.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(latencies_ns: Vec<u64>) -> Window {
        Window {
            requests: latencies_ns.len() as u64,
            errors: 0,
            first_error: None,
            elapsed: Duration::from_secs(2),
            latencies_ns,
        }
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let w = window((1..=100).map(|us| us * 1000).collect());
        assert_eq!(w.quantile_us(0.5), 50.0);
        assert_eq!(w.quantile_us(0.99), 99.0);
        assert_eq!(w.quantile_us(1.0), 100.0);
        assert_eq!(w.rps(), 50.0);
        assert!(window(Vec::new()).quantile_us(0.5).is_nan());
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
