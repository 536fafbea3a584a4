//! A borrowed view of one OTLP span as read from the protobuf wire of an
//! encoded `ExportTraceServiceRequest`: the span's fields, its resource's
//! `service.name`, its scope, and its and its resource's attributes, all
//! borrowed from the message, nothing allocated per span.
//!
//! [`for_each_span`] (or a reused [`SpanWalker`]) walks a message once with
//! the walk of [`super::wire`] and calls a visitor with the [`SpanView`] of
//! every span, in request order. The visitor is called only once the whole
//! message is known good: a message prost cannot decode gives prost's error
//! and no view. The rare encodings the walk leaves to prost (a singular
//! sub-message sent twice, groups) are decoded by prost, re-encoded and
//! walked, so every message prost accepts gives the views of its spans.
//!
//! A view shows what prost would decode: the last occurrence of a scalar
//! field wins, attributes keep their order and duplicates, an attribute
//! value's oneof shows its last member.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

use super::semconv::SERVICE_NAME;
use super::wire::{
    read_any_value, read_key_value, text, Attr, LinkRuns, Reader, RequestRuns, Run, ScopeRuns,
    SpanRuns, Val,
};

/// One span of an encoded request, borrowed from the message.
#[derive(Clone, Copy)]
pub struct SpanView<'a> {
    message: &'a [u8],
    resource: ResourceId,
    service_name: Option<&'a str>,
    resource_attrs: &'a [Attr],
    scope: &'a ScopeRuns,
    span: &'a SpanRuns,
    span_attrs: &'a [Attr],
    links: &'a [LinkRuns],
}

impl<'a> SpanView<'a> {
    /// The resource's `service.name`: the first attribute of that key, when
    /// its value is a string (`None` for another type or no such attribute).
    pub fn service_name(&self) -> Option<&'a str> {
        self.service_name
    }

    /// The instrumentation scope's name (empty without a scope).
    pub fn scope_name(&self) -> &'a str {
        text(self.message, self.scope.name)
    }

    /// The instrumentation scope's version (empty without a scope).
    pub fn scope_version(&self) -> &'a str {
        text(self.message, self.scope.version)
    }

    /// The trace id's bytes as sent (16 when well formed, possibly empty).
    pub fn trace_id(&self) -> &'a [u8] {
        self.span.trace_id.of(self.message)
    }

    /// The span id's bytes as sent (8 when well formed, possibly empty).
    pub fn span_id(&self) -> &'a [u8] {
        self.span.span_id.of(self.message)
    }

    /// The parent span id's bytes as sent; empty for a root span.
    pub fn parent_span_id(&self) -> &'a [u8] {
        self.span.parent_span_id.of(self.message)
    }

    /// The W3C `tracestate`.
    pub fn trace_state(&self) -> &'a str {
        text(self.message, self.span.trace_state)
    }

    /// The span's name.
    pub fn name(&self) -> &'a str {
        text(self.message, self.span.name)
    }

    /// The span's name as sent: the bytes of [`name`](Self::name), for a
    /// lookup that need not check them as UTF-8 again.
    pub fn name_bytes(&self) -> &'a [u8] {
        self.span.name.of(self.message)
    }

    /// `SpanKind` as its protobuf number (0 unspecified … 5 consumer).
    pub fn kind(&self) -> i32 {
        self.span.kind
    }

    pub fn start_time_unix_nano(&self) -> u64 {
        self.span.start
    }

    pub fn end_time_unix_nano(&self) -> u64 {
        self.span.end
    }

    /// The span's `flags` field (W3C trace flags and the parent-is-remote bits).
    pub fn flags(&self) -> u32 {
        self.span.flags
    }

    /// `Status.code` as its protobuf number (0 unset, 1 ok, 2 error); 0
    /// without a status.
    pub fn status_code(&self) -> i32 {
        self.span.status_code
    }

    /// `Status.message` (empty without a status).
    pub fn status_message(&self) -> &'a str {
        text(self.message, self.span.status_message)
    }

    /// The span's attributes, in order.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            message: self.message,
            attrs: self.span_attrs.iter(),
        }
    }

    /// Which resource of which walk the span belongs to: the spans of one
    /// resource share it, so a reader can work out something of the
    /// resource once for all of them.
    pub fn resource_id(&self) -> ResourceId {
        self.resource
    }

    /// The resource's attributes, in order (`service.name` among them).
    pub fn resource_attributes(&self) -> Attributes<'a> {
        Attributes {
            message: self.message,
            attrs: self.resource_attrs.iter(),
        }
    }

    /// The span's links as (trace id, span id) bytes as sent, in order.
    pub fn links(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let message = self.message;
        self.links
            .iter()
            .map(move |link| (link.trace_id.of(message), link.span_id.of(message)))
    }

    /// The value of the span's first attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<AnyValueView<'a>> {
        // Keys compared as bytes: only the match's value is made a view.
        self.span_attrs
            .iter()
            .find(|attr| attr.key.of(self.message) == key.as_bytes())
            .map(|attr| AnyValueView::of(self.message, attr.value))
    }

    /// Whether the view shows what prost decodes for this span, its
    /// resource and its scope: every field the view has, attributes (as
    /// [`AnyValueView::to_value`] gives them) in order. For tests and checks
    /// of code that reads views where it used to read decoded requests.
    pub fn same_as(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        let same_attributes = |views: Attributes<'_>, decoded: &[KeyValue]| {
            views.len() == decoded.len()
                && views
                    .zip(decoded)
                    .all(|(view, kv)| same_key_value(&view.to_key_value(), &as_viewed(kv)))
        };
        let resource_attrs = resource.map_or(&[][..], |r| &r.attributes);
        let service_name = resource_attrs
            .iter()
            .find(|kv| kv.key == SERVICE_NAME)
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.as_str()),
                _ => None,
            });
        let status = span.status.clone().unwrap_or_default();
        self.service_name() == service_name
            && self.scope_name() == scope.map_or("", |s| &s.name)
            && self.scope_version() == scope.map_or("", |s| &s.version)
            && self.trace_id() == span.trace_id
            && self.span_id() == span.span_id
            && self.parent_span_id() == span.parent_span_id
            && self.trace_state() == span.trace_state
            && self.name() == span.name
            && self.kind() == span.kind
            && self.start_time_unix_nano() == span.start_time_unix_nano
            && self.end_time_unix_nano() == span.end_time_unix_nano
            && self.flags() == span.flags
            && self.status_code() == status.code
            && self.status_message() == status.message
            && same_attributes(self.attributes(), &span.attributes)
            && same_attributes(self.resource_attributes(), resource_attrs)
    }
}

