//! Adaptive sampling, collector side (`--sampling-adaptive`): follows the
//! sampling topic, where the ingester owning partition 0 of the spans topic
//! publishes each calculation, and serves its probabilities.
//!
//! The collector never talks to Elasticsearch. At start it reads the last
//! message of the topic (one partition, compacted: the latest calculation),
//! so a restarted collector serves the stored probabilities at once; then
//! it keeps reading. No consumer group: every collector reads everything.
//!
//! Each service with probabilities gets what Jaeger's adaptive provider
//! serves: PROBABILISTIC, with `operationSampling` holding
//! `defaultSamplingProbability` = the initial probability,
//! `defaultLowerBoundTracesPerSecond` = `--sampling-min-samples-per-second`,
//! and one probabilistic strategy per operation. File strategies still win
//! per service (see [`SamplingStrategies::strategy`]).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use clap::Args;
use ferrotrace_common::adaptive_sampling::AdaptiveSamplingArgs;
use ferrotrace_common::kafka_client::{KafkaLogs, LogContext};
use ferrotrace_common::kafka_security::{self, KafkaSecurity};
use ferrotrace_common::telemetry;
use ferrotrace_format::jaeger::sampling::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSamplingStrategy,
    SamplingStrategyResponse, SamplingStrategyType,
};
use ferrotrace_format::jaeger::sampling_store::{decode_probabilities, ProbabilitiesDoc};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::SamplingStrategies;
use crate::metrics as m;

/// Adaptive sampling flags (off by default).
#[derive(Args, Debug, Clone, PartialEq)]
pub struct AdaptiveArgs {
    // `--sampling-adaptive`, `--kafka-sampling-topic`,
    // `--sampling-initial-sampling-probability` (served as each adaptive
    // service's defaultSamplingProbability).
    #[command(flatten)]
    pub shared: AdaptiveSamplingArgs,

    /// Traces per second each operation is sampled at least: each adaptive
    /// service's defaultLowerBoundTracesPerSecond (Jaeger's `sampling.min-samples-per-second`).
    #[arg(long, env = "FERROTRACE_SAMPLING_MIN_SAMPLES_PER_SECOND", default_value_t = 1.0 / 60.0)]
    pub sampling_min_samples_per_second: f64,

    /// Services whose served probability is exported as a metric; the
    /// others are counted in ferrotrace_collector_sampling_services_unexported.
    #[arg(
        long,
        env = "FERROTRACE_SAMPLING_METRICS_MAX_SERVICES",
        default_value_t = 100
    )]
    pub sampling_metrics_max_services: usize,
}

impl AdaptiveArgs {
    /// Checks what clap cannot; one clear line on error.
    pub fn validate(&self) -> Result<(), String> {
        if !self.shared.sampling_adaptive {
            return Ok(());
        }
        self.shared.validate()?;
        let lower = self.sampling_min_samples_per_second;
        if !lower.is_finite() || lower < 0.0 {
            return Err("--sampling-min-samples-per-second must be 0 or more".into());
        }
        Ok(())
    }
}

/// The strategies Jaeger's adaptive provider serves for a calculation, by service.
pub fn responses(
    doc: &ProbabilitiesDoc,
    initial_probability: f64,
    min_samples_per_second: f64,
) -> HashMap<String, SamplingStrategyResponse> {
    doc.probabilitiesandqps
        .probabilities
        .iter()
        .map(|(service, operations)| {
            let per_operation = operations
                .iter()
                .map(|(operation, &probability)| OperationSamplingStrategy {
                    operation: operation.clone(),
                    probabilistic_sampling: Some(ProbabilisticSamplingStrategy {
                        sampling_rate: probability,
                    }),
                })
                .collect();
            let response = SamplingStrategyResponse {
                strategy_type: SamplingStrategyType::Probabilistic as i32,
                probabilistic_sampling: None,
                rate_limiting_sampling: None,
                operation_sampling: Some(PerOperationSamplingStrategies {
                    default_sampling_probability: initial_probability,
                    default_lower_bound_traces_per_second: min_samples_per_second,
                    per_operation_strategies: per_operation,
                    default_upper_bound_traces_per_second: 0.0,
                }),
            };
            (service.clone(), response)
        })
        .collect()
}

/// With `--sampling-adaptive`, starts following the sampling topic into
/// `strategies` until `shutdown`; nothing otherwise.
pub fn start(
    config: &crate::config::Config,
    strategies: &SamplingStrategies,
    shutdown: &CancellationToken,
) -> Result<(), KafkaError> {
    let args = &config.adaptive_sampling;
    if !args.shared.sampling_adaptive {
        return Ok(());
    }
    let follower = Follower::new(
        &config.kafka_brokers,
        &config.kafka_security,
        args.clone(),
        strategies.clone(),
    )?;
    tokio::spawn(follower.run(shutdown.clone()));
    Ok(())
}

