//! Tail-based sampling in the ingester (`--tail-sampling-config`, off by
//! default): keep every trace a policy wants (errors, slow traces, ...) and
//! a share of the rest, deciding on whole traces.
//!
//! No extra tier is needed: the collector keys Kafka by trace ID, so one
//! ingester sees every span of a trace. The consume loop hands each message
//! here as it arrives ([`TailSampler::arrive`]); the metrics generator has
//! already seen it, so RED metrics count every span. The message's raw
//! bytes wait in the [`buffer`] with a small summary of its trace until
//! `decision_wait` after the trace's first message; then the policies
//! decide and the loop either writes the kept messages as if they had just
//! arrived or completes the dropped ones' offsets as if they were stored.
//!
//! What it guarantees (docs/design.md §3.4):
//! - Whole traces: a trace is kept or dropped with all its held messages,
//!   and messages arriving after the decision follow it while the
//!   [`buffer::DecisionCache`] remembers it.
//! - Durability: a held message's offset is not completed, so it is not
//!   committed; a crash or rebalance replays every undecided trace from
//!   Kafka, and a kept span is written exactly as without sampling (its
//!   document ID is deterministic, so a replay overwrites it).
//! - Bounded memory: over `--tail-sampling-max-bytes` of held messages, or
//!   over `num_traces` undecided traces, the oldest traces are decided
//!   early, and counted.

pub mod buffer;
pub mod config;
pub mod policies;
pub mod summary;

use std::time::{Duration, Instant};

use ferrotrace_format::otlp::span_view::SpanWalker;

use self::buffer::{Buffer, DecisionCache, Held, TraceId};
use self::config::TailSamplingConfig;
use self::policies::{Decision, Policies};
use crate::es::bulk::MessageRef;
use crate::metrics as m;

/// How often the loop looks for traces whose decision is due.
pub const TICK: Duration = Duration::from_millis(100);

/// The `policy` label of a trace no policy sampled.
const NO_POLICY: &str = "none";

/// What to do with a message that just arrived.
#[derive(Debug)]
pub enum Arrival {
    /// Held until its trace is decided.
    Held,
    /// Its trace was decided already: write it (`true`) or complete it as dropped.
    Follow { keep: bool },
    /// Not sampled here (it does not decode, or has no trace ID): the loop
    /// treats it as without tail sampling, so it is stored or dead-lettered.
    Pass,
}

/// A decided trace's messages, in arrival order.
#[derive(Debug)]
pub struct Decided {
    pub keep: bool,
    pub messages: Vec<Held>,
}

/// Why a trace was decided before `decision_wait`.
#[derive(Debug, Clone, Copy)]
enum Early {
    MaxBytes,
    NumTraces,
}

impl Early {
    const ALL: [Early; 2] = [Early::MaxBytes, Early::NumTraces];

    fn label(self) -> &'static str {
        match self {
            Early::MaxBytes => "max_bytes",
            Early::NumTraces => "num_traces",
        }
    }
}

/// The tail sampler of one consume loop.
#[derive(Debug)]
pub struct TailSampler {
    policies: Policies,
    decision_wait: Duration,
    num_traces: usize,
    max_bytes: usize,
    buffer: Buffer,
    cache: DecisionCache,
    walker: SpanWalker,
}

impl TailSampler {
    /// A sampler for `config`, holding at most `max_bytes` of messages; its
    /// series are created at 0.
    pub fn new(config: TailSamplingConfig, max_bytes: usize) -> Self {
        let capacity = config
            .expected_new_traces_per_sec
            .saturating_mul(config.decision_wait.as_secs() as usize)
            .min(config.num_traces);
        let sampler = Self {
            decision_wait: config.decision_wait,
            num_traces: config.num_traces,
            max_bytes,
            buffer: Buffer::with_capacity(capacity),
            cache: DecisionCache::new(config.sampled_cache_size, config.non_sampled_cache_size),
            walker: SpanWalker::new(),
            policies: config.policies,
        };
        sampler.register();
        sampler
    }

