//! One load run: a fixed number of connections sending generated requests,
//! closed-loop (each connection sends its next request when the previous one
//! is answered) or open-loop at a span rate, and the statistics of what the
//! collector answered.
//!
//! Open loop follows wrk2: request `i` is due at `start + i × interval`, and
//! its latency is measured from that due time, not from when a connection
//! got round to sending it. A collector that stalls therefore shows its
//! stall in every request that should have been sent meanwhile, instead of
//! in one slow request (coordinated omission).
//!
//! A run with a duration ends at most [`DRAIN`] after it, whatever the
//! collector does: retries stop and unanswered requests count as refused
//! then. Retries and errors are counted as they happen, so a progress line
//! shows a collector that refuses everything while requests are still
//! backing off.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde::Serialize;
use tokio::time::Instant;

use crate::generator::{self, Shape};
use crate::senders::{Answer, Sender};
use crate::verify::Acked;

/// What to send, how fast, for how long.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Stop after this many traces (None: only `duration` stops the run).
    pub traces: Option<usize>,
    /// Stop issuing requests after this long.
    pub duration: Option<Duration>,
    pub traces_per_request: usize,
    pub shape: Shape,
    /// Offered load in spans per second; 0 is closed loop (as fast as answered).
    pub rate: f64,
    /// Connections, each with one request in flight.
    pub concurrency: usize,
    /// Keep the acknowledged spans per trace, for `--verify`.
    pub record_acked: bool,
    /// Print a progress line to stderr this often.
    pub report_every: Option<Duration>,
    /// Retries of a retryable answer stop once the backoff would exceed this.
    pub max_backoff: Duration,
}

/// After the run's duration, how long requests in flight (their retries
/// included) may take to be answered before they count as refused.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Latency histogram bounds: 1 µs to 10 minutes, 3 significant digits.
const LATENCY_MAX_MICROS: u64 = 600_000_000;

/// What happened to the requests of a run, of one reporting interval, or of
/// one request.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Requests answered (whatever the answer).
    pub requests: u64,
    /// Payloads sent: requests, Jaeger batches, Zipkin lists or UDP packets.
    pub payloads: u64,
    pub sent_spans: u64,
    pub acked_spans: u64,
    /// Spans the collector reported as rejected inside an accepted answer.
    pub rejected_spans: u64,
    /// Spans of payloads refused for good (or retried until the backoff cap).
    pub refused_spans: u64,
    pub retries: u64,
    /// Refusals and retryable answers by kind (gRPC code, HTTP status, transport).
    pub errors: BTreeMap<String, u64>,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.payloads += other.payloads;
        self.sent_spans += other.sent_spans;
        self.acked_spans += other.acked_spans;
        self.rejected_spans += other.rejected_spans;
        self.refused_spans += other.refused_spans;
        self.retries += other.retries;
        for (kind, count) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += count;
        }
    }
}

/// Counts and latencies of a run (or of one reporting interval).
#[derive(Clone, Debug)]
pub struct Stats {
    pub counts: Counts,
    /// Ack latency per request in µs, from its due time to its last answer.
    pub latency: Histogram<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            counts: Counts::default(),
            latency: Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, 3)
                .expect("valid histogram bounds"),
        }
    }
}

impl Stats {
    /// Adds one answered request. A request carries counts only: a
    /// histogram of these bounds is some 200 KiB, too much to allocate per
    /// request.
    fn add_request(&mut self, counts: &Counts, latency_micros: u64) {
        self.counts.add(counts);
        self.latency
            .saturating_record(latency_micros.clamp(1, LATENCY_MAX_MICROS));
    }

