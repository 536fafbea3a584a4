//! What the ingester's `/healthz` reports: the consume loop is stuck when it
//! has made no progress for `--stuck-after` while this ingester owns
//! partitions with messages not yet stored and Elasticsearch answers. Then
//! `/healthz` answers 503 with the reason and Kubernetes restarts the
//! process (Jaeger's ingester has the same idea in `ingester.deadlockInterval`).
//!
//! Progress is the loop reading a message or recording a finished bulk
//! request (or dead letter), whose offsets it then stores: a slow ingester
//! whose bulks finish every few seconds makes progress; an idle one has
//! nothing to store. The stall counts from the later of the last progress
//! and the moment the lag was first seen, so messages arriving at an
//! ingester idle for long are not mistaken for a stall. The lag is measured here, from the brokers' high
//! watermarks, not from librdkafka's statistics, which only the loop's own
//! polling delivers and so stop when it is stuck.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrotrace_common::admin::{Liveness, Readiness};
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::consumer::{unstored_messages, IngestConsumer, StoredOffsets};
use crate::readiness;

/// How long a broker query of the watchdog may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// When the consume loop last made progress, and the partitions it stopped
/// reading on purpose (`--kafka-encoding-check`), whose lag a restart
/// would not cure.
#[derive(Debug)]
pub struct Progress {
    start: Instant,
    /// Milliseconds after `start`.
    last: AtomicU64,
    parked: Mutex<BTreeSet<i32>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
            parked: Mutex::default(),
        }
    }
}

impl Progress {
    /// The loop read a message or recorded a finished bulk request.
    pub fn advanced(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    /// How long since the last progress.
    pub fn stalled_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    pub fn park(&self, partition: i32) {
        if let Ok(mut parked) = self.parked.lock() {
            parked.insert(partition);
        }
    }

    pub fn unpark(&self, partition: i32) {
        if let Ok(mut parked) = self.parked.lock() {
            parked.remove(&partition);
        }
    }

    fn parked(&self) -> BTreeSet<i32> {
        self.parked.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// What the watchdog knows at one check.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Since the last progress.
    pub stalled_for: Duration,
    /// Since the watchdog first saw lag, through checks that all saw some.
    pub lagging_for: Duration,
    /// (partition, messages not stored) of the owned partitions with lag.
    pub lagging: Vec<(i32, i64)>,
    pub es_answers: bool,
}

/// The reason the loop is stuck, or None. `stuck_after` 0 turns it off.
pub fn verdict(stuck_after: Duration, seen: &Observation) -> Option<String> {
    let stalled = seen.stalled_for.min(seen.lagging_for);
    if stuck_after.is_zero() || stalled < stuck_after || !seen.es_answers {
        return None;
    }
    let lag: i64 = seen.lagging.iter().map(|(_, lag)| lag).sum();
    if lag <= 0 {
        return None;
    }
    let partitions: Vec<i32> = seen.lagging.iter().map(|(p, _)| *p).collect();
    Some(format!(
        "consume loop stuck: no message read and no bulk request finished for more than \
         --stuck-after={stuck_after:?}, while partitions {partitions:?} have {lag} messages not \
         stored and elasticsearch answers"
    ))
}

/// Everything the watchdog reads.
pub struct Watchdog {
    pub consumer: Arc<IngestConsumer>,
    pub topic: String,
    pub stored: StoredOffsets,
    pub progress: Arc<Progress>,
    pub ready: Readiness,
    pub live: Liveness,
    pub stuck_after: Duration,
}

impl Watchdog {
    /// Checks a few times per `--stuck-after` until `shutdown`; fails
    /// liveness while the loop is stuck, logging why once, and makes it
    /// alive again if the loop moves on.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.stuck_after.is_zero() {
            return;
        }
        let every =
            (self.stuck_after / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
        let mut lag_since: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            // A loop that moved since the last check is not asked about:
            // the brokers are queried only while it stands still.
            let reason = if self.progress.stalled_for() < every {
                lag_since = None;
                None
            } else {
                let lagging = self.lagging().await;
                if lagging.is_empty() {
                    lag_since = None;
                }
                let since = *lag_since.get_or_insert_with(Instant::now);
                let seen = Observation {
                    stalled_for: self.progress.stalled_for(),
                    lagging_for: since.elapsed(),
                    es_answers: self.ready.passes(readiness::ELASTICSEARCH),
                    lagging,
                };
                verdict(self.stuck_after, &seen)
            };
            match (reason, self.live.reason()) {
                (Some(reason), None) => {
                    tracing::error!(%reason, "liveness failing: the ingester will be restarted");
                    self.live.fail(reason);
                }
                (Some(reason), Some(_)) => self.live.fail(reason),
                (None, Some(_)) => {
                    tracing::info!("consume loop moving again: alive");
                    self.live.alive();
                }
                (None, None) => {}
            }
        }
    }

