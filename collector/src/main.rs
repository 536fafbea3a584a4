//! `ferrotrace-collector`: parse and validate the configuration, start the
//! receivers, the Kafka producer and the admin server, run until SIGTERM.

use clap::Parser;
use ferrotrace_collector::receivers::{auth::TokensError, tls::TlsError};
use ferrotrace_collector::{config::Config, metrics, Collector};
use ferrotrace_common::{shutdown, telemetry};

/// EX_USAGE from sysexits.h: the configuration is wrong.
const EXIT_USAGE: i32 = 64;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if let Err(problem) = config.validate() {
        eprintln!("ferrotrace-collector: {problem}");
        std::process::exit(EXIT_USAGE);
    }
    telemetry::init_logs(config.log_format, "info");
    if let Some(warning) = config.kafka_security.warning() {
        tracing::warn!("{warning}");
    }
    let metrics = telemetry::init_metrics("collector", metrics::HISTOGRAMS)?;
    let collector = match Collector::bind(config, metrics).await {
        Ok(collector) => collector,
        // TLS or token files that do not load are a configuration error, like a bad flag.
        Err(error) if is_config_file_error(&error) => {
            eprintln!("ferrotrace-collector: {error:#}");
            std::process::exit(EXIT_USAGE);
        }
        Err(error) => return Err(error),
    };
    collector.run(shutdown::on_signal()).await
}

fn is_config_file_error(error: &anyhow::Error) -> bool {
    error.downcast_ref::<TlsError>().is_some() || error.downcast_ref::<TokensError>().is_some()
}
