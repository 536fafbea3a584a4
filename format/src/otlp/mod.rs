//! OTLP, the form every span takes between a receiver and the ingester:
//! the request split by trace at the wire level ([`split`]), the attribute
//! helpers every translation to or from OTLP builds and reads attributes
//! with ([`attributes`]), and the attribute keys and names those
//! translations share ([`semconv`]).

pub mod attributes;
pub mod semconv;
pub mod split;
pub(crate) mod varint;

pub use split::{
    split_by_trace, split_by_trace_within, trace_id_hex, Split, SplitError, TraceMessage,
};
