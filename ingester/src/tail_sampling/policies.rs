//! The sampling policies and how their verdicts make one decision, with the
//! OpenTelemetry Collector `tail_sampling` processor's meanings:
//!
//! - every top-level policy is evaluated (stateful ones, `rate_limiting`,
//!   spend their budget even when another policy already keeps the trace);
//! - an "inverted not sampled" verdict (an attribute policy with
//!   `invert_match` whose value is present) drops the trace;
//! - otherwise any "sampled" or "inverted sampled" verdict keeps it;
//! - otherwise it is dropped.
//!
//! Within `and`, inverted verdicts count as plain ones, and every
//! sub-policy must sample.
//!
//! Policies read a [`TraceSummary`], never the spans: attribute tests are
//! [`Predicate`]s matched once per span as its message arrives, and the
//! summary keeps one bit per predicate.

use std::collections::HashSet;
use std::time::Instant;

use ferrotrace_format::fnv::fnv1a_64;

use super::summary::{AttributeValue, TraceSummary};

/// Attribute policies per configuration: one bit each in a summary.
pub const MAX_PREDICATES: usize = 64;

/// The processor's salt when `hash_salt` is empty.
const DEFAULT_HASH_SALT: &str = "default-hash-seed";

/// A named policy.
#[derive(Debug)]
pub struct Policy {
    pub name: String,
    pub rule: Rule,
}

#[derive(Debug)]
pub enum Rule {
    AlwaysSample,
    /// Trace duration (earliest start to latest end, whole milliseconds):
    /// `>= threshold_ms`, or with an upper bound `> threshold_ms && <= upper`.
    Latency {
        threshold_ms: i64,
        upper_threshold_ms: i64,
    },
    /// Some span has one of these status codes (bit 0 UNSET, 1 OK, 2 ERROR).
    StatusCode {
        mask: u8,
    },
    /// Some resource or span attribute passes predicate `predicate`.
    Attribute {
        predicate: usize,
        invert: bool,
    },
    /// FNV-1a 64 of salt then trace ID at or below the threshold.
    Probabilistic {
        salt: String,
        threshold: u64,
    },
    RateLimiting(TokenBucket),
    /// Span count within `[min, max]`; `max` 0 means no upper bound.
    SpanCount {
        min: u32,
        max: u32,
    },
    And(Vec<Policy>),
}

impl Rule {
    pub fn probabilistic(salt: &str, percentage: f64) -> Self {
        let salt = if salt.is_empty() {
            DEFAULT_HASH_SALT
        } else {
            salt
        };
        Self::Probabilistic {
            salt: salt.to_owned(),
            threshold: threshold(percentage / 100.0),
        }
    }

    /// The processor's token bucket: refilled at `per_second`, holding at
    /// most twice that, starting full.
    pub fn rate_limiting(per_second: f64) -> Self {
        Self::RateLimiting(TokenBucket {
            rate: per_second,
            burst: per_second * 2.0,
            tokens: per_second * 2.0,
            last: None,
        })
    }
}

/// `ratio` of the u64 range, truncated: traces whose hash is at or below it
/// are sampled. The processor multiplies `MaxUint64` by the ratio in
/// arbitrary precision; the exact product truncated differs from it at most
/// in the last unit, one trace ID in 2^64.
fn threshold(ratio: f64) -> u64 {
    if ratio.is_nan() || ratio <= 0.0 {
        return 0;
    }
    if ratio >= 1.0 {
        return u64::MAX;
    }
    // ratio = mantissa * 2^exponent exactly, mantissa < 2^53, exponent < 0.
    let bits = ratio.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exponent) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    let product = u128::from(u64::MAX) * u128::from(mantissa);
    let shift = (-exponent) as u32;
    if shift >= 128 {
        return 0;
    }
    (product >> shift) as u64
}

/// `golang.org/x/time/rate`'s limiter as the processor uses it: `AllowN`.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    fn allow(&mut self, spans: u32, now: Instant) -> bool {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        }
        self.last = Some(now);
        let spans = f64::from(spans);
        if spans <= self.tokens {
            self.tokens -= spans;
            true
        } else {
            false
        }
    }
}

/// One attribute test, matched against every resource and span attribute
/// named `key`.
#[derive(Debug)]
pub struct Predicate {
    pub key: String,
    pub test: Test,
}

#[derive(Debug)]
pub enum Test {
    /// A string value equal to one of these (empty strings never match).
    Strings(HashSet<String>),
    /// A string value some expression matches (unanchored, as Go's `MatchString`).
    Regex(regex::RegexSet),
    /// An integer value in `[min, max]`.
    Range { min: i64, max: i64 },
    /// A boolean value equal to this.
    Bool(bool),
}

