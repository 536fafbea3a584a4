//! Index retention, like Jaeger's es-index-cleaner: delete the daily indices
//! `[prefix-]jaeger-{span,service,dependencies}-YYYY-MM-DD` dated before today
//! (UTC) minus `--keep-days`.
//!
//! Only names that parse exactly as one of those three, under the configured
//! prefix and date separator, are candidates: foreign indices, rollover
//! indices (`…-000001`) and malformed dates are left alone. An index behind an
//! alias ending in `-write` is never deleted, whatever its date, because the
//! ingester may still be writing to it (rollover mode).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use elasticsearch::http::Method;
use ferrotrace_common::jaeger::index::{
    civil_from_days, days_from_civil, index_base, push_prefix, IndexKind,
};
use serde::Deserialize;

use crate::es::client::{snippet, EsClient, EsError};

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
    #[error("{action}: {source}")]
    Es {
        action: String,
        #[source]
        source: EsError,
    },
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
            delete(es, index).await?;
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

/// Decides which listed indices go, for a given `today` (days since the
/// epoch, UTC). Deleted names come out sorted, oldest first.
pub fn plan(indices: &[ListedIndex], options: &RetentionOptions, today: i64) -> Summary {
    let cutoff = today - i64::from(options.keep_days);
    let mut old = Vec::new();
    let mut summary = Summary::default();
    for index in indices {
        let Some((_, day)) = parse_index(&index.name, &options.prefix, &options.date_separator)
        else {
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

/// `YYYY<sep>MM<sep>DD`, exactly, to days since the epoch.
pub fn parse_date(text: &str, separator: &str) -> Option<i64> {
    let (year, rest) = digits(text, 4)?;
    let (month, rest) = digits(rest.strip_prefix(separator)?, 2)?;
    let (day, rest) = digits(rest.strip_prefix(separator)?, 2)?;
    if !rest.is_empty() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // Out-of-range months and days (2026-02-30) do not survive the round trip.
    (civil_from_days(days) == (year, month as u32, day as u32)).then_some(days)
}

/// Splits `width` ASCII digits off the front of `text`.
fn digits(text: &str, width: usize) -> Option<(i64, &str)> {
    let head = text.get(..width)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &text[width..]))
}

/// Today's date in UTC as days since the epoch.
pub fn today_utc() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (seconds / 86_400) as i64
}

/// A day since the epoch as `YYYY<sep>MM<sep>DD`.
pub fn date_string(day: i64, separator: &str) -> String {
    let (year, month, day) = civil_from_days(day);
    format!("{year:04}{separator}{month:02}{separator}{day:02}")
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

#[derive(Deserialize)]
struct IndexAliases {
    #[serde(default)]
    aliases: HashMap<String, serde_json::Value>,
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
    let aliases: HashMap<String, IndexAliases> =
        get_json(es, &format!("/{pattern}/_alias"), "listing aliases").await?;
    let names: HashSet<String> = cat.into_iter().map(|c| c.index).collect();
    Ok(names
        .into_iter()
        .map(|name| ListedIndex {
            aliases: aliases
                .get(&name)
                .map(|a| a.aliases.keys().cloned().collect())
                .unwrap_or_default(),
            name,
        })
        .collect())
}

async fn get_json<T: serde::de::DeserializeOwned>(
    es: &EsClient,
    path: &str,
    action: &str,
) -> Result<T, RetentionError> {
    let failed = |source| RetentionError::Es {
        action: action.to_owned(),
        source,
    };
    es.json_as(Method::Get, path, None, &[])
        .await
        .map_err(failed)?
        .1
        .ok_or_else(|| failed(EsError::Permanent(format!("GET {path} answered nothing"))))
}

/// `DELETE /<index>`; an index already gone (404) is not an error.
async fn delete(es: &EsClient, index: &str) -> Result<(), RetentionError> {
    let failed = |source| RetentionError::Es {
        action: format!("deleting {index}"),
        source,
    };
    let path = format!("/{index}");
    let (status, body) = es
        .request(Method::Delete, &path, "application/json", None)
        .await
        .map_err(failed)?;
    if status.as_u16() == 404 {
        tracing::warn!(index, "index already gone");
        return Ok(());
    }
    if !status.is_success() {
        return Err(failed(EsError::Permanent(format!(
            "DELETE {path} answered {status}: {}",
            snippet(&body)
        ))));
    }
    tracing::info!(index, "index deleted");
    Ok(())
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
    fn dates_convert_both_ways_across_leap_days_and_years() {
        assert_eq!(day("1970-01-01"), 0);
        assert_eq!(day("2026-11-26"), 20_783); // Python: (date(2026, 11, 26) - date(1970, 1, 1)).days
        assert_eq!(day("2024-03-01") - day("2024-02-28"), 2);
        assert_eq!(day("2023-03-01") - day("2023-02-28"), 1);
        assert_eq!(day("2027-01-01") - day("2026-12-31"), 1);
        for days in -200_000..200_000 {
            let text = date_string(days, "-");
            assert_eq!(parse_date(&text, "-"), Some(days), "{text}");
        }
    }

    #[test]
    fn malformed_dates_are_refused() {
        for text in [
            "2026-02-30",
            "2026-13-01",
            "2026-00-10",
            "2026-01-00",
            "2026-1-01",
            "2026-01-01-x",
            "2026-01-01x",
            "2026_01_01",
            "+026-01-01",
            "2026-01-0é",
            "",
            "2026-01",
        ] {
            assert_eq!(parse_date(text, "-"), None, "{text}");
        }
        assert_eq!(parse_date("2026.01.02", "."), Some(day("2026-01-02")));
        assert_eq!(parse_date("20260102", ""), Some(day("2026-01-02")));
        assert_eq!(parse_date("2026-01-02", "."), None);
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
                "p-jaeger-service-2026-11-22",
                "p-jaeger-span-2026-11-22",
            ]
        );
        assert_eq!(summary.kept_for_alias, ["p-jaeger-span-2026-11-01"]);
        assert_eq!(summary.kept, 2);
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
}