impl std::fmt::Debug for SpanView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanView")
            .field("service_name", &self.service_name())
            .field("name", &self.name())
            .field("trace_id", &crate::hex::to_hex_string(self.trace_id()))
            .field("span_id", &crate::hex::to_hex_string(self.span_id()))
            .field(
                "parent_span_id",
                &crate::hex::to_hex_string(self.parent_span_id()),
            )
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

/// Equal attributes, a NaN equal to the same NaN: the canonical encodings
/// are.
fn same_key_value(a: &KeyValue, b: &KeyValue) -> bool {
    a.encode_to_vec() == b.encode_to_vec()
}

/// `kv` as a view shows it: the profiling-only string-table index reads as
/// no value, and an attribute whose `AnyValue` has no member as one without
/// an `AnyValue`.
fn as_viewed(kv: &KeyValue) -> KeyValue {
    fn value(any: &AnyValue) -> AnyValue {
        AnyValue {
            value: match &any.value {
                Some(any_value::Value::StringValueStrindex(_)) => None,
                Some(any_value::Value::ArrayValue(array)) => {
                    Some(any_value::Value::ArrayValue(ArrayValue {
                        values: array.values.iter().map(value).collect(),
                    }))
                }
                Some(any_value::Value::KvlistValue(list)) => {
                    Some(any_value::Value::KvlistValue(KeyValueList {
                        values: list.values.iter().map(as_viewed).collect(),
                    }))
                }
                other => other.clone(),
            },
        }
    }
    KeyValue {
        key: kv.key.clone(),
        value: kv.value.as_ref().map(value).filter(|v| v.value.is_some()),
        ..KeyValue::default()
    }
}

/// An attribute: its key and value, borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyValueView<'a> {
    pub key: &'a str,
    pub value: AnyValueView<'a>,
}

