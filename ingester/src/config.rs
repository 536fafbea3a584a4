//! Command-line and environment configuration of the ingester.
//!
//! Every flag has an environment variable `FERROTRACE_<FLAG>`; defaults follow
//! Jaeger's ingester and Elasticsearch storage options where users know them.
//!
//! Without a subcommand the binary runs the ingester, as it always has. The job
//! subcommands (`dependencies`, `retention`, `rollover`) share the
//! Elasticsearch flags, which are global so they may come before or after the
//! subcommand's name.
//!
//! Each component takes its own options struct, built here
//! ([`Config::consumer_options`], [`Config::loop_options`],
//! [`Config::metrics_gen_options`], [`Config::es_connection`], …), so no
//! component depends on the whole `Config`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ferrotrace_common::config::{
    check_kafka_properties, parse_brokers, parse_duration, parse_key_value, parse_listen,
    parse_username, Listen,
};
use ferrotrace_common::kafka_security::KafkaSecurity;
use ferrotrace_common::telemetry::LogFormat;
use ferrotrace_format::jaeger::TagsAsFields;
use ferrotrace_format::kafka_codec::Encoding;

use crate::consumer::{ConsumerOptions, LoopOptions};
use crate::dependencies::live::LiveOptions;
use crate::dependencies::store::Target;
use crate::dependencies::window::WindowOptions;
use crate::es::bulk::IndexOptions;
use crate::es::client::{EsClient, EsConnection, Secret};
use crate::es::templates::TemplateOptions;
use crate::metrics_gen::service_graph::ServiceGraphOptions;
use crate::metrics_gen::span_metrics::{SpanMetricsNames, SpanMetricsOptions};
use crate::metrics_gen::Options as MetricsGenOptions;
use crate::sampling::config::SamplingArgs;
use crate::tail_sampling::config::TailSamplingConfig;

