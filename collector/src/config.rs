//! Command-line and environment configuration of the collector.
//!
//! Every flag has an environment variable `FERROTRACE_<FLAG>`; defaults follow
//! the Jaeger collector and the OpenTelemetry Collector where users know them.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ferrotrace_common::config::{
    check_kafka_properties, parse_brokers, parse_duration, parse_key_value, parse_listen, Listen,
};
use ferrotrace_common::kafka_security::KafkaSecurity;
use ferrotrace_common::telemetry::LogFormat;

use crate::producer::ProducerOptions;

/// The librdkafka partitioners `--kafka-partitioner` accepts: the three that
/// hash a keyed message the way another producer of a trace topic does.
pub const KAFKA_PARTITIONERS: [&str; 3] = ["fnv1a_random", "murmur2_random", "consistent_random"];

/// Receives spans (OTLP, Jaeger, Zipkin), splits them by trace ID and produces
/// them to Kafka; a client is answered only after Kafka has the data.
#[derive(Parser, Debug, Clone)]
#[command(name = "ferrotrace-collector", version)]
pub struct Config {
    /// Kafka bootstrap servers (comma-separated host:port).
    #[arg(
        long,
        env = "FERROTRACE_KAFKA_BROKERS",
        default_value = "localhost:9092",
        value_parser = parse_brokers
    )]
    pub kafka_brokers: String,

    /// Kafka topic the spans are written to.
    #[arg(long, env = "FERROTRACE_KAFKA_TOPIC", default_value = "otlp_spans")]
    pub kafka_topic: String,

    /// Extra librdkafka producer property `key=value` (repeatable, or `;`-separated in the environment; overrides ferrotrace's defaults).
    #[arg(long = "kafka-producer-config", env = "FERROTRACE_KAFKA_PRODUCER_CONFIG", value_delimiter = ';', value_parser = parse_key_value, hide_env_values = true)]
    pub kafka_producer_config: Vec<(String, String)>,

    // Kafka TLS and SASL (`--kafka-tls*`, `--kafka-sasl-*`), shared with the ingester.
    #[command(flatten)]
    pub kafka_security: KafkaSecurity,

    // Adaptive sampling (`--sampling-adaptive`, `--kafka-sampling-topic`, `--sampling-*`).
    #[command(flatten)]
    pub adaptive_sampling: crate::sampling::adaptive::AdaptiveArgs,

    /// Largest Kafka message value in bytes; bigger traces are split into several messages.
    #[arg(
        long,
        env = "FERROTRACE_KAFKA_MAX_MESSAGE_BYTES",
        default_value_t = 1_000_000
    )]
    pub kafka_max_message_bytes: usize,

    /// How long Kafka may take to acknowledge a request's spans before the client gets UNAVAILABLE.
    #[arg(long, env = "FERROTRACE_KAFKA_PRODUCE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub kafka_produce_timeout: Duration,

    /// How a message's key (the trace ID) picks its partition: librdkafka's
    /// `partitioner`, one of `fnv1a_random` (Sarama's default hash, which the
    /// OpenTelemetry Collector's Kafka exporter and Jaeger's collector use, so
    /// a trace lands on one partition whichever of them wrote it),
    /// `murmur2_random` (the Java client's default, the exporter's
    /// `hasher: murmur2`) or `consistent_random` (CRC32, librdkafka's default).
    #[arg(
        long,
        env = "FERROTRACE_KAFKA_PARTITIONER",
        default_value = "fnv1a_random"
    )]
    pub kafka_partitioner: String,

    /// Bytes of requests held at once, from reading their bodies until Kafka acknowledged them; beyond it clients are told to retry later.
    #[arg(long, env = "FERROTRACE_MAX_INFLIGHT_BYTES", default_value_t = 256 << 20)]
    pub max_inflight_bytes: usize,

    /// Largest request body accepted, after decompression.
    #[arg(long, env = "FERROTRACE_MAX_REQUEST_BYTES", default_value_t = 16 << 20)]
    pub max_request_bytes: usize,

    /// Most spans one request may hold (0: no limit); a bigger request is
    /// refused whole (HTTP 413 / gRPC INVALID_ARGUMENT). SDKs send a few
    /// hundred per request, an OpenTelemetry Collector some thousands.
    #[arg(
        long,
        env = "FERROTRACE_MAX_SPANS_PER_REQUEST",
        default_value_t = 100_000
    )]
    pub max_spans_per_request: u64,

    /// A span that started longer ago than this, by the collector's clock,
    /// is refused (OTLP `partial_success`; Jaeger and Zipkin get 400 /
    /// INVALID_ARGUMENT). The default is Jaeger's `--es.max-span-age`: Jaeger
    /// Query looks no further back for a trace ID.
    #[arg(long, env = "FERROTRACE_MAX_SPAN_AGE", default_value = "72h", value_parser = parse_duration)]
    pub max_span_age: Duration,

    /// A span that starts further ahead of the collector's clock than this
    /// is refused, so a wrong clock or unit cannot create an index of a
    /// distant day that retention never deletes. A day keeps spans of
    /// clients whose clock is off by a time zone.
    #[arg(long, env = "FERROTRACE_MAX_SPAN_FUTURE", default_value = "24h", value_parser = parse_duration)]
    pub max_span_future: Duration,

    /// Most connections each TCP receiver holds open at once (0: no limit). A
    /// connection beyond it is answered HTTP 503 / gRPC UNAVAILABLE (both
    /// retryable) and closed.
    #[arg(long, env = "FERROTRACE_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// A TCP receiver's connection on which no byte moved either way for this
    /// long is closed (0s: never), so silent clients do not hold
    /// --max-connections slots; clients reconnect on their next request.
    #[arg(long, env = "FERROTRACE_IDLE_TIMEOUT", default_value = "2m", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// The longest a client may take to send one request, headers and body;
    /// a slower one is refused (HTTP 408 / gRPC DEADLINE_EXCEEDED) and
    /// counted, so a client trickling bytes cannot hold a connection.
    #[arg(long, env = "FERROTRACE_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub read_timeout: Duration,

    /// Most calls one connection may have open at once on a gRPC receiver
    /// (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); clients queue the rest.
    #[arg(long, env = "FERROTRACE_GRPC_MAX_CONCURRENT_STREAMS", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub grpc_max_concurrent_streams: u32,

    /// Largest HTTP/2 frame the gRPC receivers accept (SETTINGS_MAX_FRAME_SIZE, 16384 to 16777215). 1 MiB frames carry a batch in a few frames instead of dozens of 16 KiB ones (grpc-go's and h2's default), which costs less CPU per span (docs/design.md §6).
    #[arg(long, env = "FERROTRACE_GRPC_MAX_FRAME_BYTES", default_value_t = 1 << 20,
          value_parser = clap::value_parser!(u32).range(16_384..=16_777_215))]
    pub grpc_max_frame_bytes: u32,

    /// HTTP/2 flow-control window of each gRPC call in bytes (65535 to 2147483647): how much of a request a client may send before the collector reads it.
    #[arg(long, env = "FERROTRACE_GRPC_STREAM_WINDOW_BYTES", default_value_t = 4 << 20,
          value_parser = clap::value_parser!(u32).range(65_535..=2_147_483_647))]
    pub grpc_stream_window_bytes: u32,

    /// HTTP/2 flow-control window of each gRPC connection in bytes (65535 to 2147483647), shared by its calls.
    #[arg(long, env = "FERROTRACE_GRPC_CONNECTION_WINDOW_BYTES", default_value_t = 8 << 20,
          value_parser = clap::value_parser!(u32).range(65_535..=2_147_483_647))]
    pub grpc_connection_window_bytes: u32,

    /// After about this long (±10% jitter) a gRPC connection is sent an
    /// HTTP/2 GOAWAY: calls in flight finish, new ones go to a fresh
    /// connection, which the Service may route to another replica (0s: never).
    #[arg(long, env = "FERROTRACE_GRPC_MAX_CONNECTION_AGE", default_value = "0s", value_parser = parse_duration)]
    pub grpc_max_connection_age: Duration,

    /// How long calls in flight on a connection past its age may take to
    /// finish before the connection is closed under them.
    #[arg(long, env = "FERROTRACE_GRPC_MAX_CONNECTION_AGE_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub grpc_max_connection_age_grace: Duration,

    /// After about this long (±10% jitter) an HTTP/1.1 connection answers
    /// its next request with `Connection: close`, so the client's next
    /// request opens a connection the Service may route to another replica
    /// (0s: never).
    #[arg(long, env = "FERROTRACE_HTTP_MAX_CONNECTION_AGE", default_value = "0s", value_parser = parse_duration)]
    pub http_max_connection_age: Duration,

    /// How long an HTTP/1.1 connection past its age may stay idle, and then
    /// how long its request in flight may take, before it is closed.
    #[arg(long, env = "FERROTRACE_HTTP_MAX_CONNECTION_AGE_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub http_max_connection_age_grace: Duration,

    /// OTLP/gRPC listen address (empty disables the receiver).
    #[arg(long, env = "FERROTRACE_OTLP_GRPC_LISTEN", default_value = "0.0.0.0:4317", value_parser = parse_listen)]
    pub otlp_grpc_listen: Listen,

    /// OTLP/HTTP listen address (empty disables the receiver).
    #[arg(long, env = "FERROTRACE_OTLP_HTTP_LISTEN", default_value = "0.0.0.0:4318", value_parser = parse_listen)]
    pub otlp_http_listen: Listen,

    /// Jaeger agent UDP listen address, Thrift compact protocol (empty disables the receiver).
    #[arg(long, env = "FERROTRACE_JAEGER_COMPACT_LISTEN", default_value = "0.0.0.0:6831", value_parser = parse_listen)]
    pub jaeger_compact_listen: Listen,

    /// Jaeger agent UDP listen address, Thrift binary protocol (empty disables the receiver).
    #[arg(long, env = "FERROTRACE_JAEGER_BINARY_LISTEN", default_value = "0.0.0.0:6832", value_parser = parse_listen)]
    pub jaeger_binary_listen: Listen,

    /// Jaeger Thrift HTTP listen address, `POST /api/traces` (empty disables the receiver).
    #[arg(long, env = "FERROTRACE_JAEGER_HTTP_LISTEN", default_value = "0.0.0.0:14268", value_parser = parse_listen)]
    pub jaeger_http_listen: Listen,

    /// Jaeger gRPC listen address, `jaeger.api_v2.CollectorService` (empty disables the receiver).
    #[arg(long, env = "FERROTRACE_JAEGER_GRPC_LISTEN", default_value = "0.0.0.0:14250", value_parser = parse_listen)]
    pub jaeger_grpc_listen: Listen,

    /// Zipkin listen address, `POST /api/v1/spans` and `/api/v2/spans` (empty disables the receiver).
    #[arg(long, env = "FERROTRACE_ZIPKIN_LISTEN", default_value = "0.0.0.0:9411", value_parser = parse_listen)]
    pub zipkin_listen: Listen,

    /// Jaeger remote sampling HTTP listen address, where jaeger-agent served it:
    /// `GET /sampling`, `/api/sampling` and the legacy `/` (empty disables it).
    /// Plain HTTP without bearer tokens, which jaeger-client cannot send;
    /// `/api/sampling` on the Jaeger HTTP receiver and `SamplingManager` on
    /// the Jaeger gRPC receiver serve the same strategies behind TLS and tokens.
    #[arg(long, env = "FERROTRACE_SAMPLING_HTTP_LISTEN", default_value = "0.0.0.0:5778", value_parser = parse_listen)]
    pub sampling_http_listen: Listen,

    /// Sampling strategies file in Jaeger's format (`default_strategy`,
    /// `service_strategies`); without it every service gets probabilistic
    /// 0.001, as from Jaeger. Reloaded when it changes; a broken change
    /// keeps the previous strategies.
    #[arg(long, env = "FERROTRACE_SAMPLING_STRATEGIES_FILE")]
    pub sampling_strategies_file: Option<PathBuf>,

    /// Largest Jaeger UDP packet accepted; longer ones are dropped and counted.
    #[arg(
        long,
        env = "FERROTRACE_JAEGER_UDP_MAX_PACKET_BYTES",
        default_value_t = 65_000
    )]
    pub jaeger_udp_max_packet_bytes: usize,

    /// Jaeger UDP packets queued for the workers; when full, packets are dropped and counted.
    #[arg(
        long,
        env = "FERROTRACE_JAEGER_UDP_QUEUE_SIZE",
        default_value_t = 1_000
    )]
    pub jaeger_udp_queue_size: usize,

    /// Workers decoding and exporting Jaeger UDP packets, per UDP receiver.
    #[arg(long, env = "FERROTRACE_JAEGER_UDP_WORKERS", default_value_t = 10)]
    pub jaeger_udp_workers: usize,

    /// Kernel receive buffer of each Jaeger UDP socket in bytes (0 keeps the OS default, which holds only a few large packets; losses there are invisible to the collector).
    #[arg(long, env = "FERROTRACE_JAEGER_UDP_SOCKET_BUFFER_BYTES", default_value_t = 4 << 20)]
    pub jaeger_udp_socket_buffer_bytes: usize,

    /// Admin HTTP listen address: /metrics, /healthz, /readyz.
    #[arg(long, env = "FERROTRACE_ADMIN_LISTEN", default_value = "0.0.0.0:14269", value_parser = parse_listen)]
    pub admin_listen: Listen,

    /// Log format: text or json.
    #[arg(long, env = "FERROTRACE_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Threads of the async runtime that serves every receiver. 1 is a single-threaded runtime: about a fifth less CPU per span than one thread per core (docs/design.md §6, BENCHMARKS.md), for fleets that scale by replicas of about one CPU each (the k8s manifests set it). 0 (the default) = one thread per CPU the process may use (cgroup quota included), and a single-threaded runtime when that is one; N = a multi-thread runtime with N threads. librdkafka's own threads come on top.
    #[arg(long, env = "FERROTRACE_RUNTIME_THREADS", default_value_t = 0)]
    pub runtime_threads: usize,

    /// How long SIGTERM waits for in-flight requests to finish.
    #[arg(long, env = "FERROTRACE_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// PEM certificate (chain) served by the TCP receivers (OTLP, Jaeger gRPC/HTTP, Zipkin); with --tls-key-file it turns TLS on. Reloaded when it changes.
    #[arg(long, env = "FERROTRACE_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// PEM private key of --tls-cert-file.
    #[arg(long, env = "FERROTRACE_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,

    /// PEM CA bundle: when set, TCP receivers require a client certificate signed by it (mTLS).
    #[arg(long, env = "FERROTRACE_TLS_CLIENT_CA_FILE")]
    pub tls_client_ca_file: Option<PathBuf>,

    /// Bearer tokens accepted by the TCP receivers, one per line (`#` comments and blank lines ignored); every request must send one when set.
    #[arg(long, env = "FERROTRACE_AUTH_BEARER_TOKENS_FILE")]
    pub auth_bearer_tokens_file: Option<PathBuf>,

    /// How often the TLS, bearer-token and sampling strategies files are checked for changes.
    #[arg(long, env = "FERROTRACE_RELOAD_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub reload_interval: Duration,
}

