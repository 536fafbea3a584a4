//! Adaptive sampling's Elasticsearch store: the `[prefix-]jaeger-sampling-*`
//! daily indices, with Jaeger's documents (see
//! `ferrotrace_format::jaeger::sampling_store`).
//!
//! Every ingester writes its throughput there each interval; the leader
//! reads everyone's back by timestamp range, writes each calculation, and a
//! new leader reads the newest calculation to continue from it.

use elasticsearch::http::Method;
use ferrotrace_format::jaeger::sampling_store::{
    format_timestamp, sampling_index, sampling_index_pattern, ProbabilitiesDoc, Throughput,
    ThroughputDoc,
};
use serde::Deserialize;
use serde_json::json;

use crate::es::client::{EsClient, EsError};

/// Documents read per search (Jaeger's `es.max-doc-count` default).
const MAX_DOCS: usize = 10_000;

/// Where the sampling documents go.
#[derive(Clone)]
pub struct SamplingStore {
    es: EsClient,
    prefix: String,
    date_separator: String,
}

#[derive(Deserialize)]
struct SearchResponse<T> {
    hits: Hits<T>,
}

#[derive(Deserialize)]
struct Hits<T> {
    hits: Vec<Hit<T>>,
}

#[derive(Deserialize)]
struct Hit<T> {
    #[serde(rename = "_source")]
    source: T,
}

impl SamplingStore {
    pub fn new(es: EsClient, prefix: &str, date_separator: &str) -> Self {
        Self {
            es,
            prefix: prefix.to_owned(),
            date_separator: date_separator.to_owned(),
        }
    }

    /// Writes one throughput document per operation, stamped `now_millis`.
    pub async fn write_throughput(
        &self,
        throughput: Vec<Throughput>,
        now_millis: u64,
    ) -> Result<(), EsError> {
        if throughput.is_empty() {
            return Ok(());
        }
        let timestamp = format_timestamp(now_millis);
        let docs = throughput.into_iter().map(|throughputs| ThroughputDoc {
            timestamp: timestamp.clone(),
            throughputs,
        });
        let docs: Vec<serde_json::Value> = docs.map(|d| json!(d)).collect();
        self.bulk(&docs, now_millis).await
    }

    /// Writes one calculation, stamped `now_millis`.
    pub async fn write_probabilities(
        &self,
        doc: &ProbabilitiesDoc,
        now_millis: u64,
    ) -> Result<(), EsError> {
        self.bulk(&[json!(doc)], now_millis).await
    }

    async fn bulk(&self, docs: &[serde_json::Value], now_millis: u64) -> Result<(), EsError> {
        let index = sampling_index(&self.prefix, &self.date_separator, now_millis);
        let action = json!({"index": {"_index": index}}).to_string();
        let mut body = String::new();
        for doc in docs {
            body.push_str(&action);
            body.push('\n');
            body.push_str(&doc.to_string());
            body.push('\n');
        }
        let (status, answer) = self
            .es
            .request(
                Method::Post,
                "/_bulk",
                "application/x-ndjson",
                Some(body.into()),
            )
            .await?;
        let parsed: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        if !status.is_success() || parsed["errors"].as_bool() != Some(false) {
            let first_error = parsed["items"]
                .as_array()
                .and_then(|items| items.iter().find_map(|i| i["index"].get("error")))
                .map_or_else(
                    || String::from_utf8_lossy(&answer).chars().take(300).collect(),
                    |e| e.to_string(),
                );
            return Err(EsError::Permanent(format!(
                "writing sampling documents to {index}: {status} {first_error}"
            )));
        }
        Ok(())
    }

    /// The throughput documents stamped in `(start, end]`, from every ingester.
    pub async fn read_throughput(
        &self,
        start_millis: u64,
        end_millis: u64,
    ) -> Result<Vec<Throughput>, EsError> {
        let query = json!({
            "size": MAX_DOCS,
            "query": {"bool": {"filter": [
                {"exists": {"field": "throughputs.Service"}},
                {"range": {"timestamp": {
                    "gt": format_timestamp(start_millis),
                    "lte": format_timestamp(end_millis),
                }}},
            ]}},
        });
        let hits: Vec<Hit<ThroughputDoc>> = self.search(&query).await?;
        Ok(hits.into_iter().map(|h| h.source.throughputs).collect())
    }

    /// The newest calculation, if any.
    pub async fn latest_probabilities(&self) -> Result<Option<ProbabilitiesDoc>, EsError> {
        let query = json!({
            "size": 1,
            "query": {"exists": {"field": "probabilitiesandqps.Hostname"}},
            "sort": [{"timestamp": {"order": "desc"}}],
        });
        let hits: Vec<Hit<ProbabilitiesDoc>> = self.search(&query).await?;
        Ok(hits.into_iter().next().map(|h| h.source))
    }

    async fn search<T: serde::de::DeserializeOwned>(
        &self,
        query: &serde_json::Value,
    ) -> Result<Vec<Hit<T>>, EsError> {
        let path = format!(
            "/{}/_search?ignore_unavailable=true&allow_no_indices=true",
            sampling_index_pattern(&self.prefix)
        );
        let (_, answer) = self
            .es
            .json_as::<SearchResponse<T>>(Method::Post, &path, Some(query), &[404])
            .await?;
        Ok(answer.map(|a| a.hits.hits).unwrap_or_default())
    }
}