/// Consumes spans from Kafka and bulk-indexes them into Elasticsearch or
/// OpenSearch daily indices in Jaeger's schema; offsets are committed only
/// after the spans are stored.
#[derive(Parser, Debug, Clone)]
#[command(name = "ferrotrace-ingester", version)]
pub struct Config {
    /// A one-off job instead of the ingester; none runs the ingester.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Kafka bootstrap servers (comma-separated host:port).
    #[arg(
        long,
        env = "FERROTRACE_KAFKA_BROKERS",
        default_value = "localhost:9092",
        value_parser = parse_brokers
    )]
    pub kafka_brokers: String,

    /// Kafka topic to consume.
    #[arg(long, env = "FERROTRACE_KAFKA_TOPIC", default_value = "otlp_spans")]
    pub kafka_topic: String,

    /// Kafka consumer group shared by all ingesters.
    #[arg(
        long,
        env = "FERROTRACE_KAFKA_GROUP",
        default_value = "ferrotrace-ingester"
    )]
    pub kafka_group: String,

    /// Encoding of the topic's messages: otlp_proto (ferrotrace's collector, the OTel Collector's Kafka exporter), otlp_json, jaeger_proto or jaeger_json (a Jaeger v1 collector's Kafka writer).
    #[arg(long, env = "FERROTRACE_KAFKA_ENCODING", default_value = "otlp_proto")]
    pub kafka_encoding: Encoding,

    /// When this many messages at the start of a partition all fail to
    /// decode, the partition is paused as probably read with the wrong
    /// --kafka-encoding, instead of moving the topic to the dead-letter topic
    /// (0: no check, every undecodable message is dead-lettered). Until one
    /// decodes, up to this many are held in memory, uncommitted.
    #[arg(long, env = "FERROTRACE_KAFKA_ENCODING_CHECK", default_value_t = 100)]
    pub kafka_encoding_check: usize,

    /// Topic for messages that can never be stored (they do not decode); empty means `<topic>_dlq`.
    #[arg(long, env = "FERROTRACE_KAFKA_DLQ_TOPIC", default_value = "")]
    pub kafka_dlq_topic: String,

    /// Extra librdkafka property `key=value` for the dead-letter producer (repeatable, or `;`-separated in the environment).
    #[arg(long = "kafka-producer-config", env = "FERROTRACE_KAFKA_PRODUCER_CONFIG", value_delimiter = ';', value_parser = parse_key_value, hide_env_values = true)]
    pub kafka_producer_config: Vec<(String, String)>,

    /// Extra librdkafka consumer property `key=value` (repeatable, or `;`-separated in the environment).
    #[arg(long = "kafka-consumer-config", env = "FERROTRACE_KAFKA_CONSUMER_CONFIG", value_delimiter = ';', value_parser = parse_key_value, hide_env_values = true)]
    pub kafka_consumer_config: Vec<(String, String)>,

    // Kafka TLS and SASL (`--kafka-tls*`, `--kafka-sasl-*`) of the consumer and the dead-letter producer, shared with the collector.
    #[command(flatten)]
    pub kafka_security: KafkaSecurity,

    // Adaptive sampling (`--sampling-*`, `--kafka-sampling-topic`).
    #[command(flatten)]
    pub sampling: SamplingArgs,

    /// Tail-based sampling: a file in the OpenTelemetry Collector `tail_sampling` processor's YAML shape (`decision_wait`, `num_traces`, `decision_cache`, `policies`); off when unset.
    #[arg(long, env = "FERROTRACE_TAIL_SAMPLING_CONFIG")]
    pub tail_sampling_config: Option<PathBuf>,

    /// Bytes of Kafka messages tail sampling may hold while their traces wait for a decision; beyond them the oldest traces are decided early.
    #[arg(long, env = "FERROTRACE_TAIL_SAMPLING_MAX_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub tail_sampling_max_bytes: usize,

    /// Elasticsearch/OpenSearch URLs (comma-separated).
    #[arg(
        long,
        env = "FERROTRACE_ES_URL",
        default_value = "http://localhost:9200",
        value_delimiter = ',',
        global = true
    )]
    pub es_url: Vec<String>,

    /// User for basic authentication (Jaeger's `es.username`); a trailing newline is dropped (as a Secret made with `--from-file` has).
    #[arg(long, env = "FERROTRACE_ES_USERNAME", value_parser = parse_username, conflicts_with_all = ["es_api_key", "es_api_key_file"], global = true)]
    pub es_username: Option<String>,

    /// Password for basic authentication (Jaeger's `es.password`).
    #[arg(
        long,
        env = "FERROTRACE_ES_PASSWORD",
        hide_env_values = true,
        conflicts_with = "es_password_file",
        global = true
    )]
    pub es_password: Option<Secret>,

    /// File holding the password, read at start; a trailing newline is dropped (Jaeger's `es.password-file`).
    #[arg(long, env = "FERROTRACE_ES_PASSWORD_FILE", global = true)]
    pub es_password_file: Option<PathBuf>,

    /// API key, base64 of `id:api_key`, sent as `Authorization: ApiKey <key>` (Jaeger's `es.api-key`).
    #[arg(
        long,
        env = "FERROTRACE_ES_API_KEY",
        hide_env_values = true,
        conflicts_with = "es_api_key_file",
        global = true
    )]
    pub es_api_key: Option<Secret>,

    /// File holding the API key, read at start; a trailing newline is dropped (Jaeger's `es.api-key-file`).
    #[arg(long, env = "FERROTRACE_ES_API_KEY_FILE", global = true)]
    pub es_api_key_file: Option<PathBuf>,

    /// PEM file of CA certificates trusted for https URLs, besides the built-in roots (Jaeger's `es.tls.ca`).
    #[arg(long, env = "FERROTRACE_ES_TLS_CA", global = true)]
    pub es_tls_ca: Option<PathBuf>,

    /// Accept any server certificate, checking neither its chain nor its name (Jaeger's `es.tls.skip-host-verify`).
    #[arg(long, env = "FERROTRACE_ES_TLS_SKIP_HOST_VERIFY", global = true)]
    pub es_tls_skip_host_verify: bool,

    /// PEM client certificate for TLS client authentication, with --es-tls-key (Jaeger's `es.tls.cert`).
    #[arg(long, env = "FERROTRACE_ES_TLS_CERT", requires = "es_tls_key", conflicts_with_all = ["es_username", "es_api_key", "es_api_key_file"], global = true)]
    pub es_tls_cert: Option<PathBuf>,

    /// PEM private key of --es-tls-cert (Jaeger's `es.tls.key`).
    #[arg(
        long,
        env = "FERROTRACE_ES_TLS_KEY",
        requires = "es_tls_cert",
        global = true
    )]
    pub es_tls_key: Option<PathBuf>,

    /// Prefix of every index name, e.g. `prod` gives `prod-jaeger-span-2026-11-26`.
    #[arg(
        long,
        env = "FERROTRACE_ES_INDEX_PREFIX",
        default_value = "",
        global = true
    )]
    pub es_index_prefix: String,

    /// Separator inside the date of daily index names (Jaeger's `es.index-date-separator`).
    #[arg(
        long,
        env = "FERROTRACE_ES_INDEX_DATE_SEPARATOR",
        default_value = "-",
        global = true
    )]
    pub es_index_date_separator: String,

    /// Rollover mode (Jaeger's `es.use-aliases`): write to the `[prefix-]jaeger-span-write` and `jaeger-service-write` aliases, which `ferrotrace-ingester rollover init` creates, instead of daily indices.
    #[arg(long, env = "FERROTRACE_ES_USE_ALIASES", global = true)]
    pub es_use_aliases: bool,

    /// Store every non-binary span and process tag also as a field `tag.<key>` (Jaeger's `es.tags-as-fields.all`).
    #[arg(long, env = "FERROTRACE_ES_TAGS_AS_FIELDS_ALL")]
    pub es_tags_as_fields_all: bool,

    /// Tag keys stored also as fields `tag.<key>` (comma-separated; Jaeger's `es.tags-as-fields.include`).
    #[arg(
        long,
        env = "FERROTRACE_ES_TAGS_AS_FIELDS_INCLUDE",
        value_delimiter = ','
    )]
    pub es_tags_as_fields_include: Vec<String>,

    /// File of tag keys stored as fields, one per line (Jaeger's `es.tags-as-fields.config-file`).
    #[arg(long, env = "FERROTRACE_ES_TAGS_AS_FIELDS_CONFIG_FILE")]
    pub es_tags_as_fields_config_file: Option<PathBuf>,

    /// Replaces `.` in tag keys stored as fields, since Elasticsearch would read a dot as an object path (Jaeger's `es.tags-as-fields.dot-replacement`).
    #[arg(
        long,
        env = "FERROTRACE_ES_TAGS_AS_FIELDS_DOT_REPLACEMENT",
        default_value = "@",
        global = true
    )]
    pub es_tags_as_fields_dot_replacement: String,

    /// Install the index templates at start (and in `rollover init`).
    #[arg(long, env = "FERROTRACE_ES_CREATE_TEMPLATES", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub es_create_templates: bool,

    /// Primary shards of new indices (Jaeger's default).
    #[arg(
        long,
        env = "FERROTRACE_ES_NUM_SHARDS",
        default_value_t = 5,
        global = true
    )]
    pub es_num_shards: u32,

    /// Replicas of new indices (Jaeger's default).
    #[arg(
        long,
        env = "FERROTRACE_ES_NUM_REPLICAS",
        default_value_t = 1,
        global = true
    )]
    pub es_num_replicas: u32,

    /// A bulk request is sent once it holds this many documents. Jaeger's
    /// default is 1000; at 250 (about 450 KB of typical spans) a body is
    /// still in the CPU's cache when it is sent, which costs ~6 % less CPU
    /// per span (BENCHMARKS.md).
    #[arg(long, env = "FERROTRACE_ES_BULK_ACTIONS", default_value_t = 250)]
    pub es_bulk_actions: usize,

    /// A bulk request is sent once its body reaches this many bytes.
    #[arg(long, env = "FERROTRACE_ES_BULK_BYTES", default_value_t = 5_000_000)]
    pub es_bulk_bytes: usize,

    /// Hard cap on one bulk request body: a batch over it is sent as several requests (hosted clusters and proxies refuse larger bodies with 413).
    #[arg(
        long,
        env = "FERROTRACE_ES_BULK_MAX_BYTES",
        default_value_t = 10_000_000
    )]
    pub es_bulk_max_bytes: usize,

    /// A bulk request is sent at the latest this long after its first document.
    #[arg(long, env = "FERROTRACE_ES_BULK_FLUSH_INTERVAL", default_value = "200ms", value_parser = parse_duration)]
    pub es_bulk_flush_interval: Duration,

    /// How long a full batch waits for a free bulk slot, with reading
    /// stopped, before the partitions are paused (which makes librdkafka
    /// drop and later re-fetch what it had prefetched).
    #[arg(long, env = "FERROTRACE_KAFKA_PAUSE_AFTER", default_value = "1s", value_parser = parse_duration)]
    pub kafka_pause_after: Duration,

    /// Bytes of messages librdkafka fetches ahead of the consume loop (its
    /// `queued.max.messages.kbytes`, 64 MiB by default there). With the bulk
    /// bodies (`--es-bulk-workers` + 1 times `--es-bulk-bytes`) it bounds the
    /// ingester's memory.
    #[arg(
        long,
        env = "FERROTRACE_KAFKA_PREFETCH_BYTES",
        default_value_t = 16_000_000
    )]
    pub kafka_prefetch_bytes: usize,

    /// Bulk requests in flight at once.
    #[arg(long, env = "FERROTRACE_ES_BULK_WORKERS", default_value_t = 4)]
    pub es_bulk_workers: usize,

    /// Timeout of one bulk request (it is retried after).
    #[arg(long, env = "FERROTRACE_ES_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub es_timeout: Duration,

    /// Admin HTTP listen address: /metrics, /healthz, /readyz.
    #[arg(long, env = "FERROTRACE_ADMIN_LISTEN", default_value = "0.0.0.0:14270", value_parser = parse_listen)]
    pub admin_listen: Listen,

    /// Log format: text or json.
    #[arg(
        long,
        env = "FERROTRACE_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Threads of the async runtime that runs the consume loop, the bulk requests and the jobs. 1 is a single-threaded runtime: the documents are sent from the core that wrote them, with no wake-ups across threads, for less CPU per span (BENCHMARKS.md), for deployments that scale by replicas of about one CPU each (the k8s manifests set it). 0 (the default) = one thread per CPU the process may use (cgroup quota included), and a single-threaded runtime when that is one; N = a multi-thread runtime with N threads. librdkafka's own threads come on top.
    #[arg(
        long,
        env = "FERROTRACE_RUNTIME_THREADS",
        default_value_t = 0,
        global = true
    )]
    pub runtime_threads: usize,

    /// Count Jaeger dependency links (the UI's System Architecture) from the spans being indexed and write them to the dependencies index every --dependencies-flush-interval. Off by default: it costs about half again the CPU per span (BENCHMARKS.md).
    #[arg(long, env = "FERROTRACE_DEPENDENCIES_LIVE", default_value_t = false, action = clap::ArgAction::Set)]
    pub dependencies_live: bool,

    /// How often the live dependency counts are written.
    #[arg(long, env = "FERROTRACE_DEPENDENCIES_FLUSH_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub dependencies_flush_interval: Duration,

    /// A trace with no new span for this long has its dependency links counted.
    #[arg(long, env = "FERROTRACE_DEPENDENCIES_TRACE_WAIT", default_value = "10s", value_parser = parse_duration)]
    pub dependencies_trace_wait: Duration,

    /// Spans held per partition while their trace may still grow; beyond it the oldest trace is counted early.
    #[arg(
        long,
        env = "FERROTRACE_DEPENDENCIES_MAX_SPANS",
        default_value_t = 100_000
    )]
    pub dependencies_max_spans: usize,

    /// Export the service graph (Tempo's `traces_service_graph_*` metrics) from the spans being indexed.
    #[arg(long, env = "FERROTRACE_SERVICE_GRAPH", default_value_t = true, action = clap::ArgAction::Set)]
    pub service_graph: bool,

    /// Client or server spans waiting for their other half; when full, the one that waited longest is dropped and counted (Tempo's `max_items`).
    #[arg(
        long,
        env = "FERROTRACE_SERVICE_GRAPH_MAX_ITEMS",
        default_value_t = 10_000
    )]
    pub service_graph_max_items: usize,

    /// How long a client or server span waits for its other half before it counts as unpaired (Tempo's `wait`).
    #[arg(long, env = "FERROTRACE_SERVICE_GRAPH_WAIT", default_value = "10s", value_parser = parse_duration)]
    pub service_graph_wait: Duration,

    /// Export span metrics (Tempo's `traces_spanmetrics_*`) from the spans being indexed.
    #[arg(long, env = "FERROTRACE_SPAN_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub span_metrics: bool,

    /// Distinct label sets the span and service-graph metrics may create; spans beyond it are counted under an overflow series.
    #[arg(
        long,
        env = "FERROTRACE_SPAN_METRICS_MAX_SERIES",
        default_value_t = 10_000
    )]
    pub span_metrics_max_series: usize,

    /// Names of the span metrics: tempo (`traces_spanmetrics_*`, for Grafana), otel-connector (the OpenTelemetry spanmetrics connector's `traces_span_metrics_*`, in milliseconds, for Jaeger's Monitor tab) or both.
    #[arg(
        long,
        env = "FERROTRACE_SPAN_METRICS_NAMES",
        value_enum,
        default_value = "tempo"
    )]
    pub span_metrics_names: SpanMetricsNames,

    /// Spans that ended longer ago than this when read count in neither span metrics nor the service graph, so a drained backlog does not look like a burst of traffic (Tempo's `metrics_ingestion_time_range_slack`); 0 counts every span.
    #[arg(long, env = "FERROTRACE_METRICS_MAX_SPAN_AGE", default_value = "30s", value_parser = parse_duration)]
    pub metrics_max_span_age: Duration,

    /// How long SIGTERM waits for in-flight bulk requests before exiting without committing them.
    #[arg(long, env = "FERROTRACE_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// How often the consumer refreshes the topic's metadata, so that a topic
    /// created after start (or partitions added to it) is consumed within
    /// about this long; librdkafka's topic.metadata.refresh.interval.ms, whose
    /// own default is 5 minutes. 1s to 1h.
    #[arg(long, env = "FERROTRACE_KAFKA_METADATA_REFRESH_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub kafka_metadata_refresh_interval: Duration,

    /// /healthz fails (so Kubernetes restarts the ingester) when the consume
    /// loop has read no message and finished no bulk request for this long
    /// while partitions assigned here have messages not stored and
    /// Elasticsearch answers; 0 turns it off. The default outlasts a
    /// rebalance and several bulk retries, and equals librdkafka's
    /// max.poll.interval.ms, after which the group drops a member that stopped polling.
    #[arg(long, env = "FERROTRACE_STUCK_AFTER", default_value = "5m", value_parser = parse_duration)]
    pub stuck_after: Duration,

    /// Test only: the consume loop stops iterating after this many
    /// messages, as a deadlock would. Hidden, and read from no environment
    /// variable, so that nothing sets it by accident.
    #[arg(long, hide = true)]
    pub test_wedge_after_messages: Option<u64>,
}

