//! Jaeger remote sampling (`jaeger.api_v2`, jaegertracing/jaeger-idl
//! `proto/api_v2/sampling.proto`): the messages as prost structs written by
//! hand, and the two JSON encodings Jaeger's HTTP sampling endpoints answer
//! with.
//!
//! - [`SamplingStrategyResponse::to_proto_json`]: what Jaeger's
//!   `SamplingStrategyResponseToJSON` writes for `/sampling` and
//!   `/api/sampling`: gogo `jsonpb` with `EmitDefaults` (camelCase names,
//!   string enums, so `strategyType` is always there, zero values inside
//!   present messages written out), then the absent top-level strategies'
//!   `null`s cut by the same three text replacements Jaeger applies.
//! - [`SamplingStrategyResponse::to_legacy_json`]: what the agent's legacy
//!   `GET /?service=` wrote (Jaeger up to 2.15): the Thrift sampling struct
//!   through Go's `encoding/json`, enum names replaced by their Thrift 0.9.2
//!   integers. Thrift types `maxTracesPerSecond` as i16, so a larger rate
//!   cannot be written.
//!
//! Numbers and strings are written as Go's `encoding/json` writes them
//! (both encoders defer to it): shortest round-trip floats, `1e-7` style
//! exponents, `<`, `>`, `&` escaped as `\u003c`.

use super::writer::{push_go_json_float, push_json_str};

/// The gRPC service the Jaeger collector serves on :14250.
pub const SAMPLING_MANAGER: &str = "jaeger.api_v2.SamplingManager";
/// The gRPC method OpenTelemetry's Java sampler and jaeger-agent call.
pub const GET_SAMPLING_STRATEGY_PATH: &str = "/jaeger.api_v2.SamplingManager/GetSamplingStrategy";

/// Jaeger's sampling probability when nothing else is configured.
pub const DEFAULT_SAMPLING_PROBABILITY: f64 = 0.001;

/// `SamplingStrategyType`: which top-level strategy a response carries
/// (0 also when only `operationSampling` is set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SamplingStrategyType {
    Probabilistic = 0,
    RateLimiting = 1,
}

impl SamplingStrategyType {
    /// The enum value's name in the IDL, as proto-JSON writes it.
    pub fn proto_name(self) -> &'static str {
        match self {
            SamplingStrategyType::Probabilistic => "PROBABILISTIC",
            SamplingStrategyType::RateLimiting => "RATE_LIMITING",
        }
    }
}

/// Samples traces with a fixed probability in [0, 1].
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct ProbabilisticSamplingStrategy {
    #[prost(double, tag = "1")]
    pub sampling_rate: f64,
}

/// Samples at most this many traces per second.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct RateLimitingSamplingStrategy {
    #[prost(int32, tag = "1")]
    pub max_traces_per_second: i32,
}

/// The probability of one operation (span name).
#[derive(Clone, PartialEq, prost::Message)]
pub struct OperationSamplingStrategy {
    #[prost(string, tag = "1")]
    pub operation: String,
    #[prost(message, optional, tag = "2")]
    pub probabilistic_sampling: Option<ProbabilisticSamplingStrategy>,
}

/// Per-operation probabilities and the service-wide defaults around them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PerOperationSamplingStrategies {
    /// For operations not in `per_operation_strategies`.
    #[prost(double, tag = "1")]
    pub default_sampling_probability: f64,
    /// Traces per second each operation is sampled at least, per process.
    #[prost(double, tag = "2")]
    pub default_lower_bound_traces_per_second: f64,
    #[prost(message, repeated, tag = "3")]
    pub per_operation_strategies: Vec<OperationSamplingStrategy>,
    /// Few SDKs read it.
    #[prost(double, tag = "4")]
    pub default_upper_bound_traces_per_second: f64,
}

/// The strategy for one service: one of the three strategies is meant to
/// be set; clients look at `operation_sampling` first.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SamplingStrategyResponse {
    #[prost(enumeration = "SamplingStrategyType", tag = "1")]
    pub strategy_type: i32,
    #[prost(message, optional, tag = "2")]
    pub probabilistic_sampling: Option<ProbabilisticSamplingStrategy>,
    #[prost(message, optional, tag = "3")]
    pub rate_limiting_sampling: Option<RateLimitingSamplingStrategy>,
    #[prost(message, optional, tag = "4")]
    pub operation_sampling: Option<PerOperationSamplingStrategies>,
}

