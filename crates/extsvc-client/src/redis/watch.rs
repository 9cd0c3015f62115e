//! The deadline of every command on one kept connection, kept by one timer per
//! connection instead of one per command.
//!
//! A command counts itself in the bucket of the coarse tick it started in (an atomic add,
//! and a subtract when it ends, answered or not). The connection's task wakes once per
//! tick and, when a bucket whose every command is past its deadline still holds one, ends
//! the connection: every command on it then fails, reported as a timeout. Redis answers a
//! connection's commands in order, so a command past its deadline holds up every command
//! behind it; the connection is dropped for the next command either way (as a per-command
//! timer did). A command's wait is bounded by its deadline plus at most two ticks
//! (a tick is a sixteenth of the timeout, at least 1 ms), never ended before it.
//!
//! An idle connection costs no wake-ups: when a tick finds no command in flight, the task
//! parks until the next command starts (one flag read per command while it runs).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Ticks per timeout: how late past its deadline a command may end, in sixteenths.
const TICKS_PER_TIMEOUT: u32 = 16;
/// The shortest tick.
const MIN_TICK: Duration = Duration::from_millis(1);

/// The in-flight commands of one connection by start tick, and its state.
pub(super) struct Watch {
    /// When the connection was opened: tick 0 starts here.
    base: Instant,
    tick: Duration,
    tick_nanos: u64,
    /// Ticks a command may take (the timeout, rounded up to whole ticks).
    allowed: u64,
    /// In-flight commands per start tick, a ring of `2 × allowed + 2` (a bucket is only
    /// reused long after the task has checked it).
    buckets: Box<[AtomicU32]>,
    /// The connection ended (its driver returned, or the watch ended it).
    closed: AtomicBool,
    /// The watch ended it: a command past its deadline.
    expired: AtomicBool,
    /// The task found no command in flight and waits on `started` for the next one.
    parked: AtomicBool,
    started: Notify,
}

/// One command in flight on a watched connection: counted until dropped.
pub(super) struct InFlight<'w> {
    watch: &'w Watch,
    bucket: usize,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.watch.buckets[self.bucket].fetch_sub(1, Ordering::Release);
    }
}

