//! ferrotrace's wire formats: every encoding a span arrives in or is stored
//! in, decoded, translated and encoded without side effects.
//!
//! - [`otlp`]: the OTLP request split by trace, at the wire level.
//! - [`jaeger`]: Jaeger's agent, Thrift, protobuf and JSON inputs translated
//!   to OTLP, and the documents Jaeger stores in Elasticsearch.
//! - [`zipkin`]: Zipkin v1 and v2 inputs translated to OTLP.
//! - [`kafka_codec`]: the encodings a span batch takes on the Kafka topic.
//! - [`translate`]: what a translation to OTLP accepted and refused.
//! - [`thrift`]: the bounded Thrift reader the Jaeger and Zipkin decoders share.
//! - [`fnv`]: FNV-1a 64, as Jaeger and the OpenTelemetry Collector hash.
//!
//! Everything here is pure: no I/O, no global state, no async runtime and
//! no metrics; a caller counts what these functions report.

#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod civil_date;
pub mod fnv;
pub mod hex;
pub mod jaeger;
pub mod kafka_codec;
pub mod otlp;
pub mod thrift;
pub mod translate;
pub mod zipkin;