    /// The latency summary, in milliseconds.
    pub fn latency_ms(&self) -> LatencySummary {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let h = &self.latency;
        LatencySummary {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct LatencySummary {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// The result of [`run`].
pub struct Outcome {
    pub stats: Stats,
    pub seconds: f64,
    /// Spans acknowledged per trace (empty unless `record_acked`).
    pub acked: Acked,
    /// Wall-clock start, µs since the epoch (for `--verify`'s time filter).
    pub started_unix_micros: u64,
}

struct Shared {
    plan: Plan,
    start: Instant,
    /// Requests to send in all, when `plan.traces` caps the run.
    requests: Option<u64>,
    /// Time between due times in open loop.
    interval: Option<Duration>,
    next: AtomicU64,
    total: Mutex<Stats>,
    window: Mutex<Stats>,
    acked: Mutex<Acked>,
}

impl Shared {
    /// Counts a refusal or retryable answer now, in the run and in the
    /// reporting window, rather than when its request is done.
    fn count_error(&self, reason: &str, retry: bool) {
        let kind = error_kind(reason);
        for stats in [&self.total, &self.window] {
            let mut stats = stats.lock().unwrap();
            *stats.counts.errors.entry(kind.clone()).or_default() += 1;
            stats.counts.retries += u64::from(retry);
        }
    }
}

/// Sends the plan through `senders` (one per connection) and returns what happened.
pub async fn run(plan: Plan, senders: Vec<Sender>) -> Outcome {
    let per_request = plan.traces_per_request.max(1);
    let spans_per_request = (per_request * plan.shape.spans_per_trace) as f64;
    let shared = Arc::new(Shared {
        requests: plan.traces.map(|t| t.div_ceil(per_request) as u64),
        interval: (plan.rate > 0.0).then(|| Duration::from_secs_f64(spans_per_request / plan.rate)),
        start: Instant::now(),
        next: AtomicU64::new(0),
        total: Mutex::new(Stats::default()),
        window: Mutex::new(Stats::default()),
        acked: Mutex::new(Acked::default()),
        plan,
    });
    let started_unix_micros = unix_nanos() / 1000;
    let reporter = shared.plan.report_every.map(|every| {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(Instant::now() + every, every);
            loop {
                tick.tick().await;
                let window = std::mem::take(&mut *shared.window.lock().unwrap());
                eprintln!("{}", progress_line(&shared, &window, every));
            }
        })
    });
    let workers: Vec<_> = senders
        .into_iter()
        .map(|sender| tokio::spawn(worker(shared.clone(), sender)))
        .collect();
    for worker in workers {
        // A worker only ends by finishing its share; a panic is a bug worth seeing.
        worker.await.expect("load worker panicked");
    }
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    let seconds = shared.start.elapsed().as_secs_f64();
    let stats = shared.total.lock().unwrap().clone();
    let acked = std::mem::take(&mut *shared.acked.lock().unwrap());
    Outcome {
        stats,
        seconds,
        acked,
        started_unix_micros,
    }
}

async fn worker(shared: Arc<Shared>, mut sender: Sender) {
    let plan = &shared.plan;
    let per_request = plan.traces_per_request.max(1);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
    let deadline = plan.duration.map(|d| shared.start + d);
    let drained = deadline.map(|d| d + DRAIN);
    loop {
        let index = shared.next.fetch_add(1, Ordering::Relaxed);
        if shared.requests.is_some_and(|n| index >= n) {
            break;
        }
        let due = match shared.interval {
            Some(interval) => shared.start + interval.mul_f64(index as f64),
            None => Instant::now(),
        };
        if deadline.is_some_and(|d| due >= d) {
            break;
        }
        let traces = match plan.traces {
            Some(total) => per_request.min(total - index as usize * per_request),
            None => per_request,
        };
        let request = generator::request(&mut rng, traces, plan.shape, unix_nanos());
        let traces_sent = plan.record_acked.then(|| trace_spans(&request));
        tokio::time::sleep_until(due).await;

        let mut stats = Counts::default();
        let mut all_acked = true;
        for payload in sender.payloads(request) {
            stats.payloads += 1;
            stats.sent_spans += payload.spans;
            // Retry like an OpenTelemetry SDK: retryable answers back off, final ones drop.
            let mut delay = Duration::from_millis(100);
            loop {
                let answer = match drained {
                    Some(end) => tokio::time::timeout_at(end, sender.send(&payload))
                        .await
                        .unwrap_or_else(|_| {
                            Answer::Final(format!(
                                "{NO_ANSWER}: none within {DRAIN:?} after --duration"
                            ))
                        }),
                    None => sender.send(&payload).await,
                };
                match answer {
                    Answer::Accepted { rejected_spans } => {
                        stats.acked_spans += payload.spans - rejected_spans;
                        stats.rejected_spans += rejected_spans;
                        all_acked &= rejected_spans == 0;
                        break;
                    }
                    Answer::Retryable(reason)
                        if delay <= plan.max_backoff
                            && drained.is_none_or(|end| Instant::now() + delay < end) =>
                    {
                        tracing::debug!(%reason, "retrying");
                        shared.count_error(&reason, true);
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                    Answer::Retryable(reason) | Answer::Final(reason) => {
                        tracing::warn!(%reason, spans = payload.spans, "payload refused");
                        shared.count_error(&reason, false);
                        stats.refused_spans += payload.spans;
                        all_acked = false;
                        break;
                    }
                }
            }
        }
        stats.requests = 1;
        let micros = due.elapsed().as_micros() as u64;
        shared.total.lock().unwrap().add_request(&stats, micros);
        shared.window.lock().unwrap().add_request(&stats, micros);
        if let Some(traces) = traces_sent {
            let mut acked = shared.acked.lock().unwrap();
            for (trace_id, spans) in traces {
                if all_acked {
                    acked.record(trace_id, spans);
                } else {
                    acked.record_uncertain(trace_id, spans);
                }
            }
        }
    }
}

/// Spans per trace ID in `request`.
fn trace_spans(request: &ExportTraceServiceRequest) -> Vec<([u8; 16], u32)> {
    let mut counts: Vec<([u8; 16], u32)> = Vec::new();
    for span in request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
    {
        let Ok(trace_id) = <[u8; 16]>::try_from(span.trace_id.as_slice()) else {
            continue;
        };
        match counts.iter_mut().find(|(id, _)| *id == trace_id) {
            Some((_, n)) => *n += 1,
            None => counts.push((trace_id, 1)),
        }
    }
    counts
}

/// The kind of a request that got no answer before the run's end.
const NO_ANSWER: &str = "no answer by the end of the run";

/// The kind of a refusal, for counting: what a sender's reason says before
/// its first `": "`: the gRPC code name and the message's category
/// (`Unavailable (kafka unavailable)`), the HTTP status with its text
/// (`HTTP 503 Service Unavailable`), or why the collector was not reached
/// (`connect refused`, `timed out`, ...).
pub fn error_kind(reason: &str) -> String {
    reason
        .split_once(": ")
        .map_or(reason, |(kind, _)| kind)
        .trim()
        .to_string()
}

/// `connect refused 12, HTTP 503 Service Unavailable 3`.
pub fn error_kinds(errors: &BTreeMap<String, u64>) -> String {
    let kinds: Vec<String> = errors
        .iter()
        .map(|(kind, count)| format!("{kind} {count}"))
        .collect();
    kinds.join(", ")
}

fn progress_line(shared: &Shared, window: &Stats, every: Duration) -> String {
    let total = shared.total.lock().unwrap();
    let l = window.latency_ms();
    let w = &window.counts;
    let mut line = format!(
        "[{:>6.1}s] acked {} spans ({:.0}/s), in all {}; refused {} spans, in all {}; retries {}",
        shared.start.elapsed().as_secs_f64(),
        w.acked_spans,
        w.acked_spans as f64 / every.as_secs_f64(),
        total.counts.acked_spans,
        w.refused_spans,
        total.counts.refused_spans,
        w.retries,
    );
    if !w.errors.is_empty() {
        line += &format!(" (errors: {})", error_kinds(&w.errors));
    }
    if w.requests > 0 {
        line += &format!(
            "; latency ms p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
            l.p50, l.p90, l.p99, l.max
        );
    }
    line
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_group_answers_by_code_or_status() {
        assert_eq!(error_kind("Unavailable: Kafka is slow"), "Unavailable");
        assert_eq!(
            error_kind("HTTP 503 Service Unavailable: {\"message\": \"busy\"}"),
            "HTTP 503 Service Unavailable"
        );
        assert_eq!(
            error_kind("connect refused: error sending request: connection refused"),
            "connect refused"
        );
        let mut errors = BTreeMap::new();
        errors.insert("connect refused".to_string(), 12);
        errors.insert("HTTP 429 Too Many Requests".to_string(), 3);
        assert_eq!(
            error_kinds(&errors),
            "HTTP 429 Too Many Requests 3, connect refused 12"
        );
    }

    #[test]
    fn trace_spans_counts_each_trace_of_a_request() {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        let shape = Shape {
            spans_per_trace: 6,
            ..Default::default()
        };
        let request = generator::request(&mut rng, 4, shape, 1_700_000_000_000_000_000);
        let counts = trace_spans(&request);
        assert_eq!(counts.len(), 4);
        assert!(counts.iter().all(|(_, n)| *n == 6), "{counts:?}");
    }

    #[test]
    fn stats_add_requests_counts_and_latencies() {
        let mut stats = Stats::default();
        let mut first = Counts {
            acked_spans: 10,
            ..Default::default()
        };
        *first.errors.entry("Unavailable".into()).or_default() += 1;
        let mut second = Counts {
            acked_spans: 5,
            ..Default::default()
        };
        *second.errors.entry("Unavailable".into()).or_default() += 2;
        stats.add_request(&first, 1_000);
        stats.add_request(&second, 3_000);
        assert_eq!(stats.counts.acked_spans, 15);
        assert_eq!(stats.latency.len(), 2);
        assert_eq!(stats.counts.errors["Unavailable"], 3);
        assert!((stats.latency_ms().max - 3.0).abs() < 0.01);
    }
}
