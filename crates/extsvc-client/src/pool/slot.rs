//! What a connection holds of the pool: its place under the [`ConnectionCap`]
//! ([`ConnectionSlot`]), its [`ConnectionTrack`], and the [`Pooled`] guard of a
//! checked-out connection. Dropping a slot or a guard reports back to the pool.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::{PoolKey, Poolable, Shared};
use crate::instruments::{CloseReason, KeyInstruments};

/// The hard cap on open connections: a count of slots in use and the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionCap {
    max: usize,
    pub(super) open: usize,
}

impl ConnectionCap {
    /// A cap of `max` (at least 1).
    pub(crate) fn new(max: usize) -> ConnectionCap {
        ConnectionCap {
            max: max.max(1),
            open: 0,
        }
    }

    pub(super) fn try_take(&mut self) -> bool {
        if self.open < self.max {
            self.open += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn give_back(&mut self) {
        self.open = self.open.saturating_sub(1);
    }
}

/// What the pool knows of one connection, shared by its [`Pooled`] guard or idle entry
/// and its [`ConnectionSlot`] (one allocation per connection).
pub(super) struct ConnectionTrack {
    pub(super) id: u64,
    pub(super) born: Instant,
    /// A [`CloseReason`] once the pool decided to close it; the first decision counts.
    pub(super) reason: AtomicU8,
    pub(super) instruments: Arc<KeyInstruments>,
    /// The generation of the service's TLS material when its slot was granted, before it
    /// connected ([`TlsGenerations`](super::TlsGenerations)).
    pub(super) generation: u64,
}

pub(super) const NO_REASON: u8 = u8::MAX;

impl ConnectionTrack {
    pub(super) fn close_for(&self, reason: CloseReason) {
        let _ = self
            .reason
            .compare_exchange(NO_REASON, reason as u8, Ordering::Relaxed, Ordering::Relaxed);
    }

    pub(super) fn expired(&self, lifetime: Option<Duration>, now: Instant) -> bool {
        lifetime.is_some_and(|lifetime| now.saturating_duration_since(self.born) >= lifetime)
    }
}

/// A slot under the [`ConnectionCap`] (and the key's per-host cap); dropping it
/// releases the slot (and gives it to the first waiter it may go to).
pub(crate) struct ConnectionSlot<T: Poolable> {
    pub(super) pool: Option<Weak<Shared<T>>>,
    pub(super) key: Option<PoolKey>,
    /// Set by [`Pool::pooled`](super::Pool::pooled) once the connection is up.
    pub(super) track: Option<Arc<ConnectionTrack>>,
    /// The TLS generation when the slot was granted: the connection made with it uses
    /// that material or newer.
    pub(super) generation: u64,
}

impl<T: Poolable> fmt::Debug for ConnectionSlot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectionSlot")
    }
}

impl<T: Poolable> ConnectionSlot<T> {
    /// Forgets the pool without releasing (the caller accounts for it under the lock).
    pub(super) fn disarm(&mut self) {
        self.pool = None;
    }
}

impl<T: Poolable> Drop for ConnectionSlot<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.pool.take().and_then(|weak| weak.upgrade()) {
            shared.release_slot(self.key.take(), self.track.take());
        }
    }
}

/// A connection checked out of the pool. Mark it [reusable](Pooled::set_reusable)
/// once its exchange is complete; dropping it then returns it to the pool (or hands
/// it to a waiter), otherwise closes it.
pub(crate) struct Pooled<T: Poolable> {
    value: Option<T>,
    key: Option<PoolKey>,
    track: Option<Arc<ConnectionTrack>>,
    pool: Weak<Shared<T>>,
    reusable: bool,
    pub(super) reused: bool,
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
    pub(super) fn new(key: PoolKey, value: T, track: Arc<ConnectionTrack>, pool: Weak<Shared<T>>) -> Self {
        Pooled {
            value: Some(value),
            key: Some(key),
            track: Some(track),
            pool,
            reusable: false,
            reused: true,
        }
    }

    pub(super) fn disarm(&mut self) -> Option<(PoolKey, T, Arc<ConnectionTrack>)> {
        match (self.key.take(), self.value.take(), self.track.take()) {
            (Some(k), Some(v), Some(t)) => Some((k, v, t)),
            _ => None,
        }
    }

    /// Whether dropping this returns the connection to the pool.
    pub(crate) fn set_reusable(&mut self, reusable: bool) {
        self.reusable = reusable;
    }

    /// True when this connection was used before (taken from the idle list or
    /// handed over), false for a new one.
    pub(crate) fn is_reused(&self) -> bool {
        self.reused
    }

    /// The key.
    #[cfg(test)]
    pub(crate) fn key(&self) -> &PoolKey {
        self.key.as_ref().expect("present until dropped")
    }

    /// The metric handles of this connection's key.
    pub(crate) fn instruments(&self) -> &KeyInstruments {
        &self.track.as_ref().expect("present until dropped").instruments
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
        let Some((key, value, track)) = self.disarm() else {
            return;
        };
        if let Some(shared) = self.pool.upgrade() {
            shared.end_use(key, value, track, self.reusable);
        }
    }
}