/// `SamplingManager.GetSamplingStrategy` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SamplingStrategyParameters {
    #[prost(string, tag = "1")]
    pub service_name: String,
}

/// Why a response has no legacy JSON form (Jaeger answered these with
/// HTTP 500 `cannot marshall to JSON`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LegacyJsonError {
    #[error("strategy type {0} has no Thrift equivalent")]
    UnknownStrategyType(i32),
    #[error("maxTracesPerSecond {0} is higher than int16")]
    RateTooHigh(i32),
    #[error("{0} cannot be written as JSON")]
    NotFinite(f64),
}

impl SamplingStrategyResponse {
    /// A probabilistic strategy.
    pub fn probabilistic(sampling_rate: f64) -> Self {
        SamplingStrategyResponse {
            strategy_type: SamplingStrategyType::Probabilistic as i32,
            probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate }),
            ..Default::default()
        }
    }

    /// A rate-limiting strategy.
    pub fn rate_limiting(max_traces_per_second: i32) -> Self {
        SamplingStrategyResponse {
            strategy_type: SamplingStrategyType::RateLimiting as i32,
            rate_limiting_sampling: Some(RateLimitingSamplingStrategy {
                max_traces_per_second,
            }),
            ..Default::default()
        }
    }

    /// The proto-JSON Jaeger's `/sampling` and `/api/sampling` answer.
    pub fn to_proto_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(b"{\"strategyType\":");
        match SamplingStrategyType::try_from(self.strategy_type) {
            Ok(known) => push_json_str(&mut out, known.proto_name()),
            // jsonpb writes an unknown enum value as its bare number.
            Err(_) => out.extend_from_slice(self.strategy_type.to_string().as_bytes()),
        }
        let Ok(()) = self.push_strategies::<ProtoJsonNumbers>(&mut out);
        out
    }

    /// The legacy JSON of the agent's `GET /?service=`: integer
    /// `strategyType`, absent strategies left out, and inside
    /// `operationSampling` every field written (the upper bound too).
    pub fn to_legacy_json(&self) -> Result<Vec<u8>, LegacyJsonError> {
        let strategy_type = SamplingStrategyType::try_from(self.strategy_type)
            .map_err(|_| LegacyJsonError::UnknownStrategyType(self.strategy_type))?;
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(b"{\"strategyType\":");
        out.extend_from_slice((strategy_type as i32).to_string().as_bytes());
        self.push_strategies::<LegacyNumbers>(&mut out)?;
        Ok(out)
    }

    /// Everything after `strategyType`, which both encodings lay out alike.
    /// In proto-JSON, jsonpb writes `"probabilisticSampling":null,` and
    /// `,"rateLimitingSampling":null` / `,"operationSampling":null`, which
    /// Jaeger then cuts; the Thrift struct leaves them out (`omitempty`).
    /// Inside an operation the `null` stays in both.
    fn push_strategies<N: Numbers>(&self, out: &mut Vec<u8>) -> Result<(), N::Error> {
        if let Some(p) = &self.probabilistic_sampling {
            out.extend_from_slice(b",\"probabilisticSampling\":");
            push_probabilistic::<N>(out, p)?;
        }
        if let Some(r) = &self.rate_limiting_sampling {
            out.extend_from_slice(b",\"rateLimitingSampling\":{\"maxTracesPerSecond\":");
            N::rate(out, r.max_traces_per_second)?;
            out.push(b'}');
        }
        if let Some(o) = &self.operation_sampling {
            out.extend_from_slice(b",\"operationSampling\":{\"defaultSamplingProbability\":");
            N::float(out, o.default_sampling_probability)?;
            out.extend_from_slice(b",\"defaultLowerBoundTracesPerSecond\":");
            N::float(out, o.default_lower_bound_traces_per_second)?;
            out.extend_from_slice(b",\"perOperationStrategies\":[");
            for (i, op) in o.per_operation_strategies.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"operation\":");
                push_json_str(out, &op.operation);
                out.extend_from_slice(b",\"probabilisticSampling\":");
                match &op.probabilistic_sampling {
                    Some(p) => push_probabilistic::<N>(out, p)?,
                    None => out.extend_from_slice(b"null"),
                }
                out.push(b'}');
            }
            out.extend_from_slice(b"],\"defaultUpperBoundTracesPerSecond\":");
            N::float(out, o.default_upper_bound_traces_per_second)?;
            out.push(b'}');
        }
        out.push(b'}');
        Ok(())
    }
}

