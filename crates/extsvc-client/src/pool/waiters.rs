//! The queue of checkouts waiting for a connection, and the room made for them:
//! free slots granted first to waiters that need room, idle connections of other keys
//! closed for them ([`HANDOVER_GRACE`](super::HANDOVER_GRACE)(super::HANDOVER_GRACE)).

use std::sync::Arc;

use tokio::sync::oneshot;

use super::{ConnectionSlot, Idle, PoolKey, Poolable, Pooled, Shared, State};
use crate::instruments::CloseReason;

pub(super) struct Waiter<T: Poolable> {
    pub(super) id: u64,
    pub(super) key: PoolKey,
    pub(super) tx: oneshot::Sender<Grant<T>>,
    /// Room is to be made for this waiter: its key had no connection in use, or it
    /// waited [`HANDOVER_GRACE`](super::HANDOVER_GRACE) in vain.
    pub(super) needs_room: bool,
}

pub(super) enum Grant<T: Poolable> {
    Conn(Pooled<T>),
    Slot(ConnectionSlot<T>),
}

impl<T: Poolable> State<T> {
    /// Removes the idle connection returned longest ago, of any key.
    fn take_oldest_idle(&mut self) -> Option<Idle<T>> {
        let key = self
            .keys
            .values_mut()
            .filter(|k| !k.idle.is_empty())
            .min_by_key(|k| k.idle[0].since)?;
        let idle = key.idle.remove(0);
        key.publish();
        Some(idle)
    }

    /// Closes (into `discarded`) the oldest open idle connection of any key, to make room
    /// for a waiter; idle entries found closed on the way go too (their slots are free
    /// already, so closing them makes no room). False when there is nothing to close.
    pub(super) fn make_room(&mut self, discarded: &mut Vec<T>) -> bool {
        while let Some(idle) = self.take_oldest_idle() {
            let open = idle.value.is_open();
            if open {
                idle.track.close_for(CloseReason::Evicted);
            }
            discarded.push(idle.value);
            if open {
                self.room_pending += 1;
                return true;
            }
        }
        false
    }

    /// Whether some waiter needs room that no connection already closing will give it.
    pub(super) fn room_wanted(&self) -> bool {
        self.waiters.iter().filter(|w| w.needs_room).count() > self.room_pending
    }
}

impl<T: Poolable> Shared<T> {
    /// Waiter `id` waited [`HANDOVER_GRACE`](super::HANDOVER_GRACE) for its key in vain: from now on room is
    /// made for it, starting with the oldest idle connection of another key. Not while
    /// its key is at its per-host cap: then false, and it waits another grace.
    pub(super) fn make_room_for(&self, id: u64) -> bool {
        let mut discarded = Vec::new();
        {
            let mut st = self.lock();
            let Some(i) = st.waiters.iter().position(|w| w.id == id) else {
                return true; // granted meanwhile
            };
            if !self.host_has_room(&st, &st.waiters[i].key) {
                return false;
            }
            st.waiters[i].needs_room = true;
            if st.room_wanted() {
                st.make_room(&mut discarded);
            }
        }
        drop(discarded);
        true
    }

    /// Gives free slots to waiters: first those room is made for, first come first
    /// served, then the others; never to a waiter whose key is at its per-host cap.
    pub(super) fn grant_slots(self: &Arc<Self>, st: &mut State<T>) {
        while !st.waiters.is_empty() && st.cap.try_take() {
            let mut granted = false;
            loop {
                let eligible = |w: &Waiter<T>| self.host_has_room(st, &w.key);
                let first_needing_room = st.waiters.iter().position(|w| w.needs_room && eligible(w));
                let Some(i) = first_needing_room.or_else(|| st.waiters.iter().position(eligible)) else {
                    break;
                };
                let waiter = st.waiters.remove(i).expect("index from position");
                let mut slot = self.slot_for(st, &waiter.key);
                match waiter.tx.send(Grant::Slot(slot)) {
                    Ok(()) => {
                        granted = true;
                        break;
                    }
                    Err(Grant::Slot(returned)) => {
                        slot = returned;
                        // Accounted for here, under the lock: the key's count goes back,
                        // the cap's slot is offered to the next waiter.
                        if let Some(entry) = slot.key.as_ref().and_then(|k| st.keys.get_mut(k)) {
                            entry.open = entry.open.saturating_sub(1);
                        }
                        slot.disarm();
                    }
                    Err(Grant::Conn(_)) => unreachable!("only slots are sent here"),
                }
            }
            if !granted {
                st.cap.give_back();
                break;
            }
        }
    }
}
