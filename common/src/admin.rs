//! The admin HTTP server every ferrotrace process runs: `/metrics`
//! (Prometheus text, with the standard `process_*` metrics: CPU seconds,
//! resident memory, open file descriptors, threads), `/healthz` (the process
//! is alive) and `/readyz` (its dependencies answered recently).
//!
//! Liveness is one [`Liveness`] the process's own watchdog sets (the
//! ingester's stuck consume loop); `/healthz` answers 503 with its reason
//! while it fails, so that Kubernetes restarts the process.
//!
//! Readiness is a set of named checks the process's own checkers set; the
//! server only reads them, so a slow dependency never slows the probe. A
//! failing check carries its reason, and `/readyz` answers 503 with one line
//! per failing check, so whoever reads it learns what to fix.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::{extract::State, http::StatusCode, routing::get, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The reason of a check that has not run yet.
pub const NOT_CHECKED: &str = "not checked yet";

/// Shared readiness: `/readyz` answers 200 only while every check passes.
#[derive(Clone)]
pub struct Readiness(Arc<Mutex<BTreeMap<&'static str, Option<String>>>>);

impl Readiness {
    /// Readiness made of `checks`, each failing with [`NOT_CHECKED`] until
    /// its checker first sets it.
    pub fn new(checks: &[&'static str]) -> Self {
        let checks = checks
            .iter()
            .map(|&check| (check, Some(NOT_CHECKED.to_owned())))
            .collect();
        Self(Arc::new(Mutex::new(checks)))
    }

    /// Sets `check` passing (`Ok`) or failing with its reason (`Err`), and
    /// logs the change, once: a reason that stays the same is not repeated.
    pub fn set(&self, check: &'static str, result: Result<(), String>) {
        self.update(check, result.err(), true);
    }

    pub fn pass(&self, check: &'static str) {
        self.set(check, Ok(()));
    }

    pub fn fail(&self, check: &'static str, reason: impl Into<String>) {
        self.set(check, Err(reason.into()));
    }

    /// Sets `check` failing for a reason that is a normal step of starting,
    /// such as waiting for a partition assignment: logged at info, not as a
    /// warning.
    pub fn wait(&self, check: &'static str, reason: impl Into<String>) {
        self.update(check, Some(reason.into()), false);
    }

    fn update(&self, check: &'static str, reason: Option<String>, warn: bool) {
        let previous = self.checks().insert(check, reason.clone());
        if previous.as_ref() == Some(&reason) {
            return;
        }
        match reason {
            Some(reason) if warn => tracing::warn!(check, %reason, "not ready"),
            Some(reason) => tracing::info!(check, %reason, "not ready yet"),
            None => tracing::info!(check, "ready"),
        }
    }

    /// Not ready from now on, because the process is stopping: logged by
    /// whoever stops it, not here.
    pub fn shut_down(&self) {
        self.checks()
            .insert("shutdown", Some("shutting down".to_owned()));
    }

    pub fn is_ready(&self) -> bool {
        self.checks().values().all(Option::is_none)
    }

    /// `check: reason` of every failing check, in the checks' name order.
    pub fn reasons(&self) -> Vec<String> {
        self.checks()
            .iter()
            .filter_map(|(check, reason)| Some(format!("{check}: {}", reason.as_ref()?)))
            .collect()
    }

    fn checks(&self) -> MutexGuard<'_, BTreeMap<&'static str, Option<String>>> {
        // A panic elsewhere while holding the lock left a consistent map.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `check` passes now (a check never set does not).
    pub fn passes(&self, check: &'static str) -> bool {
        matches!(self.checks().get(check), Some(None))
    }
}

/// Shared liveness: `/healthz` answers 200 while alive, 503 with the reason
/// once failed. Alive until a watchdog says otherwise.
#[derive(Clone, Default)]
pub struct Liveness(Arc<Mutex<Option<String>>>);

impl Liveness {
    pub fn alive(&self) {
        *self.reason_slot() = None;
    }

    /// Fails liveness with `reason`; whoever calls it logs why.
    pub fn fail(&self, reason: impl Into<String>) {
        *self.reason_slot() = Some(reason.into());
    }

    /// The reason liveness fails, if it does.
    pub fn reason(&self) -> Option<String> {
        self.reason_slot().clone()
    }

    fn reason_slot(&self) -> MutexGuard<'_, Option<String>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Clone)]
struct AdminState {
    metrics: PrometheusHandle,
    ready: Readiness,
    live: Liveness,
    /// Reads /proc for `process_*` at each scrape, into the global recorder.
    process: Arc<metrics_process::Collector>,
}

/// The admin routes, without a socket (tests drive it with `oneshot`).
pub fn router(metrics: PrometheusHandle, ready: Readiness, live: Liveness) -> Router {
    let process = Arc::new(metrics_process::Collector::default());
    process.describe();
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AdminState {
            metrics,
            ready,
            live,
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
    pub fn spawn(
        listener: TcpListener,
        metrics: PrometheusHandle,
        ready: Readiness,
        live: Liveness,
    ) -> Self {
        tracing::info!(addr = ?listener.local_addr().ok(), "admin server listening");
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, router(metrics, ready, live))
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

/// 200 `ok`, or 503 `not alive` followed by the reason.
async fn healthz(State(state): State<AdminState>) -> (StatusCode, String) {
    match state.live.reason() {
        None => (StatusCode::OK, "ok\n".to_owned()),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not alive\n{reason}\n"),
        ),
    }
}

/// 200 `ready`, or 503 `not ready` followed by one `check: reason` line per
/// failing check.
async fn readyz(State(state): State<AdminState>) -> (StatusCode, String) {
    let reasons = state.ready.reasons();
    if reasons.is_empty() {
        return (StatusCode::OK, "ready\n".to_owned());
    }
    let mut body = String::from("not ready\n");
    for reason in reasons {
        body.push_str(&reason);
        body.push('\n');
    }
    (StatusCode::SERVICE_UNAVAILABLE, body)
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
    async fn readyz_says_which_checks_fail_and_why_and_healthz_is_not_about_them() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let ready = Readiness::new(&["kafka", "elasticsearch"]);
        let app = router(recorder.handle(), ready.clone(), Liveness::default());
        assert_eq!(
            get(&app, "/readyz").await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready\nelasticsearch: not checked yet\nkafka: not checked yet\n".into()
            )
        );
        assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
        ready.pass("kafka");
        ready.fail("elasticsearch", "unreachable: connection refused");
        assert_eq!(
            get(&app, "/readyz").await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready\nelasticsearch: unreachable: connection refused\n".into()
            )
        );
        assert!(!ready.passes("elasticsearch") && ready.passes("kafka"));
        ready.pass("elasticsearch");
        assert!(ready.passes("elasticsearch"));
        assert!(!ready.passes("unknown"), "a check never set does not pass");
        assert_eq!(
            get(&app, "/readyz").await,
            (StatusCode::OK, "ready\n".into())
        );
        ready.set("kafka", Err("topic \"spans\" does not exist".into()));
        assert!(!ready.is_ready());
        assert_eq!(ready.reasons(), ["kafka: topic \"spans\" does not exist"]);
        ready.wait("kafka", "waiting for a partition assignment");
        assert_eq!(
            ready.reasons(),
            ["kafka: waiting for a partition assignment"],
            "waiting is not ready either"
        );
    }

    #[tokio::test]
    async fn healthz_fails_with_the_reason_then_recovers() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let live = Liveness::default();
        let app = router(recorder.handle(), Readiness::new(&[]), live.clone());
        assert_eq!(get(&app, "/healthz").await, (StatusCode::OK, "ok\n".into()));
        live.fail("consume loop stuck");
        assert_eq!(
            get(&app, "/healthz").await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not alive\nconsume loop stuck\n".into()
            )
        );
        live.alive();
        assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn metrics_render_in_prometheus_text_format() {
        use metrics::Recorder;
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let key = metrics::Key::from_name("ferrotrace_test_things_total");
        let metadata = metrics::Metadata::new("test", metrics::Level::INFO, None);
        recorder.register_counter(&key, &metadata).increment(3);
        let app = router(recorder.handle(), Readiness::new(&[]), Liveness::default());
        let (status, body) = get(&app, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("ferrotrace_test_things_total 3"), "{body}");
    }
}