fn push_probabilistic<N: Numbers>(
    out: &mut Vec<u8>,
    p: &ProbabilisticSamplingStrategy,
) -> Result<(), N::Error> {
    out.extend_from_slice(b"{\"samplingRate\":");
    N::float(out, p.sampling_rate)?;
    out.push(b'}');
    Ok(())
}

/// How an encoding writes numbers: where the two differ besides the enum.
trait Numbers {
    type Error;
    fn float(out: &mut Vec<u8>, v: f64) -> Result<(), Self::Error>;
    fn rate(out: &mut Vec<u8>, v: i32) -> Result<(), Self::Error>;
}

/// jsonpb: Go's `encoding/json` numbers, NaN and ±Inf as quoted names.
struct ProtoJsonNumbers;

impl Numbers for ProtoJsonNumbers {
    type Error = std::convert::Infallible;

    fn float(out: &mut Vec<u8>, v: f64) -> Result<(), Self::Error> {
        if !push_go_json_float(out, v) {
            out.extend_from_slice(if v.is_nan() {
                b"\"NaN\"".as_slice()
            } else if v > 0.0 {
                b"\"Infinity\"".as_slice()
            } else {
                b"\"-Infinity\"".as_slice()
            });
        }
        Ok(())
    }

    fn rate(out: &mut Vec<u8>, v: i32) -> Result<(), Self::Error> {
        out.extend_from_slice(v.to_string().as_bytes());
        Ok(())
    }
}

/// Go's `encoding/json` on the Thrift struct: no NaN or ±Inf, and the rate an i16.
struct LegacyNumbers;

impl Numbers for LegacyNumbers {
    type Error = LegacyJsonError;

    fn float(out: &mut Vec<u8>, v: f64) -> Result<(), Self::Error> {
        if push_go_json_float(out, v) {
            Ok(())
        } else {
            Err(LegacyJsonError::NotFinite(v))
        }
    }

    fn rate(out: &mut Vec<u8>, v: i32) -> Result<(), Self::Error> {
        if v > i32::from(i16::MAX) {
            return Err(LegacyJsonError::RateTooHigh(v));
        }
        // Go converts to int16 by truncation, as `as` does.
        out.extend_from_slice((v as i16).to_string().as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).expect("utf-8")
    }

    /// Jaeger's `internal/sampling/http/handler_test.go` (`TestHTTPHandler`,
    /// and before 2.16 the legacy endpoint of `runHTTPHandlerTest`).
    #[test]
    fn rate_limiting_matches_jaegers_handler_goldens() {
        let response = SamplingStrategyResponse::rate_limiting(42);
        assert_eq!(
            text(response.to_proto_json()),
            r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":42}}"#
        );
        assert_eq!(
            text(response.to_legacy_json().unwrap()),
            r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":42}}"#
        );
    }

