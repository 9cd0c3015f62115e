//! [`Pool`] and its [`ConnectionCap`]: idle connections per key, a hard cap on open
//! connections, FIFO waiters, eviction of another key's idle connection to make room.
//!
//! How a checkout goes ([`Pool::checkout`]):
//! 1. an idle, open connection for the key (most recently used first);
//! 2. else, when fewer than `max_connections` are open, a [`ConnectionSlot`] to
//!    connect with;
//! 3. else the caller waits for a connection of its key being returned (handed over
//!    directly) or for a slot being freed. Room is made by closing an idle connection to
//!    *another* key, or the next connection another key returns, but only for a waiter
//!    that needs it: one whose key has no connection in use (nothing would come back to
//!    it), or one that has waited [`HANDOVER_GRACE`] for its key's connections in vain;
//!    and only once per such waiter while the closed connection's slot is on its way.
//!
//! Order among waiters: a returned connection goes to the first waiter of its key,
//! unless a waiter that needs room was queued before that one and is still owed room
//! (then it is closed for it), so a new key is not starved by keys that keep handing
//! their connections over. A freed slot goes to the first waiter that needs room, else
//! to the first waiter.
//!
//! Waiting a moment for a connection of one's own key instead of replacing another
//! key's is what keeps a pool near its cap from churning: without it, at a
//! concurrency just under the cap, every request that found the idle connections
//! belonging to other keys closed one and opened its own (docs/reliability.md).
//!
//! A slot is held by whatever drives the connection (the client's connection task)
//! and released when it is dropped, i.e. when the connection is closed, so the count
//! of open connections is exact.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use extsvc_resolve::{PoolSettings, TargetScheme};
use http::uri::Authority;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Which route a pooled connection takes: part of its [`PoolKey`], so a connection
/// opened through one proxy is never reused for another route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKey {
    /// Straight to the target.
    Direct,
    /// Through the service's proxy for this scheme (`http_proxy` or `https_proxy`).
    Proxy(TargetScheme),
}

/// What a connection can be reused for: scheme, host, port and route.
///
/// The host compares case-insensitively. A key made from a request URI's
/// [`Authority`] shares its bytes (no allocation per request).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    scheme: TargetScheme,
    host: HostKey,
    port: u16,
    route: RouteKey,
}

impl PoolKey {
    /// A key for `host` (as in a URI; any case).
    pub fn new(scheme: TargetScheme, host: &str, port: u16, route: RouteKey) -> PoolKey {
        PoolKey {
            scheme,
            host: HostKey::Name(host.into()),
            port,
            route,
        }
    }

    /// The same key with its host copied out of any request buffer it borrows.
    fn to_owned_host(&self) -> PoolKey {
        PoolKey {
            scheme: self.scheme,
            host: HostKey::Name(self.host.as_str().into()),
            port: self.port,
            route: self.route,
        }
    }

    /// A key for the host of `authority` (a cheap clone of it).
    pub fn from_authority(scheme: TargetScheme, authority: &Authority, port: u16, route: RouteKey) -> PoolKey {
        PoolKey {
            scheme,
            host: HostKey::authority(authority),
            port,
            route,
        }
    }

    /// The host, as given.
    pub fn host(&self) -> &str {
        self.host.as_str()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The route.
    pub fn route(&self) -> RouteKey {
        self.route
    }
}

/// The host of a [`PoolKey`]: an owned name or a request URI's authority (its host
/// part; the port is a field of the key).
#[derive(Clone)]
enum HostKey {
    Name(Box<str>),
    /// A cheap clone of the URI's authority, and where its host lies in it: found once
    /// here, not again on every hash and comparison (`Authority::host` scans for `@`, `[`
    /// and `:` each time).
    Authority {
        authority: Authority,
        host: Range<usize>,
    },
}

impl HostKey {
    fn authority(authority: &Authority) -> HostKey {
        let text = authority.as_str();
        let start = text.rfind('@').map_or(0, |at| at + 1);
        HostKey::Authority {
            authority: authority.clone(),
            host: start..start + authority.host().len(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            HostKey::Name(name) => name,
            HostKey::Authority { authority, host } => &authority.as_str()[host.clone()],
        }
    }
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for HostKey {
    fn eq(&self, other: &HostKey) -> bool {
        let (ours, theirs) = (self.as_str(), other.as_str());
        // Requests to a host nearly always spell it the same way: one `memcmp` then,
        // instead of lower-casing both a byte at a time (measured: four comparisons per
        // request, ~200 instructions each, docs/performance.md).
        ours == theirs || ours.eq_ignore_ascii_case(theirs)
    }
}

impl Eq for HostKey {}

impl Hash for HostKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Case-insensitive, without allocating: lower-cased through a stack buffer and
        // written a chunk at a time (one `write` per byte cost the hasher a round per
        // byte, measured: docs/performance.md). Equal keys have equal lengths, so they
        // are cut into the same chunks; the terminator keeps it prefix-free.
        let mut buf = [0u8; 64];
        for chunk in self.as_str().as_bytes().chunks(buf.len()) {
            let lower = &mut buf[..chunk.len()];
            lower.copy_from_slice(chunk);
            lower.make_ascii_lowercase();
            state.write(lower);
        }
        state.write_u8(0xff);
    }
}

/// A connection the pool can keep.
pub trait Poolable: Send + 'static {
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
pub struct PoolStats {
    /// Connections open now (busy + idle + being set up).
    pub open: usize,
    /// Idle connections now.
    pub idle: usize,
    /// Requests waiting for a connection now.
    pub waiting: usize,
}

/// The hard cap on open connections: a count of slots in use and the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCap {
    max: usize,
    open: usize,
}

