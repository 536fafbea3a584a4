//! Jaeger's formats, both ways: the spans Jaeger clients, agents and
//! collectors send, translated to OTLP; and the documents a Jaeger 1.x
//! collector writes to Elasticsearch/OpenSearch, written from OTLP.
//!
//! Inputs, decoded from untrusted bytes and translated to OTLP:
//! - [`agent`]: one Jaeger agent UDP packet (`emitBatch` / `emitZipkinBatch`).
//! - [`thrift`]: Jaeger's Thrift span model (agent, `POST /api/traces`).
//! - [`proto`]: Jaeger's protobuf span model and collector API (gRPC, Kafka).
//! - [`json`]: Jaeger's JSON span, as its Kafka span writer puts it on a topic.
//! - [`to_otlp`]: the Thrift and protobuf models translated to OTLP, as the
//!   OpenTelemetry Collector's Jaeger receiver does it.
//!
//! Elasticsearch documents:
//! - [`writer`]: the ingester's hot path, OTLP request → span document JSON,
//!   without serde or per-span allocation.
//! - [`wire_writer`]: the same documents written straight from the
//!   request's protobuf bytes, without decoding it first.
//! - [`go_json`]: JSON written byte for byte as Go's `encoding/json` does,
//!   for every document here.
//! - [`doc_id`]: the span document's deterministic `_id`.
//! - [`tags_as_fields`]: Jaeger's alternative document shape with chosen
//!   tags as object keys.
//! - [`index`]: daily index names by span start date (UTC).
//! - [`service_doc`]: the service:operation document and its `_id`.
//! - [`ids`]: trace/span ID text exactly as Jaeger formats and parses it.
//! - [`model`]: serde types of the span, service and dependencies documents,
//!   for reading them back (tests, verifier, dependencies job).
//!
//! Remote sampling:
//! - [`sampling`]: the sampling strategy messages and the JSON Jaeger's
//!   sampling endpoints answer with.
//! - [`sampling_store`]: the documents adaptive sampling keeps its
//!   throughput and probabilities in.
//!
//! Everything here is pure: no I/O and no global state. The translation
//! rules and where each was taken from are documented in [`writer`] and
//! [`to_otlp`].

pub mod agent;
pub mod doc_id;
pub mod go_json;
pub mod ids;
pub mod index;
pub mod json;
pub mod model;
pub mod proto;
pub mod sampling;
pub mod sampling_store;
pub mod service_doc;
pub mod tags_as_fields;
pub mod thrift;
pub mod to_otlp;
pub mod wire_writer;
pub mod writer;

pub use index::{dependencies_index, service_index, span_index, IndexKind, IndexNamer};
pub use service_doc::{service_doc_hash, service_doc_id, write_service_doc};
pub use tags_as_fields::TagsAsFields;
pub use wire_writer::{DocDestination, WireDocWriter, WrittenDoc};
pub use writer::{SpanDoc, SpanDocWriter, WriteStats, EMPTY_SERVICE_NAME};
