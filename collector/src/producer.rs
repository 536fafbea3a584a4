//! The Kafka side of the collector: an idempotent librdkafka producer with
//! `acks=all`, and the in-flight byte budget that keeps memory bounded.
//!
//! [`Producer::produce_all`] enqueues every per-trace message of a request
//! and resolves only when the broker acknowledged all of them, so the caller
//! can answer its client truthfully. Budget exhaustion and broker trouble are
//! distinct errors because clients are told different things.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrotrace_common::kafka_client::{self, KafkaLogs, LogContext, TopicProblem};
use ferrotrace_common::kafka_producer::KafkaProducer;
use ferrotrace_common::kafka_security::{self, KafkaSecurity};
use ferrotrace_format::otlp::Split;
use futures::future::join_all;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::metrics as m;

/// Why spans could not be handed to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The broker did not acknowledge in time or refused: retryable.
    #[error("kafka unavailable: {0}")]
    Unavailable(String),
    /// The in-flight byte budget is used up: retry after a short pause.
    #[error("collector at capacity: {0} bytes already in flight")]
    Exhausted(usize),
}

/// A share of the in-flight budget, returned when dropped.
pub struct Reservation {
    permit: OwnedSemaphorePermit,
    bytes: usize,
}

impl Reservation {
    /// Takes over `other`'s share: both are returned together when this one drops.
    pub fn merge(&mut self, mut other: Reservation) {
        // `other` keeps an empty permit, and its drop un-counts nothing.
        let permit = other.permit.split(other.permit.num_permits());
        if let Some(permit) = permit {
            self.permit.merge(permit);
        }
        self.bytes += std::mem::take(&mut other.bytes);
    }

    /// Returns what this share holds beyond `bytes` to the budget.
    pub fn shrink_to(&mut self, bytes: usize) {
        if self.bytes <= bytes {
            return;
        }
        let excess = self.bytes - bytes;
        if let Some(permit) = self.permit.split(excess) {
            self.bytes = bytes;
            drop(Reservation {
                permit,
                bytes: excess,
            });
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        metrics::gauge!(m::INFLIGHT_BYTES).decrement(self.bytes as f64);
    }
}

/// The in-flight byte budget (`--max-inflight-bytes`), shared by every
/// request from the moment its body is read until Kafka acknowledged it.
#[derive(Clone)]
pub struct Budget {
    semaphore: Arc<Semaphore>,
    bytes: usize,
}

impl Budget {
    pub fn new(bytes: usize) -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(bytes)),
            bytes,
        }
    }

    /// Takes `bytes` of the budget without waiting; refuses when it is used up.
    pub fn try_reserve(&self, bytes: usize) -> Result<Reservation, ProduceError> {
        let permits =
            u32::try_from(bytes.max(1)).map_err(|_| ProduceError::Exhausted(self.bytes))?;
        match self.semaphore.clone().try_acquire_many_owned(permits) {
            Ok(permit) => {
                metrics::gauge!(m::INFLIGHT_BYTES).increment(bytes as f64);
                Ok(Reservation { permit, bytes })
            }
            Err(TryAcquireError::NoPermits) | Err(TryAcquireError::Closed) => Err(
                ProduceError::Exhausted(self.bytes - self.semaphore.available_permits()),
            ),
        }
    }
}

/// How long the producer waits to batch messages (librdkafka's `linger.ms`)
/// unless `--kafka-producer-config` says otherwise.
pub const LINGER_MS: u64 = 5;

/// Where the producer writes and how: the `--kafka-*` producer flags and
/// the in-flight budget.
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    pub brokers: String,
    pub topic: String,
    /// librdkafka's `partitioner`.
    pub partitioner: String,
    pub produce_timeout: Duration,
    /// The largest message value the collector writes.
    pub max_message_bytes: usize,
    /// Bytes of requests in flight at once.
    pub max_inflight_bytes: usize,
    pub security: KafkaSecurity,
    /// `--kafka-producer-config`, applied last: it overrides all of the above.
    pub properties: Vec<(String, String)>,
}

