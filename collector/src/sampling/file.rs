//! The strategies file (`--sampling-strategies-file`), in the format of
//! Jaeger's `--sampling.strategies-file` and resolved as Jaeger's file
//! provider (`internal/sampling/samplingstrategy/file`) resolves it:
//!
//! ```json
//! {
//!   "default_strategy": {"type": "probabilistic", "param": 0.5,
//!     "operation_strategies": [{"operation": "/health", "type": "probabilistic", "param": 0.0}]},
//!   "service_strategies": [
//!     {"service": "foo", "type": "probabilistic", "param": 0.8,
//!      "operation_strategies": [{"operation": "op1", "type": "probabilistic", "param": 0.2}]},
//!     {"service": "bar", "type": "ratelimiting", "param": 5}
//!   ]
//! }
//! ```
//!
//! - `probabilistic` samples with probability `param`; `ratelimiting`
//!   samples `param` traces per second (the fraction is cut off).
//! - A strategy without a `type` is probabilistic 0.001 (Jaeger's default
//!   probability), and so is the whole default when `default_strategy` is
//!   missing or the file is `null`.
//! - With `operation_strategies`, the response carries per-operation
//!   probabilities; their default probability is the service's own when it
//!   is probabilistic, 0.001 otherwise. Operations can only be
//!   probabilistic: a `ratelimiting` operation is left out, with a warning.
//! - Services inherit the default strategy's operations: a service without
//!   operations of its own gets the default's (with its own probability as
//!   their default when it is probabilistic); one with its own gets the
//!   default's operations appended after them, minus those it names.
//!
//! Where Jaeger guesses, the file is refused instead, naming the entry: a
//! misspelt `type` (Jaeger falls back to 0.001), a probability outside
//! [0, 1], a negative or non-32-bit rate, a service without a name or named
//! twice (Jaeger keeps the last).

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use ferrotrace_common::jaeger::sampling::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, SamplingStrategyResponse,
    SamplingStrategyType, DEFAULT_SAMPLING_PROBABILITY,
};
use serde::Deserialize;

use crate::receivers::reload::Reloadable;

/// A strategies file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StrategiesError {
    #[error("cannot read the sampling strategies file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("invalid sampling strategies file {path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
}

/// The strategies of one version of the file, resolved per service.
#[derive(Clone, Debug, PartialEq)]
pub struct FileStrategies {
    default: SamplingStrategyResponse,
    services: HashMap<String, SamplingStrategyResponse>,
}

impl FileStrategies {
    /// Parses and resolves the file's contents; the error names the problem.
    pub fn parse(contents: &[u8]) -> Result<Self, String> {
        let file: Option<StrategiesJson> =
            serde_json::from_slice(contents).map_err(|e| e.to_string())?;
        let Some(file) = file else {
            return Ok(Self {
                default: SamplingStrategyResponse::probabilistic(DEFAULT_SAMPLING_PROBABILITY),
                services: HashMap::new(),
            });
        };
        let default = match &file.default_strategy {
            Some(default) => resolve(default, "default_strategy")?,
            None => SamplingStrategyResponse::probabilistic(DEFAULT_SAMPLING_PROBABILITY),
        };
        let mut services = HashMap::new();
        for (i, entry) in file.service_strategies.iter().flatten().enumerate() {
            let name = entry.service.clone().unwrap_or_default();
            let at = format!("service_strategies[{i}]");
            if name.is_empty() {
                return Err(format!("{at}: \"service\" is missing"));
            }
            let mut strategy = resolve(entry, &format!("{at} ({name:?})"))?;
            inherit_operations(&mut strategy, &default);
            if services.insert(name.clone(), strategy).is_some() {
                return Err(format!("{at}: service {name:?} is listed twice"));
            }
        }
        Ok(Self { default, services })
    }

    /// The strategy the file names for `service`, if it does.
    pub fn service(&self, service: &str) -> Option<&SamplingStrategyResponse> {
        self.services.get(service)
    }

