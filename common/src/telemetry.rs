//! Process telemetry: `tracing` logs and the Prometheus metrics recorder.
//!
//! Both binaries call [`init_logs`] and [`init_metrics`] once at start.
//! [`render_metrics`] renders `/metrics`; build information is published as
//! `ferrotrace_build_info{component,version}` so dashboards can tell versions
//! apart during a rollout. Gauges named as removable at start can lose a
//! series again ([`remove_gauges`]), e.g. the lag of a revoked partition.

mod removable;

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "unknown log format {other:?}, expected text or json"
            )),
        }
    }
}

/// Installs the global `tracing` subscriber. `RUST_LOG` overrides `default_level`.
pub fn init_logs(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let registry = tracing_subscriber::registry().with(filter);
    // A second init (tests that start several components in one process) is harmless.
    let _ = match format {
        LogFormat::Text => registry
            .with(fmt::layer().with_target(false).with_ansi(colour_logs()))
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().flatten_event(true))
            .try_init(),
    };
}

/// Colours only for a person at a terminal: a log file, `kubectl logs` or a
/// log shipper would otherwise get escape codes. `NO_COLOR` turns them off.
fn colour_logs() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Installs the global Prometheus recorder and returns the handle that renders it.
///
/// Histograms named in `histograms_seconds` are exported as real histograms
/// (buckets suited to request latencies) instead of summaries.
pub fn init_metrics(
    component: &'static str,
    histograms_seconds: &[&str],
) -> Result<PrometheusHandle, MetricsError> {
    init_metrics_with_buckets(component, histograms_seconds, &[], &[])
}

/// Why the metrics recorder was not installed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("building the Prometheus recorder: {0}")]
    Build(#[from] BuildError),
    #[error("a metrics recorder is already installed")]
    AlreadyInstalled,
}

/// [`init_metrics`], plus histograms whose buckets are given with their name
/// (e.g. the ingester's Tempo-compatible metrics, which keep Tempo's buckets),
/// and the gauges whose series [`remove_gauges`] can remove.
///
/// Also starts a thread that runs the recorder's upkeep every
/// [`UPKEEP_INTERVAL`]: histogram samples are buffered until they are folded
/// into buckets, which otherwise only a scrape does, so an ingester nobody
/// scrapes would grow without bound.
pub fn init_metrics_with_buckets(
    component: &'static str,
    histograms_seconds: &[&str],
    buckets: &[(&str, &[f64])],
    removable_gauges: &[&str],
) -> Result<PrometheusHandle, MetricsError> {
    let mut builder = PrometheusBuilder::new();
    let latency = histograms_seconds
        .iter()
        .map(|name| (*name, LATENCY_BUCKETS_SECONDS));
    for (name, values) in latency.chain(buckets.iter().copied()) {
        builder = builder.set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(name.to_string()),
            values,
        )?;
    }
    let prometheus = builder.build_recorder();
    let handle = prometheus.handle();
    let removable = Arc::new(removable::RemovableGauges::new(removable_gauges));
    metrics::set_global_recorder(removable::WithRemovableGauges {
        prometheus,
        removable: removable.clone(),
    })
    .map_err(|_| MetricsError::AlreadyInstalled)?;
    let _ = REMOVABLE.set(removable);
    let upkeep = handle.clone();
    // Not spawning is harmless: scrapes still fold the samples in.
    let _ = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            upkeep.run_upkeep();
        });
    metrics::describe_gauge!(
        "ferrotrace_build_info",
        "Build information of the running ferrotrace process (always 1)."
    );
    metrics::gauge!("ferrotrace_build_info", "component" => component, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

/// The removable gauges of the installed recorder; unset until [`init_metrics`].
static REMOVABLE: OnceLock<Arc<removable::RemovableGauges>> = OnceLock::new();

/// Removes the series of the removable gauge `name` whose labels include
/// every `(key, value)` of `labels` (all of them when `labels` is empty). A
/// later `metrics::gauge!` of the same series creates it again.
pub fn remove_gauges(name: &str, labels: &[(&str, &str)]) {
    if let Some(removable) = REMOVABLE.get() {
        removable.remove(name, labels);
    }
}

/// `/metrics`: the exporter's text, then the removable gauges'.
pub fn render_metrics(handle: &PrometheusHandle) -> String {
    let mut text = handle.render();
    if let Some(removable) = REMOVABLE.get() {
        removable.render(&mut text);
    }
    text
}

/// How often buffered histogram samples are folded into their buckets.
pub const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Buckets from 1 ms to 30 s: Kafka acknowledgements and bulk requests live there.
pub const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
