//! What the fuzz targets share: the steps a receiver takes after a decoder
//! accepted a payload (translate to OTLP, encode, split by trace), with the
//! checks that must hold for any input the decoder accepts.

use ferrotrace_format::jaeger::agent::AgentMessage;
use ferrotrace_format::jaeger::to_otlp::thrift_batch_to_otlp;
use ferrotrace_format::otlp::split_by_trace;
use ferrotrace_format::translate::Translated;
use ferrotrace_format::zipkin;
use prost::Message;

/// Translates what a Jaeger agent packet held and runs it down the pipeline.
pub fn agent_message(message: AgentMessage) {
    match message {
        AgentMessage::Batch(batch) => {
            let spans = batch.spans.len();
            pipeline(thrift_batch_to_otlp(batch), spans);
        }
        AgentMessage::ZipkinBatch(spans) => {
            let count = spans.len();
            pipeline(zipkin::v1_spans_to_otlp(spans), count);
        }
    }
}

/// A message cap no translated fuzz input comes near (inputs are at most
/// 70 kB), so the split refuses no span for its size.
const NO_CAP: usize = 64 << 20;

/// Encodes a translated request and splits it as the collector's pipeline
/// does. Every span the translator kept passed the checks the split makes
/// (valid IDs, a start time, no negative duration), so the split must take
/// all of them: a refusal there would be a span the receiver
/// accepted and then silently lost.
pub fn pipeline(translated: Translated, input_spans: usize) {
    let kept: u64 = translated
        .request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum();
    assert_eq!(
        kept, translated.spans,
        "Translated.spans vs spans in the request"
    );
    assert_eq!(
        translated.spans + translated.refused.total(),
        input_spans as u64,
        "kept + refused vs decoded spans"
    );
    let encoded = translated.request.encode_to_vec();
    let split =
        split_by_trace(&encoded, NO_CAP).expect("the splitter refused a request prost encoded");
    assert_eq!(
        split.refused.total(),
        0,
        "split refused a translated span: {:?}",
        split.refused.first()
    );
    assert_eq!(split.accepted_spans, translated.spans);
}
