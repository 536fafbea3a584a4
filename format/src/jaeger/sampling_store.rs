//! Adaptive sampling's stored state, in Jaeger's shapes: the documents of
//! the `[prefix-]jaeger-sampling-YYYY-MM-DD` indices, and the Kafka message
//! that carries the latest probabilities from the ingester that computes
//! them to every collector.
//!
//! The documents are those of Jaeger's Elasticsearch sampling store
//! (`internal/storage/v1/elasticsearch/samplingstore/dbmodel`): one
//! throughput document per (service, operation) and interval,
//! `{"timestamp", "throughputs": {"Service", "Operation", "Count",
//! "Probabilities"}}`, where `Probabilities` is the set of sampling
//! probabilities seen, as Jaeger's 6-decimal strings (`{"0.001000": {}}`);
//! and one probabilities document per calculation, `{"timestamp",
//! "probabilitiesandqps": {"Hostname", "Probabilities", "QPS"}}`, both maps
//! service → operation → number. A Jaeger collector with the same index
//! prefix reads ours, and we read its.
//!
//! The Kafka message is the probabilities document itself as JSON, under
//! the fixed key [`PROBABILITIES_KEY`], so a compacted topic keeps exactly
//! the latest one.
//!
//! Everything here is pure: no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::index::push_prefix;
use crate::civil_date::{civil_from_days, push_date};

/// The daily sampling index name, before the date (Jaeger's `jaeger-sampling`).
pub const SAMPLING_INDEX_BASE: &str = "jaeger-sampling-";

/// Key of every message on the sampling topic: compaction keeps the last.
pub const PROBABILITIES_KEY: &[u8] = b"probabilities";

const MILLIS_PER_DAY: u64 = 86_400_000;

/// `[prefix-]jaeger-sampling-YYYY-MM-DD` for the UTC day of `unix_millis`.
pub fn sampling_index(prefix: &str, date_separator: &str, unix_millis: u64) -> String {
    let mut name = String::with_capacity(prefix.len() + SAMPLING_INDEX_BASE.len() + 12);
    push_prefix(&mut name, prefix);
    name.push_str(SAMPLING_INDEX_BASE);
    push_date(&mut name, date_separator, unix_millis / MILLIS_PER_DAY);
    name
}

/// `[prefix-]jaeger-sampling-*`: every sampling index, for searches.
pub fn sampling_index_pattern(prefix: &str) -> String {
    let mut name = String::new();
    push_prefix(&mut name, prefix);
    name.push_str(SAMPLING_INDEX_BASE);
    name.push('*');
    name
}

/// RFC 3339 UTC with milliseconds, `2024-02-08T12:00:00.000Z`: a date
/// Elasticsearch maps as `date`, and fixed-width so that it also sorts as text.
pub fn format_timestamp(unix_millis: u64) -> String {
    let days = unix_millis / MILLIS_PER_DAY;
    let in_day = unix_millis % MILLIS_PER_DAY;
    let (year, month, day) = civil_from_days(days as i64);
    let (secs, millis) = (in_day / 1000, in_day % 1000);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A probability as Jaeger keys it in throughput documents and compares it
/// with the one it served: 6 decimals (Go's `FormatFloat(p, 'f', 6, 64)`).
pub fn probability_key(probability: f64) -> String {
    format!("{probability:.6}")
}

/// The `{}` of Go's `map[string]struct{}` (a set) in JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {}

/// How many root spans of one (service, operation) an ingester stored in
/// one interval that were sampled probabilistically, and the probabilities
/// they carried.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    #[serde(rename = "Service")]
    pub service: String,
    #[serde(rename = "Operation")]
    pub operation: String,
    #[serde(rename = "Count")]
    pub count: i64,
    /// `null` when none was seen, as Jaeger writes it.
    #[serde(rename = "Probabilities")]
    pub probabilities: Option<BTreeMap<String, Member>>,
}

/// A throughput document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThroughputDoc {
    pub timestamp: String,
    pub throughputs: Throughput,
}

/// service → operation → value.
pub type ServiceOperationValues = BTreeMap<String, BTreeMap<String, f64>>;

/// The outcome of one calculation: the probability per operation and the
/// weighted QPS it was computed from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbabilitiesAndQps {
    #[serde(rename = "Hostname")]
    pub hostname: String,
    #[serde(rename = "Probabilities")]
    pub probabilities: ServiceOperationValues,
    #[serde(rename = "QPS")]
    pub qps: ServiceOperationValues,
}