/// An attribute value (`AnyValue`), borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnyValueView<'a> {
    /// No value set (or the profiling-only string-table index).
    Empty,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    Array(ArrayView<'a>),
    Kvlist(KvlistView<'a>),
}

impl KeyValueView<'_> {
    /// The attribute as prost decodes it.
    pub fn to_key_value(&self) -> KeyValue {
        KeyValue {
            key: self.key.to_owned(),
            value: self
                .value
                .to_value()
                .map(|value| AnyValue { value: Some(value) }),
            ..KeyValue::default()
        }
    }
}

impl<'a> AnyValueView<'a> {
    /// The value as prost decodes it (`None` for [`AnyValueView::Empty`],
    /// whose `AnyValue` prost decodes with no value). Allocates: for tests
    /// and for the rare reader of nested values.
    pub fn to_value(&self) -> Option<any_value::Value> {
        Some(match *self {
            AnyValueView::Empty => return None,
            AnyValueView::Str(s) => any_value::Value::StringValue(s.to_owned()),
            AnyValueView::Bool(b) => any_value::Value::BoolValue(b),
            AnyValueView::Int(i) => any_value::Value::IntValue(i),
            AnyValueView::Double(d) => any_value::Value::DoubleValue(d),
            AnyValueView::Bytes(b) => any_value::Value::BytesValue(b.to_vec()),
            AnyValueView::Array(array) => any_value::Value::ArrayValue(ArrayValue {
                values: array
                    .values()
                    .map(|v| AnyValue {
                        value: v.to_value(),
                    })
                    .collect(),
            }),
            AnyValueView::Kvlist(list) => any_value::Value::KvlistValue(KeyValueList {
                values: list.entries().map(|kv| kv.to_key_value()).collect(),
            }),
        })
    }

    /// The string, for a string value.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            AnyValueView::Str(s) => Some(s),
            _ => None,
        }
    }

    fn of(message: &'a [u8], value: Val) -> Self {
        match value {
            Val::Empty => AnyValueView::Empty,
            Val::Str(run) => AnyValueView::Str(text(message, run)),
            Val::Bool(b) => AnyValueView::Bool(b),
            Val::Int(i) => AnyValueView::Int(i),
            Val::Double(d) => AnyValueView::Double(d),
            Val::Bytes(run) => AnyValueView::Bytes(run.of(message)),
            Val::Array(run) => AnyValueView::Array(ArrayView { message, run }),
            Val::Kvlist(run) => AnyValueView::Kvlist(KvlistView { message, run }),
        }
    }
}

/// An `ArrayValue`, checked by the walk; its items are read as iterated.
#[derive(Clone, Copy)]
pub struct ArrayView<'a> {
    message: &'a [u8],
    run: Run,
}

impl<'a> ArrayView<'a> {
    /// The encoded `ArrayValue` message.
    pub fn raw(&self) -> &'a [u8] {
        self.run.of(self.message)
    }

    /// The array's values, in order.
    pub fn values(&self) -> impl Iterator<Item = AnyValueView<'a>> + 'a {
        let message = self.message;
        Items::new(message, self.run).map(move |item| {
            // Checked by the walk: it reads again the same way.
            AnyValueView::of(
                message,
                read_any_value(message, item, 0).unwrap_or(Val::Empty),
            )
        })
    }
}

/// A `KeyValueList`, checked by the walk; its entries are read as iterated.
#[derive(Clone, Copy)]
pub struct KvlistView<'a> {
    message: &'a [u8],
    run: Run,
}

impl<'a> KvlistView<'a> {
    /// The encoded `KeyValueList` message.
    pub fn raw(&self) -> &'a [u8] {
        self.run.of(self.message)
    }

    /// The list's entries, in order (duplicates kept).
    pub fn entries(&self) -> impl Iterator<Item = KeyValueView<'a>> + 'a {
        let message = self.message;
        Items::new(message, self.run).map(move |item| {
            let attr = read_key_value(message, item, 0).unwrap_or(Attr {
                key: Run::default(),
                value: Val::Empty,
            });
            key_value(message, &attr)
        })
    }
}

macro_rules! raw_debug_eq {
    ($view:ident) => {
        impl std::fmt::Debug for $view<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($view)).field(&self.raw()).finish()
            }
        }

        /// Equal when the encoded messages are.
        impl PartialEq for $view<'_> {
            fn eq(&self, other: &Self) -> bool {
                self.raw() == other.raw()
            }
        }
    };
}
raw_debug_eq!(ArrayView);
raw_debug_eq!(KvlistView);

