//! Tells a wrong `--kafka-encoding` from a few bad messages, before it
//! empties a topic into the dead-letter topic.
//!
//! Until a message of a partition decodes (after each assignment), the
//! partition is on probation: its undecodable messages are held back here,
//! neither dead-lettered nor committed. The first message that decodes
//! releases them to the dead-letter topic: they really are bad. When the
//! first `--kafka-encoding-check` messages all fail instead, the encoding
//! flag is almost certainly wrong: the partition is paused, the held
//! messages are dropped from memory (uncommitted, so they are read again
//! once the flag is fixed), and the poll loop says so once. At most that
//! many messages per partition are held.

use std::collections::HashMap;

use crate::dead_letter::DeadLetter;
use crate::es::bulk::MessageRef;

/// What to do with an undecodable message.
#[derive(Debug)]
pub enum Verdict {
    /// The partition is known to decode: dead-letter it now.
    DeadLetter(MessageRef, DeadLetter),
    /// Held until the partition decodes a message or is paused.
    Held,
    /// This message made `limit` undecodable ones in a row from the start of
    /// the partition: pause it (reported once per assignment).
    Pause,
}

#[derive(Debug)]
enum Probation {
    /// No message decoded yet: the undecodable ones so far.
    Unproven(Vec<(MessageRef, DeadLetter)>),
    /// A message decoded: the encoding is right for this partition.
    Proven,
    /// The first `limit` messages did not decode: paused.
    Paused,
}

/// Per assigned partition, whether its messages decode.
#[derive(Debug)]
pub struct EncodingCheck {
    /// `--kafka-encoding-check`; 0 turns the check off.
    limit: usize,
    partitions: HashMap<i32, Probation>,
}

impl EncodingCheck {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            partitions: HashMap::new(),
        }
    }

    /// A partition was (re)assigned: it starts on probation.
    pub fn assign(&mut self, partition: i32) {
        let state = if self.limit == 0 {
            Probation::Proven
        } else {
            Probation::Unproven(Vec::new())
        };
        self.partitions.insert(partition, state);
    }

    pub fn revoke(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    /// A message of `partition` decoded; returns the held undecodable ones,
    /// now to be dead-lettered.
    pub fn decoded(&mut self, partition: i32) -> Vec<(MessageRef, DeadLetter)> {
        match self.partitions.get_mut(&partition) {
            Some(state @ Probation::Unproven(_)) => {
                match std::mem::replace(state, Probation::Proven) {
                    Probation::Unproven(held) => held,
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// A message of `partition` did not decode.
    pub fn undecodable(&mut self, message: MessageRef, letter: DeadLetter) -> Verdict {
        let limit = self.limit;
        match self.partitions.get_mut(&message.partition) {
            Some(Probation::Unproven(held)) => {
                held.push((message, letter));
                if held.len() < limit {
                    return Verdict::Held;
                }
                self.partitions.insert(message.partition, Probation::Paused);
                Verdict::Pause
            }
            // A message read from a paused partition (fetched before the
            // pause) waits with the others.
            Some(Probation::Paused) => Verdict::Held,
            _ => Verdict::DeadLetter(message, letter),
        }
    }

    /// True when `partition` is paused for its encoding.
    pub fn is_paused(&self, partition: i32) -> bool {
        matches!(self.partitions.get(&partition), Some(Probation::Paused))
    }

    /// Partitions paused for their encoding.
    pub fn paused(&self) -> usize {
        self.partitions
            .values()
            .filter(|p| matches!(p, Probation::Paused))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(partition: i32, offset: i64) -> (MessageRef, DeadLetter) {
        let reference = MessageRef {
            partition,
            offset,
            epoch: 1,
        };
        let letter = DeadLetter {
            source_topic: "spans".into(),
            partition,
            offset,
            key: None,
            value: vec![1, 2, 3],
            reason: "undecodable",
            error: "bad".into(),
        };
        (reference, letter)
    }

    fn offsets(held: &[(MessageRef, DeadLetter)]) -> Vec<i64> {
        held.iter().map(|(m, _)| m.offset).collect()
    }

    #[test]
    fn holds_bad_messages_until_one_decodes_then_releases_them() {
        let mut check = EncodingCheck::new(3);
        check.assign(0);
        let (m, l) = message(0, 10);
        assert!(matches!(check.undecodable(m, l), Verdict::Held));
        let (m, l) = message(0, 11);
        assert!(matches!(check.undecodable(m, l), Verdict::Held));
        assert_eq!(offsets(&check.decoded(0)), vec![10, 11]);
        // Proven: later bad messages go straight to the dead-letter topic.
        let (m, l) = message(0, 13);
        assert!(matches!(check.undecodable(m, l), Verdict::DeadLetter(m, _) if m.offset == 13));
        assert!(check.decoded(0).is_empty());
        assert_eq!(check.paused(), 0);
    }

    #[test]
    fn pauses_a_partition_whose_first_messages_all_fail() {
        let mut check = EncodingCheck::new(3);
        check.assign(0);
        check.assign(1);
        for offset in 0..2 {
            let (m, l) = message(0, offset);
            assert!(matches!(check.undecodable(m, l), Verdict::Held));
        }
        let (m, l) = message(0, 2);
        assert!(matches!(check.undecodable(m, l), Verdict::Pause));
        assert!(check.is_paused(0));
        assert!(!check.is_paused(1));
        assert_eq!(check.paused(), 1);
        let (m, l) = message(0, 3);
        assert!(matches!(check.undecodable(m, l), Verdict::Held));
        // A new assignment starts a new probation.
        check.revoke(0);
        assert_eq!(check.paused(), 0);
        check.assign(0);
        let (m, l) = message(0, 0);
        assert!(matches!(check.undecodable(m, l), Verdict::Held));
    }

    #[test]
    fn a_limit_of_zero_dead_letters_at_once() {
        let mut check = EncodingCheck::new(0);
        check.assign(0);
        let (m, l) = message(0, 0);
        assert!(matches!(check.undecodable(m, l), Verdict::DeadLetter(..)));
    }
}