impl ConnectionCap {
    /// A cap of `max` (at least 1).
    pub fn new(max: usize) -> ConnectionCap {
        ConnectionCap {
            max: max.max(1),
            open: 0,
        }
    }

    /// The maximum.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Slots in use.
    pub fn open(&self) -> usize {
        self.open
    }

    fn try_take(&mut self) -> bool {
        if self.open < self.max {
            self.open += 1;
            true
        } else {
            false
        }
    }

    fn give_back(&mut self) {
        self.open = self.open.saturating_sub(1);
    }
}

/// Idle connections per key under a [`ConnectionCap`]; cheap to clone (shared).
pub struct Pool<T: Poolable> {
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
pub const HANDOVER_GRACE: Duration = Duration::from_millis(50);

struct Shared<T: Poolable> {
    settings: PoolSettings,
    state: Mutex<State<T>>,
}

struct State<T: Poolable> {
    cap: ConnectionCap,
    /// Per key, its idle connections and how many are in use. Entries without either
    /// stay (so a busy key does not allocate per request); the reaper drops them.
    /// foldhash: a seeded hasher several times cheaper than SipHash on short keys; the
    /// keys are the hosts the gateway's own requests name.
    keys: HashMap<PoolKey, KeyState<T>, foldhash::fast::RandomState>,
    waiters: VecDeque<Waiter<T>>,
    /// Connections closed to make room whose slots are not released yet (a connection's
    /// slot is released when its driver ends, a moment after it is closed): so that one
    /// waiter gets one connection closed for it, not one per connection returned meanwhile.
    room_pending: usize,
    next_waiter_id: u64,
    reaper_started: bool,
}

struct KeyState<T: Poolable> {
    /// Oldest first.
    idle: Vec<Idle<T>>,
    /// Connections of this key checked out ([`Pooled`] guards alive), which will come
    /// back or close.
    in_use: usize,
}

impl<T: Poolable> Default for KeyState<T> {
    fn default() -> Self {
        KeyState {
            idle: Vec::new(),
            in_use: 0,
        }
    }
}

struct Idle<T: Poolable> {
    value: T,
    since: Instant,
}

struct Waiter<T: Poolable> {
    id: u64,
    key: PoolKey,
    tx: oneshot::Sender<Grant<T>>,
    /// Room is to be made for this waiter: its key had no connection in use, or it
    /// waited [`HANDOVER_GRACE`] in vain.
    needs_room: bool,
}

enum Grant<T: Poolable> {
    Conn(Pooled<T>),
    Slot(ConnectionSlot<T>),
}

/// The outcome of [`Pool::checkout`].
pub enum Checkout<T: Poolable> {
    /// A connection to reuse.
    Reused(Pooled<T>),
    /// A slot under the cap: open a new connection and keep the slot alive as long
    /// as the connection is (drop it when the connection closes).
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
    /// An empty pool with these sizes.
    pub fn new(settings: PoolSettings) -> Pool<T> {
        Pool {
            shared: Arc::new(Shared {
                settings,
                state: Mutex::new(State {
                    cap: ConnectionCap::new(settings.max_connections),
                    keys: HashMap::default(),
                    waiters: VecDeque::new(),
                    room_pending: 0,
                    next_waiter_id: 0,
                    reaper_started: false,
                }),
            }),
        }
    }

    /// The sizes.
    pub fn settings(&self) -> PoolSettings {
        self.shared.settings
    }

    /// Counts now.
    pub fn stats(&self) -> PoolStats {
        let st = self.shared.lock();
        PoolStats {
            open: st.cap.open,
            idle: st.idle_count(),
            waiting: st.waiters.len(),
        }
    }