/// The field-1 items (`values` / `values`) of a checked `ArrayValue` or
/// `KeyValueList`.
struct Items<'a> {
    reader: Reader<'a>,
}

impl<'a> Items<'a> {
    fn new(message: &'a [u8], run: Run) -> Self {
        Items {
            reader: Reader::new(message, run),
        }
    }
}

impl Iterator for Items<'_> {
    type Item = Run;

    fn next(&mut self) -> Option<Run> {
        let r = &mut self.reader;
        while r.more() {
            let (number, wire_type) = r.key().ok()?;
            if number == 1 {
                return r.delimited(wire_type).ok();
            }
            r.skip(wire_type).ok()?;
        }
        None
    }
}

fn key_value<'a>(message: &'a [u8], attr: &Attr) -> KeyValueView<'a> {
    KeyValueView {
        key: text(message, attr.key),
        value: AnyValueView::of(message, attr.value),
    }
}

/// The attributes of a span or resource.
#[derive(Clone)]
pub struct Attributes<'a> {
    message: &'a [u8],
    attrs: std::slice::Iter<'a, Attr>,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = KeyValueView<'a>;

    fn next(&mut self) -> Option<KeyValueView<'a>> {
        self.attrs.next().map(|attr| key_value(self.message, attr))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.attrs.size_hint()
    }
}

impl ExactSizeIterator for Attributes<'_> {}

impl<'a> Attributes<'a> {
    /// The same attributes with their keys as bytes and their values read
    /// only when asked: for a scan that looks for a few keys among many,
    /// which then converts (and checks as UTF-8) nothing it skips.
    pub fn raw(self) -> RawAttributes<'a> {
        RawAttributes(self)
    }
}

/// [`Attributes::raw`]: the attributes as [`RawKeyValue`]s.
#[derive(Clone)]
pub struct RawAttributes<'a>(Attributes<'a>);

impl<'a> Iterator for RawAttributes<'a> {
    type Item = RawKeyValue<'a>;

    fn next(&mut self) -> Option<RawKeyValue<'a>> {
        let message = self.0.message;
        self.0
            .attrs
            .next()
            .map(|attr| RawKeyValue { message, attr })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for RawAttributes<'_> {}

/// One attribute of [`Attributes::raw`].
#[derive(Clone, Copy)]
pub struct RawKeyValue<'a> {
    message: &'a [u8],
    attr: &'a Attr,
}

impl<'a> RawKeyValue<'a> {
    /// The key's bytes as sent.
    pub fn key(&self) -> &'a [u8] {
        self.attr.key.of(self.message)
    }

    /// The value, as [`KeyValueView::value`] gives it.
    pub fn value(&self) -> AnyValueView<'a> {
        AnyValueView::of(self.message, self.attr.value)
    }
}

/// Walks encoded requests and hands out their spans' views; keep one and
/// reuse it, so its arenas are allocated once.
#[derive(Debug, Default)]
pub struct SpanWalker {
    runs: RequestRuns,
}

impl SpanWalker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `each` with the view of every span of `message`, an encoded
    /// `ExportTraceServiceRequest`, in request order, and returns how many
    /// spans it saw. A message prost cannot decode gives prost's error, and
    /// then `each` has not been called.
    pub fn for_each_span(
        &mut self,
        message: &[u8],
        mut each: impl FnMut(SpanView<'_>),
    ) -> Result<usize, prost::DecodeError> {
        if self.runs.read(message).is_ok() {
            return Ok(visit(message, &self.runs, &mut each));
        }
        // Malformed, or an encoding the walk leaves to prost: prost decides.
        let request = ExportTraceServiceRequest::decode(message)?;
        visit_decoded(&mut self.runs, &request, &mut each).ok_or_else(|| {
            #[allow(deprecated)]
            prost::DecodeError::new("re-encoded request not readable by the span walk")
        })
    }
}

