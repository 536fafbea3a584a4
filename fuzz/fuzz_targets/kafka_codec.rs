//! A Kafka message value in each encoding the ingester reads
//! (`--kafka-encoding`): decoding never panics, and what decodes is an OTLP
//! request prost can read back.
#![no_main]

use ferrotrace_format::kafka_codec::{decode, Encoding};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    for encoding in [
        Encoding::OtlpJson,
        Encoding::JaegerProto,
        Encoding::JaegerJson,
    ] {
        if let Ok(otlp) = decode(encoding, data) {
            assert!(
                ExportTraceServiceRequest::decode(&*otlp).is_ok(),
                "{encoding} decoded to bytes that are not an ExportTraceServiceRequest"
            );
        }
    }
});