    fn register(&self) {
        let kept = self.policies.names().map(|name| (name, "kept"));
        let dropped = self
            .policies
            .names()
            .chain([NO_POLICY])
            .map(|name| (name, "dropped"));
        for (policy, decision) in kept.chain(dropped) {
            for counter in [m::TAIL_SAMPLING_TRACES, m::TAIL_SAMPLING_SPANS] {
                metrics::counter!(counter, "policy" => policy.to_owned(), "decision" => decision)
                    .increment(0);
            }
        }
        for early in Early::ALL {
            metrics::counter!(m::TAIL_SAMPLING_EARLY_DECISIONS, "reason" => early.label())
                .increment(0);
        }
        let _ = metrics::histogram!(m::TAIL_SAMPLING_DECISION_LATENCY);
        self.set_gauges();
    }

    /// A message arrived: `otlp` is its value as an encoded
    /// `ExportTraceServiceRequest` (after `--kafka-encoding`), `value` the
    /// bytes as read, which are what is held.
    pub fn arrive(
        &mut self,
        otlp: &[u8],
        reference: MessageRef,
        key: Option<&[u8]>,
        value: &[u8],
        now: Instant,
    ) -> Arrival {
        let Ok(Some((id, summary))) = summary::of_message(&mut self.walker, otlp, &self.policies)
        else {
            return Arrival::Pass;
        };
        if let Some(decision) = self.cache.get(&id) {
            self.count_spans(decision, summary.spans);
            return Arrival::Follow {
                keep: decision.keep,
            };
        }
        let held = Held {
            reference,
            key: key.map(Box::from),
            value: Box::from(value),
        };
        self.buffer.hold(id, &summary, held, now);
        self.set_gauges();
        Arrival::Held
    }

    /// The oldest trace whose `decision_wait` has passed, decided.
    pub fn next_due(&mut self, now: Instant) -> Option<Decided> {
        let oldest = self.buffer.oldest()?;
        if now.saturating_duration_since(oldest) < self.decision_wait {
            return None;
        }
        self.decide_oldest(now)
    }

    /// Whether some trace's decision is due.
    pub fn has_due(&mut self, now: Instant) -> bool {
        self.buffer
            .oldest()
            .is_some_and(|oldest| now.saturating_duration_since(oldest) >= self.decision_wait)
    }

    /// The oldest trace, decided early, while the buffer is over
    /// `--tail-sampling-max-bytes` or `num_traces`.
    pub fn next_early(&mut self, now: Instant) -> Option<Decided> {
        let reason = if self.buffer.bytes() > self.max_bytes {
            Early::MaxBytes
        } else if self.buffer.len() > self.num_traces {
            Early::NumTraces
        } else {
            return None;
        };
        let decided = self.decide_oldest(now)?;
        metrics::counter!(m::TAIL_SAMPLING_EARLY_DECISIONS, "reason" => reason.label())
            .increment(1);
        Some(decided)
    }

    /// A partition was revoked: its undecided traces are forgotten (the next
    /// owner reads them again from the last committed offset).
    pub fn revoke(&mut self, partition: i32) {
        let forgotten = self.buffer.revoke(partition);
        if forgotten > 0 {
            tracing::info!(
                partition,
                traces = forgotten,
                "undecided traces of a revoked partition left to its next owner"
            );
        }
        self.set_gauges();
    }

    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    fn decide_oldest(&mut self, now: Instant) -> Option<Decided> {
        let (id, pending) = self.buffer.pop_oldest()?;
        let decision = self.policies.decide(&id, &pending.summary, now);
        self.cache.insert(id, decision);
        self.count_traces(&id, decision, pending.summary.spans);
        metrics::histogram!(m::TAIL_SAMPLING_DECISION_LATENCY)
            .record(now.saturating_duration_since(pending.first).as_secs_f64());
        self.set_gauges();
        Some(Decided {
            keep: decision.keep,
            messages: pending.messages,
        })
    }

    fn labels(&self, decision: Decision) -> (String, &'static str) {
        let policy = decision
            .policy
            .map_or(NO_POLICY, |index| self.policies.name(index));
        let outcome = if decision.keep { "kept" } else { "dropped" };
        (policy.to_owned(), outcome)
    }

    fn count_traces(&self, id: &TraceId, decision: Decision, spans: u32) {
        let (policy, outcome) = self.labels(decision);
        tracing::trace!(trace_id = %ferrotrace_format::hex::to_hex_string(id), %policy, outcome, spans, "trace decided");
        metrics::counter!(m::TAIL_SAMPLING_TRACES, "policy" => policy, "decision" => outcome)
            .increment(1);
        self.count_spans(decision, spans);
    }

