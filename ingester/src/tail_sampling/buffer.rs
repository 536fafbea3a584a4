//! The undecided traces, each as the raw Kafka messages that brought it
//! (their bytes and their offset references) and its [`TraceSummary`], in
//! order of first arrival; and the bounded memory of decisions already made,
//! which spans arriving later follow.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::policies::Decision;
use super::summary::TraceSummary;
use crate::es::bulk::MessageRef;

pub type TraceId = [u8; 16];

/// Bookkeeping counted per held message on top of its bytes, so that many
/// tiny messages cannot outgrow the byte budget unseen.
const HELD_OVERHEAD: usize = std::mem::size_of::<Held>() + 16;
/// The same per trace (its table entry, summary and order entry).
const TRACE_OVERHEAD: usize = std::mem::size_of::<Pending>() + 64;

/// One Kafka message held until its trace is decided.
#[derive(Debug)]
pub struct Held {
    pub reference: MessageRef,
    pub key: Option<Box<[u8]>>,
    pub value: Box<[u8]>,
}

impl Held {
    fn bytes(&self) -> usize {
        self.value.len() + self.key.as_ref().map_or(0, |k| k.len()) + HELD_OVERHEAD
    }
}

/// An undecided trace.
#[derive(Debug)]
pub struct Pending {
    /// When its first message arrived.
    pub first: Instant,
    pub summary: TraceSummary,
    pub messages: Vec<Held>,
}

/// Undecided traces, oldest first.
#[derive(Debug, Default)]
pub struct Buffer {
    traces: HashMap<TraceId, Pending>,
    /// (trace, first arrival) in arrival order. An entry whose trace is
    /// gone, or came back with a later first arrival, is skipped.
    order: VecDeque<(TraceId, Instant)>,
    bytes: usize,
}

impl Buffer {
    pub fn with_capacity(traces: usize) -> Self {
        Self {
            traces: HashMap::with_capacity(traces),
            order: VecDeque::with_capacity(traces),
            bytes: 0,
        }
    }

    /// Adds a message to its trace, starting the trace if it is new.
    pub fn hold(&mut self, id: TraceId, summary: &TraceSummary, held: Held, now: Instant) {
        self.bytes += held.bytes();
        let pending = self.traces.entry(id).or_insert_with(|| {
            self.order.push_back((id, now));
            self.bytes += TRACE_OVERHEAD;
            Pending {
                first: now,
                summary: TraceSummary::default(),
                messages: Vec::new(),
            }
        });
        pending.summary.merge(summary);
        pending.messages.push(held);
    }

    /// When the oldest undecided trace's first message arrived.
    pub fn oldest(&mut self) -> Option<Instant> {
        self.skip_stale();
        self.order.front().map(|&(_, first)| first)
    }

    /// Takes the oldest undecided trace out.
    pub fn pop_oldest(&mut self) -> Option<(TraceId, Pending)> {
        self.skip_stale();
        let (id, _) = self.order.pop_front()?;
        let pending = self.traces.remove(&id)?;
        self.bytes -= TRACE_OVERHEAD + pending.messages.iter().map(Held::bytes).sum::<usize>();
        Some((id, pending))
    }

    /// Forgets the traces of a partition taken from this ingester: their
    /// offsets were never completed, so the next owner reads them again.
    /// Returns how many traces were forgotten.
    pub fn revoke(&mut self, partition: i32) -> usize {
        let before = self.traces.len();
        let mut freed = 0;
        self.traces.retain(|_, pending| {
            // Keyed by trace ID, every message of a trace is in one partition.
            let revoked = pending
                .messages
                .first()
                .is_some_and(|m| m.reference.partition == partition);
            if revoked {
                freed += TRACE_OVERHEAD + pending.messages.iter().map(Held::bytes).sum::<usize>();
            }
            !revoked
        });
        self.bytes -= freed;
        before - self.traces.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.traces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    fn skip_stale(&mut self) {
        while let Some((id, first)) = self.order.front() {
            match self.traces.get(id) {
                Some(pending) if pending.first == *first => return,
                _ => {
                    self.order.pop_front();
                }
            }
        }
    }
}

/// Decisions remembered by trace ID, "keep" and "drop" each in a bounded
/// table of its own (the processor's `decision_cache` sizes); when a table
/// is full its oldest decision is forgotten.
#[derive(Debug)]
pub struct DecisionCache {
    kept: Remembered,
    dropped: Remembered,
}

#[derive(Debug)]
struct Remembered {
    policies: HashMap<TraceId, Option<u16>>,
    order: VecDeque<TraceId>,
    capacity: usize,
}

impl Remembered {
    fn new(capacity: usize) -> Self {
        Self {
            policies: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn insert(&mut self, id: TraceId, policy: Option<u16>) {
        if self.capacity == 0 {
            return;
        }
        if self.policies.insert(id, policy).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.policies.remove(&old);
            }
        }
    }
}

impl DecisionCache {
    pub fn new(kept: usize, dropped: usize) -> Self {
        Self {
            kept: Remembered::new(kept),
            dropped: Remembered::new(dropped),
        }
    }

