//! Index retention, like Jaeger's es-index-cleaner: delete the daily indices
//! `[prefix-]jaeger-{span,service,dependencies,sampling}-YYYY-MM-DD` dated
//! before today (UTC) minus `--keep-days`.
//!
//! Only names that parse exactly as one of those four, under the configured
//! prefix and date separator, are candidates: foreign indices, rollover
//! indices (`…-000001`) and malformed dates are left alone. An index behind an
//! alias ending in `-write` is never deleted, whatever its date, because the
//! ingester may still be writing to it (rollover mode).
//!
//! With `--rollover` ([`run_rollover`]) it deletes instead the numbered
//! rollover indices `…-000001`, `-000002`, … of each set whose newest document
//! is older than that cutoff (see [`rollover_plan`]). Jaeger's es-index-cleaner
//! goes by an index's creation date; an index created long ago may still hold
//! yesterday's spans when rollovers are rare, so this goes by the newest span
//! (`startTimeMillis`) and dependencies document (`timestamp`). Service
//! documents carry no time: a service index counts as last written when the
//! next index of its set was created, the moment the write alias left it.

use std::collections::HashSet;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use elasticsearch::http::Method;
use ferrotrace_format::civil_date::{date_string, parse_date};
use ferrotrace_format::jaeger::index::{index_base, push_prefix, IndexKind};
use ferrotrace_format::jaeger::sampling_store::SAMPLING_INDEX_BASE;
use serde::Deserialize;

use crate::es::admin::{
    aliased, aliases, creation_dates, delete_index, failed, get_json, AdminError,
};
use crate::es::client::EsClient;
use crate::jobs::rollover::{format_utc, IndexSet};

const KINDS: [IndexKind; 3] = [IndexKind::Span, IndexKind::Service, IndexKind::Dependencies];

/// What to delete: the index naming flags and the age limit.
#[derive(Debug, Clone)]
pub struct RetentionOptions {
    pub prefix: String,
    pub date_separator: String,
    pub keep_days: u32,
    pub dry_run: bool,
}

/// Why a retention run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Es(#[from] AdminError),
    #[error("writing the report: {0}")]
    Output(#[from] std::io::Error),
}

/// What a run found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Deleted indices (with `--dry-run`: the ones that would be).
    pub deleted: Vec<String>,
    /// Old enough, but kept because a `-write` alias points at them.
    pub kept_for_alias: Vec<String>,
    /// Daily indices young enough to keep.
    pub kept: usize,
}

/// An index as listed by Elasticsearch, with the aliases pointing at it.
#[derive(Debug, Clone)]
pub struct ListedIndex {
    pub name: String,
    pub aliases: Vec<String>,
}

/// Lists the daily indices, deletes the old ones one by one and writes to
/// `out` one line per index (`deleted <index>`, or `would delete <index>` in
/// a dry run; `kept <index> …` for a write-aliased one) and a `summary` line.
pub async fn run(
    es: &EsClient,
    options: &RetentionOptions,
    out: &mut impl Write,
) -> Result<Summary, RetentionError> {
    let indices = list(es, &options.prefix).await?;
    let today = today_utc();
    let summary = plan(&indices, options, today);
    let verb = if options.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for index in &summary.kept_for_alias {
        writeln!(out, "kept {index} (behind a -write alias)")?;
    }
    for index in &summary.deleted {
        if !options.dry_run {
            delete_index(es, index).await?;
        }
        writeln!(out, "{verb} {index}")?;
    }
    let cutoff = date_string(today - i64::from(options.keep_days), "-");
    writeln!(
        out,
        "summary{}: {verb} {} indices dated before {cutoff}, kept {} ({} behind a -write alias)",
        if options.dry_run { " (dry run)" } else { "" },
        summary.deleted.len(),
        summary.kept + summary.kept_for_alias.len(),
        summary.kept_for_alias.len(),
    )?;
    Ok(summary)
}

