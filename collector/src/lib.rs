//! ferrotrace collector: [`receivers`] (OTLP, Jaeger, Zipkin) →
//! [`pipeline`] (split by trace) → [`producer`] (Kafka, acks=all) → answer
//! the client.
//!
//! [`Collector::bind`] binds every listener first (so bad addresses fail
//! before anything runs, and tests can bind port 0), then [`Collector::run`]
//! serves until the shutdown token is cancelled and drains in-flight requests.
//! TLS, bearer tokens and the connection limit, when configured, wrap every
//! TCP receiver but the admin port; the :5778 [`sampling`] endpoint gets the
//! connection limit only, as jaeger-client can do neither TLS nor tokens.

pub mod config;
pub mod metrics;
pub mod pipeline;
pub mod producer;
pub mod receivers;
pub mod refusals;
pub mod sampling;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferrotrace_common::admin::{AdminServer, Liveness, Readiness};
use ferrotrace_format::thrift::ThriftProtocol;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::producer::Producer;
use crate::receivers::auth::{BearerTokens, ReceiverAuth};
use crate::receivers::listener::{ListenerOptions, ReceiverListener};
use crate::receivers::tls::{Alpn, ServerTls, TlsFiles};
use crate::sampling::SamplingStrategies;

/// A collector with its listeners bound, ready to run.
pub struct Collector {
    config: Config,
    producer: Arc<Producer>,
    metrics: PrometheusHandle,
    listeners: Listeners,
    tls: Option<Arc<ServerTls>>,
    tokens: Option<Arc<BearerTokens>>,
    sampling: SamplingStrategies,
}

/// Every receiver's socket; `None` when its listen address is empty.
struct Listeners {
    otlp_grpc: Option<TcpListener>,
    otlp_http: Option<TcpListener>,
    jaeger_compact: Option<UdpSocket>,
    jaeger_binary: Option<UdpSocket>,
    jaeger_http: Option<TcpListener>,
    jaeger_grpc: Option<TcpListener>,
    zipkin: Option<TcpListener>,
    sampling_http: Option<TcpListener>,
    admin: Option<TcpListener>,
}

impl Listeners {
    /// The metric labels of the enabled receivers.
    fn receivers(&self) -> Vec<&'static str> {
        use receivers::jaeger_udp::receiver_name;
        [
            (self.otlp_grpc.is_some(), "otlp_grpc"),
            (self.otlp_http.is_some(), "otlp_http"),
            (
                self.jaeger_compact.is_some(),
                receiver_name(ThriftProtocol::Compact),
            ),
            (
                self.jaeger_binary.is_some(),
                receiver_name(ThriftProtocol::Binary),
            ),
            (self.jaeger_http.is_some(), "jaeger_http"),
            (self.jaeger_grpc.is_some(), "jaeger_grpc"),
            (self.zipkin.is_some(), "zipkin"),
        ]
        .into_iter()
        .filter_map(|(enabled, receiver)| enabled.then_some(receiver))
        .collect()
    }

    /// The metric labels of the enabled listeners that answer sampling requests.
    fn sampling_receivers(&self) -> Vec<&'static str> {
        [
            (self.sampling_http.is_some(), sampling::http::RECEIVER),
            (self.jaeger_http.is_some(), "jaeger_http"),
            (self.jaeger_grpc.is_some(), "jaeger_grpc"),
        ]
        .into_iter()
        .filter_map(|(enabled, receiver)| enabled.then_some(receiver))
        .collect()
    }
}

