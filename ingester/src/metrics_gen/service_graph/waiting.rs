//! The halves waiting for their other half: a queue in arrival order (hence
//! in deadline order) that holds the halves themselves, and an index of the
//! live ones by key that holds only their positions in the queue.
//!
//! Every client and server span looks the index up, and at a full store each
//! new half also evicts the oldest one. With the halves in the queue, the
//! index is 4 bytes per slot (64 KiB at the default 10,000 halves, next to
//! hashbrown's control bytes): a key that is not there, and the eviction of
//! the oldest half (found by its position, not its key), touch only the
//! index, and a new half is written at the queue's end, where the last ones
//! were. Only a half that pairs is read from the middle of the queue.

use std::collections::VecDeque;
use std::time::Instant;

use hashbrown::HashTable;

use super::{EdgeKey, Half};

/// A half in the queue; `None` once it paired or was taken (the slot
/// leaves when it reaches the front, or at a compaction).
struct Slot {
    deadline: Instant,
    key: EdgeKey,
    half: Option<Half>,
}

pub(super) struct Waiting {
    queue: VecDeque<Slot>,
    /// The position of `queue[0]`; positions count up (wrapping) from there,
    /// and tell slots apart while the queue holds fewer than 2³² of them
    /// (it holds at most twice `--service-graph-max-items`, which the
    /// configuration bounds far below that).
    front: u32,
    /// The position of every live half, hashed by its key (already a seeded
    /// 64-bit hash, so used as it is).
    index: HashTable<u32>,
}

