//! `ferrotrace-collector`: parse and validate the configuration, start the
//! receivers, the Kafka producer and the admin server, run until SIGTERM.
//!
//! Before binding, the soft open-file limit is raised to the hard one: Rust
//! leaves it where the shell put it (often 1024), far below what
//! `--max-connections` lets the TCP receivers hold.

use ferrotrace_collector::receivers::{auth::TokensError, tls::TlsError};
use ferrotrace_collector::sampling::StrategiesError;
use ferrotrace_collector::{config::Config, metrics, Collector};
use ferrotrace_common::config::{exit_usage, parse_args_or_exit};
use ferrotrace_common::{runtime, shutdown, telemetry};

const NAME: &str = "ferrotrace-collector";

/// File descriptors needed besides the receivers' connections: listeners,
/// Kafka broker sockets, the admin server, TLS and token files.
const FD_HEADROOM: u64 = 256;

fn main() -> anyhow::Result<()> {
    let config: Config = parse_args_or_exit();
    if let Err(problem) = config.validate() {
        exit_usage(NAME, &problem);
    }
    runtime::build(config.runtime_threads, runtime::available_cpus())?.block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    telemetry::init_logs(config.log_format, "info");
    if let Some(warning) = config.kafka_security.warning() {
        tracing::warn!("{warning}");
    }
    raise_fd_limit(&config);
    let metrics = telemetry::init_metrics(
        "collector",
        &telemetry::MetricsLayout {
            latency_histograms: metrics::HISTOGRAMS,
            removable_gauges: metrics::REMOVABLE_GAUGES,
            ..telemetry::MetricsLayout::default()
        },
    )?;
    let collector = match Collector::bind(config, metrics).await {
        Ok(collector) => collector,
        // TLS, token or strategies files that do not load are a configuration error, like a bad flag.
        Err(error) if is_config_file_error(&error) => exit_usage(NAME, &format!("{error:#}")),
        Err(error) => return Err(error),
    };
    collector.run(shutdown::on_signal()).await
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and warns when even
/// that is below what the connection limits may need. Never fatal: a
/// collector that serves fewer connections beats one that does not start.
fn raise_fd_limit(config: &Config) {
    let receivers = tcp_receivers(config);
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "could not raise the open file limit");
            match rlimit::Resource::NOFILE.get_soft() {
                Ok(limit) => limit,
                Err(_) => return,
            }
        }
    };
    let Some(needed) = fds_needed(config.max_connections, receivers) else {
        tracing::info!(limit, "open file limit");
        return;
    };
    if needed > limit {
        tracing::warn!(
            limit,
            needed,
            max_connections = config.max_connections,
            tcp_receivers = receivers,
            "open file limit below what --max-connections allows: connections beyond it fail to be accepted; lower --max-connections or raise the hard limit (`ulimit -n`, or LimitNOFILE in systemd)"
        );
    } else {
        tracing::info!(limit, needed, "open file limit");
    }
}

/// The TCP receivers that are enabled (an empty listen address disables one).
fn tcp_receivers(config: &Config) -> usize {
    [
        config.otlp_grpc_listen,
        config.otlp_http_listen,
        config.jaeger_http_listen,
        config.jaeger_grpc_listen,
        config.zipkin_listen,
        config.sampling_http_listen,
    ]
    .into_iter()
    .filter(|listen| listen.addr().is_some())
    .count()
}

/// File descriptors the receivers may hold at once, with headroom for the
/// rest of the process; `None` when `max_connections` is 0 (no limit, so no
/// bound to compare).
fn fds_needed(max_connections: usize, tcp_receivers: usize) -> Option<u64> {
    if max_connections == 0 {
        return None;
    }
    let connections = u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_mul(tcp_receivers as u64);
    Some(connections.saturating_add(FD_HEADROOM))
}

fn is_config_file_error(error: &anyhow::Error) -> bool {
    error.downcast_ref::<TlsError>().is_some()
        || error.downcast_ref::<TokensError>().is_some()
        || error.downcast_ref::<StrategiesError>().is_some()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn fds_needed_counts_every_receivers_connections_plus_headroom() {
        assert_eq!(fds_needed(4096, 5), Some(4096 * 5 + 256));
        assert_eq!(fds_needed(100, 1), Some(356));
        assert_eq!(fds_needed(100, 0), Some(256));
        assert_eq!(fds_needed(0, 5), None, "0 means no connection limit");
        assert_eq!(fds_needed(usize::MAX, 5), Some(u64::MAX));
    }

    #[test]
    fn tcp_receivers_counts_only_enabled_tcp_listeners() {
        let all = Config::try_parse_from(["ferrotrace-collector"]).unwrap();
        assert_eq!(tcp_receivers(&all), 6);
        let some = Config::try_parse_from([
            "ferrotrace-collector",
            "--otlp-http-listen=",
            "--zipkin-listen=",
            "--sampling-http-listen=",
            // UDP receivers hold no connections
            "--jaeger-compact-listen=",
        ])
        .unwrap();
        assert_eq!(tcp_receivers(&some), 3);
    }
}
