//! Hands each calculation to the collectors: the leader produces the
//! probabilities document to the sampling topic (`--sampling-topic`), under
//! one fixed key, so that a compacted one-partition topic always holds the
//! latest calculation and a collector reads it from there at start.

use std::time::Duration;

use ferrotrace_common::kafka_client::side_producer;
use ferrotrace_common::kafka_producer::KafkaProducer;
use ferrotrace_common::kafka_security::KafkaSecurity;
use ferrotrace_format::jaeger::sampling_store::{
    encode_probabilities, ProbabilitiesDoc, PROBABILITIES_KEY,
};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureRecord;

/// How long one publication may wait for the broker; the next calculation
/// publishes again anyway.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// A producer for the sampling topic.
#[derive(Clone)]
pub struct Publisher {
    producer: KafkaProducer,
    topic: String,
}

impl Publisher {
    /// Creates the producer: `security` first, then the user's `extra`
    /// producer properties, which win.
    pub fn new(
        brokers: &str,
        topic: &str,
        security: &KafkaSecurity,
        extra: &[(String, String)],
    ) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: side_producer(
                brokers,
                "ferrotrace-ingester-sampling",
                "sampling producer",
                SEND_TIMEOUT,
                security,
                extra,
            )?,
            topic: topic.to_owned(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Produces `doc`; done when the broker acknowledged it.
    pub async fn publish(&self, doc: &ProbabilitiesDoc) -> Result<(), KafkaError> {
        let value = encode_probabilities(doc);
        let record = FutureRecord::to(&self.topic)
            .key(PROBABILITIES_KEY)
            .payload(&value);
        self.producer.send(record, SEND_TIMEOUT).await.map(|_| ())
    }
}
