//! What every librdkafka client of ferrotrace needs besides its settings:
//! logs that do not flood, an error that says what to fix, and the topic
//! check behind `/readyz`.
//!
//! librdkafka reports a broker it cannot reach twice, as a log line and as
//! an error event with the same text, and again at every reconnect attempt,
//! for every broker address: dozens of error lines a second while Kafka is
//! away. [`KafkaLogs`] keeps the error event and drops its log twin, sorts
//! errors into the few problems an operator can act on ([`Problem`]), and
//! logs each problem at most once per [`LOG_INTERVAL`] with the flag to
//! check and how many lines it suppressed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::client::Client;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientContext;

use crate::log_limit::{LogLimiter, LOG_INTERVAL};

/// What a Kafka client error means for whoever runs ferrotrace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Problem {
    /// No broker answers: wrong address, brokers down, network, DNS.
    Unreachable,
    /// The brokers refused the SASL credentials.
    Authentication,
    /// The TLS handshake failed.
    Tls,
    /// A topic the client uses does not exist.
    TopicMissing,
    /// The brokers' ACLs deny the client.
    Authorization,
    /// Anything else: logged as librdkafka says it.
    Other,
}

impl Problem {
    pub fn of(code: Option<RDKafkaErrorCode>) -> Self {
        use RDKafkaErrorCode as C;
        match code {
            Some(C::BrokerTransportFailure | C::AllBrokersDown | C::Resolve) => Self::Unreachable,
            Some(C::Authentication | C::SaslAuthenticationFailed) => Self::Authentication,
            Some(C::SSL) => Self::Tls,
            Some(C::UnknownTopic | C::UnknownTopicOrPartition) => Self::TopicMissing,
            Some(
                C::TopicAuthorizationFailed
                | C::GroupAuthorizationFailed
                | C::ClusterAuthorizationFailed,
            ) => Self::Authorization,
            _ => Self::Other,
        }
    }

    /// The log message: lowercase, fixed, one per problem.
    pub fn message(self) -> &'static str {
        match self {
            Self::Unreachable => "kafka brokers unreachable",
            Self::Authentication => "kafka refused the credentials",
            Self::Tls => "kafka tls handshake failed",
            Self::TopicMissing => "kafka topic missing",
            Self::Authorization => "kafka denied access",
            Self::Other => "kafka client error",
        }
    }

    /// What to check, in the flags' terms.
    pub fn fix(self) -> &'static str {
        match self {
            Self::Unreachable => {
                "check --kafka-brokers, and that the brokers run and can be reached from here"
            }
            Self::Authentication => {
                "check --kafka-sasl-mechanism, --kafka-sasl-username and --kafka-sasl-password(-file)"
            }
            Self::Tls => {
                "check --kafka-tls-ca-file, --kafka-tls-cert-file and --kafka-tls-key-file, and that the broker port speaks TLS"
            }
            Self::TopicMissing => "create the topic, or correct the topic flag",
            Self::Authorization => "grant the client's user access to the topic and group (Kafka ACLs)",
            Self::Other => "see the error",
        }
    }
}

/// librdkafka's log lines and error events of one client, rate-limited per
/// problem (errors) or facility (log lines).
pub struct KafkaLogs {
    /// Which client, in every line: `producer`, `consumer`, `dead-letter producer`.
    client: &'static str,
    limiters: Mutex<HashMap<String, LogLimiter>>,
    interval: Duration,
}

impl KafkaLogs {
    pub fn new(client: &'static str) -> Self {
        Self::with_interval(client, LOG_INTERVAL)
    }

    pub fn with_interval(client: &'static str, interval: Duration) -> Self {
        Self {
            client,
            limiters: Mutex::default(),
            interval,
        }
    }

    /// An error event, or an error a consumer's poll returned: logged with
    /// its problem's fix, at most once per interval per problem.
    pub fn error(&self, error: &KafkaError, detail: &str) {
        let problem = Problem::of(error.rdkafka_error_code());
        let key = match problem {
            Problem::Other => format!("error {error}"),
            _ => format!("{problem:?}"),
        };
        let Some(suppressed) = self.allow(key) else {
            return;
        };
        tracing::error!(
            client = self.client,
            %error,
            detail,
            fix = problem.fix(),
            suppressed,
            "{}",
            problem.message()
        );
    }