    pub fn get(&self, id: &TraceId) -> Option<Decision> {
        if let Some(&policy) = self.kept.policies.get(id) {
            return Some(Decision { keep: true, policy });
        }
        self.dropped.policies.get(id).map(|&policy| Decision {
            keep: false,
            policy,
        })
    }

    pub fn insert(&mut self, id: TraceId, decision: Decision) {
        if decision.keep {
            self.kept.insert(id, decision.policy);
        } else {
            self.dropped.insert(id, decision.policy);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn held(partition: i32, offset: i64, len: usize) -> Held {
        Held {
            reference: MessageRef {
                partition,
                offset,
                epoch: 1,
            },
            key: None,
            value: vec![0; len].into_boxed_slice(),
        }
    }

    fn one_span() -> TraceSummary {
        let mut s = TraceSummary::default();
        s.span(1, 2, 0);
        s
    }

    #[test]
    fn traces_leave_oldest_first_with_all_their_messages() {
        let t0 = Instant::now();
        let mut buffer = Buffer::default();
        buffer.hold([1; 16], &one_span(), held(0, 10, 100), t0);
        buffer.hold(
            [2; 16],
            &one_span(),
            held(0, 11, 100),
            t0 + Duration::from_secs(1),
        );
        buffer.hold(
            [1; 16],
            &one_span(),
            held(0, 12, 100),
            t0 + Duration::from_secs(2),
        );
        assert_eq!(buffer.len(), 2);
        assert_eq!(buffer.oldest(), Some(t0));
        let (id, first) = buffer.pop_oldest().unwrap();
        assert_eq!(id, [1; 16]);
        assert_eq!(first.summary.spans, 2);
        let offsets: Vec<i64> = first.messages.iter().map(|m| m.reference.offset).collect();
        assert_eq!(offsets, [10, 12]);
        assert_eq!(buffer.oldest(), Some(t0 + Duration::from_secs(1)));
        buffer.pop_oldest().unwrap();
        assert!(buffer.pop_oldest().is_none());
        assert_eq!(buffer.bytes(), 0, "every byte counted in is counted out");
    }

    #[test]
    fn bytes_count_the_held_messages() {
        let mut buffer = Buffer::default();
        buffer.hold([1; 16], &one_span(), held(0, 1, 1000), Instant::now());
        let one = buffer.bytes();
        assert!(one > 1000);
        buffer.hold([1; 16], &one_span(), held(0, 2, 1000), Instant::now());
        assert!(buffer.bytes() >= one + 1000);
    }

    #[test]
    fn a_revoked_partition_forgets_its_traces() {
        let t0 = Instant::now();
        let mut buffer = Buffer::default();
        buffer.hold([1; 16], &one_span(), held(0, 1, 10), t0);
        buffer.hold([2; 16], &one_span(), held(1, 1, 10), t0);
        assert_eq!(buffer.revoke(0), 1);
        assert_eq!(buffer.len(), 1);
        let (id, _) = buffer.pop_oldest().unwrap();
        assert_eq!(id, [2; 16], "the stale order entry is skipped");
        assert_eq!(buffer.bytes(), 0);
    }

    #[test]
    fn the_decision_cache_forgets_its_oldest_beyond_its_size() {
        let mut cache = DecisionCache::new(2, 1);
        let keep = Decision {
            keep: true,
            policy: Some(0),
        };
        let drop = Decision {
            keep: false,
            policy: None,
        };
        cache.insert([1; 16], keep);
        cache.insert([2; 16], keep);
        cache.insert([3; 16], drop);
        assert_eq!(cache.get(&[1; 16]), Some(keep));
        assert_eq!(cache.get(&[3; 16]), Some(drop));
        cache.insert([4; 16], keep);
        assert_eq!(cache.get(&[1; 16]), None, "oldest kept decision forgotten");
        assert_eq!(cache.get(&[2; 16]), Some(keep));
        assert_eq!(cache.get(&[3; 16]), Some(drop), "the tables are separate");
        let mut off = DecisionCache::new(0, 0);
        off.insert([1; 16], keep);
        assert_eq!(off.get(&[1; 16]), None);
    }
}