/// Jobs run once and exit, e.g. from a Kubernetes CronJob.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Delete daily indices older than --keep-days, like Jaeger's
    /// es-index-cleaner; an index behind a `*-write` alias is never deleted.
    Retention(RetentionArgs),
    /// Compute one day's service dependencies from the span index into
    /// `jaeger-dependencies-YYYY-MM-DD`, like Jaeger's spark-dependencies.
    Dependencies(DependenciesArgs),
    /// Manage rollover indices and their `-write`/`-read` aliases, like
    /// Jaeger's es-rollover (for an ingester run with --es-use-aliases).
    Rollover(RolloverArgs),
}

/// Flags of `ferrotrace-ingester dependencies`.
#[derive(Args, Debug, Clone)]
pub struct DependenciesArgs {
    /// The UTC day to read: YYYY-MM-DD, `today` (the default) or `yesterday`.
    #[arg(long, env = "FERROTRACE_DEPENDENCIES_DATE")]
    pub date: Option<String>,

    /// Trace-ID ranges read at once; default twice the CPUs.
    #[arg(long, env = "FERROTRACE_DEPENDENCIES_PARALLELISM")]
    pub parallelism: Option<usize>,

    /// `i/N`: read only the i-th of N equal parts of the trace-ID space (0-based) and store partial counts, for N pods of one Kubernetes Job.
    #[arg(long, env = "FERROTRACE_DEPENDENCIES_SHARD", conflicts_with = "merge")]
    pub shard: Option<String>,