/// librdkafka's largest `message.max.bytes`, less the room the producer adds
/// for the key and record overhead.
const MAX_KAFKA_MESSAGE_BYTES: usize = 1_000_000_000 - 1024;
/// A request takes its bytes from the in-flight budget in one piece of at
/// most `u32::MAX` permits.
const MAX_REQUEST_BYTES: usize = u32::MAX as usize;
/// The most permits a tokio semaphore holds.
const MAX_INFLIGHT_BYTES: usize = tokio::sync::Semaphore::MAX_PERMITS;
const MAX_CONNECTIONS: usize = 1 << 24;
const MAX_UDP_QUEUE: usize = 1 << 24;
const MAX_UDP_WORKERS: usize = 4096;
/// librdkafka's largest `message.timeout.ms` (a 32-bit count of ms, about 24 days).
const MAX_PRODUCE_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);
/// Bounds `--grpc-max-connection-age`, `--http-max-connection-age` and their graces, so timer arithmetic cannot overflow.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(365 * 24 * 3600);

impl Config {
    /// What the Kafka producer takes: the `--kafka-*` producer flags and the
    /// in-flight budget.
    pub fn producer_options(&self) -> ProducerOptions {
        ProducerOptions {
            brokers: self.kafka_brokers.clone(),
            topic: self.kafka_topic.clone(),
            partitioner: self.kafka_partitioner.clone(),
            produce_timeout: self.kafka_produce_timeout,
            max_message_bytes: self.kafka_max_message_bytes,
            max_inflight_bytes: self.max_inflight_bytes,
            security: self.kafka_security.clone(),
            properties: self.kafka_producer_config.clone(),
        }
    }