impl Waiting {
    pub(super) fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            front: 0,
            index: HashTable::new(),
        }
    }

    /// Halves waiting.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// Slots in the queue, live or not.
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }

    fn slot(queue: &VecDeque<Slot>, front: u32, position: u32) -> &Slot {
        &queue[position.wrapping_sub(front) as usize]
    }

    /// The position of the half waiting under `key`.
    pub(super) fn find(&self, key: EdgeKey) -> Option<u32> {
        let (queue, front) = (&self.queue, self.front);
        self.index
            .find(key.0, |&at| Self::slot(queue, front, at).key == key)
            .copied()
    }

    /// The half at position `at`, which [`find`](Self::find) gave.
    pub(super) fn at_mut(&mut self, at: u32) -> &mut Half {
        self.half_at(at)
            .as_mut()
            .expect("a position find gave holds a half")
    }

    /// The half at position `at`, queued under `key`, removed.
    pub(super) fn take_at(&mut self, key: EdgeKey, at: u32) -> Half {
        self.unindex(key, at);
        self.half_at(at)
            .take()
            .expect("a position find gave holds a half")
    }

    /// The slot's half at position `at` (`None` once it left).
    fn half_at(&mut self, at: u32) -> &mut Option<Half> {
        &mut self.queue[at.wrapping_sub(self.front) as usize].half
    }

    /// The half waiting under `key`, removed.
    pub(super) fn take(&mut self, key: EdgeKey) -> Option<Half> {
        let at = self.find(key)?;
        Some(self.take_at(key, at))
    }

    /// Queues `half` under `key`, which must not be waiting already.
    pub(super) fn push(&mut self, key: EdgeKey, half: Half, deadline: Instant) {
        debug_assert!(self.find(key).is_none());
        let at = self.front.wrapping_add(self.queue.len() as u32);
        self.queue.push_back(Slot {
            deadline,
            key,
            half: Some(half),
        });
        let (queue, front) = (&self.queue, self.front);
        self.index
            .insert_unique(key.0, at, |&at| Self::slot(queue, front, at).key.0);
    }

    /// The deadline of the half at the front, live or not.
    pub(super) fn front_deadline(&self) -> Option<Instant> {
        self.queue.front().map(|slot| slot.deadline)
    }

    /// Removes the front slot; its half when it was still waiting.
    pub(super) fn pop_front(&mut self) -> Option<Option<Half>> {
        let slot = self.queue.pop_front()?;
        let at = self.front;
        self.front = self.front.wrapping_add(1);
        if slot.half.is_some() {
            self.unindex(slot.key, at);
        }
        Some(slot.half)
    }

    /// Drops the index entry of the half at position `at`, queued under
    /// `key`: found by its position, so the queue is not read.
    fn unindex(&mut self, key: EdgeKey, at: u32) {
        if let Ok(entry) = self.index.find_entry(key.0, |&other| other == at) {
            entry.remove();
        }
    }

    /// Drops the slots of halves no longer waiting once the queue holds
    /// more than `max_slots`, so memory follows the halves waiting, not the
    /// rate.
    pub(super) fn compact_beyond(&mut self, max_slots: usize) {
        if self.queue.len() <= max_slots {
            return;
        }
        self.queue.retain(|slot| slot.half.is_some());
        self.index.clear();
        for (i, slot) in self.queue.iter().enumerate() {
            let at = self.front.wrapping_add(i as u32);
            let (queue, front) = (&self.queue, self.front);
            self.index
                .insert_unique(slot.key.0, at, |&at| Self::slot(queue, front, at).key.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::super::{Side, NO_NODE};
    use super::*;

    /// A half told apart by its node.
    fn half(node: u32) -> Half {
        Half {
            side: Side::Client,
            node,
            peer: NO_NODE,
            seconds: 0.0,
            failed: false,
            messaging: false,
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u8),
        Take(u8),
        Replace(u8, u32),
        PopFront,
        Compact(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => any::<u8>().prop_map(|k| Op::Push(k % 16)),
            2 => any::<u8>().prop_map(|k| Op::Take(k % 16)),
            1 => (any::<u8>(), any::<u32>()).prop_map(|(k, n)| Op::Replace(k % 16, n)),
            2 => Just(Op::PopFront),
            1 => (0usize..12).prop_map(Op::Compact),
        ]
    }

    /// The model's live half under `key`.
    fn live(
        model: &mut VecDeque<(EdgeKey, Option<u32>)>,
        key: EdgeKey,
    ) -> Option<&mut Option<u32>> {
        model
            .iter_mut()
            .find(|(k, v)| *k == key && v.is_some())
            .map(|(_, v)| v)
    }

    proptest! {
        /// Against a model (the slots in order, each key's live half found
        /// by a scan), with keys so alike that every probe of the index
        /// meets the others' entries, and positions that wrap past u32::MAX.
        #[test]
        fn behaves_as_a_queue_of_halves_found_by_key(
            ops in vec(op(), 0..300),
            front in prop_oneof![Just(0u32), Just(u32::MAX - 20), any::<u32>()],
            spread in any::<bool>(),
        ) {
            let now = Instant::now();
            let mut waiting = Waiting::new();
            waiting.front = front;
            let mut model: VecDeque<(EdgeKey, Option<u32>)> = VecDeque::new();
            // Small keys share hashbrown's 7-bit tag (all zero); spread ones differ.
            let key = |k: u8| EdgeKey(if spread { u64::from(k).wrapping_mul(0x9e37_79b9_7f4a_7c15) } else { u64::from(k) });
            for (i, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Push(k) => {
                        if live(&mut model, key(k)).is_none() {
                            waiting.push(key(k), half(i as u32), now);
                            model.push_back((key(k), Some(i as u32)));
                        }
                    }
                    Op::Take(k) => {
                        let want = live(&mut model, key(k)).and_then(|v| v.take());
                        prop_assert_eq!(waiting.take(key(k)).map(|h| h.node), want);
                    }
                    Op::Replace(k, node) => {
                        let found = waiting.find(key(k));
                        let want = live(&mut model, key(k));
                        prop_assert_eq!(found.is_some(), want.is_some());
                        if let (Some(at), Some(want)) = (found, want) {
                            prop_assert_eq!(Some(waiting.at_mut(at).node), *want);
                            waiting.at_mut(at).node = node;
                            *want = Some(node);
                        }
                    }
                    Op::PopFront => {
                        let got = waiting.pop_front().map(|slot| slot.map(|h| h.node));
                        prop_assert_eq!(got, model.pop_front().map(|(_, v)| v));
                    }
                    Op::Compact(limit) => {
                        waiting.compact_beyond(limit);
                        if model.len() > limit {
                            model.retain(|(_, v)| v.is_some());
                        }
                    }
                }
                prop_assert_eq!(waiting.len(), model.iter().filter(|(_, v)| v.is_some()).count());
                prop_assert_eq!(waiting.queued(), model.len());
            }
        }
    }
}