    /// A connection for `key` or a slot to open one; waits (FIFO) when the cap is
    /// reached (see the module docs for when room is made). Cancel-safe: dropping the
    /// future gives back whatever it was granted.
    pub async fn checkout(&self, key: &PoolKey) -> Checkout<T> {
        loop {
            let mut discarded: Vec<T> = Vec::new();
            let (id, mut rx, needs_room) = {
                let mut st = self.shared.lock();
                if let Some(value) = self.shared.take_idle(&mut st, key, Instant::now(), &mut discarded) {
                    drop(st);
                    drop(discarded);
                    return Checkout::Reused(Pooled::new(key.clone(), value, Arc::downgrade(&self.shared)));
                }
                if st.cap.try_take() {
                    drop(st);
                    drop(discarded);
                    return Checkout::Connect(ConnectionSlot::new(Arc::downgrade(&self.shared)));
                }
                // Full, and this key has nothing idle. When none of its connections is in
                // use either, nothing will come back to it: make room now.
                let needs_room = st.keys.get(key).is_none_or(|k| k.in_use == 0);
                let id = st.next_waiter_id;
                st.next_waiter_id += 1;
                let (tx, rx) = oneshot::channel();
                st.waiters.push_back(Waiter {
                    id,
                    key: key.clone(),
                    tx,
                    needs_room,
                });
                if needs_room && st.room_wanted() {
                    st.make_room(&mut discarded);
                }
                (id, rx, needs_room)
            };
            // Dropped outside the lock: closing one may release a slot, which locks.
            drop(discarded);
            let granted = if needs_room {
                (&mut rx).await
            } else {
                match tokio::time::timeout(HANDOVER_GRACE, &mut rx).await {
                    Ok(granted) => granted,
                    Err(_) => {
                        self.shared.make_room_for(id);
                        rx.await
                    }
                }
            };
            match granted {
                Ok(Grant::Conn(mut pooled)) => {
                    pooled.set_reusable(false);
                    return Checkout::Reused(pooled);
                }
                Ok(Grant::Slot(slot)) => return Checkout::Connect(slot),
                // The waiter was dropped from the queue without a grant: ask again.
                Err(_) => continue,
            }
        }
    }
}

impl<T: Poolable> State<T> {
    fn idle_count(&self) -> usize {
        self.keys.values().map(|k| k.idle.len()).sum()
    }

    /// Removes the idle connection returned longest ago, of any key.
    fn take_oldest_idle(&mut self) -> Option<T> {
        let key = self
            .keys
            .values_mut()
            .filter(|k| !k.idle.is_empty())
            .min_by_key(|k| k.idle[0].since)?;
        Some(key.idle.remove(0).value)
    }

    /// Closes (into `discarded`) the oldest open idle connection of any key, to make room
    /// for a waiter; idle entries found closed on the way go too (their slots are free
    /// already, so closing them makes no room). False when there is nothing to close.
    fn make_room(&mut self, discarded: &mut Vec<T>) -> bool {
        while let Some(value) = self.take_oldest_idle() {
            let open = value.is_open();
            discarded.push(value);
            if open {
                self.room_pending += 1;
                return true;
            }
        }
        false
    }

    /// Whether some waiter needs room that no connection already closing will give it.
    fn room_wanted(&self) -> bool {
        self.waiters.iter().filter(|w| w.needs_room).count() > self.room_pending
    }

    /// The entry of `key`, made with an owned copy of the host: a key made from a
    /// request's authority shares that request's URI buffer (path and query included),
    /// which a long-lived entry would otherwise keep alive.
    fn key_state(&mut self, key: &PoolKey) -> &mut KeyState<T> {
        if !self.keys.contains_key(key) {
            self.keys.insert(key.to_owned_host(), KeyState::default());
        }
        self.keys.get_mut(key).expect("inserted above")
    }

    /// A connection of `key` is no longer in use (returned or closed).
    fn end_use(&mut self, key: &PoolKey) {
        if let Some(k) = self.keys.get_mut(key) {
            debug_assert!(k.in_use > 0, "in-use count of {key:?} would go negative");
            k.in_use = k.in_use.saturating_sub(1);
        }
    }
}

impl<T: Poolable> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The most recently returned idle connection of `key` that is open and not
    /// expired, now in use; the closed and expired ones met on the way go to
    /// `discarded` (dropped after the lock is released: dropping one may release a slot,
    /// which locks).
    fn take_idle(&self, st: &mut State<T>, key: &PoolKey, now: Instant, discarded: &mut Vec<T>) -> Option<T> {
        let entry = st.keys.get_mut(key)?;
        while let Some(idle) = entry.idle.pop() {
            if now.saturating_duration_since(idle.since) >= self.settings.idle_timeout {
                // Oldest first: the rest expired too.
                discarded.push(idle.value);
                discarded.extend(entry.idle.drain(..).map(|idle| idle.value));
                return None;
            }
            if idle.value.is_open() {
                entry.in_use += 1;
                return Some(idle.value);
            }
            discarded.push(idle.value);
        }
        None
    }

    /// Moves expired and closed idle connections of every key to `discarded`, and
    /// forgets keys with nothing idle and nothing in use (the reaper's sweep).
    fn expire(&self, st: &mut State<T>, now: Instant, discarded: &mut Vec<T>) {
        let timeout = self.settings.idle_timeout;
        st.keys.retain(|_, entry| {
            let list = &mut entry.idle;
            let mut i = 0;
            // `remove` keeps the order (oldest first) that LIFO reuse and eviction rely
            // on; a list is short (at most `max_idle_per_host`).
            while i < list.len() {
                if !list[i].value.is_open() || now.saturating_duration_since(list[i].since) >= timeout {
                    discarded.push(list.remove(i).value);
                } else {
                    i += 1;
                }
            }
            !list.is_empty() || entry.in_use > 0
        });
    }