impl Collector {
    /// Creates the Kafka producer and binds every enabled listener.
    pub async fn bind(config: Config, metrics: PrometheusHandle) -> anyhow::Result<Self> {
        crate::metrics::describe();
        let tls = match (&config.tls_cert_file, &config.tls_key_file) {
            (Some(cert), Some(key)) => Some(Arc::new(
                ServerTls::load(
                    TlsFiles {
                        cert: cert.clone(),
                        key: key.clone(),
                        client_ca: config.tls_client_ca_file.clone(),
                    }
                    .paths(),
                )
                .context("loading the receivers' TLS files")?,
            )),
            _ => None,
        };
        let tokens = match &config.auth_bearer_tokens_file {
            Some(path) => Some(Arc::new(
                BearerTokens::load(vec![path.clone()]).context("loading the bearer tokens")?,
            )),
            None => None,
        };
        let sampling = SamplingStrategies::load(config.sampling_strategies_file.clone())?;
        let producer = Arc::new(
            Producer::new(&config.producer_options()).context("creating the Kafka producer")?,
        );
        let listeners = Listeners {
            otlp_grpc: bind(config.otlp_grpc_listen.addr(), "OTLP/gRPC").await?,
            otlp_http: bind(config.otlp_http_listen.addr(), "OTLP/HTTP").await?,
            jaeger_compact: bind_udp(
                config.jaeger_compact_listen.addr(),
                config.jaeger_udp_socket_buffer_bytes,
                "Jaeger compact",
            )?,
            jaeger_binary: bind_udp(
                config.jaeger_binary_listen.addr(),
                config.jaeger_udp_socket_buffer_bytes,
                "Jaeger binary",
            )?,
            jaeger_http: bind(config.jaeger_http_listen.addr(), "Jaeger HTTP").await?,
            jaeger_grpc: bind(config.jaeger_grpc_listen.addr(), "Jaeger gRPC").await?,
            zipkin: bind(config.zipkin_listen.addr(), "Zipkin").await?,
            sampling_http: bind(config.sampling_http_listen.addr(), "sampling HTTP").await?,
            admin: bind(config.admin_listen.addr(), "admin").await?,
        };
        crate::metrics::register(&listeners.receivers(), &listeners.sampling_receivers());
        Ok(Self {
            config,
            producer,
            metrics,
            listeners,
            tls,
            tokens,
            sampling,
        })
    }

    /// The sampling strategies the collector serves (for adaptive ones to be set).
    pub fn sampling(&self) -> SamplingStrategies {
        self.sampling.clone()
    }