    /// Jaeger's `internal/uimodel/converter/v1/json/sampling_test.go` checks
    /// that proto-JSON equals the Thrift struct's `encoding/json` text for
    /// these; the Thrift text follows from its struct tags.
    #[test]
    fn probabilistic_and_per_operation_match_the_thrift_json() {
        assert_eq!(
            text(SamplingStrategyResponse::probabilistic(0.42).to_proto_json()),
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.42}}"#
        );
        let op = |name: &str| OperationSamplingStrategy {
            operation: name.into(),
            probabilistic_sampling: Some(ProbabilisticSamplingStrategy {
                sampling_rate: 0.42,
            }),
        };
        let response = SamplingStrategyResponse {
            operation_sampling: Some(PerOperationSamplingStrategies {
                default_sampling_probability: 0.42,
                default_lower_bound_traces_per_second: 2.0,
                per_operation_strategies: vec![op("foo"), op("bar")],
                default_upper_bound_traces_per_second: 11.2,
            }),
            ..Default::default()
        };
        let body = r#""operationSampling":{"defaultSamplingProbability":0.42,"defaultLowerBoundTracesPerSecond":2,"perOperationStrategies":[{"operation":"foo","probabilisticSampling":{"samplingRate":0.42}},{"operation":"bar","probabilisticSampling":{"samplingRate":0.42}}],"defaultUpperBoundTracesPerSecond":11.2}}"#;
        assert_eq!(
            text(response.to_proto_json()),
            format!(r#"{{"strategyType":"PROBABILISTIC",{body}"#)
        );
        assert_eq!(
            text(response.to_legacy_json().unwrap()),
            format!(r#"{{"strategyType":0,{body}"#)
        );
    }

    #[test]
    fn zero_values_inside_present_messages_are_written() {
        let response = SamplingStrategyResponse {
            strategy_type: 0,
            probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate: 0.0 }),
            rate_limiting_sampling: None,
            operation_sampling: Some(PerOperationSamplingStrategies::default()),
        };
        assert_eq!(
            text(response.to_proto_json()),
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0},"operationSampling":{"defaultSamplingProbability":0,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[],"defaultUpperBoundTracesPerSecond":0}}"#
        );
        assert_eq!(
            text(SamplingStrategyResponse::default().to_proto_json()),
            r#"{"strategyType":"PROBABILISTIC"}"#
        );
    }

    #[test]
    fn numbers_and_strings_are_written_as_go_writes_them() {
        let response = SamplingStrategyResponse {
            operation_sampling: Some(PerOperationSamplingStrategies {
                default_sampling_probability: 1e-7,
                default_lower_bound_traces_per_second: 1e21,
                per_operation_strategies: vec![OperationSamplingStrategy {
                    operation: "GET /a?b=<c>&d\"".into(),
                    probabilistic_sampling: None,
                }],
                default_upper_bound_traces_per_second: 0.000001,
            }),
            ..Default::default()
        };
        assert_eq!(
            text(response.to_proto_json()),
            r#"{"strategyType":"PROBABILISTIC","operationSampling":{"defaultSamplingProbability":1e-7,"defaultLowerBoundTracesPerSecond":1e+21,"perOperationStrategies":[{"operation":"GET /a?b=\u003cc\u003e\u0026d\"","probabilisticSampling":null}],"defaultUpperBoundTracesPerSecond":0.000001}}"#
        );
        assert_eq!(
            text(SamplingStrategyResponse::probabilistic(f64::NAN).to_proto_json()),
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":"NaN"}}"#
        );
    }

    #[test]
    fn legacy_json_refuses_what_thrift_cannot_carry() {
        assert_eq!(
            SamplingStrategyResponse::rate_limiting(40_000).to_legacy_json(),
            Err(LegacyJsonError::RateTooHigh(40_000))
        );
        assert!(SamplingStrategyResponse::rate_limiting(32_767)
            .to_legacy_json()
            .is_ok());
        assert_eq!(
            SamplingStrategyResponse::probabilistic(f64::INFINITY).to_legacy_json(),
            Err(LegacyJsonError::NotFinite(f64::INFINITY))
        );
        let unknown = SamplingStrategyResponse {
            strategy_type: 7,
            ..Default::default()
        };
        assert_eq!(
            unknown.to_legacy_json(),
            Err(LegacyJsonError::UnknownStrategyType(7))
        );
        assert_eq!(text(unknown.to_proto_json()), r#"{"strategyType":7}"#);
    }

    /// Bytes laid out by hand from sampling.proto's field numbers.
    #[test]
    fn wire_layout_follows_the_idl() {
        let response = SamplingStrategyResponse::rate_limiting(5);
        // 1: strategy_type = 1; 3: { 1: 5 }
        assert_eq!(response.encode_to_vec(), vec![0x08, 1, 0x1a, 2, 0x08, 5]);
        let params = SamplingStrategyParameters {
            service_name: "svc".into(),
        };
        assert_eq!(params.encode_to_vec(), b"\x0a\x03svc".to_vec());
        let per_op = SamplingStrategyResponse {
            operation_sampling: Some(PerOperationSamplingStrategies {
                default_sampling_probability: 0.5,
                per_operation_strategies: vec![OperationSamplingStrategy {
                    operation: "op".into(),
                    probabilistic_sampling: Some(ProbabilisticSamplingStrategy {
                        sampling_rate: 1.0,
                    }),
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut expected = vec![0x22, 26, 0x09];
        expected.extend_from_slice(&0.5f64.to_le_bytes());
        expected.extend_from_slice(&[0x1a, 15, 0x0a, 2, b'o', b'p', 0x12, 9, 0x09]);
        expected.extend_from_slice(&1.0f64.to_le_bytes());
        assert_eq!(per_op.encode_to_vec(), expected);
        assert_eq!(
            SamplingStrategyResponse::decode(expected.as_slice()).unwrap(),
            per_op
        );
    }
}