    /// Sum the partial counts of `--shards` shard runs into the day's dependencies document.
    #[arg(long, env = "FERROTRACE_DEPENDENCIES_MERGE")]
    pub merge: bool,

    /// Spans per page of each range's sorted scroll.
    #[arg(
        long,
        env = "FERROTRACE_DEPENDENCIES_PAGE_SIZE",
        default_value_t = 2000
    )]
    pub page_size: usize,

    /// Move the counts of the day's live documents (written by ingesters with --dependencies-live) into the day's document instead of reading spans: the cheap end-of-day compaction.
    #[arg(long, env = "FERROTRACE_DEPENDENCIES_FROM_LIVE", conflicts_with_all = ["merge", "shard"])]
    pub from_live: bool,

    /// With --merge: how many shards must have stored their counts.
    #[arg(long, env = "FERROTRACE_DEPENDENCIES_SHARDS", requires = "merge")]
    pub shards: Option<u32>,
}

/// Flags of `ferrotrace-ingester rollover`.
#[derive(Args, Debug, Clone)]
pub struct RolloverArgs {
    #[command(subcommand)]
    pub action: RolloverAction,

    /// Leave the dependencies index set alone (Jaeger's `--skip-dependencies`).
    #[arg(long, env = "FERROTRACE_ROLLOVER_SKIP_DEPENDENCIES", global = true)]
    pub skip_dependencies: bool,
}

