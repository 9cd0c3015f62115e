//! [`Pool`] and its [`ConnectionCap`]: idle connections per key, a hard cap on open
//! connections, FIFO waiters, eviction of another key's idle connection to make room.
//!
//! How a checkout goes ([`Pool::checkout`]):
//! 1. an idle, open connection for the key (most recently used first) that is younger
//!    than `max_connection_lifetime` (when set);
//! 2. else, when fewer than `max_connections` are open, and fewer than
//!    `max_connections_per_host` of this key (when set), a [`ConnectionSlot`] to
//!    connect with;
//! 3. else, when `max_pending` requests are waiting already (when set), [`PoolFull`] at
//!    once;
//! 4. else the caller waits for a connection of its key being returned (handed over
//!    directly) or for a slot being freed. Room is made by closing an idle connection to
//!    *another* key, or the next connection another key returns, but only for a waiter
//!    that needs it: one whose key has no connection in use (nothing would come back to
//!    it), or one that has waited [`HANDOVER_GRACE`] for its key's connections in vain;
//!    and only once per such waiter while the closed connection's slot is on its way.
//!    A waiter whose key is at its per-host cap never needs room (a slot would not help
//!    it): it waits for its own key's connections, handed over or closed.
//!
//! Order among waiters: a returned connection goes to the first waiter of its key,
//! unless a waiter that needs room was queued before that one and is still owed room
//! (then it is closed for it), so a new key is not starved by keys that keep handing
//! their connections over. A freed slot goes to the first waiter that needs room, else
//! to the first waiter, in both cases passing over waiters whose key is at its per-host
//! cap.
//!
//! Waiting a moment for a connection of one's own key instead of replacing another
//! key's is what keeps a pool near its cap from churning: without it, at a
//! concurrency just under the cap, every request that found the idle connections
//! belonging to other keys closed one and opened its own (docs/reliability.md).
//!
//! A connection older than `max_connection_lifetime` finishes the exchange it is in,
//! then is closed instead of being kept idle or handed over; idle ones are closed by the
//! reaper. So is a connection made with TLS material that has since rotated
//! ([`TlsGenerations`]): it finishes its exchange and is closed, and when the material
//! rotates, the idle ones are closed at once (a task watches the generation), so a
//! revoked certificate leaves the wire within one refresh interval. The per-host cap counts a key's connections the way the total cap does
//! (being set up, in use, idle and closing).
//!
//! A slot is held by whatever drives the connection (the client's connection task)
//! and released when it is dropped, i.e. when the connection is closed, so the count
//! of open connections is exact. Releasing the slot of a connection that is still on
//! the idle list (its peer closed it while it was idle, e.g. after `Connection: close`)
//! also takes it off the list, so `idle` never exceeds `open`.
//!
//! Metrics (`crate::instruments`) are recorded here with handles registered once per
//! key: open connections by state, connections opened and closed (by reason), how long
//! connections lived and how long checkouts waited.
//!
//! Layout: this file holds [`Pool`], its shared state and the checkout and return
//! paths; `key` the [`PoolKey`] (its host compared and hashed case-insensitively without
//! allocating); `slot` what a connection holds of the pool ([`ConnectionCap`],
//! [`ConnectionSlot`], [`Pooled`]); `waiters` the queue of checkouts and the room made
//! for them; `reaper` the background sweep of idle connections; `tests` the unit tests.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use extsvc_resolve::PoolSettings;
use tokio::sync::oneshot;
use tokio::time::Instant;

pub(crate) use crate::instruments::PoolLabels;
use crate::instruments::{CloseReason, KeyInstruments, ServerAddresses};

pub(crate) mod key;
mod reaper;
mod slot;
mod waiters;
pub(crate) use key::PoolKey;
use reaper::spawn_reaper;
pub(crate) use slot::{ConnectionCap, ConnectionSlot, Pooled};
use slot::{ConnectionTrack, NO_REASON};
use waiters::{Grant, Waiter};

/// A connection the pool can keep.
pub(crate) trait Poolable: Send + 'static {
    /// False once the connection is closed (it is then discarded).
    fn is_open(&self) -> bool;
}

impl<B: Send + 'static> Poolable for hyper::client::conn::http1::SendRequest<B> {
    fn is_open(&self) -> bool {
        !self.is_closed()
    }
}

