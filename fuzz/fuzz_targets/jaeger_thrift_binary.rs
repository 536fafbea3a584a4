//! Binary-protocol Jaeger Thrift: an agent UDP packet (:6832) and the body of
//! `POST /api/traces` (a bare `Batch`, :14268). Both decodes run on every
//! input; on success each is translated, encoded and split as the collector
//! does.
#![no_main]

use ferrotrace_format::jaeger::agent::read_agent_message;
use ferrotrace_format::jaeger::thrift::read_batch;
use ferrotrace_format::jaeger::to_otlp::thrift_batch_to_otlp;
use ferrotrace_format::thrift::{SliceInput, ThriftProtocol};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = read_agent_message(data, ThriftProtocol::Binary) {
        ferrotrace_fuzz::agent_message(message);
    }
    if let Ok(batch) = read_batch(&mut SliceInput::new(data, ThriftProtocol::Binary)) {
        let spans = batch.spans.len();
        ferrotrace_fuzz::pipeline(thrift_batch_to_otlp(batch), spans);
    }
});
