//! Adaptive sampling, ingester side (`--sampling-adaptive`): Jaeger's
//! algorithm without its leader lock.
//!
//! - Every ingester counts the sampled root spans it stores
//!   ([`throughput`]; the probability a span carries is read by
//!   [`probability`]) and writes the counts to Elasticsearch every
//!   `--sampling-calculation-interval` ([`store`]).
//! - The ingester that owns partition 0 of the spans topic is the leader:
//!   the consumer group elects exactly one owner, so no lock is needed. Each
//!   interval it reads everyone's throughput of the interval ending
//!   `--sampling-calculation-delay` ago, computes the probabilities
//!   ([`calculator`]), writes them to Elasticsearch and publishes them to
//!   the sampling topic ([`publisher`]), which every collector follows.
//! - When partition 0 moves, the new owner first reads the newest stored
//!   calculation and the past buckets of throughput, and continues from them.

pub mod calculator;
pub mod config;
pub mod probability;
pub mod publisher;
pub mod store;
pub mod throughput;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrotrace_format::jaeger::sampling_store::{
    format_timestamp, ProbabilitiesAndQps, ProbabilitiesDoc,
};
use tokio_util::sync::CancellationToken;

use crate::metrics as m;
use calculator::Calculator;
use publisher::Publisher;
use store::SamplingStore;
use throughput::Recorder;

/// The partition whose owner computes the probabilities.
pub const LEADER_PARTITION: i32 = 0;

/// The sampling task's settings, from the flags.
#[derive(Debug, Clone)]
pub struct SamplingOptions {
    pub calculation: calculator::Options,
    pub interval: Duration,
    pub delay: Duration,
    /// Names this ingester in the probabilities documents (`Hostname`).
    pub hostname: String,
}

/// What the sampling task works with.
pub struct Sampling {
    pub options: SamplingOptions,
    pub store: SamplingStore,
    pub publisher: Publisher,
    pub recorder: Recorder,
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn store_error(operation: &'static str, error: &dyn std::fmt::Display) {
    metrics::counter!(m::SAMPLING_STORE_ERRORS, "operation" => operation).increment(1);
    tracing::warn!(%error, operation, "adaptive sampling store operation failed");
}

/// The leader's state: its calculator and the end of the last interval read.
struct Leadership {
    calculator: Calculator,
    last_read_millis: u64,
}

impl Sampling {
    /// Every interval until `shutdown`: writes this ingester's throughput
    /// and, while `is_leader()`, computes and publishes the probabilities.
    pub async fn run(self, is_leader: impl Fn() -> bool, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.options.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut leadership: Option<Leadership> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let now = unix_millis();
            self.save_throughput(now).await;
            if !is_leader() {
                if leadership.take().is_some() {
                    tracing::info!("adaptive sampling: no longer the leader");
                }
                metrics::gauge!(m::SAMPLING_LEADER).set(0.0);
                continue;
            }
            metrics::gauge!(m::SAMPLING_LEADER).set(1.0);
            match leadership.as_mut() {
                None => leadership = self.take_over(now).await,
                Some(leader) => self.calculate(leader, now).await,
            }
        }
        // What was stored since the last interval is written, not lost.
        self.save_throughput(unix_millis()).await;
    }

    /// Writes the throughput stored since the last call; on failure it is
    /// kept for the next.
    async fn save_throughput(&self, now: u64) {
        let counts = self.recorder.take();
        if counts.overflow > 0 {
            metrics::counter!(m::SAMPLING_ROOT_SPANS_OVERFLOW).increment(counts.overflow);
        }
        if counts.is_empty() {
            return;
        }
        let kept = counts.clone();
        if let Err(error) = self
            .store
            .write_throughput(counts.into_throughput(), now)
            .await
        {
            store_error("write_throughput", &error);
            let mut kept = kept;
            kept.overflow = 0;
            self.recorder.stored(kept);
        }
    }

    /// Becoming the leader: continue from the newest stored calculation and
    /// the stored throughput of the past buckets. None when the store cannot
    /// be read (tried again next interval).
    async fn take_over(&self, now: u64) -> Option<Leadership> {
        let options = &self.options;
        let mut calculator = Calculator::new(options.calculation.clone());
        match self.store.latest_probabilities().await {
            Ok(Some(doc)) => {
                tracing::info!(
                    from = %doc.probabilitiesandqps.hostname,
                    at = %doc.timestamp,
                    "adaptive sampling: leader, continuing from the stored probabilities"
                );
                calculator.restore(
                    doc.probabilitiesandqps.probabilities,
                    doc.probabilitiesandqps.qps,
                );
            }
            Ok(None) => tracing::info!("adaptive sampling: leader, no stored probabilities"),
            Err(error) => {
                store_error("read_probabilities", &error);
                return None;
            }
        }
        let interval = duration_millis(options.interval);
        let last_read = now.saturating_sub(duration_millis(options.delay));
        let mut end = last_read;
        for _ in 0..options.calculation.aggregation_buckets {
            let start = end.saturating_sub(interval);
            match self.store.read_throughput(start, end).await {
                // An empty interval is kept as one: the leader may have
                // been away a while, and its buckets cover real time.
                Ok(docs) => {
                    calculator.push_older_bucket(calculator::aggregate(&docs), options.interval)
                }
                Err(error) => {
                    store_error("read_throughput", &error);
                    break;
                }
            }
            end = start;
        }
        Some(Leadership {
            calculator,
            last_read_millis: last_read,
        })
    }

    /// One calculation: read the interval's throughput, compute, store, publish.
    async fn calculate(&self, leader: &mut Leadership, now: u64) {
        let end = now.saturating_sub(duration_millis(self.options.delay));
        if end <= leader.last_read_millis {
            return;
        }
        let docs = match self
            .store
            .read_throughput(leader.last_read_millis, end)
            .await
        {
            Ok(docs) => docs,
            Err(error) => return store_error("read_throughput", &error),
        };
        let window = Duration::from_millis(end - leader.last_read_millis);
        leader.last_read_millis = end;
        leader
            .calculator
            .push_bucket(calculator::aggregate(&docs), window);
        let (probabilities, qps) = leader.calculator.calculate();
        metrics::counter!(m::SAMPLING_CALCULATIONS).increment(1);
        let operations: usize = probabilities.values().map(|ops| ops.len()).sum();
        metrics::gauge!(m::SAMPLING_OPERATIONS).set(operations as f64);
        let doc = ProbabilitiesDoc {
            timestamp: format_timestamp(now),
            probabilitiesandqps: ProbabilitiesAndQps {
                hostname: self.options.hostname.clone(),
                probabilities,
                qps,
            },
        };
        tracing::debug!(operations, "adaptive sampling probabilities calculated");
        if let Err(error) = self.store.write_probabilities(&doc, now).await {
            store_error("write_probabilities", &error);
        }
        if let Err(error) = self.publisher.publish(&doc).await {
            metrics::counter!(m::SAMPLING_STORE_ERRORS, "operation" => "publish").increment(1);
            tracing::warn!(%error, topic = self.publisher.topic(), "publishing the sampling probabilities failed");
        }
    }
}

fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
