//! `ferrotrace-collector`: parse and validate the configuration, start the
//! receivers, the Kafka producer and the admin server, run until SIGTERM.

use clap::Parser;
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
    let collector = Collector::bind(config, metrics).await?;
    collector.run(shutdown::on_signal()).await
}