    /// `--kafka-produce-timeout` is librdkafka's message timeout, which must
    /// be longer than the producer's batching delay and fit 32 bits of ms.
    fn validate_produce_timeout(&self) -> Result<(), String> {
        let timeout = self.kafka_produce_timeout;
        if timeout > MAX_PRODUCE_TIMEOUT {
            return Err(format!(
                "--kafka-produce-timeout must be at most {}h",
                MAX_PRODUCE_TIMEOUT.as_secs() / 3600
            ));
        }
        let given = self
            .kafka_producer_config
            .iter()
            .rev()
            .find(|(key, _)| key == "linger.ms" || key == "queue.buffering.max.ms")
            .and_then(|(_, value)| value.parse::<f64>().ok());
        let linger_ms = given.unwrap_or(crate::producer::LINGER_MS as f64);
        // The producer gives librdkafka whole milliseconds.
        if timeout.as_millis() as f64 <= linger_ms {
            return Err(format!(
                "--kafka-produce-timeout must be longer than the producer's batching delay of {linger_ms}ms{}",
                if given.is_some() {
                    " (linger.ms in --kafka-producer-config)"
                } else {
                    ""
                }
            ));
        }
        Ok(())
    }

    /// Checks what clap cannot; returns one clear line on error.
    pub fn validate(&self) -> Result<(), String> {
        if self.kafka_topic.is_empty() {
            return Err("--kafka-topic must not be empty".into());
        }
        if !(1024..=MAX_KAFKA_MESSAGE_BYTES).contains(&self.kafka_max_message_bytes) {
            return Err(format!(
                "--kafka-max-message-bytes must be between 1024 and {MAX_KAFKA_MESSAGE_BYTES}"
            ));
        }
        self.validate_produce_timeout()?;
        if self.max_request_bytes == 0 || self.max_request_bytes > MAX_REQUEST_BYTES {
            return Err(format!(
                "--max-request-bytes must be between 1 and {MAX_REQUEST_BYTES}"
            ));
        }
        if self.max_inflight_bytes > MAX_INFLIGHT_BYTES {
            return Err(format!(
                "--max-inflight-bytes must be at most {MAX_INFLIGHT_BYTES}"
            ));
        }
        if self.max_connections > MAX_CONNECTIONS {
            return Err(format!(
                "--max-connections must be at most {MAX_CONNECTIONS} (0: no limit)"
            ));
        }
        ferrotrace_common::runtime::check_threads(self.runtime_threads)?;
        if self.read_timeout.is_zero() {
            return Err("--read-timeout must be positive".into());
        }
        for (flag, value) in [
            ("--grpc-max-connection-age", self.grpc_max_connection_age),
            (
                "--grpc-max-connection-age-grace",
                self.grpc_max_connection_age_grace,
            ),
            ("--http-max-connection-age", self.http_max_connection_age),
            (
                "--http-max-connection-age-grace",
                self.http_max_connection_age_grace,
            ),
        ] {
            if value > MAX_CONNECTION_AGE {
                return Err(format!(
                    "{flag} must be at most {}h",
                    MAX_CONNECTION_AGE.as_secs() / 3600
                ));
            }
        }
        if self.grpc_max_connection_age_grace.is_zero() && !self.grpc_max_connection_age.is_zero() {
            return Err("--grpc-max-connection-age-grace must be positive (calls in flight need time to finish)".into());
        }
        if self.jaeger_udp_queue_size > MAX_UDP_QUEUE || self.jaeger_udp_workers > MAX_UDP_WORKERS {
            return Err(format!(
                "--jaeger-udp-queue-size must be at most {MAX_UDP_QUEUE} and --jaeger-udp-workers at most {MAX_UDP_WORKERS}"
            ));
        }
        if self.jaeger_udp_socket_buffer_bytes > i32::MAX as usize {
            return Err(format!(
                "--jaeger-udp-socket-buffer-bytes must be at most {}",
                i32::MAX
            ));
        }
        check_kafka_properties("--kafka-producer-config", &self.kafka_producer_config)?;
        if !KAFKA_PARTITIONERS.contains(&self.kafka_partitioner.as_str()) {
            return Err(format!(
                "--kafka-partitioner must be one of {}",
                KAFKA_PARTITIONERS.join(", ")
            ));
        }
        if self.jaeger_udp_max_packet_bytes == 0 || self.jaeger_udp_max_packet_bytes > 65_535 {
            return Err("--jaeger-udp-max-packet-bytes must be between 1 and 65535".into());
        }
        if self.jaeger_udp_queue_size == 0 || self.jaeger_udp_workers == 0 {
            return Err(
                "--jaeger-udp-queue-size and --jaeger-udp-workers must be at least 1".into(),
            );
        }
        if self.max_inflight_bytes < self.max_request_bytes {
            return Err("--max-inflight-bytes must be at least --max-request-bytes".into());
        }
        self.kafka_security.validate().map_err(|e| e.to_string())?;
        self.adaptive_sampling.validate()?;
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err("--tls-cert-file and --tls-key-file go together".into());
        }
        if self.tls_client_ca_file.is_some() && self.tls_cert_file.is_none() {
            return Err("--tls-client-ca-file needs --tls-cert-file and --tls-key-file".into());
        }
        if self.reload_interval.is_zero() {
            return Err("--reload-interval must be positive".into());
        }
        if self.max_span_age.is_zero() {
            return Err("--max-span-age must be positive".into());
        }
        if self.max_span_future.is_zero() {
            return Err("--max-span-future must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_jaeger_and_otel_ports() {
        let config = Config::try_parse_from(["ferrotrace-collector"]).unwrap();
        assert_eq!(config.kafka_topic, "otlp_spans");
        assert_eq!(
            config.otlp_grpc_listen.addr(),
            Some("0.0.0.0:4317".parse().unwrap())
        );
        assert_eq!(
            config.otlp_http_listen.addr(),
            Some("0.0.0.0:4318".parse().unwrap())
        );
        assert_eq!(
            config.admin_listen.addr(),
            Some("0.0.0.0:14269".parse().unwrap())
        );
        assert_eq!(
            config.jaeger_compact_listen.addr(),
            Some("0.0.0.0:6831".parse().unwrap())
        );
        assert_eq!(
            config.zipkin_listen.addr(),
            Some("0.0.0.0:9411".parse().unwrap())
        );
        assert_eq!(
            config.sampling_http_listen.addr(),
            Some("0.0.0.0:5778".parse().unwrap())
        );
        assert_eq!(config.sampling_strategies_file, None);
        assert!(config.validate().is_ok());
    }

    /// The collector's flags parsed from `args` (the program name added).
    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once(&"ferrotrace-collector").chain(args))
    }

    #[test]
    fn runtime_threads_default_to_one_per_cpu_and_are_bounded() {
        let valid = |args: &[&str]| parse(args).unwrap().validate();
        assert_eq!(parse(&[]).unwrap().runtime_threads, 0);
        assert!(valid(&["--runtime-threads", "0"]).is_ok());
        assert!(valid(&["--runtime-threads", "1024"]).is_ok());
        let error = valid(&["--runtime-threads", "1025"]).unwrap_err();
        assert!(error.contains("--runtime-threads"), "{error}");
    }

    #[test]
    fn grpc_frames_and_windows_default_large_and_stay_within_http2_limits() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.grpc_max_frame_bytes, 1 << 20);
        assert_eq!(config.grpc_stream_window_bytes, 4 << 20);
        assert_eq!(config.grpc_connection_window_bytes, 8 << 20);
        assert!(parse(&["--grpc-max-frame-bytes", "16384"]).is_ok());
        assert!(parse(&["--grpc-max-frame-bytes", "16383"]).is_err());
        assert!(parse(&["--grpc-max-frame-bytes", "16777216"]).is_err());
        assert!(parse(&["--grpc-stream-window-bytes", "65534"]).is_err());
        assert!(parse(&["--grpc-connection-window-bytes", "2147483648"]).is_err());
    }

    #[test]
    fn empty_listen_address_disables_a_receiver() {
        let config =
            Config::try_parse_from(["ferrotrace-collector", "--otlp-http-listen", ""]).unwrap();
        assert_eq!(config.otlp_http_listen.addr(), None);
    }

    #[test]
    fn tls_cert_and_key_go_together() {
        let parse = |args: &[&str]| {
            let mut all = vec!["ferrotrace-collector"];
            all.extend_from_slice(args);
            Config::try_parse_from(all).unwrap().validate()
        };
        assert!(parse(&["--tls-cert-file", "c.pem", "--tls-key-file", "k.pem"]).is_ok());
        assert!(parse(&["--tls-cert-file", "c.pem"]).is_err());
        assert!(parse(&["--tls-key-file", "k.pem"]).is_err());
        assert!(parse(&["--tls-client-ca-file", "ca.pem"]).is_err());
    }

    #[test]
    fn producer_properties_pass_through() {
        let config = Config::try_parse_from([
            "ferrotrace-collector",
            "--kafka-producer-config",
            "linger.ms=20",
            "--kafka-producer-config",
            "compression.type=zstd",
        ])
        .unwrap();
        assert_eq!(
            config.kafka_producer_config,
            vec![
                ("linger.ms".into(), "20".into()),
                ("compression.type".into(), "zstd".into())
            ]
        );
        assert!(Config::try_parse_from([
            "ferrotrace-collector",
            "--kafka-producer-config",
            "nonsense"
        ])
        .is_err());
    }

    #[test]
    fn partitioner_defaults_to_saramas_hash_and_refuses_others() {
        let parse = |args: &[&str]| {
            let mut all = vec!["ferrotrace-collector"];
            all.extend_from_slice(args);
            Config::try_parse_from(all).unwrap()
        };
        assert_eq!(parse(&[]).kafka_partitioner, "fnv1a_random");
        for name in KAFKA_PARTITIONERS {
            assert!(parse(&["--kafka-partitioner", name]).validate().is_ok());
        }
        for name in ["consistent", "random", "murmur2", "sarama", ""] {
            let error = parse(&["--kafka-partitioner", name])
                .validate()
                .unwrap_err();
            assert!(error.starts_with("--kafka-partitioner "), "{error}");
        }
    }
}