/// [`SpanWalker::for_each_span`] with arenas of its own.
pub fn for_each_span(
    message: &[u8],
    each: impl FnMut(SpanView<'_>),
) -> Result<usize, prost::DecodeError> {
    SpanWalker::new().for_each_span(message, each)
}

/// [`SpanWalker::for_each_span`] of a decoded request (encoded to be
/// walked): views for tests, and for readers that hold a decoded request.
pub fn for_each_span_of(
    request: &ExportTraceServiceRequest,
    mut each: impl FnMut(SpanView<'_>),
) -> usize {
    visit_decoded(&mut RequestRuns::default(), request, &mut each).unwrap_or(0)
}

/// Calls `each` with every span of a request prost decoded, walking its
/// canonical encoding; returns the number of spans. `None` (and no call)
/// cannot happen: the walk reads every nesting prost accepts.
pub(crate) fn visit_decoded(
    runs: &mut RequestRuns,
    request: &ExportTraceServiceRequest,
    each: &mut dyn FnMut(SpanView<'_>),
) -> Option<usize> {
    let canonical = request.encode_to_vec();
    runs.read(&canonical).ok()?;
    Some(visit(&canonical, runs, each))
}

/// A resource of a walked message, told apart from every other resource
/// this process walked: the walk's number (every [`visit`] takes the next
/// one) and the resource's place in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceId {
    walk: u64,
    index: usize,
}

/// The number of the next walk (of the process, so two walkers never share one).
static WALKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Calls `each` with every span of a message `runs` has read; returns the
/// number of spans.
pub(crate) fn visit(
    message: &[u8],
    runs: &RequestRuns,
    each: &mut dyn FnMut(SpanView<'_>),
) -> usize {
    let walk = WALKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut spans = 0;
    for (index, resource) in runs.resources.iter().enumerate() {
        let resource_attrs = &runs.resource_attrs[resource.attrs.range()];
        let service_name = resource_attrs
            .iter()
            .find(|a| a.key.of(message) == SERVICE_NAME.as_bytes())
            .and_then(|a| match a.value {
                Val::Str(run) => Some(text(message, run)),
                _ => None,
            });
        for scope in &runs.scopes[resource.scopes.range()] {
            for span in &runs.spans[scope.spans.range()] {
                spans += 1;
                each(SpanView {
                    message,
                    resource: ResourceId { walk, index },
                    service_name,
                    resource_attrs,
                    scope,
                    span,
                    span_attrs: &runs.span_attrs[span.attrs.range()],
                    links: &runs.links[span.links.range()],
                });
            }
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::attributes::{kv, kv_int, kv_str};
    use crate::otlp::test_requests::{damage, edits, reencode, request, spans_of, Ty};
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};
    use proptest::prelude::*;

    /// Whether the views of `message` are, in order, the spans prost decodes.
    fn views_match_decode(message: &[u8]) -> Result<(), String> {
        let decoded = ExportTraceServiceRequest::decode(message);
        let mut views = Vec::new();
        let mut raw_agrees = true;
        let walked = for_each_span(message, |view| {
            views.push(format!("{view:?}"));
            raw_agrees &=
                raw_agrees_with(view.attributes()) && raw_agrees_with(view.resource_attributes());
        });
        if !raw_agrees {
            return Err("Attributes::raw differs from Attributes".into());
        }
        match (decoded, walked) {
            (Err(expected), Err(got)) if expected == got => Ok(()),
            (Ok(request), Ok(count)) => {
                let spans = spans_of(&request);
                if count != spans.len() || views.len() != spans.len() {
                    return Err(format!("{count} views of {} spans", spans.len()));
                }
                let mut at = 0;
                let mut mismatch = None;
                for_each_span(message, |view| {
                    let (resource, scope, span) = spans[at];
                    if mismatch.is_none() && !view.same_as(resource, scope, span) {
                        mismatch = Some(format!("span {at}: {view:?} is not {span:?}"));
                    }
                    at += 1;
                })
                .map_err(|e| e.to_string())?;
                mismatch.map_or(Ok(()), Err)
            }
            (decoded, walked) => Err(format!("prost {decoded:?}, walk {walked:?}")),
        }
    }

    /// Whether [`Attributes::raw`] gives the keys and values of `attributes`.
    fn raw_agrees_with(attributes: Attributes<'_>) -> bool {
        // Values compared as Debug text: NaN is not equal to itself.
        let raw = attributes
            .clone()
            .raw()
            .map(|kv| (kv.key(), format!("{:?}", kv.value())));
        raw.eq(attributes.map(|kv| (kv.key.as_bytes(), format!("{:?}", kv.value))))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Every generated request, in any valid wire form: one view per
        /// span prost decodes, in order, showing what prost decodes.
        #[test]
        fn views_show_what_prost_decodes(request in request(), mut seed in 1..u64::MAX) {
            let message = request.encode_to_vec();
            prop_assert_eq!(views_match_decode(&message), Ok(()));
            let reencoded = reencode(&message, Ty::Request, &mut seed);
            prop_assert_eq!(views_match_decode(&reencoded), Ok(()));
        }

        /// Damaged bytes: views exactly when prost decodes, else prost's
        /// error and no view.
        #[test]
        fn damaged_messages_agree_with_prost(
            request in request(),
            edits in edits(),
        ) {
            let mut message = request.encode_to_vec();
            damage(&mut message, edits);
            prop_assert_eq!(views_match_decode(&message), Ok(()));
        }
    }

    fn request_of(resource: Vec<KeyValue>, spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: resource,
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        version: "1.2".into(),
                        ..InstrumentationScope::default()
                    }),
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }

    #[test]
    fn spans_of_one_resource_share_its_id_and_no_other_resource_has_it() {
        let mut request = request_of(vec![kv_str("service.name", "a")], vec![Span::default(); 2]);
        request
            .resource_spans
            .push(request.resource_spans[0].clone());
        let message = request.encode_to_vec();
        let walk = |message: &[u8]| {
            let mut ids = Vec::new();
            for_each_span(message, |view| ids.push(view.resource_id())).expect("walked");
            ids
        };
        let first = walk(&message);
        assert_eq!(first.len(), 4);
        assert_eq!(first[0], first[1], "one resource");
        assert_ne!(first[1], first[2], "two resources");
        assert_eq!(first[2], first[3]);
        let again = walk(&message);
        assert!(
            again.iter().all(|id| !first.contains(id)),
            "another walk of the same message: {first:?} {again:?}"
        );
    }

    #[test]
    fn a_view_reads_every_field_of_its_span() {
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            parent_span_id: vec![3; 8],
            trace_state: "k=v".into(),
            name: "GET /".into(),
            kind: 2,
            start_time_unix_nano: 10,
            end_time_unix_nano: 25,
            flags: 0x301,
            status: Some(Status {
                code: 2,
                message: "boom".into(),
            }),
            attributes: vec![
                kv_str("http.method", "GET"),
                kv_int("http.status_code", 500),
                kv(
                    "nested",
                    Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(Value::BoolValue(true)),
                        }],
                    }),
                ),
                kv_str("http.method", "second"),
            ],
            ..Span::default()
        };
        let message = request_of(
            vec![kv_str("service.name", "shop"), kv_int("pid", 7)],
            vec![span],
        )
        .encode_to_vec();
        let mut seen = 0;
        for_each_span(&message, |view| {
            seen += 1;
            assert_eq!(view.service_name(), Some("shop"));
            assert_eq!((view.scope_name(), view.scope_version()), ("lib", "1.2"));
            assert_eq!(view.trace_id(), [1; 16]);
            assert_eq!(view.span_id(), [2; 8]);
            assert_eq!(view.parent_span_id(), [3; 8]);
            assert_eq!(view.trace_state(), "k=v");
            assert_eq!(view.name(), "GET /");
            assert_eq!(view.kind(), 2);
            assert_eq!(
                (view.start_time_unix_nano(), view.end_time_unix_nano()),
                (10, 25)
            );
            assert_eq!(view.flags(), 0x301);
            assert_eq!((view.status_code(), view.status_message()), (2, "boom"));
            assert_eq!(view.attributes().len(), 4);
            assert_eq!(
                view.attribute("http.method"),
                Some(AnyValueView::Str("GET"))
            );
            assert_eq!(
                view.attribute("http.status_code"),
                Some(AnyValueView::Int(500))
            );
            assert_eq!(view.attribute("absent"), None);
            let Some(AnyValueView::Array(array)) = view.attribute("nested") else {
                panic!("an array");
            };
            assert_eq!(
                array.values().collect::<Vec<_>>(),
                [AnyValueView::Bool(true)]
            );
            let resource: Vec<_> = view.resource_attributes().map(|kv| kv.key).collect();
            assert_eq!(resource, ["service.name", "pid"]);
        })
        .expect("walks");
        assert_eq!(seen, 1);
    }

    #[test]
    fn service_name_is_the_first_service_name_attribute_when_a_string() {
        let names = |resource: Vec<KeyValue>| {
            let message = request_of(resource, vec![Span::default()]).encode_to_vec();
            let mut name = None;
            for_each_span(&message, |view| {
                name = view.service_name().map(str::to_owned)
            })
            .expect("walks");
            name
        };
        assert_eq!(names(vec![]), None);
        assert_eq!(names(vec![kv_int("service.name", 1)]), None);
        assert_eq!(
            names(vec![
                kv_str("service.name", "a"),
                kv_str("service.name", "b")
            ]),
            Some("a".to_owned())
        );
        assert_eq!(names(vec![kv_str("service.name", "")]), Some(String::new()));
    }

    /// A status sent twice is merged by protobuf: the walk leaves that to
    /// prost, and the view shows the merged status.
    #[test]
    fn a_status_sent_twice_shows_as_prost_merges_it() {
        let message = request_of(vec![], vec![Span::default()]).encode_to_vec();
        // Append to the span a second `status` with only a code; the first
        // one's message stays.
        let first = Status {
            code: 1,
            message: "first".into(),
        };
        let second = Status {
            code: 2,
            message: String::new(),
        };
        let span = Span {
            status: Some(first),
            ..Span::default()
        };
        let mut span_bytes = span.encode_to_vec();
        span_bytes.push((15 << 3) | 2);
        let second = second.encode_to_vec();
        span_bytes.push(second.len() as u8);
        span_bytes.extend_from_slice(&second);
        let mut request = ExportTraceServiceRequest::decode(&message[..]).expect("decodes");
        request.resource_spans[0].scope_spans[0].spans.clear();
        let mut scope_spans = request.resource_spans[0].scope_spans[0].encode_to_vec();
        scope_spans.push((2 << 3) | 2);
        scope_spans.push(span_bytes.len() as u8);
        scope_spans.extend_from_slice(&span_bytes);
        let mut resource_spans = Vec::new();
        resource_spans.push((2 << 3) | 2);
        resource_spans.push(scope_spans.len() as u8);
        resource_spans.extend_from_slice(&scope_spans);
        let mut message = vec![(1 << 3) | 2, resource_spans.len() as u8];
        message.extend_from_slice(&resource_spans);

        assert!(
            RequestRuns::default().read(&message).is_err(),
            "left to prost"
        );
        let mut status = None;
        for_each_span(&message, |view| {
            status = Some((view.status_code(), view.status_message().to_owned()))
        })
        .expect("prost decodes it");
        assert_eq!(status, Some((2, "first".to_owned())));
        assert_eq!(views_match_decode(&message), Ok(()));
    }

    /// Key-value lists nested as deep as prost reads them are walked; one
    /// level deeper is prost's error for both.
    #[test]
    fn nested_lists_are_walked_as_deep_as_prost_reads_them() {
        let nested = |levels: usize| {
            // The innermost entry has no value: a KeyValue as the deepest message.
            let mut entry = KeyValue {
                key: "leaf".into(),
                ..KeyValue::default()
            };
            for _ in 0..levels {
                entry = kv(
                    "list",
                    Value::KvlistValue(KeyValueList {
                        values: vec![entry],
                    }),
                );
            }
            request_of(
                vec![],
                vec![Span {
                    attributes: vec![entry],
                    ..Span::default()
                }],
            )
            .encode_to_vec()
        };
        let mut refused = false;
        for levels in 28..36 {
            let message = nested(levels);
            let decoded = ExportTraceServiceRequest::decode(&message[..]).is_ok();
            assert_eq!(
                RequestRuns::default().read(&message).is_ok(),
                decoded,
                "{levels} levels"
            );
            assert_eq!(views_match_decode(&message), Ok(()), "{levels} levels");
            refused |= !decoded;
        }
        assert!(refused, "no nesting deep enough for prost to refuse");
    }

    /// A walker reused across messages shows each message's own spans.
    #[test]
    fn a_reused_walker_keeps_nothing_from_the_last_message() {
        let mut walker = SpanWalker::new();
        let big = request_of(
            vec![kv_str("service.name", "a")],
            vec![Span::default(), Span::default()],
        )
        .encode_to_vec();
        let small = request_of(
            vec![],
            vec![Span {
                name: "only".into(),
                ..Span::default()
            }],
        )
        .encode_to_vec();
        assert_eq!(walker.for_each_span(&big, |_| {}).expect("walks"), 2);
        let mut names = Vec::new();
        walker
            .for_each_span(&small, |view| {
                names.push((view.service_name().is_some(), view.name().to_owned()))
            })
            .expect("walks");
        assert_eq!(names, [(false, "only".to_owned())]);
    }
}
