//! Process telemetry: `tracing` logs and the Prometheus metrics recorder.
//!
//! Both binaries call [`init_logs`] and [`init_metrics`] once at start. The
//! recorder's handle renders `/metrics`; build information is published as
//! `ferrotrace_build_info{component,version}` so dashboards can tell versions
//! apart during a rollout.

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
) -> Result<PrometheusHandle, BuildError> {
    init_metrics_with_buckets(component, histograms_seconds, &[])
}

/// [`init_metrics`], plus histograms whose buckets are given with their name
/// (e.g. the ingester's Tempo-compatible metrics, which keep Tempo's buckets).
///
/// Also starts a thread that runs the recorder's upkeep every
/// [`UPKEEP_INTERVAL`]: histogram samples are buffered until they are folded
/// into buckets, which otherwise only a scrape does, so an ingester nobody
/// scrapes would grow without bound.
pub fn init_metrics_with_buckets(
    component: &'static str,
    histograms_seconds: &[&str],
    buckets: &[(&str, &[f64])],
) -> Result<PrometheusHandle, BuildError> {
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
    let handle = builder.install_recorder()?;
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

/// How often buffered histogram samples are folded into their buckets.
pub const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Buckets from 1 ms to 30 s: Kafka acknowledgements and bulk requests live there.
pub const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