    /// A librdkafka log line. A `FAIL` line at error level is the twin of
    /// the error event librdkafka sends right after it, which
    /// [`KafkaLogs::error`] logs: it is kept to debug level.
    pub fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        use RDKafkaLogLevel as L;
        let client = self.client;
        let error = matches!(level, L::Emerg | L::Alert | L::Critical | L::Error);
        if matches!(level, L::Debug) || (error && facility == "FAIL") {
            tracing::debug!(client, facility, "librdkafka: {message}");
            return;
        }
        let Some(suppressed) = self.allow(format!("log {facility}")) else {
            return;
        };
        match level {
            L::Warning => tracing::warn!(client, facility, suppressed, "librdkafka: {message}"),
            L::Notice | L::Info | L::Debug => {
                tracing::info!(client, facility, suppressed, "librdkafka: {message}")
            }
            _ => tracing::error!(client, facility, suppressed, "librdkafka: {message}"),
        }
    }

    fn allow(&self, key: String) -> Option<u64> {
        let mut limiters = self
            .limiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        limiters
            .entry(key)
            .or_insert_with(|| LogLimiter::new(self.interval))
            .allow()
    }
}

/// A client context that only routes librdkafka's logs and errors through
/// [`KafkaLogs`]: for a producer, or a consumer of assigned partitions,
/// that needs nothing else.
pub struct LogContext(pub KafkaLogs);

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.0.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0.error(&error, reason);
    }
}

impl rdkafka::consumer::ConsumerContext for LogContext {}

/// A side producer (`acks=all`) of `client_id` whose logs are labelled
/// `label`: `security` first, then the user's `extra` properties, which win.
pub fn side_producer(
    brokers: &str,
    client_id: &str,
    label: &'static str,
    message_timeout: Duration,
    security: &crate::kafka_security::KafkaSecurity,
    extra: &[(String, String)],
) -> Result<crate::kafka_producer::KafkaProducer, KafkaError> {
    let mut config = rdkafka::config::ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", client_id)
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            message_timeout.as_millis().to_string(),
        );
    security
        .apply(&mut config)
        .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
    for (key, value) in extra {
        config.set(key, value);
    }
    crate::kafka_producer::KafkaProducer::new(&config, LogContext(KafkaLogs::new(label)))
        .map_err(crate::kafka_security::redact_error)
}

/// Why a topic cannot be used right now: a readiness reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicProblem {
    #[error("brokers unreachable ({0}): {fix}", fix = Problem::Unreachable.fix())]
    Unreachable(String),
    #[error("topic {0:?} does not exist: {fix}", fix = Problem::TopicMissing.fix())]
    Missing(String),
    #[error("topic {topic:?} unusable: {error}")]
    Unusable { topic: String, error: String },
}

/// Asks the brokers for `topic`'s metadata (blocking, up to `timeout`): Ok
/// when it exists with partitions. A consumer's client never creates the
/// topic by asking; a producer's may, where the brokers auto-create topics.
pub fn check_topic<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<(), TopicProblem> {
    let metadata = client
        .fetch_metadata(Some(topic), timeout)
        .map_err(|error| TopicProblem::Unreachable(error.to_string()))?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(TopicProblem::Missing(topic.to_owned()));
    };
    match found.error().map(RDKafkaErrorCode::from) {
        None if !found.partitions().is_empty() => Ok(()),
        None | Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
            Err(TopicProblem::Missing(topic.to_owned()))
        }
        Some(code) => Err(TopicProblem::Unusable {
            topic: topic.to_owned(),
            error: code.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_errors_are_sorted_into_what_to_fix() {
        use RDKafkaErrorCode as C;
        for code in [C::BrokerTransportFailure, C::AllBrokersDown, C::Resolve] {
            assert_eq!(Problem::of(Some(code)), Problem::Unreachable, "{code:?}");
        }
        assert_eq!(
            Problem::of(Some(C::UnknownTopicOrPartition)),
            Problem::TopicMissing
        );
        assert_eq!(Problem::of(Some(C::SSL)), Problem::Tls);
        assert_eq!(Problem::of(None), Problem::Other);
        assert!(Problem::Unreachable.fix().contains("--kafka-brokers"));
    }

    #[test]
    fn topic_problems_read_as_readiness_reasons() {
        assert_eq!(
            TopicProblem::Missing("spans".into()).to_string(),
            "topic \"spans\" does not exist: create the topic, or correct the topic flag"
        );
        assert!(TopicProblem::Unreachable("timed out".into())
            .to_string()
            .starts_with("brokers unreachable (timed out): check --kafka-brokers"));
    }
}