/// The three steps of rollover mode, each run on its own (init once, the
/// others from CronJobs).
#[derive(Subcommand, Debug, Clone)]
pub enum RolloverAction {
    /// Install the templates, create the first index of each set
    /// (`jaeger-span-000001`, …) and point the `-write` and `-read` aliases at it.
    Init,
    /// Start a new write index for each set whose write index meets any of
    /// --conditions, and add it to the read alias.
    Rollover {
        /// Conditions as JSON: max_age, max_docs, max_size, max_primary_shard_size; any one met rolls over, `{}` always does.
        #[arg(
            long,
            env = "FERROTRACE_ROLLOVER_CONDITIONS",
            default_value = r#"{"max_age":"2d"}"#
        )]
        conditions: String,
    },
    /// Remove indices created before now minus --unit-count --unit from the read alias (never the write index).
    Lookback {
        /// seconds, minutes, hours, days, weeks, months or years.
        #[arg(long, env = "FERROTRACE_ROLLOVER_UNIT", default_value = "days")]
        unit: String,
        /// How many units back the read alias reaches.
        #[arg(long, env = "FERROTRACE_ROLLOVER_UNIT_COUNT", default_value_t = 1)]
        unit_count: u32,
    },
}

/// Flags of `ferrotrace-ingester retention`.
#[derive(Args, Debug, Clone)]
pub struct RetentionArgs {
    /// Days of indices to keep besides today's (UTC): an index dated today minus N days or later is kept; 0 deletes every day before today.
    #[arg(long, env = "FERROTRACE_RETENTION_KEEP_DAYS")]
    pub keep_days: u32,

    /// Print the indices that would be deleted and delete nothing.
    #[arg(long, env = "FERROTRACE_RETENTION_DRY_RUN")]
    pub dry_run: bool,

    /// Rollover mode (an ingester run with --es-use-aliases): delete the numbered indices (`jaeger-span-000001`, …) whose newest document is older than --keep-days, never the index behind a `-write` alias, instead of daily indices.
    #[arg(long, env = "FERROTRACE_RETENTION_ROLLOVER")]
    pub rollover: bool,
}

/// Bulk requests in flight at once: far beyond what one Elasticsearch
/// cluster serves, and within what a channel of twice as many holds.
const MAX_BULK_WORKERS: usize = 4096;

/// Service-graph halves waiting at once: about 100 bytes each with their
/// queue and index, so 10 GB; the store tells its halves apart by 32-bit
/// positions.
const MAX_SERVICE_GRAPH_ITEMS: usize = 100_000_000;

/// librdkafka's range of `queued.max.messages.kbytes` (1 KiB to 2,097,151 KiB), in bytes.
const MIN_PREFETCH_BYTES: usize = 1024;
const MAX_PREFETCH_BYTES: usize = 2_097_151 * 1024;

impl Config {
    /// The `--es-url` and connection flags, as the Elasticsearch client takes them.
    pub fn es_connection(&self) -> EsConnection {
        EsConnection {
            username: self.es_username.clone(),
            password: self.es_password.clone(),
            password_file: self.es_password_file.clone(),
            api_key: self.es_api_key.clone(),
            api_key_file: self.es_api_key_file.clone(),
            tls_ca: self.es_tls_ca.clone(),
            tls_skip_host_verify: self.es_tls_skip_host_verify,
            tls_cert: self.es_tls_cert.clone(),
            tls_key: self.es_tls_key.clone(),
            ..EsConnection::new(self.es_url.clone(), self.es_timeout)
        }
    }

    /// How the consumer reaches Kafka: the `--kafka-*` consumer flags.
    pub fn consumer_options(&self) -> ConsumerOptions {
        ConsumerOptions {
            brokers: self.kafka_brokers.clone(),
            topic: self.kafka_topic.clone(),
            group: self.kafka_group.clone(),
            metadata_refresh_interval: self.kafka_metadata_refresh_interval,
            prefetch_bytes: self.kafka_prefetch_bytes,
            security: self.kafka_security.clone(),
            properties: self.kafka_consumer_config.clone(),
        }
    }

    /// How the poll loop decodes and batches: the encoding and bulk flags.
    pub fn loop_options(&self) -> LoopOptions {
        LoopOptions {
            topic: self.kafka_topic.clone(),
            encoding: self.kafka_encoding,
            encoding_check: self.kafka_encoding_check,
            bulk_actions: self.es_bulk_actions,
            bulk_bytes: self.es_bulk_bytes,
            flush_interval: self.es_bulk_flush_interval,
            bulk_max_bytes: self.es_bulk_max_bytes,
            bulk_workers: self.es_bulk_workers,
            pause_after: self.kafka_pause_after,
            wedge_after_messages: self.test_wedge_after_messages,
        }
    }

    /// Which metrics-generator processors run, and their limits.
    /// The live dependencies' options, None with `--dependencies-live=false`.
    pub fn live_dependencies_options(&self) -> Option<LiveOptions> {
        self.dependencies_live.then(|| LiveOptions {
            window: WindowOptions {
                max_spans: self.dependencies_max_spans,
                trace_wait: self.dependencies_trace_wait,
            },
            flush_interval: self.dependencies_flush_interval,
            topic: self.kafka_topic.clone(),
            target: Target {
                prefix: self.es_index_prefix.clone(),
                date_separator: self.es_index_date_separator.clone(),
                use_aliases: self.es_use_aliases,
            },
        })
    }

