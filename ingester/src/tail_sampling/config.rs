//! `--tail-sampling-config`: a file in the OpenTelemetry Collector
//! `tail_sampling` processor's YAML shape, so a team can bring the
//! configuration it has. Field names, defaults and meanings are the
//! processor's (`processor/tailsamplingprocessor`, README and config.go).
//!
//! Anything this ingester does not implement is refused at start, naming
//! what was refused: an unknown field (serde's `deny_unknown_fields`), a
//! policy type other than the supported ones (`composite`, `drop`,
//! `ottl_condition`, `trace_state`, `bytes_limiting`, ...), or a value the
//! processor would refuse or silently misread.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use ferrotrace_format::jaeger::json::parse_go_duration;
use serde::Deserialize;

use super::policies::{Policies, Policy, Predicate, Rule, Test, MAX_PREDICATES};

/// The processor's defaults: `decision_wait` 30 s, `num_traces` 50000.
const DEFAULT_DECISION_WAIT: &str = "30s";
const DEFAULT_NUM_TRACES: usize = 50_000;

/// The policy types implemented here.
const TYPES: &[&str] = &[
    "always_sample",
    "latency",
    "status_code",
    "string_attribute",
    "numeric_attribute",
    "boolean_attribute",
    "probabilistic",
    "rate_limiting",
    "span_count",
    "and",
];

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    decision_wait: Option<String>,
    #[serde(default, deserialize_with = "count")]
    num_traces: Option<usize>,
    #[serde(default, deserialize_with = "count")]
    expected_new_traces_per_sec: Option<usize>,
    #[serde(default)]
    decision_cache: DecisionCacheConfig,
    #[serde(default)]
    policies: Vec<PolicyConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionCacheConfig {
    #[serde(default, deserialize_with = "count")]
    sampled_cache_size: Option<usize>,
    #[serde(default, deserialize_with = "count")]
    non_sampled_cache_size: Option<usize>,
}

/// A count written as a number or, as the processor's README writes them
/// (`100_000`, which Go's YAML reads as YAML 1.1 does), with underscores.
fn count<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Number(usize),
        Text(String),
    }
    match Count::deserialize(deserializer)? {
        Count::Number(n) => Ok(Some(n)),
        Count::Text(text) => text
            .replace('_', "")
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a count"))),
    }
}