impl Watch {
    /// A watch for commands whose deadline is `timeout` after they start.
    pub(super) fn new(timeout: Duration) -> Watch {
        let timeout = timeout.min(crate::deadline::MAX_TIMEOUT);
        let tick = (timeout / TICKS_PER_TIMEOUT).max(MIN_TICK);
        let tick_nanos = u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX);
        let allowed = u64::try_from(timeout.as_nanos().div_ceil(tick.as_nanos()))
            .unwrap_or(u64::MAX)
            .max(1);
        let ring = usize::try_from(2 * allowed + 2).expect("a few dozen buckets");
        Watch {
            base: Instant::now(),
            tick,
            tick_nanos,
            allowed,
            buckets: (0..ring).map(|_| AtomicU32::new(0)).collect(),
            closed: AtomicBool::new(false),
            expired: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            started: Notify::new(),
        }
    }

    fn tick_of(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX) / self.tick_nanos
    }

    fn bucket_of(&self, tick: u64) -> usize {
        // The ring has fewer than 2^32 buckets: the remainder fits.
        (tick % self.buckets.len() as u64) as usize
    }

    /// Counts a command that started at `started` until the guard is dropped.
    pub(super) fn start(&self, started: Instant) -> InFlight<'_> {
        let bucket = self.bucket_of(self.tick_of(started));
        // SeqCst here and in the task's re-check after parking: either the task sees this
        // command, or this sees the task parked and wakes it (Notify keeps the permit).
        self.buckets[bucket].fetch_add(1, Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) {
            self.started.notify_one();
        }
        InFlight { watch: self, bucket }
    }

    /// More than one command is in flight (read without a lock; a moment's view).
    pub(super) fn several_in_flight(&self) -> bool {
        let mut seen = 0;
        for bucket in &self.buckets {
            seen += bucket.load(Ordering::Relaxed);
            if seen > 1 {
                return true;
            }
        }
        false
    }

    fn nothing_in_flight(&self) -> bool {
        self.buckets.iter().all(|bucket| bucket.load(Ordering::SeqCst) == 0)
    }

    /// The connection was opened after `started` (for the command that started then).
    pub(super) fn opened_after(&self, started: Instant) -> bool {
        self.base > started
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The connection is not to be used for new commands (it broke, or a command on it
    /// was answered wrongly or not at all).
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// The watch ended the connection because a command on it passed its deadline.
    pub(super) fn expired(&self) -> bool {
        self.expired.load(Ordering::Acquire)
    }

    /// Returns once a command on the connection is past its deadline (after marking the
    /// connection closed and expired); the caller then drops the connection's driver.
    /// Never returns while no command is late.
    pub(super) async fn until_a_command_is_late(&self) {
        // Every tick below `checked` has been found empty or was before any command.
        let mut checked: u64 = 0;
        let mut tick = std::pin::pin!(tokio::time::sleep_until(self.base + self.tick));
        loop {
            tick.as_mut().await;
            let now = Instant::now();
            let current = self.tick_of(now);
            // A command of tick `s` started before `base + (s + 1) × tick`, so its
            // deadline is before `base + (s + 1 + allowed) × tick`: past for every
            // `s + 1 + allowed <= current`. Ticks more than a ring behind are not looked
            // at again: the bucket of tick `s` is also tick `s + ring`'s, which may have
            // begun (only ticks above `current - ring` are still their own).
            let late_below = current.saturating_sub(self.allowed);
            let ring = self.buckets.len() as u64;
            let oldest = checked.max((current + 1).saturating_sub(ring));
            for s in oldest..late_below {
                if self.buckets[self.bucket_of(s)].load(Ordering::Acquire) > 0 {
                    self.expired.store(true, Ordering::Release);
                    self.close();
                    return;
                }
            }
            checked = late_below;
            if self.nothing_in_flight() {
                self.parked.store(true, Ordering::SeqCst);
                if self.nothing_in_flight() {
                    self.started.notified().await;
                }
                self.parked.store(false, Ordering::SeqCst);
                // `checked` stays: the ticks from it to the parking one were empty, and
                // the command that woke the task counted itself in a later one.
            }
            tick.as_mut().reset(
                self.base + Duration::from_nanos(self.tick_nanos.saturating_mul(self.tick_of(Instant::now()) + 1)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_late_command_ends_the_connection_after_its_deadline_never_before() {
        let timeout = Duration::from_millis(160);
        let watch = Watch::new(timeout);
        tokio::time::sleep(Duration::from_millis(25)).await;
        let started = Instant::now();
        let _late = watch.start(started);
        watch.until_a_command_is_late().await;
        let waited = started.elapsed();
        assert!(
            waited >= timeout,
            "ended after {waited:?}, before the deadline {timeout:?}"
        );
        assert!(waited <= timeout + 2 * watch.tick, "ended {waited:?} after the start");
        assert!(watch.expired() && watch.is_closed());
    }

    #[tokio::test(start_paused = true)]
    async fn commands_answered_in_time_never_end_the_connection() {
        let watch = Watch::new(Duration::from_millis(100));
        let ended = async {
            for _ in 0..200 {
                let in_flight = watch.start(Instant::now());
                tokio::time::sleep(Duration::from_millis(90)).await;
                drop(in_flight);
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        };
        tokio::select! {
            () = ended => {}
            () = watch.until_a_command_is_late() => panic!("ended a connection whose commands were in time"),
        }
        assert!(!watch.expired() && !watch.is_closed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_watch_task_still_finds_a_late_command() {
        let timeout = Duration::from_millis(32);
        let watch = Watch::new(timeout);
        let started = Instant::now();
        let _late = watch.start(started);
        // The task first runs long after the deadline (a busy runtime).
        tokio::time::sleep(Duration::from_millis(45)).await;
        watch.until_a_command_is_late().await;
        assert!(watch.expired());
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_parks_its_watch_and_the_next_late_command_still_ends_it() {
        let timeout = Duration::from_millis(32);
        let watch = Watch::new(timeout);
        let ended = watch.until_a_command_is_late();
        tokio::pin!(ended);
        // Idle for a long time: the task parks after its first tick.
        tokio::select! {
            () = &mut ended => panic!("ended an idle connection"),
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        assert!(watch.parked.load(Ordering::SeqCst), "an idle watch keeps ticking");
        let started = Instant::now();
        let _late = watch.start(started);
        ended.await;
        let waited = started.elapsed();
        assert!(
            waited >= timeout && waited <= timeout + 2 * watch.tick,
            "ended {waited:?} after the start"
        );
        assert!(watch.expired());
    }

    #[test]
    fn an_endless_timeout_has_a_small_ring() {
        let watch = Watch::new(Duration::MAX);
        assert_eq!(watch.buckets.len(), 2 * TICKS_PER_TIMEOUT as usize + 2);
        let watch = Watch::new(Duration::from_micros(10));
        assert_eq!((watch.tick, watch.allowed, watch.buckets.len()), (MIN_TICK, 1, 4));
    }
}
