//! Index administration for the ingester's jobs (retention, rollover,
//! dependencies): aliases, index creation and deletion, creation dates,
//! stats and the JSON getter, over [`EsClient`].
//!
//! Every call names what it was doing in its error ([`AdminError`]), so a
//! job can stop with one line such as `creating jaeger-span-000002:
//! elasticsearch refused: …`. Nothing here retries: a job is re-run by its
//! CronJob, and each step is written so that a re-run finishes what an
//! interrupted one started.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use elasticsearch::http::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{method_name, snippet, EsClient, EsError};

/// A failed administration call: what was being done, and why it failed.
#[derive(Debug, thiserror::Error)]
#[error("{action}: {source}")]
pub struct AdminError {
    pub action: String,
    #[source]
    pub source: EsError,
}

impl AdminError {
    /// A permanent failure of `action` with this message.
    pub fn permanent(action: impl Into<String>, message: String) -> Self {
        AdminError {
            action: action.into(),
            source: EsError::Permanent(message),
        }
    }
}

/// Maps an [`EsError`] to an [`AdminError`] naming `action`.
pub fn failed(action: impl Into<String>) -> impl FnOnce(EsError) -> AdminError {
    let action = action.into();
    move |source| AdminError { action, source }
}

/// Sends one request; a status other than 2xx (or `also_ok`) is an error
/// naming `action`.
async fn send(
    es: &EsClient,
    method: Method,
    path: &str,
    body: Option<&Value>,
    action: &str,
    also_ok: &[u16],
) -> Result<(u16, Vec<u8>), AdminError> {
    let body = body.map(|b| Bytes::from(b.to_string()));
    let (status, answer) = es
        .request(method, path, "application/json", body)
        .await
        .map_err(failed(action))?;
    if !status.is_success() && !also_ok.contains(&status.as_u16()) {
        return Err(AdminError::permanent(
            action,
            format!(
                "{} {path} answered {status}: {}",
                method_name(method),
                snippet(&answer)
            ),
        ));
    }
    Ok((status.as_u16(), answer.to_vec()))
}

/// `GET path` parsed into `T`; `None` when the answer is empty or its status
/// is one of `also_ok` (e.g. 404 for something that may not exist).
async fn get_optional<T: serde::de::DeserializeOwned>(
    es: &EsClient,
    path: &str,
    action: &str,
    also_ok: &[u16],
) -> Result<Option<T>, AdminError> {
    let (_, answer) = es
        .json_as(Method::Get, path, None, also_ok)
        .await
        .map_err(failed(action))?;
    Ok(answer)
}

/// `GET path` parsed into `T`; any status but 2xx, and an empty answer, is
/// an error naming `action`.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    es: &EsClient,
    path: &str,
    action: &str,
) -> Result<T, AdminError> {
    get_optional(es, path, action, &[])
        .await?
        .ok_or_else(|| AdminError::permanent(action, format!("GET {path} answered nothing")))
}

#[derive(Deserialize)]
struct IndexAliases {
    #[serde(default)]
    aliases: HashMap<String, Value>,
}

/// The aliases of every index matching `target` (an index, alias or
/// pattern), by index; an index without aliases may be missing.
pub async fn aliases(
    es: &EsClient,
    target: &str,
) -> Result<HashMap<String, BTreeSet<String>>, AdminError> {
    let path = format!("/{target}/_alias");
    let action = format!("looking up the aliases of {target}");
    let indices: HashMap<String, IndexAliases> = get_optional(es, &path, &action, &[])
        .await?
        .unwrap_or_default();
    Ok(indices
        .into_iter()
        .map(|(index, a)| (index, a.aliases.into_keys().collect()))
        .collect())
}

/// The indices behind `alias`; none when the alias does not exist.
pub async fn aliased(es: &EsClient, alias: &str) -> Result<BTreeSet<String>, AdminError> {
    let path = format!("/_alias/{alias}");
    let action = format!("looking up alias {alias}");
    let Some(indices) =
        get_optional::<HashMap<String, IndexAliases>>(es, &path, &action, &[404]).await?
    else {
        return Ok(BTreeSet::new());
    };
    Ok(indices
        .into_iter()
        .filter(|(_, a)| a.aliases.contains_key(alias))
        .map(|(index, _)| index)
        .collect())
}

