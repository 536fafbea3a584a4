//! Dependency documents in Elasticsearch, in the shape jaeger-query reads
//! (`{"timestamp", "dependencies": [{"parent", "child", "callCount",
//! "source"}]}`, found by a range query on `timestamp`), for the daily job
//! and the live path.
//!
//! The live path writes one document per (topic, partition, day) under the
//! id `<date>-<topic>-<partition>` with an extra `ferrotrace` object (which
//! Jaeger ignores) saying which partition it counts and through which
//! offset. Every rewrite is conditional on the version read or last written
//! (`if_seq_no`/`if_primary_term`, or `op_type=create`), so an owner that
//! lost its partition, or a document the daily job took over, is never
//! overwritten with stale counts: the writer hears 409 and reads again.

use elasticsearch::http::Method;
use ferrotrace_format::civil_date::MICROS_PER_DAY;
use ferrotrace_format::jaeger::index::{index_name, read_alias, write_alias, IndexKind};
use serde::Deserialize;
use serde_json::{json, Value};

use super::links::Links;
use super::window::{DayDoc, StoredDay, Version};
use crate::es::admin::{failed, AdminError};
use crate::es::client::EsClient;

/// `source` of every link, as spark-dependencies writes it.
pub const SOURCE: &str = "jaeger";

/// Which dependencies index a day's documents go to and are read from.
#[derive(Debug, Clone)]
pub struct Target {
    pub prefix: String,
    pub date_separator: String,
    /// Write through `jaeger-dependencies-write`, read `jaeger-dependencies-read`.
    pub use_aliases: bool,
}

impl Target {
    /// Where a new document of `day` is written.
    pub fn write_index(&self, day: i64) -> String {
        if self.use_aliases {
            write_alias(IndexKind::Dependencies, &self.prefix)
        } else {
            self.daily(day)
        }
    }

    /// Where the documents of `day` are found.
    pub fn read_index(&self, day: i64) -> String {
        if self.use_aliases {
            read_alias(IndexKind::Dependencies, &self.prefix)
        } else {
            self.daily(day)
        }
    }

    fn daily(&self, day: i64) -> String {
        index_name(
            IndexKind::Dependencies,
            &self.prefix,
            &self.date_separator,
            (day.max(0) as u64) * MICROS_PER_DAY,
        )
    }
}

/// `YYYY-MM-DD` of a day number.
pub fn date_text(day: i64) -> String {
    ferrotrace_format::civil_date::date_string(day, "-")
}

/// The `timestamp` of a day's documents: its midnight, as the daily job writes it.
pub fn day_timestamp(day: i64) -> String {
    format!("{}T00:00:00Z", date_text(day))
}

/// The `dependencies` array of `links`.
pub fn links_json(links: &Links) -> Value {
    Value::Array(
        links
            .iter()
            .map(|((parent, child), count)| {
                json!({"parent": parent, "child": child, "callCount": count, "source": SOURCE})
            })
            .collect(),
    )
}

#[derive(Deserialize)]
pub struct StoredLink {
    parent: String,
    child: String,
    #[serde(rename = "callCount")]
    call_count: u64,
}

/// Sums a `dependencies` array (repeated pairs add up, as jaeger-query's
/// HTTP handler sums them).
pub fn links_from(stored: Vec<StoredLink>) -> Links {
    let mut links = Links::new();
    for link in stored {
        *links.entry((link.parent, link.child)).or_default() += link.call_count;
    }
    links
}

/// The `_id` of a live document.
pub fn live_doc_id(day: i64, topic: &str, partition: i32) -> String {
    format!("{}-{topic}-{partition}", date_text(day))
}

#[derive(Deserialize)]
struct LiveSource {
    #[serde(default)]
    dependencies: Vec<StoredLink>,
    ferrotrace: LiveMeta,
}

#[derive(Deserialize)]
struct LiveMeta {
    #[serde(default)]
    topic: String,
    #[serde(default)]
    partition: i32,
    through: i64,
}

#[derive(Deserialize)]
struct Hit {
    #[serde(rename = "_id")]
    id: String,
    #[serde(rename = "_index")]
    index: String,
    #[serde(rename = "_seq_no")]
    seq_no: u64,
    #[serde(rename = "_primary_term")]
    primary_term: u64,
    #[serde(rename = "_source")]
    source: LiveSource,
}

/// One live document as found.
#[derive(Debug)]
pub struct LiveDoc {
    pub id: String,
    pub topic: String,
    pub partition: i32,
    pub stored: StoredDay,
}

/// The outcome of a conditional write.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    Ok(Version),
    /// The document changed since it was read: read it again.
    Conflict,
}

/// Reads live documents matching `query` in `index` (a missing index has none).
async fn search_live(
    es: &EsClient,
    index: &str,
    query: Value,
    action: &str,
) -> Result<Vec<LiveDoc>, AdminError> {
    let body = json!({"size": 10_000, "seq_no_primary_term": true, "query": query});
    let (status, answer) = es
        .json(
            Method::Post,
            &format!("/{index}/_search"),
            Some(&body),
            &[404],
        )
        .await
        .map_err(failed(action))?;
    if status == 404 {
        return Ok(Vec::new());
    }
    let hits: Vec<Hit> = serde_json::from_value(answer["hits"]["hits"].clone())
        .map_err(|e| AdminError::permanent(action, format!("unexpected answer: {e}")))?;
    Ok(hits
        .into_iter()
        .map(|hit| LiveDoc {
            id: hit.id,
            topic: hit.source.ferrotrace.topic,
            partition: hit.source.ferrotrace.partition,
            stored: StoredDay {
                links: links_from(hit.source.dependencies),
                through: hit.source.ferrotrace.through,
                version: Some(Version {
                    index: hit.index,
                    seq_no: hit.seq_no,
                    primary_term: hit.primary_term,
                }),
            },
        })
        .collect())
}