    pub fn otlp_grpc_addr(&self) -> Option<SocketAddr> {
        tcp_addr(&self.listeners.otlp_grpc)
    }
    pub fn otlp_http_addr(&self) -> Option<SocketAddr> {
        tcp_addr(&self.listeners.otlp_http)
    }
    pub fn jaeger_compact_addr(&self) -> Option<SocketAddr> {
        udp_addr(&self.listeners.jaeger_compact)
    }
    pub fn jaeger_binary_addr(&self) -> Option<SocketAddr> {
        udp_addr(&self.listeners.jaeger_binary)
    }
    pub fn jaeger_http_addr(&self) -> Option<SocketAddr> {
        tcp_addr(&self.listeners.jaeger_http)
    }
    pub fn jaeger_grpc_addr(&self) -> Option<SocketAddr> {
        tcp_addr(&self.listeners.jaeger_grpc)
    }
    pub fn zipkin_addr(&self) -> Option<SocketAddr> {
        tcp_addr(&self.listeners.zipkin)
    }
    pub fn sampling_http_addr(&self) -> Option<SocketAddr> {
        tcp_addr(&self.listeners.sampling_http)
    }
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        tcp_addr(&self.listeners.admin)
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight requests finish
    /// (bounded by `--shutdown-timeout`) and flushes the producer.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            config,
            producer,
            metrics,
            listeners,
            tls,
            tokens,
            sampling,
        } = self;
        let pipeline = Arc::new(Pipeline::new(
            producer.clone(),
            pipeline::Limits {
                max_message_bytes: config.kafka_max_message_bytes,
                max_spans_per_request: config.max_spans_per_request,
                max_span_age: config.max_span_age,
                max_span_future: config.max_span_future,
            },
        ));
        let ready = Readiness::new(&[KAFKA_CHECK]);
        let mut tasks = tokio::task::JoinSet::new();
        let limits = receivers::RequestLimits {
            max_bytes: config.max_request_bytes,
            read_timeout: config.read_timeout,
        };

        if let Some(tls) = &tls {
            tokio::spawn(tls.clone().watch(config.reload_interval, shutdown.clone()));
        }
        if let Some(tokens) = &tokens {
            tokio::spawn(
                tokens
                    .clone()
                    .watch(config.reload_interval, shutdown.clone()),
            );
        }
        tokio::spawn(
            sampling
                .clone()
                .watch(config.reload_interval, shutdown.clone()),
        );
        sampling::adaptive::start(&config, &sampling, &shutdown)
            .context("following the adaptive sampling topic")?;

        let listener_options = |receiver, alpn| ListenerOptions {
            receiver,
            tls: tls.clone(),
            alpn,
            max_connections: config.max_connections,
            idle_timeout: config.idle_timeout,
        };
        if let Some(listener) = listeners.otlp_grpc {
            let routes = Routes::new(receivers::otlp_grpc::service(pipeline.clone(), limits));
            let grpc = GrpcReceiver {
                name: "OTLP/gRPC",
                listener,
                options: listener_options("otlp_grpc", Alpn::Grpc),
                http2: http2_settings(&config),
                max_connection_age: config.grpc_max_connection_age,
                max_connection_age_grace: config.grpc_max_connection_age_grace,
            };
            grpc.spawn(&mut tasks, routes, &tokens, &shutdown)?;
        }
        if let Some(listener) = listeners.jaeger_grpc {
            let routes =
                Routes::new(receivers::jaeger_grpc::service(pipeline.clone(), limits)).add_service(
                    sampling::grpc::service(sampling.clone(), pipeline.clone(), limits),
                );
            let grpc = GrpcReceiver {
                name: "Jaeger gRPC",
                listener,
                options: listener_options("jaeger_grpc", Alpn::Grpc),
                http2: http2_settings(&config),
                max_connection_age: config.grpc_max_connection_age,
                max_connection_age_grace: config.grpc_max_connection_age_grace,
            };
            grpc.spawn(&mut tasks, routes, &tokens, &shutdown)?;
        }
        let http_receivers = [
            (
                listeners.otlp_http,
                "OTLP/HTTP",
                "otlp_http",
                receivers::otlp_http::router(pipeline.clone(), limits),
            ),
            (
                listeners.jaeger_http,
                "Jaeger HTTP",
                "jaeger_http",
                receivers::jaeger_http::router(pipeline.clone(), limits)
                    .merge(sampling::http::api_router(sampling.clone(), "jaeger_http")),
            ),
            (
                listeners.zipkin,
                "Zipkin",
                "zipkin",
                receivers::zipkin::router(pipeline.clone(), limits),
            ),
        ];
        for (listener, name, receiver, mut router) in http_receivers {
            let Some(listener) = listener else { continue };
            tracing::info!(addr = %listener.local_addr()?, tls = tls.is_some(), auth = tokens.is_some(), "{name} receiver listening");
            if let Some(tokens) = &tokens {
                router = router.layer(axum::middleware::from_fn_with_state(
                    ReceiverAuth {
                        tokens: tokens.clone(),
                        receiver,
                    },
                    receivers::auth::require_bearer,
                ));
            }
            let options = listener_options(receiver, Alpn::Http);
            let listener = ReceiverListener::spawn(listener, options, shutdown.clone());
            let age = receivers::connection_age::ConnectionAge::new(
                config.http_max_connection_age,
                config.http_max_connection_age_grace,
                receiver,
            );
            let served = receivers::serve_http(listener, router, limits, age, shutdown.clone());
            tasks.spawn(async move { served.await.with_context(|| format!("{name} receiver")) });
        }
        if let Some(listener) = listeners.sampling_http {
            tracing::info!(addr = %listener.local_addr()?, file = ?config.sampling_strategies_file, "sampling HTTP endpoint listening");
            // Plain HTTP without tokens, as jaeger-agent served it: jaeger-client can do neither.
            let options = ListenerOptions {
                tls: None,
                ..listener_options(sampling::http::RECEIVER, Alpn::Http)
            };
            let listener = ReceiverListener::spawn(listener, options, shutdown.clone());
            let router = sampling::http::router(sampling.clone());
            let age = receivers::connection_age::ConnectionAge::new(
                config.http_max_connection_age,
                config.http_max_connection_age_grace,
                sampling::http::RECEIVER,
            );
            let served = receivers::serve_http(listener, router, limits, age, shutdown.clone());
            tasks.spawn(async move { served.await.context("sampling HTTP endpoint") });
        }
        let udp_options = receivers::jaeger_udp::UdpOptions {
            max_packet_bytes: config.jaeger_udp_max_packet_bytes,
            queue_size: config.jaeger_udp_queue_size,
            workers: config.jaeger_udp_workers,
        };
        let udp_receivers = [
            (listeners.jaeger_compact, ThriftProtocol::Compact),
            (listeners.jaeger_binary, ThriftProtocol::Binary),
        ];
        for (socket, protocol) in udp_receivers {
            let Some(socket) = socket else { continue };
            let name = receivers::jaeger_udp::receiver_name(protocol);
            tracing::info!(addr = %socket.local_addr()?, receiver = name, "Jaeger UDP receiver listening");
            let pipeline = pipeline.clone();
            let token = shutdown.clone();
            tasks.spawn(async move {
                receivers::jaeger_udp::serve(socket, protocol, pipeline, udp_options, token)
                    .await
                    .with_context(|| format!("{name} receiver"))
            });
        }
        // The admin server outlives the receivers so /metrics stays readable while draining.
        let admin_server = listeners.admin.map(|listener| {
            // The collector has no watchdog: alive while it serves.
            AdminServer::spawn(
                listener,
                metrics.clone(),
                ready.clone(),
                Liveness::default(),
            )
        });
        let readiness = tokio::spawn(watch_kafka(
            producer.clone(),
            ready.clone(),
            shutdown.clone(),
        ));

        shutdown.cancelled().await;
        ready.shut_down();
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