    /// Waiter `id` waited [`HANDOVER_GRACE`] for its key in vain: from now on room is
    /// made for it, starting with the oldest idle connection of another key.
    fn make_room_for(&self, id: u64) {
        let mut discarded = Vec::new();
        {
            let mut st = self.lock();
            let Some(waiter) = st.waiters.iter_mut().find(|w| w.id == id) else {
                return; // granted meanwhile
            };
            waiter.needs_room = true;
            if st.room_wanted() {
                st.make_room(&mut discarded);
            }
        }
        drop(discarded);
    }

    /// Gives free slots to waiters: first those room is made for, first come first
    /// served, then the others.
    fn grant_slots(self: &Arc<Self>, st: &mut State<T>) {
        while !st.waiters.is_empty() && st.cap.try_take() {
            let mut granted = false;
            while let Some(i) = st.waiters.iter().position(|w| w.needs_room).or(Some(0)) {
                let Some(waiter) = st.waiters.remove(i) else { break };
                match waiter.tx.send(Grant::Slot(ConnectionSlot::new(Arc::downgrade(self)))) {
                    Ok(()) => {
                        granted = true;
                        break;
                    }
                    Err(Grant::Slot(mut slot)) => slot.disarm(),
                    Err(Grant::Conn(_)) => unreachable!("only slots are sent here"),
                }
            }
            if !granted {
                st.cap.give_back();
                break;
            }
        }
    }

    fn release_slot(self: &Arc<Self>) {
        let mut st = self.lock();
        st.cap.give_back();
        // Whatever closed, this slot goes to a waiter that needs room first: one fewer
        // closing connection is owed.
        st.room_pending = st.room_pending.saturating_sub(1);
        self.grant_slots(&mut st);
    }

    /// A new connection of `key` is in use.
    fn begin_use(&self, key: &PoolKey) {
        self.lock().key_state(key).in_use += 1;
    }

    /// A connection of `key` comes back from use: kept (`reusable`) or closed.
    fn end_use(self: &Arc<Self>, key: PoolKey, value: T, reusable: bool) {
        let discard = {
            let mut st = self.lock();
            st.end_use(&key);
            if reusable && value.is_open() {
                self.put(&mut st, key, value)
            } else {
                Some(value)
            }
        };
        // Closed outside the lock: its slot is released when its driver ends.
        drop(discard);
    }

    /// Places a returned, open connection: hands it to the first waiter of its key, or
    /// closes it for a waiter that needs room (when one queued before any waiter of its
    /// key is still owed room), or keeps it idle (within the per-key bound). Returns what
    /// is to be closed (after the lock is released).
    fn put(self: &Arc<Self>, st: &mut State<T>, key: PoolKey, value: T) -> Option<T> {
        if !st.waiters.is_empty() {
            st.waiters.retain(|w| !w.tx.is_closed());
        }
        let mut value = Some(value);
        let mut key = Some(key);
        loop {
            let same_key = st.waiters.iter().position(|w| Some(&w.key) == key.as_ref());
            let owed_room = if st.room_wanted() {
                st.waiters.iter().position(|w| w.needs_room)
            } else {
                None
            };
            let i = match (same_key, owed_room) {
                // A waiter owed room came first: close this one for it.
                (same, Some(owed)) if same.is_none_or(|i| owed < i) => {
                    st.room_pending += 1;
                    return value;
                }
                // Hand over to the first waiter of the same key: no churn.
                (Some(i), _) => i,
                _ => break,
            };
            let waiter = st.waiters.remove(i).expect("index from position");
            let mut pooled = Pooled::new(
                key.take().expect("key present"),
                value.take().expect("value present"),
                Arc::downgrade(self),
            );
            // Should the waiter give up before receiving it, the connection comes back
            // here instead of being closed.
            pooled.set_reusable(true);
            match waiter.tx.send(Grant::Conn(pooled)) {
                Ok(()) => {
                    st.key_state(&waiter.key).in_use += 1;
                    return None;
                }
                Err(Grant::Conn(mut pooled)) => {
                    let (k, v) = pooled.disarm().expect("a fresh guard holds its value");
                    key = Some(k);
                    value = Some(v);
                }
                Err(Grant::Slot(_)) => unreachable!("a connection was sent"),
            }
        }
        let (key, value) = (key.expect("key present"), value.expect("value present"));
        let max_idle = self.settings.max_idle_per_host;
        let list = &mut st.key_state(&key).idle;
        if list.len() >= max_idle {
            return Some(value);
        }
        list.push(Idle {
            value,
            since: Instant::now(),
        });
        if !st.reaper_started {
            st.reaper_started = spawn_reaper(Arc::downgrade(self), self.settings.idle_timeout);
        }
        None
    }
}

