//! `ferrotrace-es-blackhole`: a blackhole Elasticsearch for benchmarks
//! ([`ferrotrace_loadtest::es_blackhole`]). `GET /_blackhole` returns what it
//! counted.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use ferrotrace_common::config::parse_args_or_exit;
use ferrotrace_loadtest::es_blackhole::{self, Blackhole};

#[derive(Parser, Debug)]
#[command(
    name = "ferrotrace-es-blackhole",
    version,
    about = "An Elasticsearch stand-in for benchmarks: acknowledges every document, stores none, counts distinct spans (GET /_blackhole)"
)]
struct Args {
    /// Address to listen on.
    #[arg(
        long,
        env = "FERROTRACE_ES_BLACKHOLE_LISTEN",
        default_value = "127.0.0.1:9200"
    )]
    listen: SocketAddr,
    /// Largest request body accepted, in bytes (Elasticsearch's
    /// http.max_content_length, 100 MB by default); a larger one gets 413.
    #[arg(
        long,
        env = "FERROTRACE_ES_BLACKHOLE_MAX_BODY_BYTES",
        default_value_t = 100 * 1024 * 1024
    )]
    max_body_bytes: usize,
}

// One thread: the stand-in must cost little next to the ingester it serves.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Args = parse_args_or_exit();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    eprintln!("ferrotrace-es-blackhole: listening on {}", args.listen);
    let app = es_blackhole::router(Blackhole::default(), args.max_body_bytes);
    axum::serve(listener, app).await.context("serving")
}
