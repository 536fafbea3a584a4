//! OTLP, the form every span takes between a receiver and the ingester:
//! the request split by trace at the wire level ([`split`]), the attribute
//! helpers every translation to or from OTLP builds and reads attributes
//! with ([`attributes`]), and the attribute keys and names those
//! translations share ([`semconv`]), and a borrowed view of each span of an
//! encoded request ([`span_view`]).

pub mod attributes;
pub mod semconv;
pub mod span_view;
pub mod split;
#[cfg(test)]
pub(crate) mod test_requests;
pub(crate) mod varint;
pub(crate) mod wire;

pub use span_view::{
    for_each_span, for_each_span_of, AnyValueView, ArrayView, Attributes, KeyValueView, KvlistView,
    ResourceId, SpanView, SpanWalker,
};
pub use split::{
    split_by_trace, split_by_trace_within, trace_id_hex, Split, SplitError, TraceMessage,
};