/// Counts of a pool, for `stats()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PoolStats {
    /// Connections open now (busy + idle + being set up + closing).
    pub open: usize,
    /// Idle connections now.
    pub idle: usize,
    /// Requests waiting for a connection now.
    pub waiting: usize,
    /// Connections set up and handed to the pool since it was made.
    pub opened: u64,
    /// Checkouts that got a connection used before (idle or handed over).
    pub reused: u64,
    /// Connections of `opened` closed since (their slots released).
    pub closed: u64,
    /// The most connections open at once.
    pub peak_open: usize,
    /// The most requests waiting at once.
    pub peak_waiting: usize,
}

/// The pool of a service had `max_pending` requests waiting already: the request
/// was refused at once (the client's `pool_full` error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolFull {
    /// The bound that was reached.
    pub max_pending: usize,
}

impl fmt::Display for PoolFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the connection pool is full: {} requests are waiting already (max_pending)",
            self.max_pending
        )
    }
}

impl std::error::Error for PoolFull {}

/// Idle connections per key under a [`ConnectionCap`]; cheap to clone (shared).
pub(crate) struct Pool<T: Poolable> {
    shared: Arc<Shared<T>>,
}

impl<T: Poolable> Clone for Pool<T> {
    fn clone(&self) -> Self {
        Pool {
            shared: self.shared.clone(),
        }
    }
}

impl<T: Poolable> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

/// How long a waiter whose key has connections in use waits for one of them to be
/// returned before another key's connection is closed to make room for it.
///
/// A returned connection usually comes within a request's latency divided by the
/// key's connections in use, far sooner than a new connection is set up (TCP, proxy
/// CONNECT, TLS). A key whose connections are all stuck in slow exchanges makes its
/// waiters pay this once, then room is made as for a key with none.
pub(crate) const HANDOVER_GRACE: Duration = Duration::from_millis(50);

struct Shared<T: Poolable> {
    settings: PoolSettings,
    labels: PoolLabels,
    generations: TlsGenerations,
    state: Mutex<State<T>>,
}

/// The generation of a service's TLS material (both legs), which each connection is
/// tagged with when its slot is granted; a connection of an older generation is never
/// reused (SPEC section 4: rotation reaches the wire).
#[derive(Clone, Default)]
pub(crate) struct TlsGenerations {
    legs: Vec<extsvc_tls::RotatingConfig>,
}

impl TlsGenerations {
    /// The generations of `target` and `proxy` (fixed configurations never change).
    pub(crate) fn new(target: &extsvc_tls::RotatingConfig, proxy: &extsvc_tls::RotatingConfig) -> TlsGenerations {
        let legs = [target, proxy]
            .into_iter()
            .filter(|leg| leg.watch_generation().is_some())
            .cloned()
            .collect();
        TlsGenerations { legs }
    }

    /// The sum of the legs' generations: each only grows, so the sum changes whenever
    /// either does. 0 without rotating material (no lock taken then).
    fn current(&self) -> u64 {
        self.legs.iter().map(extsvc_tls::RotatingConfig::generation).sum()
    }
}

struct State<T: Poolable> {
    cap: ConnectionCap,
    /// Per key, its idle connections and how many are in use. Entries without either
    /// stay (so a busy key does not allocate per request); the reaper, started with the
    /// first key, drops them.
    /// foldhash: a seeded hasher several times cheaper than SipHash on short keys; the
    /// keys are the hosts the gateway's own requests name.
    keys: HashMap<PoolKey, KeyState<T>, foldhash::fast::RandomState>,
    waiters: VecDeque<Waiter<T>>,
    /// Connections closed to make room whose slots are not released yet (a connection's
    /// slot is released when its driver ends, a moment after it is closed): so that one
    /// waiter gets one connection closed for it, not one per connection returned meanwhile.
    room_pending: usize,
    next_waiter_id: u64,
    next_connection_id: u64,
    reaper_started: bool,
    server_addresses: ServerAddresses,
    opened: u64,
    reused: u64,
    closed: u64,
    peak_open: usize,
    peak_waiting: usize,
}

struct KeyState<T: Poolable> {
    /// Oldest first.
    idle: Vec<Idle<T>>,
    /// Connections of this key checked out ([`Pooled`] guards alive), which will come
    /// back or close.
    in_use: usize,
    /// Slots of this key: connections being set up, in use, idle or closing (what the
    /// per-host cap counts).
    open: usize,
    /// The metric handles of this key, and the (idle, active) counts last published to
    /// its gauge.
    instruments: Arc<KeyInstruments>,
    published: (usize, usize),
}

