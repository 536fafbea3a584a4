//! The attribute keys, and the names, that more than one translation to or
//! from OTLP reads or writes: OpenTelemetry's semantic conventions and the
//! OpenTelemetry Collector's Jaeger and Zipkin translators
//! (opentelemetry-collector-contrib `pkg/translator`). A key only one
//! translation uses stays beside that translation.

/// The resource attribute naming the service.
pub const SERVICE_NAME: &str = "service.name";
/// The service name the Collector's translators give a resource without
/// one (`tracetranslator.ResourceNoServiceName`): the OTLP → Jaeger
/// direction writes it for a resource with no attributes at all, and the
/// Jaeger and Zipkin → OTLP directions read it as "no service name".
pub const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

/// The span kind, as a Jaeger / OpenTracing tag.
pub const SPAN_KIND: &str = "span.kind";
/// OpenTracing's error flag tag.
pub const ERROR: &str = "error";
/// The OTLP status code, as a Jaeger tag (`OK` / `ERROR`).
pub const STATUS_CODE: &str = "otel.status_code";
/// The OTLP status message, as a Jaeger tag.
pub const STATUS_DESCRIPTION: &str = "otel.status_description";
/// The W3C trace state, as a Jaeger tag.
pub const TRACE_STATE: &str = "w3c.tracestate";
/// The instrumentation scope, as Jaeger tags (the current convention).
pub const SCOPE_NAME: &str = "otel.scope.name";
pub const SCOPE_VERSION: &str = "otel.scope.version";
/// The instrumentation scope, as tags (the convention before `otel.scope.*`,
/// which Zipkin spans still carry).
pub const LIBRARY_NAME: &str = "otel.library.name";
pub const LIBRARY_VERSION: &str = "otel.library.version";

/// The Jaeger log field that names an OTLP event.
pub const EVENT: &str = "event";
/// The OpenTracing reference type of a link, as a Jaeger tag.
pub const REF_TYPE: &str = "opentracing.ref_type";