/// `--rollover`: for each index set, deletes the numbered indices whose
/// newest document is dated before today (UTC) minus `--keep-days`, never the
/// write index nor one numbered after it, and writes one line per index it
/// deletes (or would, in a dry run), per write index kept and per set it
/// leaves alone, then a `summary` line.
pub async fn run_rollover(
    es: &EsClient,
    options: &RetentionOptions,
    out: &mut impl Write,
) -> Result<Summary, RetentionError> {
    let cutoff = (today_utc() - i64::from(options.keep_days)) * MILLIS_PER_DAY;
    let verb = if options.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut summary = Summary::default();
    for kind in KINDS {
        let set = IndexSet::new(kind, &options.prefix);
        let write = set.write_alias();
        let writing = aliased(es, &write).await?;
        let (1, Some(write_index)) = (writing.len(), writing.first()) else {
            writeln!(
                out,
                "skipped {}: alias {write} points at {} indices, not one",
                set.pattern(),
                writing.len()
            )?;
            continue;
        };
        let reading = aliased(es, &set.read_alias()).await?;
        let mut indices = Vec::new();
        for (name, created) in creation_dates(es, &set.pattern()).await? {
            let Some(number) = set.number_of(&name) else {
                continue;
            };
            indices.push(RolloverIndex {
                in_read_alias: reading.contains(&name),
                name,
                number,
                created,
                newest: None,
            });
        }
        let Some(write_number) = set.number_of(write_index) else {
            writeln!(
                out,
                "skipped {}: write index {write_index} is not numbered",
                set.pattern()
            )?;
            continue;
        };
        if let Some(field) = time_field(kind) {
            for index in indices.iter_mut().filter(|i| i.number < write_number) {
                index.newest = newest(es, &index.name, field).await?;
            }
        }
        let plan = rollover_plan(&mut indices, write_index, cutoff);
        writeln!(out, "kept {write_index} (behind {write})")?;
        if let Some(last) = &plan.kept_for_read_alias {
            writeln!(
                out,
                "kept {last} (the last index behind {})",
                set.read_alias()
            )?;
        }
        for index in &plan.deleted {
            if !options.dry_run {
                delete_index(es, &index.name).await?;
            }
            let (what, when) = match index.newest {
                Some(newest) => ("newest document", newest),
                None => ("last written", index.last_written.unwrap_or(index.created)),
            };
            writeln!(out, "{verb} {} ({what} {})", index.name, format_utc(when))?;
            summary.deleted.push(index.name.clone());
        }
        summary.kept_for_alias.push(write_index.clone());
        summary.kept += plan.kept + usize::from(plan.kept_for_read_alias.is_some());
    }
    writeln!(
        out,
        "summary{}: {verb} {} rollover indices dated before {}, kept {} ({} behind a -write alias)",
        if options.dry_run { " (dry run)" } else { "" },
        summary.deleted.len(),
        format_utc(cutoff),
        summary.kept + summary.kept_for_alias.len(),
        summary.kept_for_alias.len(),
    )?;
    Ok(summary)
}

const MILLIS_PER_DAY: i64 = 86_400_000;

/// The document field holding a time, per kind; service documents have none.
fn time_field(kind: IndexKind) -> Option<&'static str> {
    match kind {
        IndexKind::Span => Some("startTimeMillis"),
        IndexKind::Dependencies => Some("timestamp"),
        _ => None,
    }
}

/// One numbered index of a rollover set, as [`rollover_plan`] weighs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloverIndex {
    pub name: String,
    pub number: u64,
    /// Creation date, ms since the epoch.
    pub created: i64,
    /// The newest document's time (ms), when the kind has a time field and
    /// the index holds a document.
    pub newest: Option<i64>,
    pub in_read_alias: bool,
}

/// A planned deletion: the index and when it last took a write (the next
/// index's creation date).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub name: String,
    pub newest: Option<i64>,
    pub created: i64,
    pub last_written: Option<i64>,
}

/// What [`rollover_plan`] decided for one set.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RolloverPlan {
    /// Oldest first.
    pub deleted: Vec<Deletion>,
    /// Old enough, kept because deleting it would empty the read alias.
    pub kept_for_read_alias: Option<String>,
    /// Numbered indices kept besides the write index.
    pub kept: usize,
}

