//! `ferrotrace-ingester`: parse and validate the configuration, prepare
//! Elasticsearch, consume until SIGTERM, drain and commit.

use clap::Parser;
use ferrotrace_common::{shutdown, telemetry};
use ferrotrace_ingester::{config::Config, metrics, Ingester};

/// mimalloc: about 15 % less CPU per span than glibc malloc here, where prost
/// decoding allocates for every span (BENCHMARKS.md). The collector, which
/// hardly allocates, measured no gain and keeps the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// EX_USAGE from sysexits.h: the configuration is wrong.
const EXIT_USAGE: i32 = 64;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if let Err(problem) = config.validate() {
        eprintln!("ferrotrace-ingester: {problem}");
        std::process::exit(EXIT_USAGE);
    }
    telemetry::init_logs(config.log_format, "info");
    let metrics = telemetry::init_metrics("ingester", metrics::HISTOGRAMS)?;
    let shutdown = shutdown::on_signal();
    let ingester = Ingester::bind(config, metrics, &shutdown).await?;
    ingester.run(shutdown).await
}