    /// The strategy of services the file does not name.
    pub fn default_strategy(&self) -> &SamplingStrategyResponse {
        &self.default
    }
}

impl Reloadable for FileStrategies {
    type Error = StrategiesError;
    const WHAT: &'static str = "sampling strategies";
    const RELOADS: &'static str = crate::metrics::SAMPLING_STRATEGIES_RELOADS;

    fn read_error(path: &Path, source: io::Error) -> StrategiesError {
        StrategiesError::Read {
            path: path.to_owned(),
            source,
        }
    }

    fn build(paths: &[PathBuf], contents: &[Vec<u8>]) -> Result<Self, StrategiesError> {
        let path = paths.first().cloned().unwrap_or_default();
        let Some(contents) = contents.first() else {
            return Err(StrategiesError::Invalid {
                path,
                problem: "no file".into(),
            });
        };
        FileStrategies::parse(contents)
            .map_err(|problem| StrategiesError::Invalid { path, problem })
    }
}

#[derive(Deserialize)]
struct StrategiesJson {
    default_strategy: Option<StrategyJson>,
    service_strategies: Option<Vec<StrategyJson>>,
}

/// A service's (or the default) strategy; `service` is ignored in the default.
#[derive(Deserialize)]
struct StrategyJson {
    service: Option<String>,
    #[serde(flatten)]
    strategy: TypeAndParam,
    operation_strategies: Option<Vec<OperationJson>>,
}

#[derive(Deserialize)]
struct OperationJson {
    operation: Option<String>,
    #[serde(flatten)]
    strategy: TypeAndParam,
}

#[derive(Deserialize)]
struct TypeAndParam {
    #[serde(rename = "type")]
    kind: Option<String>,
    param: Option<f64>,
}

/// Jaeger's `parseServiceStrategies`: the strategy and its own operations.
fn resolve(entry: &StrategyJson, at: &str) -> Result<SamplingStrategyResponse, String> {
    let mut response = strategy(&entry.strategy, at)?;
    let operations = entry.operation_strategies.as_deref().unwrap_or_default();
    if operations.is_empty() {
        return Ok(response);
    }
    let default_sampling_probability = match &response.probabilistic_sampling {
        Some(p) if response.strategy_type == SamplingStrategyType::Probabilistic as i32 => {
            p.sampling_rate
        }
        _ => DEFAULT_SAMPLING_PROBABILITY,
    };
    let mut per_operation = Vec::with_capacity(operations.len());
    for (i, op) in operations.iter().enumerate() {
        let name = op.operation.clone().unwrap_or_default();
        let op_at = format!("{at} operation_strategies[{i}] ({name:?})");
        let parsed = strategy(&op.strategy, &op_at)?;
        if parsed.strategy_type == SamplingStrategyType::RateLimiting as i32 {
            tracing::warn!(
                entry = op_at,
                default_sampling_probability,
                "operations can only be sampled probabilistically: the ratelimiting operation is left out and gets the service's default probability"
            );
            continue;
        }
        per_operation.push(OperationSamplingStrategy {
            operation: name,
            probabilistic_sampling: parsed.probabilistic_sampling,
        });
    }
    response.operation_sampling = Some(PerOperationSamplingStrategies {
        default_sampling_probability,
        per_operation_strategies: per_operation,
        ..Default::default()
    });
    Ok(response)
}