/// Decides which numbered indices of one set go, `cutoff` in ms since the
/// epoch. Only indices numbered below the write index are candidates (one
/// above it is the next write index a rollover left half made). Each is
/// dated by its newest document or, without one (empty, or service), by when
/// the next index was created: the write alias left it then. When every
/// index of the read alias would go (the write index taken out of it by
/// hand), the newest of them stays, so queries still find an index.
pub fn rollover_plan(
    indices: &mut [RolloverIndex],
    write_index: &str,
    cutoff: i64,
) -> RolloverPlan {
    indices.sort_by_key(|i| i.number);
    let mut plan = RolloverPlan::default();
    let write_number = indices
        .iter()
        .find(|i| i.name == write_index)
        .map(|i| i.number);
    for (position, index) in indices.iter().enumerate() {
        if index.name == write_index {
            continue;
        }
        let next_created = indices.get(position + 1).map(|next| next.created);
        let older_than_write = write_number.is_some_and(|w| index.number < w);
        let dated = index.newest.or(next_created);
        match dated {
            Some(time) if older_than_write && time < cutoff => plan.deleted.push(Deletion {
                name: index.name.clone(),
                newest: index.newest,
                created: index.created,
                last_written: next_created,
            }),
            _ => plan.kept += 1,
        }
    }
    let reading: Vec<&RolloverIndex> = indices.iter().filter(|i| i.in_read_alias).collect();
    let all_read_deleted = !reading.is_empty()
        && reading
            .iter()
            .all(|r| plan.deleted.iter().any(|d| d.name == r.name));
    if all_read_deleted {
        if let Some(last) = reading.last() {
            plan.deleted.retain(|d| d.name != last.name);
            plan.kept_for_read_alias = Some(last.name.clone());
        }
    }
    plan
}

#[derive(Deserialize)]
struct NewestAnswer {
    #[serde(default)]
    aggregations: Option<NewestAggregations>,
}

#[derive(Deserialize)]
struct NewestAggregations {
    newest: NewestValue,
}

#[derive(Deserialize)]
struct NewestValue {
    value: Option<f64>,
}

/// The largest `field` in `index` (ms since the epoch, as a `max`
/// aggregation gives a date); `None` when the index holds no such document
/// or the field is not a date or number there (a 400).
async fn newest(es: &EsClient, index: &str, field: &str) -> Result<Option<i64>, RetentionError> {
    let path = format!("/{index}/_search");
    let body = serde_json::json!({
        "size": 0,
        "track_total_hits": false,
        "aggs": {"newest": {"max": {"field": field}}},
    });
    let (status, answer) = es
        .json_as::<NewestAnswer>(Method::Post, &path, Some(&body), &[400])
        .await
        .map_err(failed(format!("reading the newest {field} of {index}")))?;
    if status == 400 {
        tracing::warn!(
            index,
            field,
            "no max of the time field, dating the index by its successor"
        );
        return Ok(None);
    }
    Ok(answer
        .and_then(|a| a.aggregations)
        .and_then(|a| a.newest.value)
        .map(|v| v as i64))
}

/// Decides which listed indices go, for a given `today` (days since the
/// epoch, UTC). Deleted names come out sorted, oldest first.
pub fn plan(indices: &[ListedIndex], options: &RetentionOptions, today: i64) -> Summary {
    let cutoff = today - i64::from(options.keep_days);
    let mut old = Vec::new();
    let mut summary = Summary::default();
    for index in indices {
        let Some(day) = retained_day(&index.name, &options.prefix, &options.date_separator) else {
            continue;
        };
        if day >= cutoff {
            summary.kept += 1;
        } else if index.aliases.iter().any(|a| a.ends_with("-write")) {
            summary.kept_for_alias.push(index.name.clone());
        } else {
            old.push((day, index.name.clone()));
        }
    }
    old.sort();
    summary.deleted = old.into_iter().map(|(_, name)| name).collect();
    summary.kept_for_alias.sort();
    summary
}

/// The kind and day (since the epoch) of a daily index name under `prefix`;
/// `None` for any other name, including impossible dates.
pub fn parse_index(name: &str, prefix: &str, separator: &str) -> Option<(IndexKind, i64)> {
    KINDS.into_iter().find_map(|kind| {
        let date = name.strip_prefix(index_base(kind, prefix).as_str())?;
        Some((kind, parse_date(date, separator)?))
    })
}