impl<T: Poolable> KeyState<T> {
    /// Brings the open-connections gauges to the counts now (by difference, so keys
    /// that share a label set add up).
    fn publish(&mut self) {
        let now = (self.idle.len(), self.in_use);
        if now != self.published {
            let (idle, active) = self.published;
            self.instruments.idle.increment(now.0 as f64 - idle as f64);
            self.instruments.active.increment(now.1 as f64 - active as f64);
            self.published = now;
        }
    }
}

struct Idle<T: Poolable> {
    value: T,
    since: Instant,
    track: Arc<ConnectionTrack>,
}

/// The outcome of [`Pool::checkout`].
pub(crate) enum Checkout<T: Poolable> {
    /// A connection to reuse.
    Reused(Pooled<T>),
    /// A slot under the cap: open a new connection, register it with [`Pool::pooled`],
    /// and keep the slot alive as long as the connection is (drop it when the
    /// connection closes).
    Connect(ConnectionSlot<T>),
}

impl<T: Poolable> fmt::Debug for Checkout<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checkout::Reused(_) => f.write_str("Checkout::Reused"),
            Checkout::Connect(_) => f.write_str("Checkout::Connect"),
        }
    }
}

impl<T: Poolable> Pool<T> {
    /// An empty pool with these settings, its metrics labelled `extsvc.service="none"`.
    #[cfg(test)]
    pub(crate) fn new(settings: PoolSettings) -> Pool<T> {
        Pool::with_labels(settings, PoolLabels::default(), TlsGenerations::default())
    }

    /// An empty pool with these settings whose metrics carry `labels`, whose connections
    /// are made with the TLS material of `generations`. When that material rotates, its
    /// idle connections are closed at once (by a task that ends with the material or the
    /// pool, whichever goes first; started here when a runtime is running).
    pub(crate) fn with_labels(settings: PoolSettings, labels: PoolLabels, generations: TlsGenerations) -> Pool<T> {
        let pool = Pool {
            shared: Arc::new(Shared {
                settings,
                labels,
                generations,
                state: Mutex::new(State {
                    cap: ConnectionCap::new(settings.max_connections),
                    keys: HashMap::default(),
                    waiters: VecDeque::new(),
                    room_pending: 0,
                    next_waiter_id: 0,
                    next_connection_id: 0,
                    reaper_started: false,
                    server_addresses: ServerAddresses::default(),
                    opened: 0,
                    reused: 0,
                    closed: 0,
                    peak_open: 0,
                    peak_waiting: 0,
                }),
            }),
        };
        reaper::spawn_rotation_watch(&pool.shared);
        pool
    }

    /// Counts now.
    pub(crate) fn stats(&self) -> PoolStats {
        let st = self.shared.lock();
        PoolStats {
            open: st.cap.open,
            idle: st.idle_count(),
            waiting: st.waiters.len(),
            opened: st.opened,
            reused: st.reused,
            closed: st.closed,
            peak_open: st.peak_open,
            peak_waiting: st.peak_waiting,
        }
    }

    /// The metric handles of `key` (registered now if the pool has not seen it).
    pub(crate) fn instruments(&self, key: &PoolKey) -> Arc<KeyInstruments> {
        let mut st = self.shared.lock();
        self.shared.key_state(&mut st, key).instruments.clone()
    }

