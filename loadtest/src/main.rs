//! `ferrotrace-loadtest`: sends bursts of realistic traces to a collector and
//! reports how many spans were acknowledged, refused, and how fast.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use ferrotrace_loadtest::generator::{self, Shape};
use ferrotrace_loadtest::senders::{Answer, Options, Protocol, Sender};

#[derive(Parser, Debug)]
#[command(
    name = "ferrotrace-loadtest",
    version,
    about = "Sends realistic traces to a ferrotrace collector (OTLP, Jaeger or Zipkin)"
)]
struct Args {
    /// Collector endpoint, e.g. http://127.0.0.1:4317 (gRPC) or http://127.0.0.1:4318 (HTTP);
    /// 127.0.0.1:6831 for jaeger-compact, 127.0.0.1:6832 for jaeger-binary (UDP),
    /// http://127.0.0.1:14268 jaeger-http, http://127.0.0.1:14250 jaeger-grpc, http://127.0.0.1:9411 zipkin-*.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_ENDPOINT",
        default_value = "http://127.0.0.1:4317"
    )]
    endpoint: String,
    /// Protocol to send with.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_PROTOCOL",
        value_enum,
        default_value = "grpc"
    )]
    protocol: Protocol,
    /// Number of traces to send in all.
    #[arg(long, env = "FERROTRACE_LOADTEST_TRACES", default_value_t = 1000)]
    traces: usize,
    /// Traces per export request.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_TRACES_PER_REQUEST",
        default_value_t = 10
    )]
    traces_per_request: usize,
    /// Spans per trace.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_SPANS_PER_TRACE",
        default_value_t = 10
    )]
    spans_per_trace: usize,
    /// Attributes per span.
    #[arg(long, env = "FERROTRACE_LOADTEST_ATTRIBUTES", default_value_t = 20)]
    attributes: usize,
    /// Requests in flight at once.
    #[arg(long, env = "FERROTRACE_LOADTEST_CONCURRENCY", default_value_t = 4)]
    concurrency: usize,
    /// Jaeger UDP only: spans per second in all (UDP has no back-pressure); 0 sends as fast as possible.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_UDP_SPANS_PER_SECOND",
        default_value_t = 20_000.0
    )]
    udp_spans_per_second: f64,
    /// Jaeger UDP only: largest packet sent; bigger batches are split.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_UDP_MAX_PACKET_BYTES",
        default_value_t = 65_000
    )]
    udp_max_packet_bytes: usize,
}

#[derive(Default)]
struct Counters {
    acked: AtomicU64,
    /// Payloads sent: requests, Jaeger batches, or UDP packets.
    payloads: AtomicU64,
    rejected: AtomicU64,
    refused: AtomicU64,
    retries: AtomicU64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let shape = Shape {
        spans_per_trace: args.spans_per_trace,
        attributes_per_span: args.attributes,
        ..Default::default()
    };
    let requests = args.traces.div_ceil(args.traces_per_request.max(1));
    let next = Arc::new(AtomicU64::new(0));
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let mut workers = Vec::new();
    let concurrency = args.concurrency.max(1);
    let options = Options {
        udp_max_packet_bytes: args.udp_max_packet_bytes,
        udp_spans_per_second: args.udp_spans_per_second / concurrency as f64,
    };
    for _ in 0..concurrency {
        let mut sender = Sender::connect(&args.endpoint, args.protocol, options).await?;
        let (next, counters) = (next.clone(), counters.clone());
        let (per_request, total) = (args.traces_per_request.max(1), args.traces);
        workers.push(tokio::spawn(async move {
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                if index >= requests {
                    break;
                }
                let traces = per_request.min(total - index * per_request);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                let request = generator::request(&mut rng, traces, shape, now);
                for payload in sender.payloads(request) {
                    let spans = payload.spans;
                    counters.payloads.fetch_add(1, Ordering::Relaxed);
                    // Retry like an OTel SDK: retryable answers back off, final ones drop.
                    let mut delay = Duration::from_millis(100);
                    loop {
                        match sender.send(&payload).await {
                            Answer::Accepted { rejected_spans } => {
                                counters
                                    .acked
                                    .fetch_add(spans - rejected_spans, Ordering::Relaxed);
                                counters
                                    .rejected
                                    .fetch_add(rejected_spans, Ordering::Relaxed);
                                break;
                            }
                            Answer::Retryable(reason) if delay < Duration::from_secs(30) => {
                                tracing::debug!(%reason, "retrying");
                                counters.retries.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(delay).await;
                                delay *= 2;
                            }
                            Answer::Retryable(reason) | Answer::Final(reason) => {
                                eprintln!("refused: {reason}");
                                counters.refused.fetch_add(spans, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                }
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let acked = counters.acked.load(Ordering::Relaxed);
    // For UDP "acked" means sent: nothing answers a packet.
    println!(
        "spans acked={acked} rejected={} refused={} retries={} payloads={} seconds={seconds:.2} rate={:.0} spans/s",
        counters.rejected.load(Ordering::Relaxed),
        counters.refused.load(Ordering::Relaxed),
        counters.retries.load(Ordering::Relaxed),
        counters.payloads.load(Ordering::Relaxed),
        acked as f64 / seconds.max(1e-9)
    );
    if counters.refused.load(Ordering::Relaxed) > 0 {
        std::process::exit(1);
    }
    Ok(())
}
