//! ferrotrace ingester: Kafka ([`consumer`]) → Jaeger documents → bulk
//! indexing into Elasticsearch/OpenSearch ([`es`]), committing offsets only
//! after the documents are stored. On the way, [`metrics_gen`] derives
//! Tempo-compatible service-graph and span metrics from the spans.

pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod es;
pub mod jobs;
pub mod metrics;
pub mod metrics_gen;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use backon::BackoffBuilder;
use ferrotrace_common::admin::{AdminServer, Readiness};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::dead_letter::DeadLetters;
use crate::es::bulk::{BatchBuilder, IndexOptions};
use crate::es::client::EsClient;
use crate::es::templates::TemplateOptions;
use crate::metrics_gen::MetricsGenerator;
use ferrotrace_common::jaeger::IndexKind;

/// An ingester with its admin listener bound and Elasticsearch prepared.
pub struct Ingester {
    config: Config,
    es: EsClient,
    metrics: PrometheusHandle,
    admin: Option<TcpListener>,
}

impl Ingester {
    /// Binds the admin listener, detects the Elasticsearch flavour and installs
    /// the index templates (retrying while Elasticsearch is unreachable).
    pub async fn bind(
        config: Config,
        metrics: PrometheusHandle,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Self> {
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
        let mut delays = es::bulk::retry_policy().build();
        let flavour = loop {
            match es.detect_flavour().await {
                Ok(flavour) => break flavour,
                Err(error) if error.is_transient() => {
                    tracing::warn!(%error, "elasticsearch not reachable yet, retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => anyhow::bail!("stopped before elasticsearch answered"),
                        _ = tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(5))) => {}
                    }
                }
                Err(error) => return Err(error).context("detecting the elasticsearch flavour"),
            }
        };
        tracing::info!(?flavour, "elasticsearch detected");
        if config.es_create_templates {
            let options = TemplateOptions {
                prefix: config.es_index_prefix.clone(),
                shards: config.es_num_shards,
                replicas: config.es_num_replicas,
            };
            es.install_templates(flavour, &options)
                .await
                .context("installing index templates")?;
        }
        if config.es_use_aliases {
            let options = index_options(&config)?;
            for kind in [IndexKind::Span, IndexKind::Service] {
                let alias = options.write_alias(kind);
                let found = es
                    .alias_exists(&alias)
                    .await
                    .with_context(|| format!("looking up the write alias {alias}"))?;
                anyhow::ensure!(
                    found,
                    "--es-use-aliases: the alias {alias} does not exist; run `ferrotrace-ingester rollover init` first"
                );
            }
        }
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

    /// Consumes until `shutdown`, then drains and commits within `--shutdown-timeout`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            config,
            es,
            metrics,
            admin,
        } = self;
        let ready = Readiness::default();
        let admin_server =
            admin.map(|listener| AdminServer::spawn(listener, metrics.clone(), ready.clone()));
        let watcher = tokio::spawn(watch_es(es.clone(), ready.clone(), shutdown.clone()));

        let (consumer, stored) =
            consumer::create_consumer(&config).context("creating the Kafka consumer")?;
        let builder = BatchBuilder::new(index_options(&config)?);
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
        tracing::info!(topic = %config.kafka_topic, group = %config.kafka_group, "consuming");
        let dead_letters = DeadLetters::new(
            &config.kafka_brokers,
            &config.dlq_topic(),
            &config.kafka_security,
            &config.kafka_producer_config,
        )
        .context("creating the dead-letter producer")?;
        consumer::run(
            &config,
            consumer,
            stored,
            consumer::Sinks {
                es,
                builder,
                dead_letters,
                metrics_gen: MetricsGenerator::from_config(&config),
            },
            shutdown,
            give_up,
        )
        .await;

        deadline.abort();
        watcher.abort();
        if let Some(server) = admin_server {
            server.stop().await;
        }
        tracing::info!("ingester stopped");
        Ok(())
    }
}

/// Where and how the ingester writes documents, from its flags.
fn index_options(config: &Config) -> anyhow::Result<IndexOptions> {
    Ok(IndexOptions {
        prefix: config.es_index_prefix.clone(),
        date_separator: config.es_index_date_separator.clone(),
        use_aliases: config.es_use_aliases,
        tags_as_fields: config.tags_as_fields().map_err(anyhow::Error::msg)?,
    })
}

/// Marks the ingester ready while Elasticsearch answers.
async fn watch_es(es: EsClient, ready: Readiness, shutdown: CancellationToken) {
    loop {
        let reachable = es.detect_flavour().await.is_ok();
        if reachable != ready.is_ready() {
            tracing::info!(reachable, "elasticsearch reachability changed");
        }
        ready.set(reachable);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(if reachable { 5 } else { 1 })) => {}
        }
    }
}