    /// The owned, not parked partitions with messages not stored, asked of
    /// the brokers (a blocking query, off the runtime's threads).
    async fn lagging(&self) -> Vec<(i32, i64)> {
        let parked = self.progress.parked();
        let partitions: Vec<i32> = self
            .consumer
            .context()
            .owned_partitions()
            .into_iter()
            .filter(|p| !parked.contains(p))
            .collect();
        if partitions.is_empty() {
            return Vec::new();
        }
        let stored = self.stored.lock().map(|s| s.clone()).unwrap_or_default();
        let (consumer, topic) = (self.consumer.clone(), self.topic.clone());
        let query = tokio::task::spawn_blocking(move || {
            let mut lagging = Vec::new();
            for partition in partitions {
                let Ok((low, high)) = consumer.fetch_watermarks(&topic, partition, QUERY_TIMEOUT)
                else {
                    continue;
                };
                let stored = stored.get(&partition).copied().unwrap_or(-1);
                let committed = if stored >= 0 {
                    -1
                } else {
                    committed(&consumer, &topic, partition)
                };
                if let Some(lag) = unstored_messages(high, stored, committed, low) {
                    if lag > 0 {
                        lagging.push((partition, lag));
                    }
                }
            }
            lagging
        });
        query.await.unwrap_or_default()
    }
}

/// The group's committed offset of `partition`, or -1.
fn committed(consumer: &IngestConsumer, topic: &str, partition: i32) -> i64 {
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    consumer
        .committed_offsets(list, QUERY_TIMEOUT)
        .ok()
        .and_then(
            |list| match list.find_partition(topic, partition)?.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            },
        )
        .unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(300);

    fn seen(stalled_secs: u64, lagging: &[(i32, i64)], es_answers: bool) -> Observation {
        Observation {
            stalled_for: Duration::from_secs(stalled_secs),
            lagging_for: Duration::from_secs(stalled_secs),
            lagging: lagging.to_vec(),
            es_answers,
        }
    }

    #[test]
    fn stuck_only_when_stalled_with_lag_and_elasticsearch_answering() {
        let reason = verdict(AFTER, &seen(301, &[(0, 40), (2, 2)], true)).expect("stuck");
        assert!(
            reason.contains("[0, 2]") && reason.contains("42 messages"),
            "{reason}"
        );
        assert!(reason.contains("--stuck-after=300s"), "{reason}");
        assert!(
            verdict(AFTER, &seen(300, &[(0, 1)], true)).is_some(),
            "at the limit"
        );
    }

    #[test]
    fn moving_idle_or_waiting_for_elasticsearch_is_not_stuck() {
        assert_eq!(verdict(AFTER, &seen(299, &[(0, 40)], true)), None, "moving");
        assert_eq!(verdict(AFTER, &seen(3600, &[], true)), None, "idle, no lag");
        let arriving = Observation {
            lagging_for: Duration::from_secs(2),
            ..seen(3600, &[(0, 40)], true)
        };
        assert_eq!(
            verdict(AFTER, &arriving),
            None,
            "messages just arrived at an ingester idle for an hour"
        );
        assert_eq!(verdict(AFTER, &seen(3600, &[(0, 0)], true)), None, "no lag");
        assert_eq!(
            verdict(AFTER, &seen(3600, &[(0, 40)], false)),
            None,
            "elasticsearch down: a restart would not help"
        );
        assert_eq!(
            verdict(Duration::ZERO, &seen(3600, &[(0, 40)], true)),
            None,
            "0 turns it off"
        );
    }

    #[test]
    fn progress_resets_the_stall() {
        let progress = Progress::default();
        std::thread::sleep(Duration::from_millis(30));
        assert!(progress.stalled_for() >= Duration::from_millis(30));
        progress.advanced();
        assert!(progress.stalled_for() < Duration::from_millis(30));
        progress.park(3);
        progress.park(4);
        progress.unpark(3);
        assert_eq!(progress.parked(), BTreeSet::from([4]));
    }
}
