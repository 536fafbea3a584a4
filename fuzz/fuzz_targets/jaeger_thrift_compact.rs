//! A Jaeger agent UDP packet in the compact protocol (:6831): decode, and on
//! success translate to OTLP, encode and split as the collector does.
#![no_main]

use ferrotrace_format::jaeger::agent::read_agent_message;
use ferrotrace_format::thrift::ThriftProtocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = read_agent_message(data, ThriftProtocol::Compact) {
        ferrotrace_fuzz::agent_message(message);
    }
});
