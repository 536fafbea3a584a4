//! `otlp::split_by_trace` on arbitrary bytes, with a message cap taken from
//! the first two input bytes (at least 64), so small caps that force a trace
//! across several messages and refuse large spans are explored too.
//!
//! Beyond "no panic", checks what the split promises: every message lies in
//! `buf` and fits the cap, the message span counts add up to the accepted
//! spans, and, when prost can decode the request, accepted + refused spans
//! are all its spans and every message decodes to spans of its own trace.
#![no_main]

use ferrotrace_format::otlp::split_by_trace;
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((cap, request)) = data.split_first_chunk::<2>() else {
        return;
    };
    let cap = usize::from(u16::from_le_bytes(*cap)).max(64);
    let Ok(split) = split_by_trace(request, cap) else {
        return;
    };

    let mut in_messages = 0u64;
    for message in &split.messages {
        assert!(
            message.value.start <= message.value.end && message.value.end <= split.buf.len(),
            "message range {:?} outside a buffer of {} bytes",
            message.value,
            split.buf.len()
        );
        assert!(
            message.value.len() <= cap,
            "message of {} bytes over the {cap}-byte cap",
            message.value.len()
        );
        assert!(message.spans > 0, "message without spans");
        in_messages += u64::from(message.spans);
    }
    assert_eq!(in_messages, split.accepted_spans, "message span counts");
    assert_eq!(split.refused.first().is_some(), split.refused.total() > 0);

    let Ok(decoded) = ExportTraceServiceRequest::decode(request) else {
        return;
    };
    let total: u64 = decoded
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum();
    assert_eq!(
        split.accepted_spans + split.refused.total(),
        total,
        "accepted + rejected spans vs spans prost decodes"
    );
    for (message, value) in split.iter() {
        let part = ExportTraceServiceRequest::decode(value)
            .expect("a message cut from a request prost decodes must decode");
        let spans: Vec<_> = part
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        assert_eq!(spans.len() as u64, u64::from(message.spans));
        for span in spans {
            assert_eq!(
                span.trace_id, message.trace_id,
                "span in another trace's message"
            );
        }
    }
});