    fn count_spans(&self, decision: Decision, spans: u32) {
        let (policy, outcome) = self.labels(decision);
        metrics::counter!(m::TAIL_SAMPLING_SPANS, "policy" => policy, "decision" => outcome)
            .increment(u64::from(spans));
    }

    fn set_gauges(&self) {
        metrics::gauge!(m::TAIL_SAMPLING_BUFFER_BYTES).set(self.buffer.bytes() as f64);
        metrics::gauge!(m::TAIL_SAMPLING_BUFFER_TRACES).set(self.buffer.len() as f64);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
    use prost::Message as _;

    use super::*;

    fn sampler(yaml: &str, max_bytes: usize) -> TailSampler {
        TailSampler::new(TailSamplingConfig::parse(yaml).unwrap(), max_bytes)
    }

    fn message(trace: u8, error: bool) -> Vec<u8> {
        let code = if error {
            status::StatusCode::Error
        } else {
            status::StatusCode::Unset
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![trace; 16],
                        span_id: vec![1; 8],
                        start_time_unix_nano: 1,
                        end_time_unix_nano: 2,
                        status: Some(Status {
                            code: code as i32,
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec()
    }

    fn reference(offset: i64) -> MessageRef {
        MessageRef {
            partition: 0,
            offset,
            epoch: 1,
        }
    }

    const ERRORS: &str = "decision_wait: 10s\npolicies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]";

    #[test]
    fn a_trace_is_decided_whole_after_decision_wait() {
        let mut s = sampler(ERRORS, usize::MAX);
        let t0 = Instant::now();
        for (offset, error) in [(0, false), (1, true), (2, false)] {
            let m = message(7, error);
            assert!(matches!(
                s.arrive(&m, reference(offset), None, &m, t0),
                Arrival::Held
            ));
        }
        assert!(s.next_due(t0 + Duration::from_secs(9)).is_none(), "not yet");
        let decided = s.next_due(t0 + Duration::from_secs(10)).unwrap();
        assert!(decided.keep, "one error span keeps the whole trace");
        let offsets: Vec<i64> = decided
            .messages
            .iter()
            .map(|h| h.reference.offset)
            .collect();
        assert_eq!(offsets, [0, 1, 2]);
        assert!(s.is_empty());
    }

    #[test]
    fn late_spans_follow_the_decision() {
        let mut s = sampler(ERRORS, usize::MAX);
        let t0 = Instant::now();
        let normal = message(8, false);
        s.arrive(&normal, reference(0), None, &normal, t0);
        let decided = s.next_due(t0 + Duration::from_secs(10)).unwrap();
        assert!(!decided.keep);
        // Even an error span cannot revive a dropped trace: it stays whole.
        let late = message(8, true);
        assert!(matches!(
            s.arrive(
                &late,
                reference(5),
                None,
                &late,
                t0 + Duration::from_secs(11)
            ),
            Arrival::Follow { keep: false }
        ));
    }

    #[test]
    fn over_max_bytes_the_oldest_are_decided_early() {
        let one = message(1, true);
        let mut s = sampler(ERRORS, 1);
        let t0 = Instant::now();
        s.arrive(&one, reference(0), None, &one, t0);
        let two = message(2, false);
        s.arrive(&two, reference(1), None, &two, t0);
        let first = s.next_early(t0).unwrap();
        assert!(first.keep);
        assert_eq!(first.messages[0].reference.offset, 0, "oldest first");
        let second = s.next_early(t0).unwrap();
        assert_eq!(second.messages[0].reference.offset, 1);
        assert!(s.next_early(t0).is_none());
    }

    #[test]
    fn over_num_traces_the_oldest_is_decided_early() {
        let mut s = sampler(&format!("num_traces: 1\n{ERRORS}"), usize::MAX);
        let t0 = Instant::now();
        for trace in [1, 2] {
            let m = message(trace, false);
            s.arrive(&m, reference(i64::from(trace)), None, &m, t0);
        }
        let early = s.next_early(t0).unwrap();
        assert_eq!(early.messages[0].reference.offset, 1);
        assert!(s.next_early(t0).is_none());
    }

    #[test]
    fn what_does_not_decode_passes() {
        let mut s = sampler(ERRORS, usize::MAX);
        let garbage = b"\xff\xff\xff";
        assert!(matches!(
            s.arrive(garbage, reference(0), None, garbage, Instant::now()),
            Arrival::Pass
        ));
        assert!(s.is_empty());
    }
}