    pub fn metrics_gen_options(&self) -> MetricsGenOptions {
        MetricsGenOptions {
            service_graph: self.service_graph.then_some(ServiceGraphOptions {
                max_items: self.service_graph_max_items,
                wait: self.service_graph_wait,
                max_label_sets: self.span_metrics_max_series,
            }),
            span_metrics: self.span_metrics.then_some(SpanMetricsOptions {
                max_label_sets: self.span_metrics_max_series,
                names: self.span_metrics_names,
            }),
            max_span_age: Some(self.metrics_max_span_age).filter(|age| !age.is_zero()),
        }
    }

    /// Where and how the ingester writes documents.
    pub fn index_options(&self) -> Result<IndexOptions, String> {
        Ok(IndexOptions {
            prefix: self.es_index_prefix.clone(),
            date_separator: self.es_index_date_separator.clone(),
            use_aliases: self.es_use_aliases,
            tags_as_fields: self.tags_as_fields()?,
        })
    }

    /// The index templates to install, `None` with `--es-create-templates=false`.
    pub fn template_options(&self) -> Option<TemplateOptions> {
        self.es_create_templates.then(|| TemplateOptions {
            prefix: self.es_index_prefix.clone(),
            shards: self.es_num_shards,
            replicas: self.es_num_replicas,
        })
    }

