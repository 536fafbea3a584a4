//! What the ingester's `/readyz` reports, and the tasks that keep it
//! current. Two checks, each with the reason it fails:
//!
//! - `elasticsearch`: it answers, and the ingester has prepared it (index
//!   templates installed, write aliases found) — set while preparing, then
//!   by [`watch_es`];
//! - `kafka`: the brokers answer, the topic exists, and the consumer group
//!   has assigned this ingester its partitions (none is fine: a group may
//!   have more ingesters than partitions) — set by [`watch_kafka`].
//!
//! The admin server answers from the start, whatever these say: liveness is
//! about the process, readiness about its dependencies.

use std::sync::Arc;
use std::time::Duration;

use ferrotrace_common::admin::Readiness;
use ferrotrace_common::kafka_client::{self, TopicProblem};
use rdkafka::consumer::Consumer;
use tokio_util::sync::CancellationToken;

use crate::consumer::IngestConsumer;
use crate::es::client::EsClient;

pub const ELASTICSEARCH: &str = "elasticsearch";
pub const KAFKA: &str = "kafka";

/// How often a passing check is verified; a failing one is every second.
const PASSING_INTERVAL: Duration = Duration::from_secs(5);
const FAILING_INTERVAL: Duration = Duration::from_secs(1);

/// The ingester's readiness, every check failing until first checked.
pub fn new() -> Readiness {
    Readiness::new(&[ELASTICSEARCH, KAFKA])
}

/// The `elasticsearch` reason while it does not answer.
pub fn es_unreachable(error: impl std::fmt::Display) -> String {
    format!("unreachable: {error}")
}

/// Keeps the `elasticsearch` check current once Elasticsearch is prepared:
/// it fails while Elasticsearch does not answer.
pub async fn watch_es(es: EsClient, ready: Readiness, shutdown: CancellationToken) {
    loop {
        let result = es.detect_flavour().await.map(drop).map_err(es_unreachable);
        let interval = interval(result.is_ok());
        ready.set(ELASTICSEARCH, result);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Keeps the `kafka` check current, from the moment the consumer exists
/// (before it subscribes, which waits for Elasticsearch).
pub async fn watch_kafka(
    consumer: Arc<IngestConsumer>,
    topic: String,
    group: String,
    ready: Readiness,
    shutdown: CancellationToken,
) {
    loop {
        let state = check_kafka(&consumer, &topic, &group).await;
        let interval = interval(matches!(state, KafkaState::Ready));
        match state {
            KafkaState::Ready => ready.pass(KAFKA),
            KafkaState::Joining(reason) => ready.wait(KAFKA, reason),
            KafkaState::Failing(reason) => ready.fail(KAFKA, reason),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

enum KafkaState {
    Ready,
    /// Reachable, waiting for the group's assignment: a normal step of starting.
    Joining(String),
    Failing(String),
}

async fn check_kafka(consumer: &Arc<IngestConsumer>, topic: &str, group: &str) -> KafkaState {
    let probe = {
        let (consumer, topic) = (consumer.clone(), topic.to_owned());
        tokio::task::spawn_blocking(move || {
            kafka_client::check_topic(consumer.client(), &topic, Duration::from_secs(3))
        })
    };
    let checked = probe
        .await
        .unwrap_or_else(|error| Err(TopicProblem::Unreachable(error.to_string())));
    if let Err(problem) = checked {
        return KafkaState::Failing(problem.to_string());
    }
    if !consumer.context().joined() {
        return KafkaState::Joining(format!(
            "consumer group {group:?} has not assigned partitions to this ingester yet"
        ));
    }
    KafkaState::Ready
}

fn interval(passing: bool) -> Duration {
    if passing {
        PASSING_INTERVAL
    } else {
        FAILING_INTERVAL
    }
}