/// The librdkafka producer configuration: ferrotrace's defaults, the
/// security flags, then `--kafka-producer-config`, which overrides both.
pub fn client_config(options: &ProducerOptions) -> Result<ClientConfig, KafkaError> {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &options.brokers)
        .set("client.id", "ferrotrace-collector")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // No compression, like Jaeger's and the OpenTelemetry Collector's
        // Kafka producers: lz4 costs the collector about 1.9 µs of its
        // 4.5 µs per span (BENCHMARKS.md), and the ingester its
        // decompression. Set compression.type=lz4 (or zstd) where network
        // or broker disk is the constraint.
        .set("compression.type", "none")
        .set("linger.ms", LINGER_MS.to_string())
        // A topic property, set here for every topic. `fnv1a_random` hashes
        // a key as Sarama's default partitioner does, so a trace ID lands
        // on the partition the OpenTelemetry Collector's Kafka exporter and
        // Jaeger's collector put it on (librdkafka's own default, CRC32,
        // does not).
        .set("partitioner", &options.partitioner)
        .set(
            "message.timeout.ms",
            options.produce_timeout.as_millis().max(1).to_string(),
        )
        // Room for the key and record overhead on top of the largest value we write.
        .set(
            "message.max.bytes",
            (options.max_message_bytes + 1024).to_string(),
        );
    options
        .security
        .apply(&mut client)
        .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
    for (key, value) in &options.properties {
        client.set(key, value);
    }
    Ok(client)
}

pub struct Producer {
    inner: KafkaProducer,
    topic: String,
    budget: Budget,
    produce_timeout: Duration,
}

impl Producer {
    /// Creates the producer; user properties override ferrotrace's defaults.
    pub fn new(options: &ProducerOptions) -> Result<Self, KafkaError> {
        let inner = KafkaProducer::new(
            &client_config(options)?,
            LogContext(KafkaLogs::new("producer")),
        )
        .map_err(kafka_security::redact_error)?;
        Ok(Self {
            inner,
            topic: options.topic.clone(),
            budget: Budget::new(options.max_inflight_bytes),
            produce_timeout: options.produce_timeout,
        })
    }

    /// The in-flight budget requests take their buffers from.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Produces every message of `split` and waits until Kafka acknowledged all of them.
    pub async fn produce_all(&self, split: &Split) -> Result<(), ProduceError> {
        let deadline = Instant::now() + self.produce_timeout;
        let mut deliveries = Vec::with_capacity(split.messages.len());
        for message in &split.messages {
            let key = message.key();
            let payload = &split.buf[message.value.clone()];
            loop {
                let record = FutureRecord::<[u8], [u8]>::to(&self.topic)
                    .key(&key[..])
                    .payload(payload);
                match self.inner.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    // librdkafka's queue is full: wait for it to drain rather than fail.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                        if Instant::now() < deadline =>
                    {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    Err((error, _)) => {
                        metrics::counter!(m::KAFKA_MESSAGES, "result" => "failed").increment(1);
                        return Err(ProduceError::Unavailable(error.to_string()));
                    }
                }
            }
        }
        // librdkafka times messages out itself (message.timeout.ms); the outer
        // timeout only guards against a delivery report that never comes.
        let results = tokio::time::timeout(
            self.produce_timeout + Duration::from_secs(5),
            join_all(deliveries),
        )
        .await
        .map_err(|_| ProduceError::Unavailable("no delivery report from kafka".into()))?;
        let mut first_error = None;
        let mut acked_bytes = 0u64;
        let mut failed = 0u64;
        for (result, message) in results.into_iter().zip(&split.messages) {
            match result {
                Ok(Ok(_)) => acked_bytes += message.value.len() as u64,
                Ok(Err((error, _))) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| error.to_string());
                }
                Err(_canceled) => {
                    failed += 1;
                    first_error
                        .get_or_insert_with(|| "producer shut down before delivery".to_string());
                }
            }
        }
        let acked = split.messages.len() as u64 - failed;
        metrics::counter!(m::KAFKA_MESSAGES, "result" => "acked").increment(acked);
        metrics::counter!(m::KAFKA_BYTES).increment(acked_bytes);
        if failed > 0 {
            metrics::counter!(m::KAFKA_MESSAGES, "result" => "failed").increment(failed);
        }
        match first_error {
            None => Ok(()),
            Some(error) => Err(ProduceError::Unavailable(error)),
        }
    }

    /// Asks the brokers for the topic's metadata: why the collector cannot
    /// produce to it, if it cannot.
    pub async fn check(self: &Arc<Self>) -> Result<(), TopicProblem> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            kafka_client::check_topic(this.inner.client(), &this.topic, Duration::from_secs(3))
        })
        .await
        .unwrap_or_else(|error| Err(TopicProblem::Unreachable(error.to_string())))
    }

    /// Waits for queued messages to be delivered (used at shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.inner.flush(timeout) {
            tracing::warn!(%error, "kafka flush at shutdown did not complete");
        }
    }
}