impl Test {
    /// Values of another type never match (the processor reads them as the
    /// type's zero value, so that e.g. a string attribute would match
    /// `boolean_attribute: {value: false}`).
    fn passes(&self, value: AttributeValue<'_>) -> bool {
        match (self, value) {
            (Self::Strings(set), AttributeValue::Str(s)) => !s.is_empty() && set.contains(s),
            (Self::Regex(set), AttributeValue::Str(s)) => !s.is_empty() && set.is_match(s),
            (Self::Range { min, max }, AttributeValue::Int(v)) => (*min..=*max).contains(&v),
            (Self::Bool(want), AttributeValue::Bool(v)) => *want == v,
            _ => false,
        }
    }
}

/// One policy's verdict, as the processor names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Sampled,
    NotSampled,
    InvertSampled,
    InvertNotSampled,
}

/// The decision on a trace and the top-level policy that made it: the
/// first that sampled it, or the one whose inverted match dropped it;
/// `None` when no policy sampled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub keep: bool,
    pub policy: Option<u16>,
}

/// The configured policies and the attribute predicates they read.
#[derive(Debug)]
pub struct Policies {
    top: Vec<Policy>,
    predicates: Vec<Predicate>,
}

impl Policies {
    pub fn new(top: Vec<Policy>, predicates: Vec<Predicate>) -> Self {
        Self { top, predicates }
    }

    /// The top-level policies' names, in order (the `policy` label).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.top.iter().map(|p| p.name.as_str())
    }

    pub fn name(&self, index: u16) -> &str {
        self.top
            .get(usize::from(index))
            .map_or("", |p| p.name.as_str())
    }

    /// Whether any predicate reads attributes named `key` (so a caller can
    /// skip decoding the values of others).
    pub fn reads_key(&self, key: &str) -> bool {
        self.predicates.iter().any(|p| p.key == key)
    }

    /// Bits of the predicates an attribute passes.
    pub fn matching(&self, key: &str, value: AttributeValue<'_>) -> u64 {
        let mut bits = 0;
        for (i, predicate) in self.predicates.iter().enumerate() {
            if predicate.key == key && predicate.test.passes(value) {
                bits |= 1 << i;
            }
        }
        bits
    }

    /// Decides on a whole trace.
    pub fn decide(&mut self, trace_id: &[u8; 16], trace: &TraceSummary, now: Instant) -> Decision {
        let mut sampled_by = None;
        let mut dropped_by = None;
        for (i, policy) in self.top.iter_mut().enumerate() {
            match verdict(&mut policy.rule, trace_id, trace, now) {
                Verdict::InvertNotSampled => {
                    dropped_by.get_or_insert(i as u16);
                }
                Verdict::Sampled | Verdict::InvertSampled => {
                    sampled_by.get_or_insert(i as u16);
                }
                Verdict::NotSampled => {}
            }
        }
        match (dropped_by, sampled_by) {
            (Some(policy), _) => Decision {
                keep: false,
                policy: Some(policy),
            },
            (None, Some(policy)) => Decision {
                keep: true,
                policy: Some(policy),
            },
            (None, None) => Decision {
                keep: false,
                policy: None,
            },
        }
    }
}

fn sampled(yes: bool) -> Verdict {
    if yes {
        Verdict::Sampled
    } else {
        Verdict::NotSampled
    }
}