/// Expires idle connections in the background while the pool exists.
fn spawn_reaper<T: Poolable>(pool: Weak<Shared<T>>, idle_timeout: Duration) -> bool {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    let period = (idle_timeout / 2).clamp(Duration::from_millis(50), Duration::from_secs(30));
    handle.spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(shared) = pool.upgrade() else { break };
            let mut discarded = Vec::new();
            {
                let mut st = shared.lock();
                shared.expire(&mut st, Instant::now(), &mut discarded);
            }
            drop(discarded);
        }
    });
    true
}

/// A slot under the [`ConnectionCap`]; dropping it releases the slot (and gives it to
/// the first waiter).
pub struct ConnectionSlot<T: Poolable> {
    pool: Option<Weak<Shared<T>>>,
}

impl<T: Poolable> fmt::Debug for ConnectionSlot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectionSlot")
    }
}

impl<T: Poolable> ConnectionSlot<T> {
    fn new(pool: Weak<Shared<T>>) -> Self {
        ConnectionSlot { pool: Some(pool) }
    }

    /// Forgets the pool without releasing (the caller accounts for it under the lock).
    fn disarm(&mut self) {
        self.pool = None;
    }
}

impl<T: Poolable> Drop for ConnectionSlot<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.pool.take().and_then(|weak| weak.upgrade()) {
            shared.release_slot();
        }
    }
}

/// A connection checked out of the pool. Mark it [reusable](Pooled::set_reusable)
/// once its exchange is complete; dropping it then returns it to the pool (or hands
/// it to a waiter), otherwise closes it.
pub struct Pooled<T: Poolable> {
    value: Option<T>,
    key: Option<PoolKey>,
    pool: Weak<Shared<T>>,
    reusable: bool,
    reused: bool,
}

impl<T: Poolable> fmt::Debug for Pooled<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("key", &self.key)
            .field("reusable", &self.reusable)
            .finish_non_exhaustive()
    }
}

impl<T: Poolable> Pooled<T> {
    fn new(key: PoolKey, value: T, pool: Weak<Shared<T>>) -> Self {
        Pooled {
            value: Some(value),
            key: Some(key),
            pool,
            reusable: false,
            reused: true,
        }
    }

    fn disarm(&mut self) -> Option<(PoolKey, T)> {
        match (self.key.take(), self.value.take()) {
            (Some(k), Some(v)) => Some((k, v)),
            _ => None,
        }
    }

    /// Whether dropping this returns the connection to the pool.
    pub fn set_reusable(&mut self, reusable: bool) {
        self.reusable = reusable;
    }

    /// True when this connection was used before (taken from the idle list or
    /// handed over), false for a new one.
    pub fn is_reused(&self) -> bool {
        self.reused
    }

    /// The key.
    pub fn key(&self) -> &PoolKey {
        self.key.as_ref().expect("present until dropped")
    }
}

impl<T: Poolable> Pool<T> {
    /// Wraps a newly opened connection so that it can be returned to this pool.
    pub fn pooled(&self, key: PoolKey, value: T) -> Pooled<T> {
        self.shared.begin_use(&key);
        let mut pooled = Pooled::new(key, value, Arc::downgrade(&self.shared));
        pooled.reused = false;
        pooled
    }
}

impl<T: Poolable> std::ops::Deref for Pooled<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value.as_ref().expect("present until dropped")
    }
}

impl<T: Poolable> std::ops::DerefMut for Pooled<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().expect("present until dropped")
    }
}

