//! How `extsvc probe` carries its load: the runtime's threads, and each worker's own
//! latency record (preallocated, no lock and no allocation per request; merged once at
//! the end).

use std::time::Duration;

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

/// Requests one of `workers` workers is expected to make out of `count` (rounded up):
/// the capacity its record starts with.
pub(crate) fn share(count: u64, workers: u64) -> usize {
    usize::try_from(count.div_ceil(workers.max(1))).unwrap_or(usize::MAX)
}

/// One worker's latencies, in microseconds.
#[derive(Debug, Default)]
pub(crate) struct Latencies {
    micros: Vec<u64>,
}

impl Latencies {
    /// A record with room for `expected` requests, allocated now rather than while
    /// requests run.
    pub(crate) fn with_capacity(expected: usize) -> Latencies {
        Latencies {
            micros: Vec::with_capacity(expected),
        }
    }

    /// Records one request's duration.
    pub(crate) fn record(&mut self, elapsed: Duration) {
        self.micros.push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }

    /// Adds another worker's record to this one.
    pub(crate) fn merge(&mut self, other: Latencies) {
        if self.micros.is_empty() {
            self.micros = other.micros;
        } else {
            self.micros.extend_from_slice(&other.micros);
        }
    }

    /// Requests recorded.
    pub(crate) fn len(&self) -> usize {
        self.micros.len()
    }

    /// Every latency, sorted ascending.
    pub(crate) fn into_sorted(mut self) -> Vec<u64> {
        self.micros.sort_unstable();
        self.micros
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_merge_and_sort() {
        let mut a = Latencies::with_capacity(share(5, 2));
        assert!(a.micros.capacity() >= 3);
        a.record(Duration::from_micros(30));
        a.record(Duration::from_micros(10));
        let mut b = Latencies::with_capacity(3);
        b.record(Duration::from_micros(20));
        let mut all = Latencies::default();
        all.merge(a);
        all.merge(b);
        assert_eq!(all.len(), 3);
        assert_eq!(all.into_sorted(), vec![10, 20, 30]);
    }

    #[test]
    fn a_worker_that_records_within_its_share_does_not_reallocate() {
        let mut record = Latencies::with_capacity(share(100, 16));
        let start = record.micros.as_ptr();
        for _ in 0..7 {
            record.record(Duration::from_micros(1));
        }
        assert_eq!(record.micros.as_ptr(), start);
    }

    #[test]
    fn both_runtime_shapes_run_tasks() {
        for threads in [1, 2] {
            let rt = runtime(threads).unwrap();
            assert_eq!(rt.block_on(async { tokio::spawn(async { 7 }).await.unwrap() }), 7);
        }
    }
}