/// The live document of (`topic`, `partition`, `day`), if any.
pub async fn read_live(
    es: &EsClient,
    target: &Target,
    topic: &str,
    partition: i32,
    day: i64,
) -> Result<Option<StoredDay>, AdminError> {
    let id = live_doc_id(day, topic, partition);
    let index = target.read_index(day);
    let action = format!("reading the live dependencies {id} in {index}");
    let found = search_live(es, &index, json!({"ids": {"values": [id]}}), &action).await?;
    Ok(found.into_iter().next().map(|doc| doc.stored))
}

/// Every live document of `day` (all topics and partitions).
pub async fn read_live_day(
    es: &EsClient,
    target: &Target,
    day: i64,
) -> Result<Vec<LiveDoc>, AdminError> {
    let index = target.read_index(day);
    let timestamp = day_timestamp(day);
    let query = json!({"bool": {"filter": [
        {"exists": {"field": "ferrotrace.through"}},
        {"range": {"timestamp": {"gte": timestamp, "lte": timestamp}}},
    ]}});
    let action = format!(
        "reading the live dependencies of {} in {index}",
        date_text(day)
    );
    search_live(es, &index, query, &action).await
}

/// Rewrites a live document whole, conditional on `doc.version`.
pub async fn write_live(
    es: &EsClient,
    target: &Target,
    topic: &str,
    partition: i32,
    doc: &DayDoc,
) -> Result<Written, AdminError> {
    let id = live_doc_id(doc.day, topic, partition);
    let body = json!({
        "timestamp": day_timestamp(doc.day),
        "dependencies": links_json(&doc.links),
        "ferrotrace": {"topic": topic, "partition": partition, "through": doc.through},
    });
    let (index, condition) = match &doc.version {
        Some(v) => (
            v.index.clone(),
            format!("if_seq_no={}&if_primary_term={}", v.seq_no, v.primary_term),
        ),
        None => (target.write_index(doc.day), "op_type=create".to_owned()),
    };
    let action = format!("writing the live dependencies {id} to {index}");
    let (status, answer) = es
        .json(
            Method::Put,
            &format!("/{index}/_doc/{id}?{condition}"),
            Some(&body),
            &[409],
        )
        .await
        .map_err(failed(action.clone()))?;
    if status == 409 {
        return Ok(Written::Conflict);
    }
    let version = (|| {
        Some(Version {
            index: answer["_index"].as_str()?.to_owned(),
            seq_no: answer["_seq_no"].as_u64()?,
            primary_term: answer["_primary_term"].as_u64()?,
        })
    })()
    .ok_or_else(|| AdminError::permanent(action, format!("unexpected answer: {answer}")))?;
    Ok(Written::Ok(version))
}

/// Empties the live documents of `day`, keeping their offsets, once their
/// counts are in the day's own document (the daily job's, or a
/// compaction's); returns the links they held. A document rewritten
/// meanwhile is read and emptied again.
pub async fn empty_live_day(es: &EsClient, target: &Target, day: i64) -> Result<Links, AdminError> {
    let mut taken = Links::new();
    for _ in 0..10 {
        let docs = read_live_day(es, target, day).await?;
        let mut conflicts = false;
        for doc in docs.into_iter().filter(|d| !d.stored.links.is_empty()) {
            let Some(version) = doc.stored.version.clone() else {
                continue;
            };
            let empty = DayDoc {
                day,
                links: Links::new(),
                through: doc.stored.through,
                version: Some(version),
            };
            match write_live(es, target, &doc.topic, doc.partition, &empty).await? {
                Written::Ok(_) => super::links::add_links(&mut taken, &doc.stored.links),
                Written::Conflict => conflicts = true,
            }
        }
        if !conflicts {
            return Ok(taken);
        }
    }
    Err(AdminError::permanent(
        format!("emptying the live dependencies of {}", date_text(day)),
        "they kept changing: are ingesters still counting this day?".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_ids_are_one_per_topic_partition_and_day() {
        let day = ferrotrace_format::civil_date::parse_date("2026-12-07", "-").unwrap();
        assert_eq!(
            live_doc_id(day, "jaeger-spans", 3),
            "2026-12-07-jaeger-spans-3"
        );
        assert_eq!(day_timestamp(day), "2026-12-07T00:00:00Z");
        let target = Target {
            prefix: "p".into(),
            date_separator: ".".into(),
            use_aliases: false,
        };
        assert_eq!(target.write_index(day), "p-jaeger-dependencies-2026.12.07");
        assert_eq!(target.read_index(day), target.write_index(day));
        let aliases = Target {
            use_aliases: true,
            ..target
        };
        assert_eq!(aliases.write_index(day), "p-jaeger-dependencies-write");
        assert_eq!(aliases.read_index(day), "p-jaeger-dependencies-read");
    }

    #[test]
    fn stored_links_sum_repeated_pairs_as_jaeger_query_does() {
        let stored: Vec<StoredLink> = serde_json::from_value(json!([
            {"parent": "a", "child": "b", "callCount": 2, "source": "jaeger"},
            {"parent": "a", "child": "b", "callCount": 3},
            {"parent": "b", "child": "c", "callCount": 1},
        ]))
        .unwrap();
        let links = links_from(stored);
        assert_eq!(links[&("a".into(), "b".into())], 5);
        let round_trip: Vec<StoredLink> = serde_json::from_value(links_json(&links)).unwrap();
        assert_eq!(links_from(round_trip), links);
    }
}