impl<T: Poolable> Drop for Pooled<T> {
    fn drop(&mut self) {
        let (Some(key), Some(value)) = (self.key.take(), self.value.take()) else {
            return;
        };
        if let Some(shared) = self.pool.upgrade() {
            shared.end_use(key, value, self.reusable);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fake connection whose "driver" holds its slot, as the client's connection task
    /// does: the slot is released when the last of the connection and its [`Driver`] goes.
    struct FakeConn {
        id: usize,
        driver: Driver,
    }

    /// The other side of a [`FakeConn`]: keeps its slot after the pool dropped the
    /// connection (a task still winding down), or ends it as a server closing it would.
    #[derive(Clone)]
    struct Driver {
        open: Arc<std::sync::atomic::AtomicBool>,
        slot: Arc<Mutex<Option<ConnectionSlot<FakeConn>>>>,
    }

    impl Driver {
        /// The connection is closed and its slot released.
        fn end(&self) {
            self.open.store(false, Ordering::Relaxed);
            let slot = self.slot.lock().unwrap().take();
            drop(slot);
        }
    }

    impl Poolable for FakeConn {
        fn is_open(&self) -> bool {
            self.driver.open.load(Ordering::Relaxed)
        }
    }

    static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

    fn settings(max_connections: usize, max_idle_per_host: usize, idle_timeout: Duration) -> PoolSettings {
        PoolSettings {
            max_connections,
            max_idle_per_host,
            idle_timeout,
        }
    }

    fn key(host: &str) -> PoolKey {
        PoolKey::new(TargetScheme::Http, host, 80, RouteKey::Direct)
    }

    /// Checks out and, when granted a slot, "connects".
    async fn get(pool: &Pool<FakeConn>, key: &PoolKey) -> (Pooled<FakeConn>, bool) {
        match pool.checkout(key).await {
            Checkout::Reused(p) => (p, true),
            Checkout::Connect(slot) => {
                let conn = FakeConn {
                    id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                    driver: Driver {
                        open: Arc::new(std::sync::atomic::AtomicBool::new(true)),
                        slot: Arc::new(Mutex::new(Some(slot))),
                    },
                };
                (pool.pooled(key.clone(), conn), false)
            }
        }
    }

    fn done(mut conn: Pooled<FakeConn>) {
        conn.set_reusable(true);
    }

    async fn pending<F: std::future::Future>(fut: &mut Pin<Box<F>>) -> bool {
        tokio::time::timeout(Duration::from_millis(30), fut.as_mut())
            .await
            .is_err()
    }

    use std::pin::Pin;

    #[tokio::test]
    async fn the_cap_holds_and_a_closed_connection_frees_its_slot() {
        let pool = Pool::new(settings(2, 5, Duration::from_secs(60)));
        let (a, _) = get(&pool, &key("a")).await;
        let (_b, _) = get(&pool, &key("a")).await;
        assert_eq!(pool.stats().open, 2);
        let third_key = key("a");
        let mut third = Box::pin(get(&pool, &third_key));
        assert!(pending(&mut third).await, "a third connection must wait");
        assert_eq!(pool.stats().waiting, 1);
        drop(a); // not reusable: closed, its slot goes to the waiter
        let (_c, reused) = third.await;
        assert!(!reused);
        assert_eq!(pool.stats().open, 2);
    }

    #[tokio::test]
    async fn a_returned_connection_is_handed_to_a_waiter_of_its_key() {
        let pool = Pool::new(settings(1, 5, Duration::from_secs(60)));
        let (a, _) = get(&pool, &key("a")).await;
        let first_id = a.id;
        let k = key("a");
        let mut waiter = Box::pin(get(&pool, &k));
        assert!(pending(&mut waiter).await);
        done(a);
        let (again, reused) = waiter.await;
        assert!(reused);
        assert_eq!(again.id, first_id, "the same connection, no churn");
        assert_eq!(pool.stats().open, 1);
    }

    #[tokio::test]
    async fn a_waiter_for_another_host_evicts_an_idle_connection() {
        let pool = Pool::new(settings(1, 5, Duration::from_secs(60)));
        let (a, _) = get(&pool, &key("a")).await;
        done(a);
        assert_eq!(
            pool.stats(),
            PoolStats {
                open: 1,
                idle: 1,
                waiting: 0
            }
        );
        let (b, reused) = tokio::time::timeout(Duration::from_secs(1), get(&pool, &key("b")))
            .await
            .unwrap();
        assert!(!reused);
        assert_eq!(b.key().host(), "b");
        assert_eq!(
            pool.stats(),
            PoolStats {
                open: 1,
                idle: 0,
                waiting: 0
            }
        );
    }

    #[tokio::test]
    async fn a_connection_returned_while_another_host_waits_is_closed_for_it() {
        let pool = Pool::new(settings(1, 5, Duration::from_secs(60)));
        let (a, _) = get(&pool, &key("a")).await;
        let kb = key("b");
        let mut waiter = Box::pin(get(&pool, &kb));
        assert!(pending(&mut waiter).await);
        done(a);
        let (b, reused) = tokio::time::timeout(Duration::from_secs(1), waiter).await.unwrap();
        assert!(!reused);
        assert_eq!(b.key().host(), "b");
        assert_eq!(pool.stats().idle, 0);
    }

    // Near the cap: room is made only for a waiter that needs it (module docs). Paused
    // time: `pending` looks 30 ms ahead, short of HANDOVER_GRACE.

    #[tokio::test(start_paused = true)]
    async fn a_waiter_whose_key_is_in_use_takes_a_handover_and_leaves_other_keys_idle() {
        let pool = Pool::new(settings(2, 5, Duration::from_secs(60)));
        let (a, _) = get(&pool, &key("a")).await;
        let a_id = a.id;
        done(get(&pool, &key("b")).await.0);
        let ka = key("a");
        let mut waiter = Box::pin(get(&pool, &ka));
        assert!(pending(&mut waiter).await, "waits for a's connection in use");
        assert_eq!(pool.stats().idle, 1, "b's idle connection is not closed for it");
        done(a);
        let (again, reused) = waiter.await;
        assert!(reused);
        assert_eq!(again.id, a_id, "the same connection: nothing opened, nothing closed");
        assert_eq!(
            pool.stats(),
            PoolStats {
                open: 2,
                idle: 1,
                waiting: 0
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_grace_a_waiter_closes_another_keys_idle_connection() {
        let pool = Pool::new(settings(2, 5, Duration::from_secs(60)));
        let (_a, _) = get(&pool, &key("a")).await; // stays in use
        done(get(&pool, &key("b")).await.0);
        let started = Instant::now();
        let (second, reused) = get(&pool, &key("a")).await;
        assert!(!reused, "a new connection, in b's place");
        assert!(started.elapsed() >= HANDOVER_GRACE, "{:?}", started.elapsed());
        assert_eq!(second.key().host(), "a");
        assert_eq!(
            pool.stats(),
            PoolStats {
                open: 2,
                idle: 0,
                waiting: 0
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_grace_the_next_connection_returned_is_closed_for_the_waiter() {
        let pool = Pool::new(settings(2, 5, Duration::from_secs(60)));
        let (_a, _) = get(&pool, &key("a")).await; // stays in use
        let (b, _) = get(&pool, &key("b")).await;
        let ka = key("a");
        let mut waiter = Box::pin(get(&pool, &ka));
        assert!(pending(&mut waiter).await);
        tokio::time::sleep(HANDOVER_GRACE).await;
        assert!(pending(&mut waiter).await, "nothing idle to close yet");
        done(b);
        let (conn, reused) = tokio::time::timeout(Duration::from_secs(1), waiter).await.unwrap();
        assert!(!reused);
        assert_eq!(conn.key().host(), "a");
        assert_eq!(pool.stats().idle, 0, "b was closed, not kept idle");
    }

    #[tokio::test(start_paused = true)]
    async fn a_freed_slot_goes_first_to_a_waiter_that_needs_room() {
        let pool = Pool::new(settings(2, 5, Duration::from_secs(60)));
        let (_a, _) = get(&pool, &key("a")).await; // stays in use
        let (b, _) = get(&pool, &key("b")).await;
        let ka = key("a");
        let mut for_a = Box::pin(get(&pool, &ka)); // first, but a's connection may come back
        assert!(pending(&mut for_a).await);
        let kc = key("c");
        let mut for_c = Box::pin(get(&pool, &kc)); // second, and nothing of c's will
        assert!(pending(&mut for_c).await);
        drop(b); // closed: its slot is freed
        let (c, reused) = tokio::time::timeout(Duration::from_millis(10), for_c).await.unwrap();
        assert!(!reused);
        assert_eq!(c.key().host(), "c");
        assert!(pending(&mut for_a).await, "a still waits for its own connection");
    }

    #[tokio::test(start_paused = true)]
    async fn making_room_passes_over_idle_connections_already_closed() {
        let pool = Pool::new(settings(3, 5, Duration::from_secs(60)));
        let (_a1, _) = get(&pool, &key("a")).await; // stays in use
        let (b1, _) = get(&pool, &key("b")).await;
        let (b2, _) = get(&pool, &key("b")).await;
        let b1_driver = b1.driver.clone();
        done(b1); // the oldest idle connection...
        done(b2);
        b1_driver.end(); // ...closed by its server: its slot is free already
        let (_a2, _) = get(&pool, &key("a")).await; // takes that slot
        let (a3, reused) = tokio::time::timeout(Duration::from_secs(1), get(&pool, &key("a")))
            .await
            .expect("room is made by closing b2, not the dead b1");
        assert!(!reused);
        assert_eq!(a3.key().host(), "a");
        assert_eq!(pool.stats().idle, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn one_waiter_gets_one_connection_closed_while_its_slot_is_on_the_way() {
        let pool = Pool::new(settings(3, 5, Duration::from_secs(60)));
        let mut a = Vec::new();
        for _ in 0..3 {
            a.push(get(&pool, &key("a")).await.0);
        }
        let drivers: Vec<Driver> = a.iter().map(|c| c.driver.clone()).collect();
        let kc = key("c");
        let mut for_c = Box::pin(get(&pool, &kc)); // nothing of c's in use: needs room
        assert!(pending(&mut for_c).await);
        done(a.remove(0)); // closed for c; its driver still winds down
        done(a.remove(0)); // not closed as well: c is owed nothing more
        assert_eq!(pool.stats().idle, 1, "the second one is kept");
        assert!(pending(&mut for_c).await);
        drivers[0].end(); // the first one's slot is released
        let (c, reused) = tokio::time::timeout(Duration::from_millis(10), for_c).await.unwrap();
        assert!(!reused);
        assert_eq!(c.key().host(), "c");
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_that_keeps_handing_over_does_not_starve_an_earlier_new_key() {
        let pool = Pool::new(settings(2, 5, Duration::from_secs(60)));
        let (a1, _) = get(&pool, &key("a")).await;
        let (_b1, _) = get(&pool, &key("b")).await;
        let kc = key("c");
        let mut for_c = Box::pin(get(&pool, &kc)); // first, and needs room
        assert!(pending(&mut for_c).await);
        let ka = key("a");
        let mut for_a = Box::pin(get(&pool, &ka)); // second, a's connection will come back
        assert!(pending(&mut for_a).await);
        done(a1); // closed for c, not handed to the later waiter of a
        let (c, _) = tokio::time::timeout(Duration::from_millis(10), for_c).await.unwrap();
        assert_eq!(c.key().host(), "c");
        assert!(pending(&mut for_a).await);
    }

    #[tokio::test]
    async fn idle_connections_per_key_are_bounded() {
        let pool = Pool::new(settings(10, 2, Duration::from_secs(60)));
        let mut conns = Vec::new();
        for _ in 0..4 {
            conns.push(get(&pool, &key("a")).await.0);
        }
        conns.into_iter().for_each(done);
        assert_eq!(
            pool.stats(),
            PoolStats {
                open: 2,
                idle: 2,
                waiting: 0
            }
        );
        // Reused most recent first.
        assert!(get(&pool, &key("a")).await.1);
    }

    #[test]
    fn keys_compare_hosts_case_insensitively_however_made() {
        use std::collections::HashSet;
        let from_uri = PoolKey::from_authority(
            TargetScheme::Http,
            &Authority::from_static("Example.COM:80"),
            80,
            RouteKey::Direct,
        );
        let keys: HashSet<PoolKey> = [key("example.com"), key("EXAMPLE.com"), from_uri].into_iter().collect();
        assert_eq!(keys.len(), 1);
        assert_ne!(key("example.com"), key("example.org"));
        assert_ne!(
            key("example.com"),
            PoolKey::new(TargetScheme::Http, "example.com", 8080, RouteKey::Direct)
        );
    }

    #[test]
    fn long_hosts_hash_alike_in_any_case_across_chunks() {
        use std::hash::BuildHasher;
        // Longer than the 64-byte buffer the hash lower-cases through: two chunks.
        let long = format!("{}.example.com", "a-label-of-some-length".repeat(5));
        let upper = long.to_ascii_uppercase();
        let std_state = std::hash::RandomState::new();
        assert_eq!(std_state.hash_one(key(&long)), std_state.hash_one(key(&upper)));
        let build = foldhash::fast::RandomState::default();
        assert_eq!(build.hash_one(key(&long)), build.hash_one(key(&upper)));
        assert_ne!(build.hash_one(key(&long)), build.hash_one(key(&format!("{long}x"))));
        assert_eq!(key(&long), key(&upper));
    }

    #[test]
    fn a_key_from_an_authority_holds_exactly_its_host() {
        for (authority, host) in [
            ("example.com", "example.com"),
            ("Example.com:8443", "Example.com"),
            ("[::1]:8080", "[::1]"),
            ("[::1]", "[::1]"),
            ("user:pw@example.com:80", "example.com"),
            ("127.0.0.1:3128", "127.0.0.1"),
        ] {
            let key = PoolKey::from_authority(
                TargetScheme::Http,
                &Authority::from_static(authority),
                80,
                RouteKey::Direct,
            );
            assert_eq!(key.host(), host, "{authority}");
        }
    }

    #[tokio::test]
    async fn routes_do_not_share_connections() {
        let pool = Pool::new(settings(10, 2, Duration::from_secs(60)));
        let direct = key("a");
        let proxied = PoolKey::new(TargetScheme::Http, "a", 80, RouteKey::Proxy(TargetScheme::Http));
        done(get(&pool, &direct).await.0);
        assert!(
            !get(&pool, &proxied).await.1,
            "a direct connection is not reused through a proxy"
        );
        assert!(get(&pool, &direct).await.1);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connections_expire() {
        let pool = Pool::new(settings(10, 2, Duration::from_secs(30)));
        done(get(&pool, &key("a")).await.0);
        assert_eq!(pool.stats().idle, 1);
        tokio::time::sleep(Duration::from_secs(31)).await;
        // The reaper ran (paused time auto-advances through its ticks).
        assert_eq!(
            pool.stats(),
            PoolStats {
                open: 0,
                idle: 0,
                waiting: 0
            }
        );
        assert!(!get(&pool, &key("a")).await.1);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_does_not_keep_a_slot() {
        let pool = Pool::new(settings(1, 5, Duration::from_secs(60)));
        let (a, _) = get(&pool, &key("a")).await;
        let ka = key("a");
        let mut cancelled = Box::pin(get(&pool, &ka));
        assert!(pending(&mut cancelled).await);
        let kb = key("b");
        let mut second = Box::pin(get(&pool, &kb));
        assert!(pending(&mut second).await);
        drop(cancelled);
        drop(a);
        let (b, _) = tokio::time::timeout(Duration::from_secs(1), second).await.unwrap();
        assert_eq!(b.key().host(), "b");
        drop(b);
        assert_eq!(pool.stats().open, 0);
    }

    #[tokio::test]
    async fn a_connection_handed_to_a_waiter_that_gave_up_returns_to_the_pool() {
        let pool = Pool::new(settings(1, 5, Duration::from_secs(60)));
        let (a, _) = get(&pool, &key("a")).await;
        let ka = key("a");
        let mut waiter = Box::pin(get(&pool, &ka));
        assert!(pending(&mut waiter).await);
        done(a); // handed over into the waiter's channel...
        drop(waiter); // ...which is dropped before it looks
        assert_eq!(
            pool.stats(),
            PoolStats {
                open: 1,
                idle: 1,
                waiting: 0
            }
        );
        assert!(get(&pool, &key("a")).await.1);
    }
}