/// The day of a daily index a run may delete: a span, service or
/// dependencies index ([`parse_index`]), or adaptive sampling's
/// `[prefix-]jaeger-sampling-YYYY-MM-DD` (Jaeger's es-index-cleaner deletes
/// those too).
fn retained_day(name: &str, prefix: &str, separator: &str) -> Option<i64> {
    if let Some((_, day)) = parse_index(name, prefix, separator) {
        return Some(day);
    }
    let mut sampling = String::new();
    push_prefix(&mut sampling, prefix);
    sampling.push_str(SAMPLING_INDEX_BASE);
    parse_date(name.strip_prefix(sampling.as_str())?, separator)
}

/// Today's date in UTC as days since the epoch.
pub fn today_utc() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (seconds / 86_400) as i64
}

/// `[prefix-]jaeger-*`: every index a retention run may look at.
pub fn index_pattern(prefix: &str) -> String {
    let mut pattern = String::new();
    push_prefix(&mut pattern, prefix);
    pattern.push_str("jaeger-*");
    pattern
}

#[derive(Deserialize)]
struct CatIndex {
    index: String,
}

/// The indices matching the prefix's pattern, with their aliases: `_cat`
/// lists them (an index without aliases may be missing from `_alias`).
async fn list(es: &EsClient, prefix: &str) -> Result<Vec<ListedIndex>, RetentionError> {
    let pattern = index_pattern(prefix);
    let cat: Vec<CatIndex> = get_json(
        es,
        &format!("/_cat/indices/{pattern}?format=json&h=index"),
        "listing indices",
    )
    .await?;
    let mut by_index = aliases(es, &pattern).await?;
    let names: HashSet<String> = cat.into_iter().map(|c| c.index).collect();
    Ok(names
        .into_iter()
        .map(|name| ListedIndex {
            aliases: by_index
                .remove(&name)
                .map(|a| a.into_iter().collect())
                .unwrap_or_default(),
            name,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(prefix: &str, separator: &str, keep_days: u32) -> RetentionOptions {
        RetentionOptions {
            prefix: prefix.into(),
            date_separator: separator.into(),
            keep_days,
            dry_run: false,
        }
    }

    fn day(text: &str) -> i64 {
        parse_date(text, "-").unwrap()
    }

    #[test]
    fn index_names_parse_under_their_prefix_and_separator_only() {
        let d = day("2026-11-20");
        assert_eq!(
            parse_index("jaeger-span-2026-11-20", "", "-"),
            Some((IndexKind::Span, d))
        );
        assert_eq!(
            parse_index("prod-jaeger-service-2026.11.20", "prod", "."),
            Some((IndexKind::Service, d))
        );
        assert_eq!(
            parse_index("prod-jaeger-dependencies-2026-11-20", "prod-", "-"),
            Some((IndexKind::Dependencies, d))
        );
        for (name, prefix) in [
            ("prod-jaeger-span-2026-11-20", ""),
            ("jaeger-span-2026-11-20", "prod"),
            ("dev-jaeger-span-2026-11-20", "prod"),
            ("jaeger-span-000001", ""),
            ("jaeger-span-write", ""),
            ("jaeger-sampling-2026-11-20", ""),
            ("my-jaeger-span-2026-11-20-copy", "my"),
            ("jaeger-span-2026.11.20", ""),
            ("other", ""),
        ] {
            assert_eq!(
                parse_index(name, prefix, "-"),
                None,
                "{name} under {prefix:?}"
            );
        }
    }

    #[test]
    fn pattern_covers_exactly_the_prefix() {
        assert_eq!(index_pattern(""), "jaeger-*");
        assert_eq!(index_pattern("prod"), "prod-jaeger-*");
        assert_eq!(index_pattern("prod-"), "prod-jaeger-*");
    }

    fn listed(name: &str, aliases: &[&str]) -> ListedIndex {
        ListedIndex {
            name: name.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn keeps_the_cutoff_day_and_deletes_older_ones_oldest_first() {
        let today = day("2026-11-26");
        let indices = [
            listed("p-jaeger-span-2026-11-26", &[]),
            listed("p-jaeger-span-2026-11-23", &[]),
            listed("p-jaeger-span-2026-11-22", &[]),
            listed("p-jaeger-service-2026-11-22", &["p-jaeger-service-read"]),
            listed("p-jaeger-dependencies-2026-10-01", &[]),
            listed("p-jaeger-sampling-2026-11-20", &[]),
            listed("p-jaeger-sampling-2026-11-24", &[]),
            listed("jaeger-sampling-2020-01-01", &[]),
            listed("p-jaeger-span-2026-11-01", &["p-jaeger-span-write"]),
            listed("p-jaeger-span-000001", &["p-jaeger-span-write"]),
            listed("other-2020-01-01", &[]),
            listed("jaeger-span-2020-01-01", &[]),
        ];
        let summary = plan(&indices, &options("p", "-", 3), today);
        assert_eq!(
            summary.deleted,
            [
                "p-jaeger-dependencies-2026-10-01",
                "p-jaeger-sampling-2026-11-20",
                "p-jaeger-service-2026-11-22",
                "p-jaeger-span-2026-11-22",
            ]
        );
        assert_eq!(summary.kept_for_alias, ["p-jaeger-span-2026-11-01"]);
        assert_eq!(summary.kept, 3);
    }

    #[test]
    fn keep_zero_days_deletes_everything_before_today() {
        let today = day("2026-03-01");
        let indices = [
            listed("jaeger-span-2026-03-01", &[]),
            listed("jaeger-span-2026-02-28", &[]),
            listed("jaeger-span-2026-03-02", &[]),
        ];
        let summary = plan(&indices, &options("", "-", 0), today);
        assert_eq!(summary.deleted, ["jaeger-span-2026-02-28"]);
        assert_eq!(summary.kept, 2);
    }

    fn numbered(number: u64, created: i64, newest: Option<i64>, read: bool) -> RolloverIndex {
        RolloverIndex {
            name: format!("jaeger-span-{number:06}"),
            number,
            created,
            newest,
            in_read_alias: read,
        }
    }

    fn deleted(plan: &RolloverPlan) -> Vec<&str> {
        plan.deleted.iter().map(|d| d.name.as_str()).collect()
    }

    #[test]
    fn rollover_indices_go_by_their_newest_document_not_their_creation() {
        // Created long ago but holding a recent span: kept.
        let mut indices = [
            numbered(3, 300, None, true),
            numbered(1, 100, Some(150), true),
            numbered(2, 200, Some(1_000), true),
        ];
        let plan = rollover_plan(&mut indices, "jaeger-span-000003", 500);
        assert_eq!(deleted(&plan), ["jaeger-span-000001"]);
        assert_eq!(plan.kept, 1);
        assert_eq!(plan.deleted[0].last_written, Some(200));
    }

    #[test]
    fn without_a_time_an_index_counts_as_written_until_the_next_was_created() {
        let mut indices = [
            numbered(1, 100, None, true),
            numbered(2, 200, None, true),
            numbered(3, 600, None, true),
            numbered(4, 700, None, true),
        ];
        let plan = rollover_plan(&mut indices, "jaeger-span-000004", 500);
        // 000002 took writes until 000003 was created at 600.
        assert_eq!(deleted(&plan), ["jaeger-span-000001"]);
        assert_eq!(plan.kept, 2);
    }

    #[test]
    fn never_the_write_index_nor_one_after_it() {
        let mut indices = [
            numbered(1, 100, Some(100), true),
            numbered(2, 200, Some(100), true),
            numbered(3, 300, None, false),
        ];
        let plan = rollover_plan(&mut indices, "jaeger-span-000002", 10_000);
        assert_eq!(deleted(&plan), ["jaeger-span-000001"]);
        assert_eq!(plan.kept, 1);
    }

    #[test]
    fn the_last_index_behind_the_read_alias_stays() {
        // The write index was taken out of the read alias by hand.
        let mut indices = [
            numbered(1, 100, Some(100), true),
            numbered(2, 200, Some(200), true),
            numbered(3, 300, Some(300), false),
        ];
        let plan = rollover_plan(&mut indices, "jaeger-span-000003", 10_000);
        assert_eq!(deleted(&plan), ["jaeger-span-000001"]);
        assert_eq!(
            plan.kept_for_read_alias.as_deref(),
            Some("jaeger-span-000002")
        );
    }
}
