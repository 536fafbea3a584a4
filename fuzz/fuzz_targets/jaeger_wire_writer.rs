//! `jaeger::WireDocWriter` on arbitrary bytes, checked against prost and the
//! decoding writer. The input is `otlp_split`'s (so its corpus seeds this
//! one): two bytes, the first's low bit turning tags-as-fields on, then an
//! OTLP request.
//!
//! Beyond "no panic": when prost refuses the request, the wire writer gives
//! prost's error and no document; when prost decodes it, the wire writer
//! gives exactly the decoding writer's documents, ids and counts.
#![no_main]

use ferrotrace_format::jaeger::doc_id::DOC_ID_LEN;
use ferrotrace_format::jaeger::{SpanDoc, SpanDocWriter, TagsAsFields, WireDocWriter};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

fn owned(doc: SpanDoc<'_>) -> (Vec<u8>, [u8; DOC_ID_LEN], u64, String, String) {
    (
        doc.json.to_vec(),
        *doc.doc_id,
        doc.start_time_micros,
        doc.service_name.to_owned(),
        doc.operation_name.to_owned(),
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((options, message)) = data.split_first_chunk::<2>() else {
        return;
    };
    let config = TagsAsFields {
        all: options[0] & 1 == 1,
        ..TagsAsFields::default()
    };
    let mut docs = Vec::new();
    let wire = WireDocWriter::with_tags_as_fields(config.clone())
        .write_message(message, |doc| docs.push(owned(doc)));
    match ExportTraceServiceRequest::decode(message) {
        Err(error) => {
            assert_eq!(
                wire.map_err(|e| e.to_string()),
                Err(error.to_string()),
                "prost's error"
            );
            assert!(docs.is_empty(), "documents of a message prost refuses");
        }
        Ok(request) => {
            let mut expected = Vec::new();
            let stats = SpanDocWriter::with_tags_as_fields(config)
                .write_request(&request, |doc| expected.push(owned(doc)));
            assert_eq!(wire.ok(), Some(stats), "write stats");
            assert!(docs == expected, "documents differ from the decoding writer's");
        }
    }
});