/// A probabilities document, also the sampling topic's message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbabilitiesDoc {
    pub timestamp: String,
    pub probabilitiesandqps: ProbabilitiesAndQps,
}

/// The sampling topic's message value for `doc`.
pub fn encode_probabilities(doc: &ProbabilitiesDoc) -> Vec<u8> {
    // Serialising maps of strings and finite floats cannot fail.
    serde_json::to_vec(doc).unwrap_or_default()
}

/// Reads a sampling topic message (or a probabilities document).
pub fn decode_probabilities(bytes: &[u8]) -> Result<ProbabilitiesDoc, serde_json::Error> {
    serde_json::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JAN_2_2024_NOON: u64 = 1_704_196_800_000;

    #[test]
    fn names_the_daily_sampling_index_like_jaeger() {
        assert_eq!(
            sampling_index("", "-", JAN_2_2024_NOON),
            "jaeger-sampling-2024-01-02"
        );
        assert_eq!(
            sampling_index("prod", ".", JAN_2_2024_NOON),
            "prod-jaeger-sampling-2024.01.02"
        );
        assert_eq!(sampling_index_pattern("prod-"), "prod-jaeger-sampling-*");
    }

    #[test]
    fn formats_timestamps_fixed_width() {
        assert_eq!(
            format_timestamp(JAN_2_2024_NOON + 3_723_004),
            "2024-01-02T13:02:03.004Z"
        );
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn probability_keys_have_six_decimals() {
        assert_eq!(probability_key(0.001), "0.001000");
        assert_eq!(probability_key(0.0099999384), "0.010000");
        assert_eq!(probability_key(0.0100009384), "0.010001");
        assert_eq!(probability_key(1.0), "1.000000");
    }

    /// The bodies of Jaeger's own store tests
    /// (internal/storage/v1/elasticsearch/samplingstore/testdata/write_*.json).
    #[test]
    fn reads_jaegers_documents() {
        let throughput: ThroughputDoc = serde_json::from_value(json!({
            "throughputs": {"Count": 10, "Operation": "op", "Probabilities": null, "Service": "my-svc"},
            "timestamp": "2024-02-08T12:00:00Z"
        }))
        .unwrap();
        assert_eq!(throughput.throughputs.service, "my-svc");
        assert_eq!(throughput.throughputs.count, 10);
        assert_eq!(throughput.throughputs.probabilities, None);
        let probabilities = decode_probabilities(
            br#"{"probabilitiesandqps": {"Hostname": "dell11eg843d",
                  "Probabilities": {"new-srv": {"op": 0.1}}, "QPS": {"new-srv": {"op": 4}}},
                 "timestamp": "2024-02-08T12:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(probabilities.probabilitiesandqps.hostname, "dell11eg843d");
        assert_eq!(
            probabilities.probabilitiesandqps.probabilities["new-srv"]["op"],
            0.1
        );
        assert_eq!(probabilities.probabilitiesandqps.qps["new-srv"]["op"], 4.0);
    }

    #[test]
    fn writes_jaegers_field_names() {
        let doc = ThroughputDoc {
            timestamp: format_timestamp(JAN_2_2024_NOON),
            throughputs: Throughput {
                service: "svc".into(),
                operation: "GET".into(),
                count: 3,
                probabilities: Some([(probability_key(0.5), Member {})].into()),
            },
        };
        assert_eq!(
            serde_json::to_value(&doc).unwrap(),
            json!({"timestamp": "2024-01-02T12:00:00.000Z", "throughputs":
                {"Service": "svc", "Operation": "GET", "Count": 3, "Probabilities": {"0.500000": {}}}})
        );
    }

    #[test]
    fn probabilities_message_round_trips() {
        let doc = ProbabilitiesDoc {
            timestamp: format_timestamp(JAN_2_2024_NOON),
            probabilitiesandqps: ProbabilitiesAndQps {
                hostname: "ingester-0".into(),
                probabilities: [("svc".into(), [("GET".into(), 0.05)].into())].into(),
                qps: [("svc".into(), [("GET".into(), 1.25)].into())].into(),
            },
        };
        let bytes = encode_probabilities(&doc);
        assert_eq!(decode_probabilities(&bytes).unwrap(), doc);
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            value["probabilitiesandqps"]["Probabilities"]["svc"]["GET"],
            0.05
        );
        assert!(decode_probabilities(b"{\"timestamp\": 1}").is_err());
    }
}