/// The HTTP/2 settings of the gRPC receivers, from their flags.
fn http2_settings(config: &Config) -> receivers::grpc_raw::Http2Settings {
    receivers::grpc_raw::Http2Settings {
        max_concurrent_streams: config.grpc_max_concurrent_streams,
        max_frame_bytes: config.grpc_max_frame_bytes,
        stream_window_bytes: config.grpc_stream_window_bytes,
        connection_window_bytes: config.grpc_connection_window_bytes,
    }
}

/// A gRPC receiver's listener and options, before it serves.
struct GrpcReceiver {
    name: &'static str,
    listener: TcpListener,
    options: ListenerOptions,
    http2: receivers::grpc_raw::Http2Settings,
    max_connection_age: Duration,
    max_connection_age_grace: Duration,
}

impl GrpcReceiver {
    /// Serves `routes` on the listener, behind bearer tokens when configured.
    fn spawn(
        self,
        tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
        routes: Routes,
        tokens: &Option<Arc<BearerTokens>>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let Self {
            name,
            listener,
            options,
            http2,
            max_connection_age,
            max_connection_age_grace,
        } = self;
        tracing::info!(addr = %listener.local_addr()?, tls = options.tls.is_some(), auth = tokens.is_some(), "{name} receiver listening");
        let auth = tokens.as_ref().map(|tokens| ReceiverAuth {
            tokens: tokens.clone(),
            receiver: options.receiver,
        });
        let age = receivers::connection_age::ConnectionAge::new(
            max_connection_age,
            max_connection_age_grace,
            options.receiver,
        );
        let listener = ReceiverListener::spawn(listener, options, shutdown.clone());
        let served =
            receivers::grpc_raw::serve(listener, routes, auth, http2, age, shutdown.clone());
        tasks.spawn(async move {
            served.await;
            Ok(())
        });
        Ok(())
    }
}

fn tcp_addr(listener: &Option<TcpListener>) -> Option<SocketAddr> {
    listener.as_ref().and_then(|l| l.local_addr().ok())
}

fn udp_addr(socket: &Option<UdpSocket>) -> Option<SocketAddr> {
    socket.as_ref().and_then(|s| s.local_addr().ok())
}

/// Binds a UDP socket, with a larger kernel receive buffer when asked.
fn bind_udp(
    addr: Option<SocketAddr>,
    buffer_bytes: usize,
    what: &str,
) -> anyhow::Result<Option<UdpSocket>> {
    let Some(addr) = addr else { return Ok(None) };
    let bind = || -> std::io::Result<UdpSocket> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if buffer_bytes > 0 {
            socket.set_recv_buffer_size(buffer_bytes)?;
            // Linux caps the size at net.core.rmem_max without an error (and reports double).
            let granted = socket.recv_buffer_size()?;
            if granted < buffer_bytes {
                tracing::warn!(%addr, requested = buffer_bytes, granted, "the kernel capped the UDP receive buffer; raise net.core.rmem_max");
            }
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        UdpSocket::from_std(socket.into())
    };
    bind()
        .map(Some)
        .with_context(|| format!("binding the {what} UDP socket on {addr}"))
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

/// The readiness check of the Kafka topic.
const KAFKA_CHECK: &str = "kafka";

/// Keeps the `kafka` readiness check current: it passes while the brokers
/// answer and the topic exists.
async fn watch_kafka(producer: Arc<Producer>, ready: Readiness, shutdown: CancellationToken) {
    loop {
        let result = producer.check().await;
        let passing = result.is_ok();
        ready.set(KAFKA_CHECK, result.map_err(|problem| problem.to_string()));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(if passing { 5 } else { 1 })) => {}
        }
    }
}
