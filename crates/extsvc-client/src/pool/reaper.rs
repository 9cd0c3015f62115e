//! The reaper: a background task that closes idle connections past the idle timeout
//! or the connection lifetime, and forgets keys with nothing left.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::{Poolable, Shared, State};
use crate::instruments::CloseReason;

impl<T: Poolable> Shared<T> {
    /// Moves expired and closed idle connections of every key to `discarded`, and
    /// forgets keys with nothing idle, in use or open (the reaper's sweep).
    fn expire(&self, st: &mut State<T>, now: Instant, discarded: &mut Vec<T>) {
        let timeout = self.settings.idle_timeout;
        let lifetime = self.settings.max_connection_lifetime;
        let generation = self.generations.current();
        st.keys.retain(|_, entry| {
            let list = &mut entry.idle;
            let mut i = 0;
            // `remove` keeps the order (oldest first) that LIFO reuse and eviction rely
            // on; a list is short (at most `max_idle_per_host`).
            while i < list.len() {
                let idle = &list[i];
                let reason = if now.saturating_duration_since(idle.since) >= timeout {
                    Some(CloseReason::IdleTimeout)
                } else if idle.track.expired(lifetime, now) {
                    Some(CloseReason::Lifetime)
                } else if idle.track.generation != generation {
                    Some(CloseReason::Rotated)
                } else if !idle.value.is_open() {
                    Some(CloseReason::PeerClosed)
                } else {
                    None
                };
                match reason {
                    Some(reason) => {
                        let idle = list.remove(i);
                        idle.track.close_for(reason);
                        discarded.push(idle.value);
                    }
                    None => i += 1,
                }
            }
            entry.publish();
            !entry.idle.is_empty() || entry.in_use > 0 || entry.open > 0
        });
    }
}

/// Expires idle connections in the background while the pool exists, every half of
/// `expiry` (the idle timeout or the lifetime, whichever is shorter).
pub(super) fn spawn_reaper<T: Poolable>(pool: Weak<Shared<T>>, expiry: Duration) -> bool {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    let period = (expiry / 2).clamp(Duration::from_millis(50), Duration::from_secs(30));
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

/// Closes idle connections of older TLS material as soon as the service's material
/// rotates (a reload that changed the client certificate or CA), rather than at the next
/// sweep: a revoked certificate must not stay on the wire until the idle timeout. One task
/// per rotating leg, ending when the material is dropped or the pool is.
pub(super) fn spawn_rotation_watch<T: Poolable>(shared: &Arc<Shared<T>>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    for leg in &shared.generations.legs {
        let Some(mut generations) = leg.watch_generation() else {
            continue;
        };
        let pool = Arc::downgrade(shared);
        handle.spawn(async move {
            while generations.changed().await.is_ok() {
                let Some(shared) = pool.upgrade() else { break };
                let mut discarded = Vec::new();
                {
                    let mut st = shared.lock();
                    shared.expire(&mut st, Instant::now(), &mut discarded);
                }
                drop(discarded);
            }
        });
    }
}
