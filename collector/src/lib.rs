//! ferrotrace collector: receivers → [`pipeline`] (split by trace) →
//! [`producer`] (Kafka, acks=all) → answer the client.
//!
//! [`Collector::bind`] binds every listener first (so bad addresses fail
//! before anything runs, and tests can bind port 0), then [`Collector::run`]
//! serves until the shutdown token is cancelled and drains in-flight requests.

pub mod config;
pub mod metrics;
pub mod pipeline;
pub mod producer;
pub mod receivers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferrotrace_common::admin::{AdminServer, Readiness};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::producer::Producer;

/// A collector with its listeners bound, ready to run.
pub struct Collector {
    config: Config,
    producer: Arc<Producer>,
    metrics: PrometheusHandle,
    otlp_grpc: Option<TcpListener>,
    otlp_http: Option<TcpListener>,
    admin: Option<TcpListener>,
}

impl Collector {
    /// Creates the Kafka producer and binds every enabled listener.
    pub async fn bind(config: Config, metrics: PrometheusHandle) -> anyhow::Result<Self> {
        crate::metrics::describe();
        let producer = Arc::new(Producer::new(&config).context("creating the Kafka producer")?);
        let otlp_grpc = bind(config.otlp_grpc_listen.addr(), "OTLP/gRPC").await?;
        let otlp_http = bind(config.otlp_http_listen.addr(), "OTLP/HTTP").await?;
        let admin = bind(config.admin_listen.addr(), "admin").await?;
        let reserved = [
            ("jaeger-compact", config.jaeger_compact_listen.addr()),
            ("jaeger-binary", config.jaeger_binary_listen.addr()),
            ("jaeger-http", config.jaeger_http_listen.addr()),
            ("jaeger-grpc", config.jaeger_grpc_listen.addr()),
            ("zipkin", config.zipkin_listen.addr()),
        ];
        let pending: Vec<&str> = reserved
            .iter()
            .filter(|(_, addr)| addr.is_some())
            .map(|(name, _)| *name)
            .collect();
        if !pending.is_empty() {
            tracing::info!(receivers = ?pending, "these receivers are not available in this version; their flags are accepted and ignored");
        }
        Ok(Self {
            config,
            producer,
            metrics,
            otlp_grpc,
            otlp_http,
            admin,
        })
    }

    pub fn otlp_grpc_addr(&self) -> Option<SocketAddr> {
        self.otlp_grpc.as_ref().and_then(|l| l.local_addr().ok())
    }
    pub fn otlp_http_addr(&self) -> Option<SocketAddr> {
        self.otlp_http.as_ref().and_then(|l| l.local_addr().ok())
    }
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight requests finish
    /// (bounded by `--shutdown-timeout`) and flushes the producer.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            config,
            producer,
            metrics,
            otlp_grpc,
            otlp_http,
            admin,
        } = self;
        let pipeline = Arc::new(Pipeline::new(
            producer.clone(),
            config.kafka_max_message_bytes,
        ));
        let ready = Readiness::default();
        let mut tasks = tokio::task::JoinSet::new();

        if let Some(listener) = otlp_grpc {
            tracing::info!(addr = %listener.local_addr()?, "OTLP/gRPC receiver listening");
            let service =
                receivers::otlp_grpc::TraceService::new(pipeline.clone(), config.max_request_bytes);
            let token = shutdown.clone();
            tasks.spawn(async move {
                receivers::otlp_grpc::serve(listener, service, token)
                    .await
                    .context("OTLP/gRPC receiver")
            });
        }
        if let Some(listener) = otlp_http {
            tracing::info!(addr = %listener.local_addr()?, "OTLP/HTTP receiver listening");
            let router = receivers::otlp_http::router(pipeline.clone(), config.max_request_bytes);
            let token = shutdown.clone();
            tasks.spawn(async move {
                receivers::otlp_http::serve(listener, router, token)
                    .await
                    .context("OTLP/HTTP receiver")
            });
        }
        // The admin server outlives the receivers so /metrics stays readable while draining.
        let admin_server =
            admin.map(|listener| AdminServer::spawn(listener, metrics.clone(), ready.clone()));
        let readiness = tokio::spawn(watch_kafka(
            producer.clone(),
            ready.clone(),
            shutdown.clone(),
        ));

        shutdown.cancelled().await;
        ready.set(false);
        let drained = tokio::time::timeout(config.shutdown_timeout, async {
            while let Some(result) = tasks.join_next().await {
                match result {
                    Ok(Err(error)) => {
                        tracing::error!(error = format!("{error:#}"), "receiver failed")
                    }
                    Err(error) => tracing::error!(%error, "receiver task panicked"),
                    Ok(Ok(())) => {}
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(timeout = ?config.shutdown_timeout, "in-flight requests did not finish before the shutdown timeout");
        }
        readiness.abort();
        producer.flush(Duration::from_secs(5));
        if let Some(server) = admin_server {
            server.stop().await;
        }
        tracing::info!("collector stopped");
        Ok(())
    }
}

async fn bind(addr: Option<SocketAddr>, what: &str) -> anyhow::Result<Option<TcpListener>> {
    match addr {
        None => Ok(None),
        Some(addr) => TcpListener::bind(addr)
            .await
            .map(Some)
            .with_context(|| format!("binding the {what} listener on {addr}")),
    }
}

/// Marks the collector ready while Kafka answers metadata requests.
async fn watch_kafka(producer: Arc<Producer>, ready: Readiness, shutdown: CancellationToken) {
    loop {
        let reachable = producer.is_reachable().await;
        if reachable != ready.is_ready() {
            tracing::info!(reachable, "kafka reachability changed");
        }
        ready.set(reachable);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(if reachable { 5 } else { 1 })) => {}
        }
    }
}
