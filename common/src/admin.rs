//! The admin HTTP server every ferrotrace process runs: `/metrics`
//! (Prometheus text, with the standard `process_*` metrics: CPU seconds,
//! resident memory, open file descriptors, threads), `/healthz` (the process
//! is alive) and `/readyz` (its dependencies answered recently).
//!
//! Readiness is a flag the process's own checkers set; the server only reads it,
//! so a slow dependency never slows the probe.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::{extract::State, http::StatusCode, routing::get, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Shared readiness flag; `/readyz` answers 200 only while it is set.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct AdminState {
    metrics: PrometheusHandle,
    ready: Readiness,
    /// Reads /proc for `process_*` at each scrape, into the global recorder.
    process: Arc<metrics_process::Collector>,
}

/// The admin routes, without a socket (tests drive it with `oneshot`).
pub fn router(metrics: PrometheusHandle, ready: Readiness) -> Router {
    let process = Arc::new(metrics_process::Collector::default());
    process.describe();
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AdminState {
            metrics,
            ready,
            process,
        })
}

/// A running admin server. It has its own stop signal because it must
/// outlive the process's shutdown token: `/metrics` stays readable while the
/// process drains.
pub struct AdminServer {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl AdminServer {
    /// Serves the admin routes on `listener` until [`AdminServer::stop`].
    pub fn spawn(listener: TcpListener, metrics: PrometheusHandle, ready: Readiness) -> Self {
        tracing::info!(addr = ?listener.local_addr().ok(), "admin server listening");
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, router(metrics, ready))
                .with_graceful_shutdown(token.cancelled_owned())
                .await
        });
        Self { stop, task }
    }

    /// Stops serving and waits for open requests to finish.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Ok(Err(error)) = self.task.await {
            tracing::warn!(%error, "admin server failed");
        }
    }
}

async fn render_metrics(
    State(state): State<AdminState>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    state.process.collect();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::telemetry::render_metrics(&state.metrics),
    )
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if state.ready.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(app: &Router, path: &str) -> (StatusCode, String) {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn readyz_follows_the_readiness_flag_and_healthz_is_always_ok() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let ready = Readiness::default();
        let app = router(recorder.handle(), ready.clone());
        assert_eq!(
            get(&app, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
        ready.set(true);
        assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
        ready.set(false);
        assert_eq!(
            get(&app, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn metrics_render_in_prometheus_text_format() {
        use metrics::Recorder;
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let key = metrics::Key::from_name("ferrotrace_test_things_total");
        let metadata = metrics::Metadata::new("test", metrics::Level::INFO, None);
        recorder.register_counter(&key, &metadata).increment(3);
        let app = router(recorder.handle(), Readiness::default());
        let (status, body) = get(&app, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("ferrotrace_test_things_total 3"), "{body}");
    }
}
