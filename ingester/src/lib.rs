//! ferrotrace ingester: Kafka ([`consumer`]) → Jaeger documents → bulk
//! indexing into Elasticsearch/OpenSearch ([`es`]), committing offsets only
//! after the documents are stored. On the way, [`metrics_gen`] derives
//! Tempo-compatible service-graph and span metrics from the spans.

pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod dependencies;
pub mod encoding_check;
pub mod es;
pub mod jobs;
pub mod liveness;
pub mod metrics;
pub mod metrics_gen;
pub mod readiness;
pub mod sampling;
pub mod tail_sampling;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use backon::Retryable;
use ferrotrace_common::admin::{AdminServer, Liveness, Readiness};
use metrics_exporter_prometheus::PrometheusHandle;
use rdkafka::consumer::Consumer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::dead_letter::DeadLetters;
use crate::es::bulk::BatchBuilder;
use crate::es::client::{EsClient, EsError};
use crate::metrics_gen::MetricsGenerator;
use crate::tail_sampling::TailSampler;
use ferrotrace_format::jaeger::IndexKind;

/// An ingester with its admin listener bound; nothing contacted yet.
pub struct Ingester {
    config: Config,
    es: EsClient,
    metrics: PrometheusHandle,
    admin: Option<TcpListener>,
}

impl Ingester {
    /// Binds the admin listener and builds the Elasticsearch client.
    pub async fn bind(config: Config, metrics: PrometheusHandle) -> anyhow::Result<Self> {
        crate::metrics::describe();
        crate::metrics::register(config.kafka_encoding);
        let admin = match config.admin_listen.addr() {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the admin listener on {addr}"))?,
            ),
            None => None,
        };
        let es = EsClient::new(&config.es_connection())?;
        Ok(Self {
            config,
            es,
            metrics,
            admin,
        })
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves the admin endpoints at once, prepares Elasticsearch (waiting
    /// for it as long as it is unreachable), then consumes until `shutdown`,
    /// drains and commits within `--shutdown-timeout`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            config,
            es,
            metrics,
            admin,
        } = self;
        let ready = readiness::new();
        let live = Liveness::default();
        let admin_server = admin.map(|listener| {
            AdminServer::spawn(listener, metrics.clone(), ready.clone(), live.clone())
        });
        let result = consume(config, es, ready, live, shutdown).await;
        if let Some(server) = admin_server {
            server.stop().await;
        }
        if result.is_ok() {
            tracing::info!("ingester stopped");
        }
        result
    }
}

/// Everything the ingester does while its admin server runs.
async fn consume(
    config: Config,
    es: EsClient,
    ready: Readiness,
    live: Liveness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (consumer, stored) = consumer::create_consumer(&config.consumer_options())
        .context("creating the Kafka consumer")?;
    let kafka_watcher = tokio::spawn(readiness::watch_kafka(
        consumer.clone(),
        config.kafka_topic.clone(),
        config.kafka_group.clone(),
        ready.clone(),
        shutdown.clone(),
    ));
    let _stop_watching_kafka = AbortOnDrop(kafka_watcher);
    prepare_elasticsearch(&es, &config, &ready, &shutdown).await?;
    if shutdown.is_cancelled() {
        return Ok(());
    }
    let es_watcher = tokio::spawn(readiness::watch_es(
        es.clone(),
        ready.clone(),
        shutdown.clone(),
    ));
    let _stop_watching_es = AbortOnDrop(es_watcher);

    // Joining the group only now: documents must not reach an index before
    // its template, and a member that does not poll is expelled.
    consumer
        .subscribe(&[&config.kafka_topic])
        .context("subscribing to the Kafka topic")?;
    // One spare body per bulk worker; a body a large message made much bigger
    // than --es-bulk-bytes is not kept.
    let builder = BatchBuilder::new(config.index_options().map_err(anyhow::Error::msg)?)
        .with_body_pool(
            config.es_bulk_workers,
            config.es_bulk_bytes.saturating_mul(2) + (2 << 20),
        );
    // After SIGTERM, in-flight bulks get `--shutdown-timeout` to finish.
    let give_up = CancellationToken::new();
    let deadline = {
        let (give_up, shutdown, timeout) =
            (give_up.clone(), shutdown.clone(), config.shutdown_timeout);
        tokio::spawn(async move {
            shutdown.cancelled().await;
            tokio::time::sleep(timeout).await;
            give_up.cancel();
        })
    };
    let _stop_deadline = AbortOnDrop(deadline);
    tracing::info!(topic = %config.kafka_topic, group = %config.kafka_group, "consuming");
    let dead_letters = DeadLetters::new(
        &config.kafka_brokers,
        &config.dlq_topic(),
        &config.kafka_security,
        &config.kafka_producer_config,
    )
    .context("creating the dead-letter producer")?;
    let recorder = match config.sampling.shared.sampling_adaptive {
        true => Some(start_sampling(&config, &es, &consumer, &shutdown)?),
        false => None,
    };
    let tail_sampling = config
        .tail_sampling()
        .map_err(anyhow::Error::msg)?
        .map(|tail| {
            tracing::info!(
                decision_wait = ?tail.decision_wait,
                max_bytes = config.tail_sampling_max_bytes,
                "tail sampling on"
            );
            TailSampler::new(tail, config.tail_sampling_max_bytes)
        });
    let live_options = match config.live_dependencies_options() {
        Some(options) if config.es_use_aliases => {
            // Writing to a missing alias would create an index of its name.
            let alias = options.target.write_index(0);
            if es::admin::aliased(&es, &alias).await?.is_empty() {
                tracing::warn!(%alias, "--dependencies-live is off: no dependencies write alias (`rollover init` without --skip-dependencies creates it)");
                None
            } else {
                Some(options)
            }
        }
        options => options,
    };
    let live_links = live_options.map(|options| {
        let live = dependencies::live::LiveLinks::new(options);
        tokio::spawn(live.clone().run(es.clone(), shutdown.clone()));
        live
    });
    let progress = Arc::new(liveness::Progress::default());
    let watchdog = liveness::Watchdog {
        consumer: consumer.clone(),
        topic: config.kafka_topic.clone(),
        stored: stored.clone(),
        progress: progress.clone(),
        ready: ready.clone(),
        live,
        stuck_after: config.stuck_after,
    };
    let _stop_watchdog = AbortOnDrop(tokio::spawn(watchdog.run(shutdown.clone())));
    let es_for_live = es.clone();
    consumer::run(
        &config.loop_options(),
        consumer,
        stored,
        consumer::Sinks {
            es,
            builder,
            dead_letters,
            metrics_gen: MetricsGenerator::new(&config.metrics_gen_options()),
            sampling: recorder,
            tail_sampling,
            live: live_links.clone(),
        },
        progress,
        shutdown,
        give_up,
    )
    .await;
    if let Some(live) = live_links {
        // The offsets just committed are all counted once this is written;
        // an unreachable Elasticsearch gets the drain's time, no more (the
        // links counted since the last write are then missing, never doubled).
        let closed = tokio::time::timeout(config.shutdown_timeout, live.close(&es_for_live));
        if closed.await.is_err() {
            tracing::warn!("live dependencies not written at shutdown (elasticsearch too slow): the links counted since the last flush are missing");
        }
    }
    Ok(())
}