    /// A connection for `key` or a slot to open one; waits (FIFO) when the cap is
    /// reached (see the module docs for when room is made), or fails at once with
    /// [`PoolFull`] when `max_pending` requests wait already. Cancel-safe: dropping the
    /// future gives back whatever it was granted.
    pub(crate) async fn checkout(&self, key: &PoolKey) -> Result<Checkout<T>, PoolFull> {
        let shared = &self.shared;
        let mut started: Option<Instant> = None;
        loop {
            let mut discarded: Vec<T> = Vec::new();
            let (id, mut rx, mut needs_room, instruments) = {
                let mut st = shared.lock();
                let now = Instant::now();
                if let Some((value, track)) = shared.take_idle(&mut st, key, now, &mut discarded) {
                    st.reused += 1;
                    record_wait(&track.instruments, started, now);
                    drop(st);
                    drop(discarded);
                    return Ok(Checkout::Reused(Pooled::new(
                        key.clone(),
                        value,
                        track,
                        Arc::downgrade(shared),
                    )));
                }
                if shared.host_has_room(&st, key) && st.cap.try_take() {
                    let slot = shared.slot_for(&mut st, key);
                    let instruments = shared.key_state(&mut st, key).instruments.clone();
                    record_wait(&instruments, started, now);
                    drop(st);
                    drop(discarded);
                    return Ok(Checkout::Connect(slot));
                }
                if let Some(max_pending) = shared.settings.max_pending {
                    if st.waiters.len() >= max_pending {
                        st.waiters.retain(|w| !w.tx.is_closed());
                    }
                    if st.waiters.len() >= max_pending {
                        drop(st);
                        drop(discarded);
                        return Err(PoolFull { max_pending });
                    }
                }
                // Full, and this key has nothing idle. When none of its connections is in
                // use either, nothing will come back to it: make room now (unless the key
                // is at its own cap, which room elsewhere does not lift).
                let host_full = !shared.host_has_room(&st, key);
                let entry = shared.key_state(&mut st, key);
                let needs_room = !host_full && entry.in_use == 0;
                let instruments = entry.instruments.clone();
                let id = st.next_waiter_id;
                st.next_waiter_id += 1;
                let (tx, rx) = oneshot::channel();
                st.waiters.push_back(Waiter {
                    id,
                    key: key.clone(),
                    tx,
                    needs_room,
                });
                st.peak_waiting = st.peak_waiting.max(st.waiters.len());
                if needs_room && st.room_wanted() {
                    st.make_room(&mut discarded);
                }
                started.get_or_insert(now);
                (id, rx, needs_room, instruments)
            };
            // Dropped outside the lock: closing one may release a slot, which locks.
            drop(discarded);
            let granted = loop {
                if needs_room {
                    break (&mut rx).await;
                }
                match tokio::time::timeout(HANDOVER_GRACE, &mut rx).await {
                    Ok(granted) => break granted,
                    // At its per-host cap, a waiter goes on waiting for its key; it asks
                    // again after each grace, as its key's connections close.
                    Err(_) => needs_room = shared.make_room_for(id),
                }
            };
            match granted {
                Ok(Grant::Conn(mut pooled)) => {
                    pooled.set_reusable(false);
                    record_wait(&instruments, started, Instant::now());
                    return Ok(Checkout::Reused(pooled));
                }
                Ok(Grant::Slot(slot)) => {
                    record_wait(&instruments, started, Instant::now());
                    return Ok(Checkout::Connect(slot));
                }
                // The waiter was dropped from the queue without a grant: ask again.
                Err(_) => continue,
            }
        }
    }

    /// Registers a newly opened connection of `key`, set up with `slot` (which the
    /// connection's driver then keeps until the connection closes); the returned guard
    /// gives it back to this pool.
    pub(crate) fn pooled(&self, key: PoolKey, value: T, slot: &mut ConnectionSlot<T>) -> Pooled<T> {
        let track = {
            let mut st = self.shared.lock();
            let id = st.next_connection_id;
            st.next_connection_id += 1;
            st.opened += 1;
            let entry = self.shared.key_state(&mut st, &key);
            entry.in_use += 1;
            entry.publish();
            entry.instruments.opened.increment(1);
            Arc::new(ConnectionTrack {
                id,
                born: Instant::now(),
                reason: AtomicU8::new(NO_REASON),
                instruments: entry.instruments.clone(),
                generation: slot.generation,
            })
        };
        slot.track = Some(track.clone());
        let mut pooled = Pooled::new(key, value, track, Arc::downgrade(&self.shared));
        pooled.reused = false;
        pooled
    }
}

/// Records a checkout's wait: 0 when it did not queue (no clock read for it).
fn record_wait(instruments: &KeyInstruments, started: Option<Instant>, now: Instant) {
    let waited = started.map_or(0.0, |started| now.saturating_duration_since(started).as_secs_f64());
    instruments.wait.record(waited);
}

impl<T: Poolable> State<T> {
    fn idle_count(&self) -> usize {
        self.keys.values().map(|k| k.idle.len()).sum()
    }

    /// A connection of `key` is no longer in use (returned or closed).
    fn end_use(&mut self, key: &PoolKey) {
        if let Some(k) = self.keys.get_mut(key) {
            debug_assert!(k.in_use > 0, "in-use count of {key:?} would go negative");
            k.in_use = k.in_use.saturating_sub(1);
            k.publish();
        }
    }
}

