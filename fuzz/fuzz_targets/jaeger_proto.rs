//! A Jaeger gRPC `PostSpansRequest` body (port 14250): decoded with prost,
//! translated, encoded and split as the collector does.
#![no_main]

use ferrotrace_format::jaeger::proto::PostSpansRequest;
use ferrotrace_format::jaeger::to_otlp::proto_batches_to_otlp;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = PostSpansRequest::decode(data) {
        let batches: Vec<_> = request.batch.into_iter().collect();
        let count = batches.iter().map(|b| b.spans.len()).sum();
        ferrotrace_fuzz::pipeline(proto_batches_to_otlp(batches), count);
    }
});