    /// The tags-as-fields flags, with the keys of
    /// `--es-tags-as-fields-config-file` read (one per line, blank lines and
    /// surrounding spaces ignored).
    pub fn tags_as_fields(&self) -> Result<TagsAsFields, String> {
        let mut include: HashSet<String> = self
            .es_tags_as_fields_include
            .iter()
            .map(|key| key.trim())
            .filter(|key| !key.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(path) = &self.es_tags_as_fields_config_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "--es-tags-as-fields-config-file {}: cannot read: {e}",
                    path.display()
                )
            })?;
            include.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|key| !key.is_empty())
                    .map(str::to_owned),
            );
        }
        Ok(TagsAsFields {
            all: self.es_tags_as_fields_all,
            include,
            dot_replacement: self.es_tags_as_fields_dot_replacement.clone(),
        })
    }

    /// The tail-sampling configuration, `None` without `--tail-sampling-config`.
    pub fn tail_sampling(&self) -> Result<Option<TailSamplingConfig>, String> {
        self.tail_sampling_config
            .as_deref()
            .map(TailSamplingConfig::load)
            .transpose()
    }

    /// The dead-letter topic: `--kafka-dlq-topic`, or `<topic>_dlq`.
    pub fn dlq_topic(&self) -> String {
        if self.kafka_dlq_topic.is_empty() {
            format!("{}_dlq", self.kafka_topic)
        } else {
            self.kafka_dlq_topic.clone()
        }
    }

    /// Checks what clap cannot; returns one clear line on error.
    pub fn validate(&self) -> Result<(), String> {
        if self.kafka_topic.is_empty() || self.kafka_group.is_empty() {
            return Err("--kafka-topic and --kafka-group must not be empty".into());
        }
        self.kafka_security.validate().map_err(|e| e.to_string())?;
        self.validate_es()?;
        let tags = self.tags_as_fields()?;
        if tags.is_enabled() && tags.dot_replacement.contains('.') {
            return Err("--es-tags-as-fields-dot-replacement must not contain a dot".into());
        }
        if self.es_bulk_max_bytes < 1024 {
            return Err("--es-bulk-max-bytes must be at least 1024".into());
        }
        if self.es_bulk_actions == 0 || self.es_bulk_bytes == 0 || self.es_bulk_workers == 0 {
            return Err(
                "--es-bulk-actions, --es-bulk-bytes and --es-bulk-workers must be positive".into(),
            );
        }
        if self.es_bulk_workers > MAX_BULK_WORKERS {
            return Err(format!(
                "--es-bulk-workers must be at most {MAX_BULK_WORKERS}"
            ));
        }
        if !(MIN_PREFETCH_BYTES..=MAX_PREFETCH_BYTES).contains(&self.kafka_prefetch_bytes) {
            return Err(format!(
                "--kafka-prefetch-bytes must be between {MIN_PREFETCH_BYTES} and {MAX_PREFETCH_BYTES}"
            ));
        }
        if self.es_bulk_flush_interval.is_zero() {
            return Err("--es-bulk-flush-interval must be positive".into());
        }
        if self.service_graph_wait.is_zero() {
            return Err("--service-graph-wait must be positive".into());
        }
        if self.service_graph_max_items > MAX_SERVICE_GRAPH_ITEMS {
            return Err(format!(
                "--service-graph-max-items must be at most {MAX_SERVICE_GRAPH_ITEMS}"
            ));
        }
        if self.dependencies_flush_interval < Duration::from_secs(1) {
            return Err("--dependencies-flush-interval must be at least 1s".into());
        }
        if self.dependencies_trace_wait.is_zero() {
            return Err("--dependencies-trace-wait must be positive".into());
        }
        if self.dependencies_max_spans == 0 {
            return Err("--dependencies-max-spans must be positive".into());
        }
        check_kafka_properties("--kafka-consumer-config", &self.kafka_consumer_config)?;
        check_kafka_properties("--kafka-producer-config", &self.kafka_producer_config)?;
        if !self.stuck_after.is_zero() && self.stuck_after < Duration::from_secs(1) {
            return Err("--stuck-after must be 0 (off) or at least 1s".into());
        }
        self.sampling.validate()?;
        self.tail_sampling()?;
        if self.tail_sampling_max_bytes == 0 {
            return Err("--tail-sampling-max-bytes must be positive".into());
        }
        if self.test_wedge_after_messages == Some(0) {
            return Err("--test-wedge-after-messages must be positive".into());
        }
        let refresh = self.kafka_metadata_refresh_interval;
        if refresh < Duration::from_secs(1) || refresh > Duration::from_secs(3600) {
            return Err("--kafka-metadata-refresh-interval must be between 1s and 1h".into());
        }
        Ok(())
    }

    /// Checks the Elasticsearch connection flags alone: all that a job needs.
    pub fn validate_es(&self) -> Result<(), String> {
        if self.es_timeout.is_zero() {
            return Err("--es-timeout must be positive".into());
        }
        if self.es_num_shards == 0 {
            return Err("--es-num-shards must be at least 1".into());
        }
        if self.es_url.iter().all(|u| u.trim().is_empty()) {
            return Err("--es-url needs at least one URL".into());
        }
        for url in &self.es_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "--es-url {url:?} must start with http:// or https://"
                ));
            }
        }
        EsClient::new(&self.es_connection()).map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_jaeger() {
        let config = Config::try_parse_from(["ferrotrace-ingester"]).unwrap();
        assert_eq!(config.kafka_topic, "otlp_spans");
        assert_eq!(config.kafka_group, "ferrotrace-ingester");
        assert_eq!(config.es_url, vec!["http://localhost:9200".to_string()]);
        assert_eq!(
            config.admin_listen.addr(),
            Some("0.0.0.0:14270".parse().unwrap())
        );
        assert_eq!(
            (config.es_bulk_actions, config.es_bulk_bytes),
            (250, 5_000_000)
        );
        assert_eq!(config.es_bulk_flush_interval, Duration::from_millis(200));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn prefetch_is_bounded_within_what_librdkafka_takes() {
        assert_eq!(parse(&[]).unwrap().kafka_prefetch_bytes, 16_000_000);
        for bytes in ["1024", "2147482624"] {
            let config = parse(&["--kafka-prefetch-bytes", bytes]).unwrap();
            assert!(config.validate().is_ok(), "{bytes}");
        }
        for bytes in ["1023", "2147482625"] {
            let error = parse(&["--kafka-prefetch-bytes", bytes])
                .unwrap()
                .validate()
                .unwrap_err();
            assert!(error.contains("--kafka-prefetch-bytes"), "{error}");
        }
    }

    #[test]
    fn metrics_generator_flags_default_to_tempo() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.span_metrics_names, SpanMetricsNames::Tempo);
        assert_eq!(config.metrics_max_span_age, Duration::from_secs(30));
        let config = parse(&[
            "--span-metrics-names=otel-connector",
            "--metrics-max-span-age=0",
        ])
        .unwrap();
        assert_eq!(config.span_metrics_names, SpanMetricsNames::OtelConnector);
        assert_eq!(config.metrics_max_span_age, Duration::ZERO);
        assert_eq!(
            parse(&["--span-metrics-names=both"])
                .unwrap()
                .span_metrics_names,
            SpanMetricsNames::Both
        );
        let error = parse(&["--span-metrics-names=jaeger"]).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::InvalidValue);
        assert!(parse(&["--metrics-max-span-age=soon"]).is_err());
    }

    fn parse(flags: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("ferrotrace-ingester").chain(flags.iter().copied()))
    }

    #[test]
    fn kafka_security_flags_are_checked_at_start() {
        let config = parse(&["--kafka-tls", "--kafka-sasl-username=ingest"]).unwrap();
        let problem = config.validate().unwrap_err();
        assert!(problem.contains("--kafka-sasl-mechanism"), "{problem}");
        let config = parse(&["--kafka-tls"]).unwrap();
        assert_eq!(config.kafka_security.security_protocol(), "ssl");
        assert!(config.validate().is_ok());
    }

    #[test]
    fn es_credentials_that_exclude_each_other_are_refused_by_clap() {
        for flags in [
            &[
                "--es-username=elastic",
                "--es-password=a",
                "--es-password-file=/p",
            ][..],
            &["--es-username=elastic", "--es-api-key=a2V5"],
            &["--es-api-key=a2V5", "--es-api-key-file=/k"],
            &[
                "--es-tls-cert=/c",
                "--es-tls-key=/k",
                "--es-username=elastic",
            ],
            &["--es-tls-cert=/c"],
        ] {
            let error = parse(flags).expect_err(&flags.join(" "));
            assert!(
                matches!(
                    error.kind(),
                    clap::error::ErrorKind::ArgumentConflict
                        | clap::error::ErrorKind::MissingRequiredArgument
                ),
                "{flags:?}: {error}"
            );
        }
    }

    #[test]
    fn es_password_file_is_read_at_validation() {
        let path =
            std::env::temp_dir().join(format!("ferrotrace-config-pw-{}", std::process::id()));
        std::fs::write(&path, "s3cret\n").unwrap();
        let flag = format!("--es-password-file={}", path.display());
        let config = parse(&["--es-username=elastic", &flag]).unwrap();
        assert_eq!(config.validate(), Ok(()));
        std::fs::remove_file(&path).unwrap();
        let problem = config.validate().unwrap_err();
        assert!(problem.starts_with("--es-password-file "), "{problem}");
        assert!(problem.contains("cannot read"), "{problem}");
    }

    #[test]
    fn missing_es_tls_ca_fails_validation_in_one_line() {
        let config = parse(&[
            "--es-url=https://es:9200",
            "--es-tls-ca=/nonexistent/ca.crt",
        ])
        .unwrap();
        let problem = config.validate().unwrap_err();
        assert!(
            problem.starts_with("--es-tls-ca /nonexistent/ca.crt: cannot read"),
            "{problem}"
        );
        assert!(!problem.contains('\n'), "{problem}");
    }

    #[test]
    fn es_username_alone_fails_validation() {
        let problem = parse(&["--es-username=elastic"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(problem.contains("--es-password"), "{problem}");
    }

    #[test]
    fn reference_deployment_flags_parse_and_secrets_stay_out_of_debug() {
        let config = parse(&[
            "--es-url=https://elasticsearch-client.elasticsearch.svc:9200",
            "--es-username=elastic",
            "--es-password=hunter2-password",
            "--es-tls-skip-host-verify",
        ])
        .unwrap();
        assert!(config.es_tls_skip_host_verify);
        assert_eq!(config.validate(), Ok(()));
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("es_password: Some(***)"), "{debug}");
        let config = parse(&["--es-api-key=c2VjcmV0LWFwaS1rZXk="]).unwrap();
        assert!(!format!("{config:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn es_username_loses_only_a_trailing_line_ending() {
        for (given, expected) in [
            ("elastic\n", "elastic"),
            ("elastic\r\n", "elastic"),
            ("elastic", "elastic"),
            (" elas tic \t\n", " elas tic \t"),
        ] {
            let flag = format!("--es-username={given}");
            let config = parse(&[&flag, "--es-password=pw"]).unwrap();
            assert_eq!(config.es_username.as_deref(), Some(expected), "{given:?}");
            assert_eq!(
                config.es_connection().username.as_deref(),
                Some(expected),
                "{given:?}"
            );
        }
    }

    #[test]
    fn several_es_urls_are_accepted_and_checked() {
        let config = Config::try_parse_from([
            "ferrotrace-ingester",
            "--es-url",
            "http://a:9200,https://b:9200",
        ])
        .unwrap();
        assert_eq!(config.es_url.len(), 2);
        let bad = Config::try_parse_from(["ferrotrace-ingester", "--es-url", "a:9200"]).unwrap();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn tags_as_fields_keys_come_from_the_flag_and_the_config_file() {
        let path =
            std::env::temp_dir().join(format!("ferrotrace-config-tags-{}", std::process::id()));
        std::fs::write(&path, "http.method\n\n  db.system \n").unwrap();
        let file = format!("--es-tags-as-fields-config-file={}", path.display());
        let config = parse(&["--es-tags-as-fields-include=a.b, c", &file]).unwrap();
        let tags = config.tags_as_fields().unwrap();
        std::fs::remove_file(&path).unwrap();
        let mut keys: Vec<_> = tags.include.iter().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["a.b", "c", "db.system", "http.method"]);
        assert!(!tags.all);
        assert_eq!(tags.dot_replacement, "@");
        let problem = config.validate().unwrap_err();
        assert!(
            problem.starts_with("--es-tags-as-fields-config-file ")
                && problem.contains("cannot read"),
            "{problem}"
        );
        assert!(parse(&[
            "--es-tags-as-fields-all",
            "--es-tags-as-fields-dot-replacement=."
        ])
        .unwrap()
        .validate()
        .is_err());
        assert!(!parse(&[]).unwrap().tags_as_fields().unwrap().is_enabled());
    }

    #[test]
    fn no_subcommand_runs_the_ingester() {
        assert!(parse(&["--kafka-topic=t"]).unwrap().command.is_none());
    }

    #[test]
    fn retention_takes_the_es_flags_before_or_after_its_name() {
        for flags in [
            &[
                "--es-url=http://es:9200",
                "--es-index-prefix=p",
                "retention",
                "--keep-days=7",
            ][..],
            &[
                "retention",
                "--keep-days=7",
                "--es-url=http://es:9200",
                "--es-index-prefix=p",
            ],
        ] {
            let config = parse(flags).unwrap_or_else(|e| panic!("{flags:?}: {e}"));
            let Some(Command::Retention(args)) = &config.command else {
                panic!("{flags:?}: no retention subcommand");
            };
            assert_eq!((args.keep_days, args.dry_run), (7, false));
            assert_eq!(config.es_url, vec!["http://es:9200".to_string()]);
            assert_eq!(config.es_index_prefix, "p");
            assert_eq!(config.validate_es(), Ok(()));
        }
        let config = parse(&["retention", "--keep-days=0", "--dry-run"]).unwrap();
        assert!(matches!(
            config.command,
            Some(Command::Retention(RetentionArgs {
                keep_days: 0,
                dry_run: true,
                rollover: false,
            }))
        ));
        assert!(parse(&["retention"]).is_err(), "--keep-days is required");
        assert!(parse(&["retention", "--keep-days=-1"]).is_err());
    }

    #[test]
    fn service_graph_max_items_is_bounded() {
        let problem = parse(&["--service-graph-max-items=100000001"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(
            problem.starts_with("--service-graph-max-items must be at most 100000000"),
            "{problem}"
        );
        let config = parse(&["--service-graph-max-items=100000000"]).unwrap();
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn metadata_refresh_interval_is_seconds_not_librdkafkas_minutes_and_bounded() {
        let config = parse(&[]).unwrap();
        assert_eq!(
            config.kafka_metadata_refresh_interval,
            Duration::from_secs(5)
        );
        for refresh in ["500ms", "2h"] {
            let flag = format!("--kafka-metadata-refresh-interval={refresh}");
            let problem = parse(&[&flag]).unwrap().validate().unwrap_err();
            assert!(
                problem.starts_with("--kafka-metadata-refresh-interval"),
                "{problem}"
            );
        }
        let config = parse(&["--kafka-metadata-refresh-interval=30s"]).unwrap();
        assert_eq!(config.validate(), Ok(()));
    }
}