/// One policy, or one sub-policy of an `and`: a name, a type, and the
/// section named after the type.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyConfig {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    latency: Option<LatencyConfig>,
    status_code: Option<StatusCodeConfig>,
    string_attribute: Option<StringAttributeConfig>,
    numeric_attribute: Option<NumericAttributeConfig>,
    boolean_attribute: Option<BooleanAttributeConfig>,
    probabilistic: Option<ProbabilisticConfig>,
    rate_limiting: Option<RateLimitingConfig>,
    span_count: Option<SpanCountConfig>,
    and: Option<AndConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyConfig {
    #[serde(default)]
    threshold_ms: i64,
    #[serde(default)]
    upper_threshold_ms: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusCodeConfig {
    #[serde(default)]
    status_codes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StringAttributeConfig {
    #[serde(default)]
    key: String,
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    enabled_regex_matching: bool,
    /// The processor's LRU of regex results; accepted, not needed: each
    /// attribute is matched once, when its message arrives.
    #[serde(default)]
    cache_max_size: usize,
    #[serde(default)]
    invert_match: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NumericAttributeConfig {
    #[serde(default)]
    key: String,
    min_value: Option<i64>,
    max_value: Option<i64>,
    #[serde(default)]
    invert_match: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BooleanAttributeConfig {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: bool,
    #[serde(default)]
    invert_match: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbabilisticConfig {
    #[serde(default)]
    hash_salt: String,
    #[serde(default)]
    sampling_percentage: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitingConfig {
    #[serde(default)]
    spans_per_second: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpanCountConfig {
    #[serde(default)]
    min_spans: i32,
    #[serde(default)]
    max_spans: i32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AndConfig {
    #[serde(default)]
    and_sub_policy: Vec<PolicyConfig>,
}

/// A checked tail-sampling configuration.
#[derive(Debug)]
pub struct TailSamplingConfig {
    /// From a trace's first message to its decision.
    pub decision_wait: Duration,
    /// Undecided traces held at most; more are decided early, oldest first.
    pub num_traces: usize,
    /// Capacity hint for the trace table.
    pub expected_new_traces_per_sec: usize,
    /// Trace IDs whose "keep" decision is remembered for late spans.
    pub sampled_cache_size: usize,
    /// Trace IDs whose "drop" decision is remembered for late spans.
    pub non_sampled_cache_size: usize,
    pub policies: Policies,
}

impl TailSamplingConfig {
    /// Reads and checks the file; the error is one line naming the file and
    /// what was refused.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "--tail-sampling-config {}: cannot read: {e}",
                path.display()
            )
        })?;
        Self::parse(&text).map_err(|e| format!("--tail-sampling-config {}: {e}", path.display()))
    }

    /// Parses and checks the YAML text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: FileConfig = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        let wait = file
            .decision_wait
            .as_deref()
            .unwrap_or(DEFAULT_DECISION_WAIT);
        let decision_wait = match parse_go_duration(wait) {
            Some(nanos) if nanos > 0 => Duration::from_nanos(nanos as u64),
            _ => {
                return Err(format!(
                    "decision_wait: {wait:?} is not a positive duration (e.g. 10s)"
                ))
            }
        };
        let num_traces = file.num_traces.unwrap_or(DEFAULT_NUM_TRACES);
        if num_traces == 0 {
            return Err("num_traces must be positive".into());
        }
        if file.policies.is_empty() {
            return Err("policies: at least one policy is required".into());
        }
        let mut predicates = Vec::new();
        let mut names = HashSet::new();
        let mut top = Vec::with_capacity(file.policies.len());
        for (i, policy) in file.policies.iter().enumerate() {
            let at = format!("policies[{i}] ({:?})", policy.name);
            if !names.insert(policy.name.as_str()) {
                return Err(format!("{at}: the name is used twice"));
            }
            top.push(compile(policy, &at, true, &mut predicates)?);
        }
        Ok(Self {
            decision_wait,
            num_traces,
            expected_new_traces_per_sec: file.expected_new_traces_per_sec.unwrap_or(0),
            // Unset: as many as `num_traces`, which is how long the processor
            // itself remembers a decision with its caches off.
            sampled_cache_size: file.decision_cache.sampled_cache_size.unwrap_or(num_traces),
            non_sampled_cache_size: file
                .decision_cache
                .non_sampled_cache_size
                .unwrap_or(num_traces),
            policies: Policies::new(top, predicates),
        })
    }
}

/// Checks one policy and turns it into its rule; attribute tests go to
/// `predicates`, which every arriving span is matched against.
fn compile(
    policy: &PolicyConfig,
    at: &str,
    top_level: bool,
    predicates: &mut Vec<Predicate>,
) -> Result<Policy, String> {
    if policy.name.is_empty() {
        return Err(format!("{at}: name must not be empty"));
    }
    let kind = policy.kind.as_str();
    if !TYPES.contains(&kind) {
        return Err(format!(
            "{at}: policy type {kind:?} is not supported (supported: {})",
            TYPES.join(", ")
        ));
    }
    // A section of another type is a mistake the processor ignores silently.
    let sections = [
        ("latency", policy.latency.is_some()),
        ("status_code", policy.status_code.is_some()),
        ("string_attribute", policy.string_attribute.is_some()),
        ("numeric_attribute", policy.numeric_attribute.is_some()),
        ("boolean_attribute", policy.boolean_attribute.is_some()),
        ("probabilistic", policy.probabilistic.is_some()),
        ("rate_limiting", policy.rate_limiting.is_some()),
        ("span_count", policy.span_count.is_some()),
        ("and", policy.and.is_some()),
    ];
    if let Some((other, _)) = sections.iter().find(|(name, set)| *set && *name != kind) {
        return Err(format!(
            "{at}: section {other:?} does not belong to a policy of type {kind:?}"
        ));
    }
    let rule = match kind {
        "always_sample" => Rule::AlwaysSample,
        "latency" => {
            let default = LatencyConfig::default();
            let c = policy.latency.as_ref().unwrap_or(&default);
            if c.threshold_ms < 0 || c.upper_threshold_ms < 0 {
                return Err(format!("{at}: latency thresholds must not be negative"));
            }
            if c.upper_threshold_ms != 0 && c.upper_threshold_ms < c.threshold_ms {
                return Err(format!(
                    "{at}: latency upper_threshold_ms must not be below threshold_ms"
                ));
            }
            Rule::Latency {
                threshold_ms: c.threshold_ms,
                upper_threshold_ms: c.upper_threshold_ms,
            }
        }
        "status_code" => {
            let codes = policy
                .status_code
                .as_ref()
                .map(|c| c.status_codes.as_slice())
                .unwrap_or_default();
            if codes.is_empty() {
                return Err(format!("{at}: status_code.status_codes must not be empty"));
            }
            let mut mask = 0u8;
            for code in codes {
                mask |= match code.as_str() {
                    "UNSET" => 1 << 0,
                    "OK" => 1 << 1,
                    "ERROR" => 1 << 2,
                    other => {
                        return Err(format!(
                            "{at}: unknown status code {other:?} (OK, ERROR or UNSET)"
                        ))
                    }
                };
            }
            Rule::StatusCode { mask }
        }
        "string_attribute" => {
            let c = policy
                .string_attribute
                .as_ref()
                .ok_or_else(|| format!("{at}: the string_attribute section is missing"))?;
            let _ = c.cache_max_size;
            let values: Vec<&String> = c.values.iter().filter(|v| !v.is_empty()).collect();
            if values.is_empty() {
                return Err(format!("{at}: string_attribute.values must not be empty"));
            }
            let test = if c.enabled_regex_matching {
                let set = regex::RegexSet::new(values.iter().map(|v| v.as_str()))
                    .map_err(|e| format!("{at}: string_attribute.values: {e}"))?;
                Test::Regex(set)
            } else {
                Test::Strings(values.into_iter().cloned().collect())
            };
            attribute(at, &c.key, test, c.invert_match, predicates)?
        }
        "numeric_attribute" => {
            let c = policy
                .numeric_attribute
                .as_ref()
                .ok_or_else(|| format!("{at}: the numeric_attribute section is missing"))?;
            if c.min_value.is_none() && c.max_value.is_none() {
                return Err(format!(
                    "{at}: numeric_attribute needs min_value, max_value or both"
                ));
            }
            let (min, max) = (
                c.min_value.unwrap_or(i64::MIN),
                c.max_value.unwrap_or(i64::MAX),
            );
            if min > max {
                return Err(format!(
                    "{at}: numeric_attribute min_value must not be above max_value"
                ));
            }
            attribute(
                at,
                &c.key,
                Test::Range { min, max },
                c.invert_match,
                predicates,
            )?
        }
        "boolean_attribute" => {
            let c = policy
                .boolean_attribute
                .as_ref()
                .ok_or_else(|| format!("{at}: the boolean_attribute section is missing"))?;
            attribute(at, &c.key, Test::Bool(c.value), c.invert_match, predicates)?
        }
        "probabilistic" => {
            let default = ProbabilisticConfig::default();
            let c = policy.probabilistic.as_ref().unwrap_or(&default);
            if c.sampling_percentage.is_nan() || c.sampling_percentage < 0.0 {
                return Err(format!(
                    "{at}: probabilistic.sampling_percentage must be a number from 0 to 100"
                ));
            }
            Rule::probabilistic(&c.hash_salt, c.sampling_percentage)
        }
        "rate_limiting" => {
            let per_second = policy
                .rate_limiting
                .as_ref()
                .map_or(0, |c| c.spans_per_second);
            if per_second <= 0 {
                return Err(format!(
                    "{at}: rate_limiting.spans_per_second must be positive"
                ));
            }
            Rule::rate_limiting(per_second as f64)
        }
        "span_count" => {
            let c = policy
                .span_count
                .as_ref()
                .map_or((0, 0), |c| (c.min_spans, c.max_spans));
            if c.0 < 0 || c.1 < 0 || (c.1 != 0 && c.1 < c.0) {
                return Err(format!(
                    "{at}: span_count needs 0 <= min_spans and max_spans 0 (no limit) or >= min_spans"
                ));
            }
            Rule::SpanCount {
                min: c.0 as u32,
                max: c.1 as u32,
            }
        }
        "and" => {
            if !top_level {
                return Err(format!("{at}: an and policy cannot be an and_sub_policy"));
            }
            let subs = policy
                .and
                .as_ref()
                .map(|c| c.and_sub_policy.as_slice())
                .unwrap_or_default();
            if subs.is_empty() {
                return Err(format!("{at}: and.and_sub_policy must not be empty"));
            }
            let mut compiled = Vec::with_capacity(subs.len());
            for (j, sub) in subs.iter().enumerate() {
                let at = format!("{at}.and.and_sub_policy[{j}] ({:?})", sub.name);
                compiled.push(compile(sub, &at, false, predicates)?);
            }
            Rule::And(compiled)
        }
        _ => unreachable!("checked against TYPES"),
    };
    Ok(Policy {
        name: policy.name.clone(),
        rule,
    })
}

/// An attribute policy: its test becomes a predicate of its own.
fn attribute(
    at: &str,
    key: &str,
    test: Test,
    invert: bool,
    predicates: &mut Vec<Predicate>,
) -> Result<Rule, String> {
    if key.is_empty() {
        return Err(format!("{at}: key must not be empty"));
    }
    if predicates.len() == MAX_PREDICATES {
        return Err(format!(
            "{at}: at most {MAX_PREDICATES} attribute policies are supported"
        ));
    }
    predicates.push(Predicate {
        key: key.to_owned(),
        test,
    });
    Ok(Rule::Attribute {
        predicate: predicates.len() - 1,
        invert,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(yaml: &str) -> String {
        TailSamplingConfig::parse(yaml).expect_err("refused")
    }

    #[test]
    fn reads_the_processors_example() {
        // The shape of the processor README's example, less the policy types
        // not supported here.
        let config = TailSamplingConfig::parse(
            r#"
decision_wait: 10s
num_traces: 100
expected_new_traces_per_sec: 10
decision_cache:
  sampled_cache_size: 100_000
  non_sampled_cache_size: 1000
policies:
  [
    { name: test-policy-1, type: always_sample },
    { name: test-policy-2, type: latency, latency: {threshold_ms: 5000, upper_threshold_ms: 10000} },
    { name: test-policy-3, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100} },
    { name: test-policy-4, type: probabilistic, probabilistic: {sampling_percentage: 10} },
    { name: test-policy-5, type: status_code, status_code: {status_codes: [ERROR, UNSET]} },
    { name: test-policy-6, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]} },
    { name: test-policy-7, type: string_attribute, string_attribute: {key: key2, values: [value1, val*], enabled_regex_matching: true, cache_max_size: 10} },
    { name: test-policy-8, type: rate_limiting, rate_limiting: {spans_per_second: 35} },
    { name: test-policy-10, type: span_count, span_count: {min_spans: 2, max_spans: 20} },
    { name: test-policy-12, type: boolean_attribute, boolean_attribute: {key: key4, value: true} },
    { name: and-policy-1, type: and, and: { and_sub_policy: [
        { name: test-and-policy-1, type: numeric_attribute, numeric_attribute: { key: key1, min_value: 50, max_value: 100 } },
        { name: test-and-policy-2, type: string_attribute, string_attribute: { key: key2, values: [ value1, value2 ] } } ] } },
  ]
"#,
        )
        .unwrap();
        assert_eq!(config.decision_wait, Duration::from_secs(10));
        assert_eq!(config.num_traces, 100);
        assert_eq!(config.expected_new_traces_per_sec, 10);
        assert_eq!(config.sampled_cache_size, 100_000);
        assert_eq!(config.non_sampled_cache_size, 1000);
        assert_eq!(config.policies.names().count(), 11);
        assert_eq!(config.policies.name(10), "and-policy-1");
    }

    #[test]
    fn defaults_are_the_processors() {
        let config =
            TailSamplingConfig::parse("policies: [{name: all, type: always_sample}]").unwrap();
        assert_eq!(config.decision_wait, Duration::from_secs(30));
        assert_eq!(config.num_traces, 50_000);
        assert_eq!(config.expected_new_traces_per_sec, 0);
        assert_eq!(config.sampled_cache_size, 50_000);
        assert_eq!(config.non_sampled_cache_size, 50_000);
    }

    #[test]
    fn refuses_what_it_does_not_implement_naming_it() {
        let cases = [
            (
                "policies: [{name: c, type: composite, composite: {}}]",
                "unknown field `composite`",
            ),
            (
                "policies: [{name: t, type: trace_state}]",
                "policies[0] (\"t\"): policy type \"trace_state\" is not supported",
            ),
            (
                "policies: [{name: a, type: always_sample}, {name: o, type: ottl_condition}]",
                "policies[1] (\"o\"): policy type \"ottl_condition\"",
            ),
            (
                "sample_on_first_match: true\npolicies: [{name: a, type: always_sample}]",
                "unknown field `sample_on_first_match`",
            ),
            (
                "policies: [{name: l, type: latency, latency: {threshold: 5}}]",
                "unknown field `threshold`",
            ),
            (
                "decision_cache: {size: 5}\npolicies: [{name: a, type: always_sample}]",
                "unknown field `size`",
            ),
        ];
        for (yaml, expected) in cases {
            let error = refused(yaml);
            assert!(error.contains(expected), "{yaml}: {error}");
        }
    }

    #[test]
    fn refuses_values_the_processor_would_misread() {
        let cases = [
            ("policies: []", "at least one policy"),
            ("decision_wait: 10\npolicies: [{name: a, type: always_sample}]", "decision_wait"),
            ("decision_wait: 0s\npolicies: [{name: a, type: always_sample}]", "decision_wait"),
            ("num_traces: 0\npolicies: [{name: a, type: always_sample}]", "num_traces"),
            (
                "policies: [{name: a, type: always_sample}, {name: a, type: always_sample}]",
                "policies[1] (\"a\"): the name is used twice",
            ),
            (
                "policies: [{name: s, type: status_code, status_code: {status_codes: [FAILED]}}]",
                "unknown status code \"FAILED\"",
            ),
            ("policies: [{name: s, type: status_code}]", "status_codes must not be empty"),
            (
                "policies: [{name: l, type: latency, probabilistic: {sampling_percentage: 5}}]",
                "section \"probabilistic\" does not belong to a policy of type \"latency\"",
            ),
            (
                "policies: [{name: r, type: string_attribute, string_attribute: {key: k, values: [\"(\"], enabled_regex_matching: true}}]",
                "string_attribute.values",
            ),
            (
                "policies: [{name: n, type: numeric_attribute, numeric_attribute: {key: k}}]",
                "needs min_value, max_value or both",
            ),
            (
                "policies: [{name: b, type: boolean_attribute, boolean_attribute: {value: true}}]",
                "key must not be empty",
            ),
            (
                "policies: [{name: p, type: probabilistic, probabilistic: {sampling_percentage: -1}}]",
                "sampling_percentage",
            ),
            ("policies: [{name: r, type: rate_limiting}]", "spans_per_second must be positive"),
            (
                "policies: [{name: a, type: and, and: {and_sub_policy: [{name: inner, type: and}]}}]",
                "policies[0] (\"a\").and.and_sub_policy[0] (\"inner\"): an and policy cannot be an and_sub_policy",
            ),
        ];
        for (yaml, expected) in cases {
            let error = refused(yaml);
            assert!(error.contains(expected), "{yaml}: {error}");
        }
    }
}