/// Jaeger's `parseStrategy`, refusing values Jaeger would pass on blindly.
fn strategy(strategy: &TypeAndParam, at: &str) -> Result<SamplingStrategyResponse, String> {
    let param = strategy.param.unwrap_or(0.0);
    match strategy.kind.as_deref().unwrap_or_default() {
        "probabilistic" => {
            if !(0.0..=1.0).contains(&param) {
                return Err(format!(
                    "{at}: a probabilistic param is a probability from 0 to 1, not {param}"
                ));
            }
            Ok(SamplingStrategyResponse::probabilistic(param))
        }
        "ratelimiting" => {
            if !(0.0..=f64::from(i32::MAX)).contains(&param) {
                return Err(format!(
                    "{at}: a ratelimiting param is traces per second from 0 to {}, not {param}",
                    i32::MAX
                ));
            }
            // Jaeger converts to int32, cutting off the fraction.
            Ok(SamplingStrategyResponse::rate_limiting(param as i32))
        }
        "" => {
            tracing::warn!(
                entry = at,
                "sampling strategy without a type: probabilistic {DEFAULT_SAMPLING_PROBABILITY}"
            );
            Ok(SamplingStrategyResponse::probabilistic(
                DEFAULT_SAMPLING_PROBABILITY,
            ))
        }
        other => Err(format!(
            "{at}: unknown type {other:?}, expected \"probabilistic\" or \"ratelimiting\""
        )),
    }
}