impl<T: Poolable> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The entry of `key`, made with an owned copy of the host: a key made from a
    /// request's authority shares that request's URI buffer (path and query included),
    /// which a long-lived entry would otherwise keep alive. A new entry registers the
    /// key's metric handles.
    fn key_state<'s>(self: &Arc<Self>, st: &'s mut State<T>, key: &PoolKey) -> &'s mut KeyState<T> {
        if !st.keys.contains_key(key) {
            self.start_reaper(st);
            let instruments = Arc::new(KeyInstruments::new(&self.labels, key, &mut st.server_addresses));
            st.keys.insert(
                key.to_owned_host(),
                KeyState {
                    idle: Vec::new(),
                    in_use: 0,
                    open: 0,
                    instruments,
                    published: (0, 0),
                },
            );
        }
        st.keys.get_mut(key).expect("inserted above")
    }

    /// Whether `key` is under its per-host cap (always, without one).
    fn host_has_room(&self, st: &State<T>, key: &PoolKey) -> bool {
        match self.settings.max_connections_per_host {
            None => true,
            Some(max) => st.keys.get(key).map_or(0, |k| k.open) < max.max(1),
        }
    }

    /// A slot for `key`, whose total-cap slot was taken already.
    fn slot_for(self: &Arc<Self>, st: &mut State<T>, key: &PoolKey) -> ConnectionSlot<T> {
        self.key_state(st, key).open += 1;
        st.peak_open = st.peak_open.max(st.cap.open);
        ConnectionSlot {
            pool: Some(Arc::downgrade(self)),
            key: Some(key.to_owned_host()),
            track: None,
            generation: self.generations.current(),
        }
    }

    /// The most recently returned idle connection of `key` that is open, not idle too
    /// long and not too old, now in use; the others met on the way go to `discarded`
    /// (dropped after the lock is released: dropping one may release a slot, which locks).
    fn take_idle(
        &self,
        st: &mut State<T>,
        key: &PoolKey,
        now: Instant,
        discarded: &mut Vec<T>,
    ) -> Option<(T, Arc<ConnectionTrack>)> {
        let lifetime = self.settings.max_connection_lifetime;
        let generation = self.generations.current();
        let entry = st.keys.get_mut(key)?;
        let mut found = None;
        while let Some(idle) = entry.idle.pop() {
            if now.saturating_duration_since(idle.since) >= self.settings.idle_timeout {
                // Oldest first: the rest expired too.
                idle.track.close_for(CloseReason::IdleTimeout);
                discarded.push(idle.value);
                for idle in entry.idle.drain(..) {
                    idle.track.close_for(CloseReason::IdleTimeout);
                    discarded.push(idle.value);
                }
                break;
            }
            if idle.track.expired(lifetime, now) {
                idle.track.close_for(CloseReason::Lifetime);
                discarded.push(idle.value);
                continue;
            }
            if idle.track.generation != generation {
                idle.track.close_for(CloseReason::Rotated);
                discarded.push(idle.value);
                continue;
            }
            if idle.value.is_open() {
                entry.in_use += 1;
                found = Some((idle.value, idle.track));
                break;
            }
            discarded.push(idle.value);
        }
        entry.publish();
        found
    }

    /// A slot comes back: its connection closed (or was never set up).
    fn release_slot(self: &Arc<Self>, key: Option<PoolKey>, track: Option<Arc<ConnectionTrack>>) {
        let mut discarded = None;
        {
            let mut st = self.lock();
            st.cap.give_back();
            if let Some(entry) = key.as_ref().and_then(|k| st.keys.get_mut(k)) {
                entry.open = entry.open.saturating_sub(1);
                if let Some(track) = &track {
                    // Closed while idle (its peer closed it): off the idle list too.
                    if let Some(i) = entry.idle.iter().position(|idle| idle.track.id == track.id) {
                        discarded = Some(entry.idle.remove(i).value);
                        entry.publish();
                    }
                }
            }
            if let Some(track) = &track {
                st.closed += 1;
                let reason = CloseReason::from_u8(track.reason.load(Ordering::Relaxed));
                track.instruments.closed(reason).increment(1);
                track
                    .instruments
                    .connection_duration
                    .record(track.born.elapsed().as_secs_f64());
            }
            // Whatever closed, this slot goes to a waiter that needs room first: one fewer
            // closing connection is owed.
            st.room_pending = st.room_pending.saturating_sub(1);
            self.grant_slots(&mut st);
        }
        drop(discarded);
    }

    /// A connection of `key` comes back from use: kept (`reusable`, open and not too
    /// old) or closed.
    fn end_use(self: &Arc<Self>, key: PoolKey, value: T, track: Arc<ConnectionTrack>, reusable: bool) {
        let discard = {
            let mut st = self.lock();
            st.end_use(&key);
            if !reusable {
                track.close_for(CloseReason::NotReusable);
                Some(value)
            } else if !value.is_open() {
                Some(value)
            } else if self
                .settings
                .max_connection_lifetime
                .is_some_and(|lifetime| track.born.elapsed() >= lifetime)
            {
                // (No clock read when no lifetime is set: this runs once per request.)
                track.close_for(CloseReason::Lifetime);
                Some(value)
            } else if track.generation != self.generations.current() {
                // Made with material that has rotated since: not reused, not kept.
                track.close_for(CloseReason::Rotated);
                Some(value)
            } else {
                self.put(&mut st, key, value, track)
            }
        };
        // Closed outside the lock: its slot is released when its driver ends.
        drop(discard);
    }

    /// Places a returned, open connection: hands it to the first waiter of its key, or
    /// closes it for a waiter that needs room (when one queued before any waiter of its
    /// key is still owed room), or keeps it idle (within the per-key bound). Returns what
    /// is to be closed (after the lock is released).
    fn put(self: &Arc<Self>, st: &mut State<T>, key: PoolKey, value: T, track: Arc<ConnectionTrack>) -> Option<T> {
        if !st.waiters.is_empty() {
            st.waiters.retain(|w| !w.tx.is_closed());
        }
        let mut parts = Some((key, value, track));
        loop {
            let same_key = st
                .waiters
                .iter()
                .position(|w| parts.as_ref().is_some_and(|(k, _, _)| &w.key == k));
            let owed_room = if st.room_wanted() {
                st.waiters.iter().position(|w| w.needs_room)
            } else {
                None
            };
            let i = match (same_key, owed_room) {
                // A waiter owed room came first: close this one for it.
                (same, Some(owed)) if same.is_none_or(|i| owed < i) => {
                    st.room_pending += 1;
                    let (_, value, track) = parts.take().expect("parts present");
                    track.close_for(CloseReason::Evicted);
                    return Some(value);
                }
                // Hand over to the first waiter of the same key: no churn.
                (Some(i), _) => i,
                _ => break,
            };
            let waiter = st.waiters.remove(i).expect("index from position");
            let (key, value, track) = parts.take().expect("parts present");
            let mut pooled = Pooled::new(key, value, track, Arc::downgrade(self));
            // Should the waiter give up before receiving it, the connection comes back
            // here instead of being closed.
            pooled.set_reusable(true);
            match waiter.tx.send(Grant::Conn(pooled)) {
                Ok(()) => {
                    st.reused += 1;
                    let entry = self.key_state(st, &waiter.key);
                    entry.in_use += 1;
                    entry.publish();
                    return None;
                }
                Err(Grant::Conn(mut pooled)) => {
                    parts = Some(pooled.disarm().expect("a fresh guard holds its value"));
                }
                Err(Grant::Slot(_)) => unreachable!("a connection was sent"),
            }
        }
        let (key, value, track) = parts.expect("parts present");
        let max_idle = self.settings.max_idle_per_host;
        let entry = self.key_state(st, &key);
        if entry.idle.len() >= max_idle {
            track.close_for(CloseReason::IdleLimit);
            return Some(value);
        }
        entry.idle.push(Idle {
            value,
            since: Instant::now(),
            track,
        });
        entry.publish();
        self.start_reaper(st);
        None
    }

    /// Starts the reaper, once: when the pool first keeps a connection idle or first
    /// sees a key. A key whose connections all failed has nothing idle, and without a
    /// sweep its entry (host and metric handles) would stay for ever: one per host a
    /// gateway ever failed to reach.
    fn start_reaper(self: &Arc<Self>, st: &mut State<T>) {
        if !st.reaper_started {
            let period = match self.settings.max_connection_lifetime {
                Some(lifetime) => self.settings.idle_timeout.min(lifetime),
                None => self.settings.idle_timeout,
            };
            st.reaper_started = spawn_reaper(Arc::downgrade(self), period);
        }
    }
}

#[cfg(test)]
mod tests;
