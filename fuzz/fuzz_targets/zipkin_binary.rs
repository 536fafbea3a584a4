//! A Zipkin binary body: `POST /api/v2/spans` as protobuf `ListOfSpans` and
//! `POST /api/v1/spans` as a Thrift `list<Span>`. Both decoders run on every
//! input; on success the spans are translated, encoded and split as the
//! collector does.
#![no_main]

use ferrotrace_format::zipkin::{parse_v1_thrift, parse_v2_proto, spans_to_otlp, v1_spans_to_otlp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spans) = parse_v2_proto(data) {
        let count = spans.len();
        ferrotrace_fuzz::pipeline(spans_to_otlp(spans), count);
    }
    if let Ok(spans) = parse_v1_thrift(data) {
        let count = spans.len();
        ferrotrace_fuzz::pipeline(v1_spans_to_otlp(spans), count);
    }
});
