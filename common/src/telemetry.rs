//! Process telemetry: `tracing` logs and the Prometheus metrics recorder.
//!
//! Both binaries call [`init_logs`] and [`init_metrics`] once at start.
//! [`render_metrics`] renders `/metrics`; build information is published as
//! `ferrotrace_build_info{component,version}` so dashboards can tell versions
//! apart during a rollout. Gauges named as removable at start can lose a
//! series again ([`remove_gauges`]), e.g. the lag of a revoked partition.
//! Histograms given buckets at start and counters named as plain are kept
//! by our own recorder layer rather than the exporter ([`MetricsLayout`],
//! [`LayeredRecorder`]): recording one is a few relaxed atomic adds, cheap
//! enough for the ingester's per-span metrics; they render exactly as the
//! exporter would render them. Their series are never removed.

mod bucketed;
mod local;
mod owned;
mod recorder;

use std::sync::{Arc, OnceLock};

pub use local::LocalHistogram;
use metrics_exporter_prometheus::{BuildError, PrometheusHandle};
pub use recorder::LayeredRecorder;
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

/// Why the metrics recorder was not installed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("building the Prometheus recorder: {0}")]
    Build(#[from] BuildError),
    #[error("a metrics recorder is already installed")]
    AlreadyInstalled,
}

/// Which metrics get which treatment; every other metric is the exporter's
/// default (histograms without buckets are summaries).
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsLayout<'a> {
    /// Histograms with [`LATENCY_BUCKETS_SECONDS`].
    pub latency_histograms: &'a [&'a str],
    /// Histograms with buckets of their own (e.g. the ingester's
    /// Tempo-compatible metrics, which keep Tempo's buckets), counted straight
    /// into their buckets by this process rather than the exporter: cheap
    /// enough to record per span. Their series are never removed.
    pub bucketed_histograms: &'a [(&'a str, &'a [f64])],
    /// Gauges whose series [`remove_gauges`] can remove.
    pub removable_gauges: &'a [&'a str],
    /// Counters kept as a bare atomic each rather than by the exporter: for
    /// counters incremented per span. Their series are never removed.
    pub plain_counters: &'a [&'a str],
}

/// Installs the global recorder for `layout` ([`LayeredRecorder`]) and
/// returns the exporter's handle, which [`render_metrics`] takes.
///
/// Also starts a thread that runs the exporter's upkeep every
/// [`UPKEEP_INTERVAL`]: the exporter's histogram samples are buffered until
/// they are folded into buckets, which otherwise only a scrape does, so an
/// ingester nobody scrapes would grow without bound.
pub fn init_metrics(
    component: &'static str,
    layout: &MetricsLayout<'_>,
) -> Result<PrometheusHandle, MetricsError> {
    let recorder = LayeredRecorder::new(layout)?;
    let handle = recorder.handle();
    let owned = recorder.owned();
    metrics::set_global_recorder(recorder).map_err(|_| MetricsError::AlreadyInstalled)?;
    let _ = OWNED.set(owned);
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

/// The series the installed recorder keeps outside the exporter; unset
/// until [`init_metrics`].
static OWNED: OnceLock<Arc<recorder::OwnedSeries>> = OnceLock::new();

/// Removes the series of the removable gauge `name` whose labels include
/// every `(key, value)` of `labels` (all of them when `labels` is empty). A
/// later `metrics::gauge!` of the same series creates it again.
pub fn remove_gauges(name: &str, labels: &[(&str, &str)]) {
    if let Some(owned) = OWNED.get() {
        owned.remove_gauges(name, labels);
    }
}

/// `/metrics`: the exporter's text, then the series the recorder keeps itself.
pub fn render_metrics(handle: &PrometheusHandle) -> String {
    let mut text = handle.render();
    if let Some(owned) = OWNED.get() {
        owned.render(&mut text);
    }
    text
}

/// How often buffered histogram samples are folded into their buckets.
pub const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Buckets from 1 ms to 30 s: Kafka acknowledgements and bulk requests live there.
pub const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
