//! The Jaeger side of ferrotrace: OTLP spans translated to the documents a
//! Jaeger 1.x collector writes to Elasticsearch/OpenSearch, and the names
//! and ids those documents are stored under.
//!
//! - [`writer`]: the ingester's hot path, OTLP request → span document JSON
//!   and a deterministic `_id`, without serde or per-span allocation.
//! - [`wire_writer`]: the same documents written straight from an
//!   `otlp_proto` message's protobuf wire, without a prost decode.
//! - [`model`]: serde types of the span, service and dependencies documents,
//!   for reading them back (tests, verifier, dependencies job).
//! - [`ids`]: trace/span ID text exactly as Jaeger formats it.
//! - [`index`]: daily index names by span start date (UTC), the
//!   service:operation document and its Jaeger-compatible `_id`.
//!
//! Everything here is pure: no I/O and no global state. The translation
//! rules and where each was taken from are documented in [`writer`].

pub mod agent;
pub mod ids;
pub mod index;
pub mod model;
pub mod proto;
pub mod sampling;
pub mod sampling_store;
pub mod tags_as_fields;
pub mod thrift;
pub mod to_otlp;
pub mod wire_writer;
pub mod writer;

pub use index::{
    dependencies_index, service_doc_hash, service_doc_id, service_index, span_index,
    write_service_doc, IndexKind, IndexNamer,
};
pub use tags_as_fields::TagsAsFields;
pub use wire_writer::WireDocWriter;
pub use writer::{SpanDoc, SpanDocWriter, WriteStats, EMPTY_SERVICE_NAME, NO_SERVICE_NAME};