/// Follows the sampling topic into `strategies`.
pub struct Follower {
    consumer: StreamConsumer<LogContext>,
    args: AdaptiveArgs,
    strategies: SamplingStrategies,
    /// Services whose probability gauge exists.
    exported: BTreeSet<String>,
}

impl Follower {
    /// Creates the consumer, positioned on the topic's last message.
    pub fn new(
        brokers: &str,
        security: &KafkaSecurity,
        args: AdaptiveArgs,
        strategies: SamplingStrategies,
    ) -> Result<Self, KafkaError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("client.id", "ferrotrace-collector-sampling")
            // Required by librdkafka; partitions are assigned, never subscribed,
            // and nothing is committed, so the group is never joined.
            .set("group.id", "ferrotrace-collector-sampling")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        security
            .apply(&mut config)
            .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
        let consumer: StreamConsumer<LogContext> = config
            .create_with_context(LogContext(KafkaLogs::new("sampling consumer")))
            .map_err(kafka_security::redact_error)?;
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition_offset(
            &args.shared.kafka_sampling_topic,
            0,
            Offset::OffsetTail(1),
        )?;
        consumer.assign(&partitions)?;
        Ok(Self {
            consumer,
            args,
            strategies,
            exported: BTreeSet::new(),
        })
    }

    /// Serves each calculation read until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        tracing::info!(topic = %self.args.shared.kafka_sampling_topic, "following the adaptive sampling probabilities");
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => break,
                received = self.consumer.recv() => received.map(|m| m.detach()),
            };
            match received {
                Ok(message) => self.apply(message.payload().unwrap_or_default()),
                Err(error) => {
                    metrics::counter!(m::SAMPLING_ERRORS, "reason" => "kafka").increment(1);
                    self.consumer
                        .context()
                        .0
                        .error(&error, "reading the sampling topic");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Serves the calculation in `payload`; a message that does not decode
    /// keeps the strategies in service.
    fn apply(&mut self, payload: &[u8]) {
        let doc = match decode_probabilities(payload) {
            Ok(doc) => doc,
            Err(error) => {
                metrics::counter!(m::SAMPLING_ERRORS, "reason" => "undecodable").increment(1);
                tracing::warn!(%error, "sampling topic message is not a probabilities document; kept the previous probabilities");
                return;
            }
        };
        let responses = responses(
            &doc,
            self.args.shared.sampling_initial_sampling_probability,
            self.args.sampling_min_samples_per_second,
        );
        self.export(&doc);
        tracing::debug!(services = responses.len(), at = %doc.timestamp, "adaptive sampling probabilities updated");
        self.strategies.set_adaptive(responses);
        metrics::counter!(m::SAMPLING_UPDATES).increment(1);
    }

    /// Per service (up to the limit, by name), the highest probability served
    /// to one of its operations; gone services' series are removed.
    fn export(&mut self, doc: &ProbabilitiesDoc) {
        let probabilities = &doc.probabilitiesandqps.probabilities;
        let limit = self.args.sampling_metrics_max_services;
        let now: BTreeSet<String> = probabilities.keys().take(limit).cloned().collect();
        for gone in self.exported.difference(&now) {
            telemetry::remove_gauges(m::SAMPLING_PROBABILITY, &[("service", gone)]);
        }
        for service in &now {
            let highest = probabilities[service].values().copied().fold(0.0, f64::max);
            metrics::gauge!(m::SAMPLING_PROBABILITY, "service" => service.clone()).set(highest);
        }
        let unexported = probabilities.len().saturating_sub(now.len());
        metrics::gauge!(m::SAMPLING_SERVICES_UNEXPORTED).set(unexported as f64);
        self.exported = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrotrace_format::jaeger::sampling_store::ProbabilitiesAndQps;

    #[test]
    fn serves_what_jaegers_adaptive_provider_serves() {
        let doc = ProbabilitiesDoc {
            timestamp: "2024-01-02T12:00:00.000Z".into(),
            probabilitiesandqps: ProbabilitiesAndQps {
                hostname: "ingester-0".into(),
                probabilities: [(
                    "svc".to_string(),
                    [("GET".to_string(), 0.05), ("PUT".to_string(), 1.0)].into(),
                )]
                .into(),
                qps: Default::default(),
            },
        };
        let served = responses(&doc, 0.001, 1.0 / 60.0);
        assert_eq!(served.len(), 1);
        let svc = &served["svc"];
        assert_eq!(
            svc.strategy_type,
            SamplingStrategyType::Probabilistic as i32
        );
        let operations = svc.operation_sampling.as_ref().unwrap();
        assert_eq!(operations.default_sampling_probability, 0.001);
        assert_eq!(operations.default_lower_bound_traces_per_second, 1.0 / 60.0);
        let rates: Vec<(&str, f64)> = operations
            .per_operation_strategies
            .iter()
            .map(|o| {
                (
                    o.operation.as_str(),
                    o.probabilistic_sampling.as_ref().unwrap().sampling_rate,
                )
            })
            .collect();
        assert_eq!(rates, [("GET", 0.05), ("PUT", 1.0)]);
    }
}