/// Jaeger's `parseStrategies` loop body: a service inherits the default
/// strategy's per-operation rules.
fn inherit_operations(service: &mut SamplingStrategyResponse, default: &SamplingStrategyResponse) {
    let Some(defaults) = &default.operation_sampling else {
        return;
    };
    match &mut service.operation_sampling {
        None => {
            let mut inherited = defaults.clone();
            // Jaeger looks at the probabilistic field, not the type.
            if let Some(own) = &service.probabilistic_sampling {
                inherited.default_sampling_probability = own.sampling_rate;
            }
            service.operation_sampling = Some(inherited);
        }
        Some(own) => {
            let named: HashSet<String> = own
                .per_operation_strategies
                .iter()
                .map(|op| op.operation.clone())
                .collect();
            own.per_operation_strategies.extend(
                defaults
                    .per_operation_strategies
                    .iter()
                    .filter(|op| !named.contains(&op.operation))
                    .cloned(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrotrace_common::jaeger::sampling::{
        ProbabilisticSamplingStrategy, RateLimitingSamplingStrategy,
    };

    /// Jaeger's fixtures (`internal/sampling/samplingstrategy/file/fixtures`),
    /// copied as test data.
    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/jaeger-sampling")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn parse_fixture(name: &str) -> FileStrategies {
        FileStrategies::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// A strategy from the JSON Jaeger's snapshot tests store: Go's
    /// `encoding/json` of the gogo struct, zero fields left out.
    fn from_go_json(json: &[u8]) -> SamplingStrategyResponse {
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        let rate = |v: &serde_json::Value| {
            v.get("samplingRate")
                .and_then(|r| r.as_f64())
                .unwrap_or(0.0)
        };
        let probabilistic = |v: Option<&serde_json::Value>| {
            v.map(|p| ProbabilisticSamplingStrategy {
                sampling_rate: rate(p),
            })
        };
        let number = |v: &serde_json::Value, key: &str| v.get(key).and_then(|n| n.as_f64());
        SamplingStrategyResponse {
            strategy_type: number(&v, "strategyType").unwrap_or(0.0) as i32,
            probabilistic_sampling: probabilistic(v.get("probabilisticSampling")),
            rate_limiting_sampling: v.get("rateLimitingSampling").map(|r| {
                RateLimitingSamplingStrategy {
                    max_traces_per_second: number(r, "maxTracesPerSecond").unwrap_or(0.0) as i32,
                }
            }),
            operation_sampling: v.get("operationSampling").map(|o| {
                PerOperationSamplingStrategies {
                    default_sampling_probability: number(o, "defaultSamplingProbability")
                        .unwrap_or(0.0),
                    default_lower_bound_traces_per_second: number(
                        o,
                        "defaultLowerBoundTracesPerSecond",
                    )
                    .unwrap_or(0.0),
                    per_operation_strategies: o
                        .get("perOperationStrategies")
                        .and_then(|ops| ops.as_array())
                        .into_iter()
                        .flatten()
                        .map(|op| OperationSamplingStrategy {
                            operation: op["operation"].as_str().unwrap_or("").into(),
                            probabilistic_sampling: probabilistic(op.get("probabilisticSampling")),
                        })
                        .collect(),
                    default_upper_bound_traces_per_second: number(
                        o,
                        "defaultUpperBoundTracesPerSecond",
                    )
                    .unwrap_or(0.0),
                }
            }),
        }
    }

    fn operation(name: &str, sampling_rate: f64) -> OperationSamplingStrategy {
        OperationSamplingStrategy {
            operation: name.into(),
            probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate }),
        }
    }

    fn with_operations(
        mut response: SamplingStrategyResponse,
        default_sampling_probability: f64,
        operations: Vec<OperationSamplingStrategy>,
    ) -> SamplingStrategyResponse {
        response.operation_sampling = Some(PerOperationSamplingStrategies {
            default_sampling_probability,
            per_operation_strategies: operations,
            ..Default::default()
        });
        response
    }

    /// Jaeger's `TestStrategyStoreWithFile`.
    #[test]
    fn services_get_their_strategy_and_others_the_default() {
        let file = parse_fixture("strategies.json");
        assert_eq!(
            file.service("foo"),
            Some(&SamplingStrategyResponse::probabilistic(0.8))
        );
        assert_eq!(
            file.service("bar"),
            Some(&SamplingStrategyResponse::rate_limiting(5))
        );
        assert_eq!(file.service("default"), None);
        assert_eq!(
            file.default_strategy(),
            &SamplingStrategyResponse::probabilistic(0.5)
        );
    }

    /// Jaeger's `TestStrategyStoreWithFile`: "nonsense" is refused.
    #[test]
    fn a_file_that_is_not_a_strategies_object_is_refused() {
        let error = FileStrategies::parse(&fixture("bad_strategies.json")).unwrap_err();
        assert!(error.contains("invalid type: string"), "{error}");
        assert!(FileStrategies::parse(b"{\"default_strategy\":").is_err());
    }

    /// Jaeger's `TestPerOperationSamplingStrategies`.
    #[test]
    fn operations_are_merged_with_the_defaults_and_ratelimited_ones_left_out() {
        let file = parse_fixture("operation_strategies.json");
        assert_eq!(
            file.service("foo"),
            Some(&with_operations(
                SamplingStrategyResponse::probabilistic(0.8),
                0.8,
                vec![
                    operation("op6", 0.5),
                    operation("op1", 0.2),
                    operation("op0", 0.2),
                    operation("op7", 1.0),
                ],
            ))
        );
        assert_eq!(
            file.service("bar"),
            Some(&with_operations(
                SamplingStrategyResponse::rate_limiting(5),
                0.001,
                vec![
                    operation("op3", 0.3),
                    operation("op5", 0.4),
                    operation("op0", 0.2),
                    operation("op6", 0.0),
                    operation("op7", 1.0),
                ],
            ))
        );
        assert_eq!(
            file.default_strategy(),
            &with_operations(
                SamplingStrategyResponse::probabilistic(0.5),
                0.5,
                vec![
                    operation("op0", 0.2),
                    operation("op6", 0.0),
                    operation("op7", 1.0)
                ],
            )
        );
    }

    /// Jaeger's `TestMissingServiceSamplingStrategyTypes`.
    #[test]
    fn a_strategy_without_a_type_is_probabilistic_0_001() {
        let file = parse_fixture("missing-service-types.json");
        assert_eq!(
            file.service("foo"),
            Some(&with_operations(
                SamplingStrategyResponse::probabilistic(0.001),
                0.001,
                vec![operation("op1", 0.2)],
            ))
        );
        assert_eq!(
            file.service("bar"),
            Some(&with_operations(
                SamplingStrategyResponse::probabilistic(0.001),
                0.001,
                vec![operation("op3", 0.3), operation("op5", 0.4)],
            ))
        );
        assert_eq!(
            file.default_strategy(),
            &SamplingStrategyResponse::probabilistic(0.5)
        );
    }

    /// Jaeger's `TestServiceNoPerOperationStrategies` against its snapshots.
    #[test]
    fn services_without_operations_inherit_the_defaults_operations() {
        let file = parse_fixture("service_no_per_operation.json");
        for service in ["ServiceA", "ServiceB"] {
            let snapshot = fixture(&format!(
                "TestServiceNoPerOperationStrategies_{service}.json"
            ));
            assert_eq!(
                file.service(service),
                Some(&from_go_json(&snapshot)),
                "{service}"
            );
        }
    }

    /// The example in the README's Sampling section, as it describes it.
    #[test]
    fn the_readme_example_resolves_as_documented() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
                .unwrap();
        let example = readme
            .split("`--sampling-strategies-file` takes Jaeger's strategies file:\n\n```json\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("the README's example");
        let file = FileStrategies::parse(example.as_bytes()).unwrap();
        assert_eq!(
            file.service("search"),
            Some(&with_operations(
                SamplingStrategyResponse::rate_limiting(20),
                0.1,
                vec![operation("/health", 0.0)],
            ))
        );
        assert_eq!(
            file.service("checkout"),
            Some(&with_operations(
                SamplingStrategyResponse::probabilistic(0.5),
                0.5,
                vec![operation("POST /pay", 1.0), operation("/health", 0.0)],
            ))
        );
    }

    /// Jaeger's `TestParseStrategy`: 3.5 traces per second is 3.
    #[test]
    fn a_fractional_rate_is_cut_off() {
        let file = FileStrategies::parse(
            br#"{"service_strategies":[{"service":"svc","type":"ratelimiting","param":3.5}]}"#,
        )
        .unwrap();
        assert_eq!(
            file.service("svc"),
            Some(&SamplingStrategyResponse::rate_limiting(3))
        );
    }

    #[test]
    fn a_null_or_empty_file_serves_jaegers_default() {
        for contents in [&b"null"[..], b"{}"] {
            let file = FileStrategies::parse(contents).unwrap();
            assert_eq!(
                file.default_strategy(),
                &SamplingStrategyResponse::probabilistic(0.001)
            );
        }
    }

    #[test]
    fn values_jaeger_would_guess_at_are_refused_with_the_entry_named() {
        let refused = |json: &str| FileStrategies::parse(json.as_bytes()).unwrap_err();
        let error = refused(
            r#"{"service_strategies":[{"service":"a","type":"probabilistic","param":0.1},
                {"service":"b","type":"probabalistic","param":0.1}]}"#,
        );
        assert!(
            error.starts_with("service_strategies[1] (\"b\"): unknown type \"probabalistic\""),
            "{error}"
        );
        let error = refused(r#"{"default_strategy":{"type":"probabilistic","param":1.5}}"#);
        assert!(
            error.starts_with("default_strategy: a probabilistic param"),
            "{error}"
        );
        let error = refused(r#"{"default_strategy":{"type":"ratelimiting","param":-1}}"#);
        assert!(error.contains("ratelimiting param"), "{error}");
        let error = refused(r#"{"service_strategies":[{"type":"ratelimiting","param":1}]}"#);
        assert_eq!(error, "service_strategies[0]: \"service\" is missing");
        let error = refused(
            r#"{"service_strategies":[{"service":"a","type":"ratelimiting","param":1},
                {"service":"a","type":"ratelimiting","param":2}]}"#,
        );
        assert!(error.contains("listed twice"), "{error}");
        let error = refused(
            r#"{"service_strategies":[{"service":"a","type":"ratelimiting","param":1,
                "operation_strategies":[{"operation":"x","type":"probabilistic","param":2}]}]}"#,
        );
        assert!(
            error.starts_with("service_strategies[0] (\"a\") operation_strategies[0] (\"x\")"),
            "{error}"
        );
    }
}