/// `{"add"|"remove": {"index": …, "alias": …}}`, one action of
/// [`update_aliases`].
pub fn alias_action(verb: &str, index: &str, alias: &str) -> Value {
    json!({ verb: { "index": index, "alias": alias } })
}

/// One atomic `POST /_aliases`.
pub async fn update_aliases(
    es: &EsClient,
    actions: &[Value],
    action: &str,
) -> Result<(), AdminError> {
    let body = json!({ "actions": actions });
    send(es, Method::Post, "/_aliases", Some(&body), action, &[]).await?;
    Ok(())
}

/// Whether `HEAD /<name>` finds an index (or an alias).
pub async fn index_exists(es: &EsClient, name: &str) -> Result<bool, AdminError> {
    let path = format!("/{name}");
    let action = format!("checking whether index {name} exists");
    let (status, _) = send(es, Method::Head, &path, None, &action, &[404]).await?;
    Ok(status != 404)
}

/// `PUT /<index>` (the templates give it settings and mappings); `false`
/// when it already exists.
pub async fn create_index(es: &EsClient, index: &str) -> Result<bool, AdminError> {
    let path = format!("/{index}");
    let action = format!("creating {index}");
    let (status, answer) = send(es, Method::Put, &path, Some(&json!({})), &action, &[400]).await?;
    if status == 400 {
        let error: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        if error["error"]["type"] == "resource_already_exists_exception" {
            return Ok(false);
        }
        return Err(AdminError::permanent(
            action,
            format!("PUT {path} answered 400 Bad Request: {}", snippet(&answer)),
        ));
    }
    tracing::info!(index, "index created");
    Ok(true)
}

/// `DELETE /<index>`; an index already gone (404) is not an error.
pub async fn delete_index(es: &EsClient, index: &str) -> Result<(), AdminError> {
    let action = format!("deleting {index}");
    let path = format!("/{index}");
    let (status, _) = send(es, Method::Delete, &path, None, &action, &[404]).await?;
    if status == 404 {
        tracing::warn!(index, "index already gone");
        return Ok(());
    }
    tracing::info!(index, "index deleted");
    Ok(())
}

/// Creation dates (ms since the epoch) of the indices behind `target` (an
/// alias or a pattern); none when nothing matches.
pub async fn creation_dates(
    es: &EsClient,
    target: &str,
) -> Result<BTreeMap<String, i64>, AdminError> {
    let path = format!("/{target}/_settings/index.creation_date");
    let action = format!("reading the creation dates of the indices in {target}");
    let Some(indices) = get_optional::<HashMap<String, Value>>(es, &path, &action, &[404]).await?
    else {
        return Ok(BTreeMap::new());
    };
    indices
        .into_iter()
        .map(|(index, settings)| {
            let created = creation_date(&settings).ok_or_else(|| {
                AdminError::permanent(
                    action.clone(),
                    format!("GET {path}: no index.creation_date for {index}: {settings}"),
                )
            })?;
            Ok((index, created))
        })
        .collect()
}

/// `settings.index.creation_date`, a string of ms in Elasticsearch's answers.
fn creation_date(settings: &Value) -> Option<i64> {
    let date = &settings["settings"]["index"]["creation_date"];
    date.as_i64()
        .or_else(|| date.as_str().and_then(|s| s.parse().ok()))
}

/// What an index is measured by. Sizes and document counts are of primary
/// shards only and exclude documents not yet refreshed, as in
/// Elasticsearch's own rollover conditions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub age: Duration,
    pub docs: u64,
    pub primary_bytes: u64,
    pub largest_primary_shard_bytes: u64,
    pub largest_primary_shard_docs: u64,
}

#[derive(Deserialize)]
struct StatsAnswer {
    indices: HashMap<String, IndexStatsAnswer>,
}

