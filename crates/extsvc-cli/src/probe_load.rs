//! How `extsvc probe` carries its load: the runtime's threads, and each worker's own
//! latency record (bounded memory, no lock and no allocation per request; merged once at
//! the end).

use std::time::Duration;

use metrics_util::storage::Summary;

/// Runtime threads unless `--threads` says otherwise. One, like `wrk -t1`: measured
/// against nginx on 127.0.0.1 (docs/performance.md), two worker threads were no faster
/// at the median and spread more, competing with the server for two cores; one thread
/// driving every connection leaves the other core to the server.
pub(crate) const DEFAULT_THREADS: u64 = 1;

/// The runtime the probe runs on: a single-threaded one for one thread (no work
/// stealing, no cross-thread wake-ups), a multi-thread one with `threads` workers else.
pub(crate) fn runtime(threads: u64) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::try_from(threads).unwrap_or(usize::MAX))
            .enable_all()
            .build()
    }
}

/// One worker's latencies, in microseconds, as a quantile sketch (metrics-util's
/// `Summary`, a DDSketch): memory stays bounded however many requests a run makes (a
/// vector of every latency grew by 8 bytes per request, 800 MB for 100 million), the
/// quantiles are within 0.1 % of the true values, and the maximum is exact.
pub(crate) struct Latencies {
    sketch: Summary,
}

/// Relative error of the quantiles: 0.1 %.
const ALPHA: f64 = 0.001;
/// At most this many buckets (8 bytes each): 0.1 % steps cover 1 µs to beyond an hour
/// in about 15,000.
const MAX_BUCKETS: u32 = 16_384;

impl Default for Latencies {
    fn default() -> Latencies {
        Latencies {
            sketch: Summary::new(ALPHA, MAX_BUCKETS, 0.5),
        }
    }
}

impl Latencies {
    /// Records one request's duration.
    pub(crate) fn record(&mut self, elapsed: Duration) {
        self.sketch.add(elapsed.as_micros() as f64);
    }

    /// Adds another worker's record to this one.
    pub(crate) fn merge(&mut self, other: Latencies) {
        // Both made by `Latencies::default`, with the same parameters: merging cannot fail.
        let merged = self.sketch.merge(&other.sketch);
        debug_assert!(merged.is_ok(), "latency records with different parameters");
    }

    /// Requests recorded.
    pub(crate) fn len(&self) -> usize {
        self.sketch.count()
    }

    /// The `p`th percentile (0–100), within the recorded minimum and maximum; 0 when
    /// nothing was recorded.
    pub(crate) fn percentile(&self, p: f64) -> u64 {
        match self.sketch.quantile(p / 100.0) {
            Some(value) => value.clamp(self.sketch.min(), self.sketch.max()).round() as u64,
            None => 0,
        }
    }

    /// The longest; 0 when nothing was recorded.
    pub(crate) fn max(&self) -> u64 {
        if self.sketch.is_empty() {
            0
        } else {
            self.sketch.max().round() as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_merge_and_give_percentiles_within_a_tenth_of_a_percent() {
        let (mut a, mut b) = (Latencies::default(), Latencies::default());
        for micros in 1..=1000u64 {
            let record = if micros % 2 == 0 { &mut a } else { &mut b };
            record.record(Duration::from_micros(micros * 100));
        }
        let mut all = Latencies::default();
        all.merge(a);
        all.merge(b);
        assert_eq!(all.len(), 1000);
        for (p, exact) in [(50.0, 50_000.0), (90.0, 90_000.0), (99.0, 99_000.0)] {
            let got = all.percentile(p) as f64;
            assert!((got - exact).abs() <= exact * 0.0011 + 100.0, "p{p}: {got} for {exact}");
        }
        assert_eq!(all.max(), 100_000);
        assert_eq!(all.percentile(100.0), 100_000);
    }

    #[test]
    fn an_empty_record_reads_zero() {
        let empty = Latencies::default();
        assert_eq!((empty.len(), empty.percentile(50.0), empty.max()), (0, 0, 0));
    }

    #[test]
    fn memory_stays_bounded_however_many_requests() {
        let mut record = Latencies::default();
        // Every latency from 1 µs to over an hour, each a distinct value.
        let mut micros = 1.0f64;
        while micros < 4.0e9 {
            record.record(Duration::from_micros(micros as u64));
            micros *= 1.0005;
        }
        assert!(record.len() > 40_000);
        assert!(
            record.sketch.estimated_size() <= 200 * 1024,
            "{} bytes",
            record.sketch.estimated_size()
        );
    }

    #[test]
    fn both_runtime_shapes_run_tasks() {
        for threads in [1, 2] {
            let rt = runtime(threads).unwrap();
            assert_eq!(rt.block_on(async { tokio::spawn(async { 7 }).await.unwrap() }), 7);
        }
    }
}
