//! Zipkin input: every encoding a Zipkin client sends, decoded and
//! translated to OTLP the way the OpenTelemetry Collector's Zipkin receiver
//! does it (opentelemetry-collector-contrib `pkg/translator/zipkin`, release
//! v0.150.0 with default feature gates; see [`to_otlp`] for what changed
//! after it).
//!
//! Two families, because the Collector has two translators:
//! - **Zipkin v2** (`/api/v2/spans`): JSON ([`parse_v2_json`]) and proto3
//!   ([`parse_v2_proto`]) decode to the [`Span`] model, which
//!   [`spans_to_otlp`] translates with the rules of `zipkinv2/to_translator.go`.
//! - **Zipkin v1** (`/api/v1/spans`): JSON ([`parse_v1_json`]) and Thrift
//!   ([`parse_v1_thrift`], and the Jaeger agent's `emitZipkinBatch` through
//!   [`read_emit_zipkin_batch_args`]) decode to the [`V1Span`] model, which
//!   [`v1_spans_to_otlp`] translates with the rules of `zipkinv1/json.go` and
//!   `thrift.go`. The Collector does not convert v1 spans to v2 first, so
//!   neither do we: a v1 span is one OTLP span, whatever it holds.
//!
//! What the decoders guarantee: any byte string gives a value or a
//! [`ZipkinError`], never a panic, and no length or count read from the
//! input is trusted before the bytes behind it are there. A payload the
//! Collector would reject as a whole (wrong JSON types, malformed IDs) is
//! rejected as a whole here too; spans the Collector would accept but that
//! ferrotrace cannot store faithfully (zero IDs, no usable start time) are
//! refused one by one and counted in [`crate::translate::Translated`].

pub mod json;
pub mod model;
pub mod proto;
pub mod thrift;
pub mod to_otlp;
pub mod v1;

pub use json::{parse_v1_json, parse_v2_json, to_v2_json};
pub use model::{Annotation, Endpoint, Kind, Span};
pub use proto::{parse_v2_proto, to_v2_proto};
pub use thrift::{
    encode_emit_zipkin_batch, encode_span_list, parse_v1_thrift, read_emit_zipkin_batch_args,
    read_span_list, ThriftAnnotation, ThriftAnnotationType, ThriftBinaryAnnotation, ThriftEndpoint,
    ThriftSpan,
};
pub use to_otlp::{spans_to_otlp, spans_to_otlp_with, NetworkConventions, ToOtlpOptions};
pub use v1::{v1_spans_to_otlp, V1Annotation, V1BinaryAnnotation, V1Endpoint, V1Span, V1Value};

/// A payload that cannot be decoded; the whole request is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipkinError {
    /// Not JSON at all (syntax error, invalid UTF-8).
    #[error("invalid JSON: {0}")]
    Json(String),
    /// JSON, but not an array at the top level.
    #[error("expected a JSON array of spans")]
    NotAnArray,
    /// Not a protobuf `ListOfSpans`.
    #[error("invalid protobuf ListOfSpans: {0}")]
    Protobuf(String),
    /// Not a Thrift `list<Span>`.
    #[error("invalid Thrift span list: {0}")]
    Thrift(String),
    /// One span (0-based position in the payload) is malformed.
    #[error("span {index}: {reason}")]
    Span { index: usize, reason: String },
}

impl ZipkinError {
    pub(crate) fn span(index: usize, reason: impl Into<String>) -> Self {
        ZipkinError::Span {
            index,
            reason: reason.into(),
        }
    }
}