fn verdict(rule: &mut Rule, trace_id: &[u8; 16], trace: &TraceSummary, now: Instant) -> Verdict {
    match rule {
        Rule::AlwaysSample => Verdict::Sampled,
        Rule::Latency {
            threshold_ms,
            upper_threshold_ms,
        } => {
            let millis = trace.duration_ms();
            if *upper_threshold_ms == 0 {
                sampled(millis >= *threshold_ms)
            } else {
                sampled(*threshold_ms < millis && millis <= *upper_threshold_ms)
            }
        }
        Rule::StatusCode { mask } => sampled(trace.statuses & *mask != 0),
        Rule::Attribute { predicate, invert } => {
            let matched = trace.matched & (1 << *predicate) != 0;
            match (*invert, matched) {
                (false, m) => sampled(m),
                (true, true) => Verdict::InvertNotSampled,
                (true, false) => Verdict::InvertSampled,
            }
        }
        Rule::Probabilistic { salt, threshold } => {
            sampled(fnv1a_64(&[salt.as_bytes(), trace_id]) <= *threshold)
        }
        Rule::RateLimiting(bucket) => sampled(bucket.allow(trace.spans, now)),
        Rule::SpanCount { min, max } => {
            sampled(trace.spans >= *min && (*max == 0 || trace.spans <= *max))
        }
        Rule::And(subs) => {
            for sub in subs.iter_mut() {
                match verdict(&mut sub.rule, trace_id, trace, now) {
                    Verdict::NotSampled | Verdict::InvertNotSampled => return Verdict::NotSampled,
                    Verdict::Sampled | Verdict::InvertSampled => {}
                }
            }
            Verdict::Sampled
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::tail_sampling::config::TailSamplingConfig;

    fn policies(yaml: &str) -> Policies {
        TailSamplingConfig::parse(yaml).unwrap().policies
    }

    fn trace(spans: u32, start_ms: u64, end_ms: u64) -> TraceSummary {
        TraceSummary {
            spans,
            start_ns: start_ms * 1_000_000,
            end_ns: end_ms * 1_000_000,
            statuses: 1,
            matched: 0,
        }
    }

    fn keep(p: &mut Policies, id: u8, t: &TraceSummary) -> bool {
        p.decide(&[id; 16], t, Instant::now()).keep
    }

    #[test]
    fn latency_uses_earliest_start_to_latest_end() {
        let mut p =
            policies("policies: [{name: slow, type: latency, latency: {threshold_ms: 100}}]");
        assert!(keep(&mut p, 1, &trace(3, 1_000, 1_100)));
        assert!(!keep(&mut p, 1, &trace(3, 1_000, 1_099)));
        let mut bounded = policies(
            "policies: [{name: mid, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 200}}]",
        );
        assert!(
            !keep(&mut bounded, 1, &trace(1, 0, 100)),
            "lower bound exclusive"
        );
        assert!(keep(&mut bounded, 1, &trace(1, 0, 200)));
        assert!(!keep(&mut bounded, 1, &trace(1, 0, 201)));
    }

    #[test]
    fn status_code_matches_any_span() {
        let mut p = policies(
            "policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]",
        );
        let mut t = trace(2, 0, 1);
        assert!(!keep(&mut p, 1, &t));
        t.statuses |= 1 << 2;
        assert!(keep(&mut p, 1, &t));
    }

    #[test]
    fn attribute_tests_match_their_type_only() {
        let p = policies(
            r#"
policies:
  - {name: s, type: string_attribute, string_attribute: {key: k, values: [a, b]}}
  - {name: r, type: string_attribute, string_attribute: {key: k, values: ["^/health"], enabled_regex_matching: true}}
  - {name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500}}
  - {name: b, type: boolean_attribute, boolean_attribute: {key: flag, value: false}}
"#,
        );
        assert_eq!(p.matching("k", AttributeValue::Str("a")), 0b0001);
        assert_eq!(p.matching("k", AttributeValue::Str("/healthz")), 0b0010);
        assert_eq!(p.matching("k", AttributeValue::Str("c")), 0);
        assert_eq!(p.matching("other", AttributeValue::Str("a")), 0);
        assert_eq!(p.matching("code", AttributeValue::Int(503)), 0b0100);
        assert_eq!(p.matching("code", AttributeValue::Int(499)), 0);
        assert_eq!(
            p.matching("code", AttributeValue::Str("503")),
            0,
            "not an int"
        );
        assert_eq!(p.matching("flag", AttributeValue::Bool(false)), 0b1000);
        assert_eq!(
            p.matching("flag", AttributeValue::Str("x")),
            0,
            "not a bool"
        );
    }

    #[test]
    fn an_inverted_match_drops_the_trace_whatever_else_samples() {
        let mut p = policies(
            r#"
policies:
  - {name: all, type: always_sample}
  - {name: not-health, type: string_attribute, string_attribute: {key: path, values: [/health], invert_match: true}}
"#,
        );
        let mut t = trace(1, 0, 1);
        assert_eq!(
            p.decide(&[1; 16], &t, Instant::now()),
            Decision {
                keep: true,
                policy: Some(0)
            }
        );
        t.matched = 1;
        assert_eq!(
            p.decide(&[1; 16], &t, Instant::now()),
            Decision {
                keep: false,
                policy: Some(1)
            }
        );
        let mut alone = policies(
            "policies: [{name: x, type: boolean_attribute, boolean_attribute: {key: k, value: true, invert_match: true}}]",
        );
        assert!(
            keep(&mut alone, 1, &trace(1, 0, 1)),
            "absent: inverted sampled"
        );
    }

    #[test]
    fn no_sampling_policy_drops_with_no_policy() {
        let mut p = policies(
            "policies: [{name: e, type: status_code, status_code: {status_codes: [ERROR]}}]",
        );
        assert_eq!(
            p.decide(&[1; 16], &trace(1, 0, 1), Instant::now()),
            Decision {
                keep: false,
                policy: None
            }
        );
    }

    #[test]
    fn and_needs_every_sub_policy() {
        let mut p = policies(
            r#"
policies:
  - name: slow-checkout
    type: and
    and:
      and_sub_policy:
        - {name: slow, type: latency, latency: {threshold_ms: 100}}
        - {name: checkout, type: string_attribute, string_attribute: {key: svc, values: [checkout], invert_match: true}}
"#,
        );
        let slow = trace(1, 0, 500);
        assert!(keep(&mut p, 1, &slow), "inverted sampled counts as sampled");
        let mut slow_checkout = trace(1, 0, 500);
        slow_checkout.matched = 1;
        assert!(!keep(&mut p, 1, &slow_checkout));
        assert!(!keep(&mut p, 1, &trace(1, 0, 5)));
    }

    #[test]
    fn span_count_bounds_are_inclusive() {
        let mut p = policies(
            "policies: [{name: c, type: span_count, span_count: {min_spans: 2, max_spans: 3}}]",
        );
        assert!(!keep(&mut p, 1, &trace(1, 0, 1)));
        assert!(keep(&mut p, 1, &trace(2, 0, 1)));
        assert!(keep(&mut p, 1, &trace(3, 0, 1)));
        assert!(!keep(&mut p, 1, &trace(4, 0, 1)));
        let mut open =
            policies("policies: [{name: c, type: span_count, span_count: {min_spans: 2}}]");
        assert!(keep(&mut open, 1, &trace(1000, 0, 1)));
    }

    #[test]
    fn rate_limiting_is_a_token_bucket_of_twice_the_rate() {
        let mut p = policies(
            "policies: [{name: r, type: rate_limiting, rate_limiting: {spans_per_second: 10}}]",
        );
        let start = Instant::now();
        let t = trace(8, 0, 1);
        assert!(p.decide(&[1; 16], &t, start).keep, "starts full: 20");
        assert!(p.decide(&[2; 16], &t, start).keep, "12 left");
        assert!(!p.decide(&[3; 16], &t, start).keep, "4 left");
        let later = start + Duration::from_millis(400);
        assert!(p.decide(&[3; 16], &t, later).keep, "refilled to 8");
        assert!(
            !p.decide(&[4; 16], &trace(21, 0, 1), later + Duration::from_secs(60))
                .keep,
            "over the burst"
        );
    }

    #[test]
    fn probabilistic_hashes_salt_then_trace_id_with_fnv1a() {
        // The hash the processor compares: FNV-1a 64 of "default-hash-seed"
        // followed by the 16 trace-ID bytes.
        let id = [0x5a; 16];
        let hash = fnv1a_64(&[b"default-hash-seed", &id]);
        let mut exactly = Policies::new(
            vec![Policy {
                name: "p".into(),
                rule: Rule::Probabilistic {
                    salt: DEFAULT_HASH_SALT.into(),
                    threshold: hash,
                },
            }],
            vec![],
        );
        assert!(
            keep(&mut exactly, 0x5a, &trace(1, 0, 1)),
            "at the threshold: sampled"
        );
        if let Rule::Probabilistic { threshold, .. } = &mut exactly.top[0].rule {
            *threshold = hash - 1;
        }
        assert!(!keep(&mut exactly, 0x5a, &trace(1, 0, 1)));
    }

    #[test]
    fn probabilistic_keeps_its_share_and_the_same_traces_everywhere() {
        let yaml =
            "policies: [{name: p, type: probabilistic, probabilistic: {sampling_percentage: 25}}]";
        let (mut a, mut b) = (policies(yaml), policies(yaml));
        let mut kept = 0;
        for i in 0u32..20_000 {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&i.to_be_bytes());
            id[8..12].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_le_bytes());
            let t = trace(1, 0, 1);
            let ka = a.decide(&id, &t, Instant::now()).keep;
            assert_eq!(
                ka,
                b.decide(&id, &t, Instant::now()).keep,
                "same decision everywhere"
            );
            kept += u32::from(ka);
        }
        let share = f64::from(kept) / 20_000.0;
        assert!((0.23..0.27).contains(&share), "kept {share}");
    }

    #[test]
    fn thresholds_span_the_u64_range() {
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(1.0), u64::MAX);
        assert_eq!(threshold(0.5), u64::MAX / 2);
        assert_eq!(threshold(0.25), u64::MAX / 4);
        let tenth = threshold(0.1) as f64 / u64::MAX as f64;
        assert!((tenth - 0.1).abs() < 1e-15);
    }
}