/// Starts adaptive sampling's task (until `shutdown`); returns where the
/// consume loop records the root spans it stores.
fn start_sampling(
    config: &Config,
    es: &EsClient,
    consumer: &Arc<consumer::IngestConsumer>,
    shutdown: &CancellationToken,
) -> anyhow::Result<sampling::throughput::Recorder> {
    let args = &config.sampling;
    let publisher = sampling::publisher::Publisher::new(
        &config.kafka_brokers,
        &args.shared.kafka_sampling_topic,
        &config.kafka_security,
        &config.kafka_producer_config,
    )
    .context("creating the sampling topic producer")?;
    let recorder = sampling::throughput::Recorder::default();
    let task = sampling::Sampling {
        options: sampling::SamplingOptions {
            calculation: args.calculation(),
            interval: args.sampling_calculation_interval,
            delay: args.sampling_calculation_delay,
            hostname: std::env::var("HOSTNAME").unwrap_or_else(|_| "ferrotrace-ingester".into()),
        },
        store: sampling::store::SamplingStore::new(
            es.clone(),
            &config.es_index_prefix,
            &config.es_index_date_separator,
        ),
        publisher,
        recorder: recorder.clone(),
    };
    let consumer = consumer.clone();
    let is_leader = move || {
        consumer
            .context()
            .owned_partitions()
            .contains(&sampling::LEADER_PARTITION)
    };
    tokio::spawn(task.run(is_leader, shutdown.clone()));
    tracing::info!(topic = %args.shared.kafka_sampling_topic, "adaptive sampling on");
    Ok(recorder)
}

/// Aborts a background task when the function that started it returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Prepares Elasticsearch for writing: detects its flavour, installs the
/// index templates (`--es-create-templates`) and finds the write aliases
/// (`--es-use-aliases`). What fails for a reason retrying can fix
/// (unreachable, 429, 5xx) is retried with backoff, the reason on the
/// `elasticsearch` readiness check, until it succeeds or `shutdown`; what
/// it cannot (a 401, a missing alias) is returned.
pub async fn prepare_elasticsearch(
    es: &EsClient,
    config: &Config,
    ready: &Readiness,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let flavour = (|| es.detect_flavour())
        .retry(es::bulk::retry_policy())
        .when(EsError::is_transient)
        .notify(|error, _| ready.fail(readiness::ELASTICSEARCH, readiness::es_unreachable(error)));
    let flavour = tokio::select! {
        flavour = flavour => flavour.context("detecting the elasticsearch flavour")?,
        _ = shutdown.cancelled() => return Ok(()),
    };
    tracing::info!(?flavour, "elasticsearch detected");
    if let Some(options) = config.template_options() {
        let installed = (|| es.install_templates(flavour, &options))
            .retry(es::bulk::retry_policy())
            .when(EsError::is_transient)
            .notify(|error, _| {
                ready.fail(
                    readiness::ELASTICSEARCH,
                    format!("index templates not installed: {error}"),
                )
            });
        tokio::select! {
            installed = installed => installed.context("installing index templates")?,
            _ = shutdown.cancelled() => return Ok(()),
        }
    }
    if config.es_use_aliases {
        let options = config.index_options().map_err(anyhow::Error::msg)?;
        // Live dependencies write through their alias too: a write to a
        // missing alias would create a plain index by its name, which
        // blocks the alias for good.
        let dependencies = config.dependencies_live.then_some(IndexKind::Dependencies);
        for kind in [IndexKind::Span, IndexKind::Service]
            .into_iter()
            .chain(dependencies)
        {
            let alias = options.write_alias(kind);
            let found = !es::admin::aliased(es, &alias).await?.is_empty();
            let why = match kind {
                IndexKind::Dependencies => {
                    " (without --skip-dependencies: --dependencies-live writes through it)"
                }
                _ => "",
            };
            anyhow::ensure!(
                found,
                "--es-use-aliases: the alias {alias} does not exist; run `ferrotrace-ingester rollover init` first{why}"
            );
        }
    }
    ready.pass(readiness::ELASTICSEARCH);
    Ok(())
}
