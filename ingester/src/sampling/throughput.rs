//! The throughput this ingester stores: per (service, operation), the root
//! spans sampled probabilistically, with the probabilities they carried.
//!
//! The consume loop counts each message's root spans into a [`Counts`] for
//! the batch being built, and adds them to the shared [`Recorder`] only
//! once that batch is stored: a span is counted when it is stored, and a
//! message read again after a failed bulk is not counted twice. (A message
//! read again after a crash, whose first bulk succeeded, is: rare, and
//! adaptive sampling only needs a rate.) Every interval the sampling task
//! takes the counts and writes them to Elasticsearch.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use ferrotrace_format::jaeger::sampling_store::{probability_key, Member, Throughput};
use ferrotrace_format::otlp::SpanView;

use super::probability;

/// Distinct probabilities kept per operation and interval (Jaeger's limit).
const MAX_PROBABILITIES: usize = 10;
/// Distinct operations counted per interval; root spans of further ones are
/// left out (and counted in a metric) rather than growing without bound.
pub const MAX_OPERATIONS: usize = 10_000;

#[derive(Debug, Clone, Default, PartialEq)]
struct Operation {
    count: i64,
    probabilities: BTreeMap<String, Member>,
}

/// Root span counts per (service, operation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    operations: HashMap<(String, String), Operation>,
    /// Root spans left out because [`MAX_OPERATIONS`] was reached.
    pub overflow: u64,
}

impl Counts {
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty() && self.overflow == 0
    }

    /// Counts `span` when it is a sampled root span of a named service
    /// with a name.
    pub fn observe(&mut self, span: &SpanView<'_>) {
        let Some(service) = span.service_name().filter(|s| !s.is_empty()) else {
            return;
        };
        if !probability::is_root(span) || span.name().is_empty() {
            return;
        }
        if let Some(sampled) = probability::sampled(span) {
            self.record(service, span.name(), sampled.probabilistic, sampled.param);
        }
    }

    /// One root span (Jaeger's `RecordThroughput`): its probability is
    /// remembered, and it is counted only when sampled probabilistically.
    pub fn record(
        &mut self,
        service: &str,
        operation: &str,
        probabilistic: bool,
        probability: f64,
    ) {
        let key = (service.to_owned(), operation.to_owned());
        if !self.operations.contains_key(&key) && self.operations.len() >= MAX_OPERATIONS {
            self.overflow += 1;
            return;
        }
        let entry = self.operations.entry(key).or_default();
        if entry.probabilities.len() < MAX_PROBABILITIES {
            entry
                .probabilities
                .insert(probability_key(probability), Member {});
        }
        if probabilistic {
            entry.count += 1;
        }
    }

    /// Adds `other` (a stored batch's counts) to these.
    pub fn merge(&mut self, other: Counts) {
        self.overflow += other.overflow;
        for ((service, operation), op) in other.operations {
            let key = (service, operation);
            if !self.operations.contains_key(&key) && self.operations.len() >= MAX_OPERATIONS {
                self.overflow += op.count as u64;
                continue;
            }
            let entry = self.operations.entry(key).or_default();
            entry.count += op.count;
            for (p, m) in op.probabilities {
                if entry.probabilities.len() < MAX_PROBABILITIES {
                    entry.probabilities.insert(p, m);
                }
            }
        }
    }

    /// The counts as throughput documents' contents.
    pub fn into_throughput(self) -> Vec<Throughput> {
        self.operations
            .into_iter()
            .map(|((service, operation), op)| Throughput {
                service,
                operation,
                count: op.count,
                probabilities: (!op.probabilities.is_empty()).then_some(op.probabilities),
            })
            .collect()
    }
}

/// The counts of stored batches since the last interval, shared by the
/// consume loop (which adds) and the sampling task (which takes).
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Counts>>);

impl Recorder {
    /// Adds the counts of a batch now stored.
    pub fn stored(&self, counts: Counts) {
        if counts.is_empty() {
            return;
        }
        if let Ok(mut current) = self.0.lock() {
            current.merge(counts);
        }
    }

    /// Takes the counts so far, leaving none.
    pub fn take(&self) -> Counts {
        self.0
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::probability::tests::kv;
    use ferrotrace_format::otlp::for_each_span_of;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv(
                        "service.name",
                        any_value::Value::StringValue(service.into()),
                    )],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    /// Every span of `request` into `counts`, as the ingester reads them.
    fn observe(counts: &mut Counts, request: &ExportTraceServiceRequest) {
        for_each_span_of(request, |view| counts.observe(&view));
    }

    fn root(name: &str, trace_state: &str, parent: &[u8]) -> Span {
        Span {
            name: name.into(),
            trace_state: trace_state.into(),
            parent_span_id: parent.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn counts_probabilistic_root_spans_only() {
        let mut counts = Counts::default();
        observe(
            &mut counts,
            &request(
                "svc",
                vec![
                    root("GET", "ot=th:8", &[]),
                    root("GET", "ot=th:8", &[]),
                    root("GET", "ot=th:8", &[1; 8]),
                    root("GET", "", &[]),
                    root("", "ot=th:8", &[]),
                ],
            ),
        );
        counts.record("svc", "PUT", false, 0.002);
        let mut docs = counts.into_throughput();
        docs.sort_by(|a, b| a.operation.cmp(&b.operation));
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].operation.as_str(), docs[0].count), ("GET", 2));
        assert_eq!(
            docs[0]
                .probabilities
                .as_ref()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["0.500000"]
        );
        // A lowerbound span: known, with a count of 0 (Jaeger's rule).
        assert_eq!((docs[1].operation.as_str(), docs[1].count), ("PUT", 0));
        // A resource without a service name counts nothing.
        let mut nameless = Counts::default();
        observe(
            &mut nameless,
            &request("", vec![root("GET", "ot=th:8", &[])]),
        );
        assert!(nameless.is_empty());
    }

    #[test]
    fn recorder_adds_stored_batches_and_hands_them_over_once() {
        let recorder = Recorder::default();
        for _ in 0..3 {
            let mut batch = Counts::default();
            batch.record("svc", "GET", true, 0.1);
            recorder.stored(batch);
        }
        let docs = recorder.take().into_throughput();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].count, 3);
        assert!(recorder.take().is_empty());
    }

    #[test]
    fn bounds_operations_and_probabilities() {
        let mut counts = Counts::default();
        for i in 0..MAX_OPERATIONS + 5 {
            counts.record("svc", &i.to_string(), true, 0.1);
        }
        assert_eq!(counts.overflow, 5);
        let mut one = Counts::default();
        for i in 0..20 {
            one.record("svc", "op", true, f64::from(i) / 100.0);
        }
        assert_eq!(
            one.into_throughput()[0]
                .probabilities
                .as_ref()
                .unwrap()
                .len(),
            MAX_PROBABILITIES
        );
    }
}