#[derive(Deserialize)]
struct IndexStatsAnswer {
    primaries: ShardStats,
    #[serde(default)]
    shards: HashMap<String, Vec<ShardCopy>>,
}

#[derive(Deserialize, Default)]
struct ShardStats {
    #[serde(default)]
    docs: DocsStats,
    #[serde(default)]
    store: StoreStats,
}

#[derive(Deserialize, Default)]
struct DocsStats {
    #[serde(default)]
    count: u64,
}

#[derive(Deserialize, Default)]
struct StoreStats {
    #[serde(default)]
    size_in_bytes: u64,
}

#[derive(Deserialize)]
struct ShardCopy {
    routing: Routing,
    #[serde(flatten)]
    stats: ShardStats,
}

#[derive(Deserialize)]
struct Routing {
    primary: bool,
}

/// Age, documents and sizes of `index`, from its creation date and its
/// primary shards' stats; `None` when it has no creation date (it does not
/// exist).
pub async fn index_stats(es: &EsClient, index: &str) -> Result<Option<IndexStats>, AdminError> {
    let Some(created) = creation_dates(es, index).await?.remove(index) else {
        return Ok(None);
    };
    let path = format!("/{index}/_stats/docs,store?level=shards");
    let action = format!("reading the stats of {index}");
    let mut stats: StatsAnswer = get_json(es, &path, &action).await?;
    let Some(index_stats) = stats.indices.remove(index) else {
        return Err(AdminError::permanent(
            action,
            format!("GET {path}: no stats for {index}"),
        ));
    };
    let age = u64::try_from(now_millis() - created).unwrap_or(0);
    Ok(Some(stats_of(Duration::from_millis(age), &index_stats)))
}

fn stats_of(age: Duration, index: &IndexStatsAnswer) -> IndexStats {
    let primaries = index
        .shards
        .values()
        .flatten()
        .filter(|copy| copy.routing.primary);
    let (mut largest_bytes, mut largest_docs) = (None, None);
    for shard in primaries {
        largest_bytes = largest_bytes.max(Some(shard.stats.store.size_in_bytes));
        largest_docs = largest_docs.max(Some(shard.stats.docs.count));
    }
    // Without per-shard stats the whole index is an upper bound of its
    // largest shard.
    IndexStats {
        age,
        docs: index.primaries.docs.count,
        primary_bytes: index.primaries.store.size_in_bytes,
        largest_primary_shard_bytes: largest_bytes.unwrap_or(index.primaries.store.size_in_bytes),
        largest_primary_shard_docs: largest_docs.unwrap_or(index.primaries.docs.count),
    }
}

/// Now, in ms since the epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_take_the_largest_primary_shard_and_ignore_replicas() {
        let answer: StatsAnswer = serde_json::from_value(json!({"indices": {"i": {
            "primaries": {"docs": {"count": 5}, "store": {"size_in_bytes": 900}},
            "shards": {
                "0": [
                    {"routing": {"primary": true}, "docs": {"count": 2}, "store": {"size_in_bytes": 300}},
                    {"routing": {"primary": false}, "docs": {"count": 9}, "store": {"size_in_bytes": 5000}}
                ],
                "1": [{"routing": {"primary": true}, "docs": {"count": 3}, "store": {"size_in_bytes": 600}}]
            }
        }}}))
        .unwrap();
        let stats = stats_of(Duration::from_secs(1), &answer.indices["i"]);
        assert_eq!(
            stats,
            IndexStats {
                age: Duration::from_secs(1),
                docs: 5,
                primary_bytes: 900,
                largest_primary_shard_bytes: 600,
                largest_primary_shard_docs: 3,
            }
        );
        let no_shards: StatsAnswer = serde_json::from_value(
            json!({"indices": {"i": {"primaries": {"docs": {"count": 5}, "store": {"size_in_bytes": 900}}}}}),
        )
        .unwrap();
        let stats = stats_of(Duration::ZERO, &no_shards.indices["i"]);
        assert_eq!(
            (
                stats.largest_primary_shard_bytes,
                stats.largest_primary_shard_docs
            ),
            (900, 5)
        );
    }
}
