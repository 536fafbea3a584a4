//! Rollover mode, like Jaeger's es-rollover: numbered indices
//! `[prefix-]jaeger-{span,service,dependencies}-000001`, `-000002`, … behind
//! a `-write` alias (the one index the ingester writes to) and a `-read`
//! alias (every index queries should see).
//!
//! Three steps, each run on its own:
//! - [`Step::Init`] installs the index templates, creates `…-000001` and
//!   points both aliases at it. Running it again changes nothing.
//! - [`Step::Rollover`] starts the next index of a set when its write index
//!   meets any of the [`Conditions`], then moves the write alias and extends
//!   the read alias in one atomic `POST /_aliases`, so the write alias always
//!   points at exactly one index and no search ever misses an index.
//! - [`Step::Lookback`] removes from the read alias the indices created
//!   before a [`time_reference`], never the write index; it deletes no
//!   index (that is retention's job, or an operator's).
//!
//! Elasticsearch's `_rollover` API is not used: the same effect is built from
//! `_alias`, `_settings`, `_stats`, index creation and `_aliases`, which every
//! Elasticsearch 7+ and OpenSearch has, and which in-memory test servers
//! implement too. The write alias never carries `is_write_index` (that is for
//! ILM, which ferrotrace does not manage). A run interrupted between creating
//! the next index and switching the aliases is repaired by the next run,
//! which reuses the alias-free index it left behind.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write;
use std::time::Duration;

use ferrotrace_format::civil_date::{civil_from_days, days_from_civil};
use ferrotrace_format::jaeger::index::{self, index_base, IndexKind};
use serde_json::Value;

use crate::es::admin::{
    alias_action, aliased, aliases, create_index, creation_dates, failed, index_exists,
    index_stats, now_millis, update_aliases, AdminError, IndexStats,
};
use crate::es::client::EsClient;
use crate::es::templates::TemplateOptions;

const MILLIS_PER_DAY: i64 = 86_400_000;

/// The condition keys `--conditions` accepts.
pub const SUPPORTED_CONDITIONS: &str =
    "max_age, max_docs, max_size, max_primary_shard_size, max_primary_shard_docs";

/// Which index sets a step works on.
#[derive(Debug, Clone)]
pub struct RolloverOptions {
    /// `--es-index-prefix`; empty for none.
    pub prefix: String,
    /// Leave `jaeger-dependencies-*` alone.
    pub skip_dependencies: bool,
}

/// One step of `ferrotrace-ingester rollover`, its flags already checked.
#[derive(Debug, Clone)]
pub enum Step {
    /// Install the templates (unless `None`: `--es-create-templates=false`),
    /// then create the first index and aliases of each set that lacks them.
    Init { templates: Option<TemplateOptions> },
    /// Start a new write index for each set whose write index meets a condition.
    Rollover(Conditions),
    /// Remove indices older than `count` `unit`s from each read alias.
    Lookback { unit: Unit, count: u32 },
}

/// Why a step stopped; what it already changed stays changed.
#[derive(Debug, thiserror::Error)]
pub enum RolloverError {
    #[error(transparent)]
    Es(#[from] AdminError),
    /// The aliases or indices are in a state the step cannot work from.
    #[error("{0}")]
    State(String),
    #[error("writing the report: {0}")]
    Output(#[from] std::io::Error),
}

/// The indices and aliases of one kind: `[prefix-]jaeger-span-000001`,
/// `[prefix-]jaeger-span-write`, `[prefix-]jaeger-span-read`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSet {
    kind: IndexKind,
    prefix: String,
}

impl IndexSet {
    pub fn new(kind: IndexKind, prefix: &str) -> Self {
        IndexSet {
            kind,
            prefix: prefix.to_string(),
        }
    }

    /// `[prefix-]jaeger-span`: the names of the set without their suffix.
    fn stem(&self) -> String {
        let mut stem = index_base(self.kind, &self.prefix);
        stem.pop(); // the trailing `-`
        stem
    }

    pub fn write_alias(&self) -> String {
        index::write_alias(self.kind, &self.prefix)
    }

    pub fn read_alias(&self) -> String {
        index::read_alias(self.kind, &self.prefix)
    }

    pub fn first_index(&self) -> String {
        format!("{}-000001", self.stem())
    }

    /// `[prefix-]jaeger-span-*`: the set's numbered indices, among others.
    pub fn pattern(&self) -> String {
        format!("{}-*", self.stem())
    }

    /// The number of `name` when it is one of the set's numbered indices
    /// (`…-000001`), `None` for any other name.
    pub fn number_of(&self, name: &str) -> Option<u64> {
        let digits = name.strip_prefix(self.stem().as_str())?.strip_prefix('-')?;
        if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }
}

/// Span, service and (unless skipped) dependencies, in that order.
pub fn index_sets(options: &RolloverOptions) -> Vec<IndexSet> {
    let mut kinds = vec![IndexKind::Span, IndexKind::Service];
    if !options.skip_dependencies {
        kinds.push(IndexKind::Dependencies);
    }
    kinds
        .into_iter()
        .map(|kind| IndexSet::new(kind, &options.prefix))
        .collect()
}

/// Runs `step` on every index set, writing one report line per change (or
/// per set left as it was) to `out`.
pub async fn run(
    es: &EsClient,
    options: &RolloverOptions,
    step: &Step,
    out: &mut impl Write,
) -> Result<(), RolloverError> {
    let sets = index_sets(options);
    match step {
        Step::Init { templates } => {
            install_templates(es, templates.as_ref(), out).await?;
            for set in &sets {
                init(es, set, out).await?;
            }
        }
        Step::Rollover(conditions) => {
            for set in &sets {
                rollover(es, set, conditions, out).await?;
            }
        }
        Step::Lookback { unit, count } => {
            let reference = time_reference(now_millis(), *unit, *count);
            for set in &sets {
                lookback(es, set, reference, out).await?;
            }
        }
    }
    Ok(())
}

async fn install_templates(
    es: &EsClient,
    templates: Option<&TemplateOptions>,
    out: &mut impl Write,
) -> Result<(), RolloverError> {
    let Some(templates) = templates else {
        writeln!(out, "skipped index templates (--es-create-templates=false)")?;
        return Ok(());
    };
    let flavour = es
        .detect_flavour()
        .await
        .map_err(failed("detecting the elasticsearch flavour"))?;
    es.install_templates(flavour, templates)
        .await
        .map_err(failed("installing index templates"))?;
    writeln!(
        out,
        "installed index templates ({})",
        flavour.template_api().path()
    )?;
    Ok(())
}

/// Creates the first index if no index has the write alias, and adds
/// whichever alias is missing: the write alias, and the read alias on the
/// write index.
async fn init(es: &EsClient, set: &IndexSet, out: &mut impl Write) -> Result<(), RolloverError> {
    let (write, read) = (set.write_alias(), set.read_alias());
    let writing = aliased(es, &write).await?;
    let reading = aliased(es, &read).await?;
    for (alias, indices) in [(&write, &writing), (&read, &reading)] {
        if indices.is_empty() && index_exists(es, alias).await? {
            return Err(shadowed(alias));
        }
    }
    let mut missing = Vec::new();
    let index = match writing.len() {
        0 => {
            let index = set.first_index();
            if create_index(es, &index).await? {
                writeln!(out, "created {index}")?;
            }
            missing.push(write.as_str());
            index
        }
        1 => writing.into_iter().next().unwrap_or_default(),
        _ => return Err(several_write_indices(&write, &writing)),
    };
    if !reading.contains(&index) {
        missing.push(read.as_str());
    }
    if missing.is_empty() {
        writeln!(
            out,
            "kept {write} on {index} (already in {read}): nothing to do"
        )?;
        return Ok(());
    }
    let actions: Vec<Value> = missing
        .iter()
        .map(|alias| alias_action("add", &index, alias))
        .collect();
    update_aliases(es, &actions, &format!("adding the aliases of {index}")).await?;
    for alias in missing {
        writeln!(out, "added alias {alias} to {index}")?;
    }
    Ok(())
}

async fn rollover(
    es: &EsClient,
    set: &IndexSet,
    conditions: &Conditions,
    out: &mut impl Write,
) -> Result<(), RolloverError> {
    let write = set.write_alias();
    let writing = aliased(es, &write).await?;
    let current = match writing.len() {
        1 => writing.into_iter().next().unwrap_or_default(),
        0 if index_exists(es, &write).await? => return Err(shadowed(&write)),
        0 => {
            return Err(RolloverError::State(format!(
                "no index has alias {write}: run `ferrotrace-ingester rollover init` first"
            )))
        }
        _ => return Err(several_write_indices(&write, &writing)),
    };
    let reason = if conditions.is_empty() {
        Some("no conditions".to_owned())
    } else {
        let stats = index_stats(es, &current)
            .await?
            .ok_or_else(|| RolloverError::State(format!("index {current} has no creation date")))?;
        conditions.met(&stats)
    };
    let Some(reason) = reason else {
        writeln!(out, "kept {write} on {current} (no condition met)")?;
        return Ok(());
    };
    let next = next_index(&current).map_err(RolloverError::State)?;
    if !create_index(es, &next).await? {
        let existing: BTreeSet<String> =
            aliases(es, &next).await?.into_values().flatten().collect();
        if !existing.is_empty() {
            return Err(RolloverError::State(format!(
                "cannot roll {write} over from {current}: the next index {next} already exists \
                 with aliases {}; move or delete it by hand",
                existing.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        tracing::warn!(index = %next, "reusing an existing index without aliases");
    }
    let actions = [
        alias_action("remove", &current, &write),
        alias_action("add", &next, &write),
        alias_action("add", &next, &set.read_alias()),
    ];
    update_aliases(
        es,
        &actions,
        &format!("moving {write} from {current} to {next}"),
    )
    .await?;
    writeln!(out, "rolled over {write}: {current} -> {next} ({reason})")?;
    Ok(())
}

async fn lookback(
    es: &EsClient,
    set: &IndexSet,
    reference: i64,
    out: &mut impl Write,
) -> Result<(), RolloverError> {
    let read = set.read_alias();
    let reading = creation_dates(es, &read).await?;
    let writing = aliased(es, &set.write_alias()).await?;
    let removed = lookback_plan(&reading, &writing, reference);
    if removed.is_empty() {
        writeln!(
            out,
            "kept {read} as it is (no index but the write index created before {})",
            format_utc(reference)
        )?;
        return Ok(());
    }
    let actions: Vec<Value> = removed
        .iter()
        .map(|index| alias_action("remove", index, &read))
        .collect();
    update_aliases(es, &actions, &format!("removing old indices from {read}")).await?;
    for index in &removed {
        writeln!(
            out,
            "removed {index} from {read} (created {}, before {})",
            format_utc(reading[index]),
            format_utc(reference)
        )?;
    }
    Ok(())
}

/// Which indices lookback takes out of the read alias: those created
/// strictly before `reference` (ms since the epoch) that are not behind the
/// write alias. Sorted oldest first.
pub fn lookback_plan(
    reading: &BTreeMap<String, i64>,
    writing: &BTreeSet<String>,
    reference: i64,
) -> Vec<String> {
    let mut old: Vec<(i64, &String)> = reading
        .iter()
        .filter(|&(index, &created)| created < reference && !writing.contains(index))
        .map(|(index, &created)| (created, index))
        .collect();
    old.sort();
    old.into_iter().map(|(_, index)| index.clone()).collect()
}

/// The name Elasticsearch's rollover would give the index after `name`: the
/// trailing number plus one, zero-padded to six digits.
pub fn next_index(name: &str) -> Result<String, String> {
    let number = name
        .rsplit_once('-')
        .filter(|(_, digits)| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    let Some((stem, digits)) = number else {
        return Err(format!(
            "write index {name} does not end in -<number>, so the next index cannot be named"
        ));
    };
    let next = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_add(1))
        .ok_or_else(|| format!("write index {name}: the number {digits} is too large"))?;
    Ok(format!("{stem}-{next:06}"))
}

/// An index named like an alias: Elasticsearch creates one when a document
/// is written to the alias name before the alias exists.
fn shadowed(alias: &str) -> RolloverError {
    RolloverError::State(format!(
        "{alias} is an index, not an alias (an ingester run with --es-use-aliases before \
         `rollover init` creates it by writing to it); move its documents elsewhere, delete it \
         and run init again"
    ))
}

fn several_write_indices(write: &str, indices: &BTreeSet<String>) -> RolloverError {
    RolloverError::State(format!(
        "alias {write} points at {} indices ({}); it must point at exactly one",
        indices.len(),
        indices.iter().cloned().collect::<Vec<_>>().join(", ")
    ))
}

// ---- conditions ----

/// One rollover condition; each is met when the measure reaches its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    MaxAge { limit: Duration, text: String },
    MaxDocs(u64),
    MaxSize { bytes: u64, text: String },
    MaxPrimaryShardSize { bytes: u64, text: String },
    MaxPrimaryShardDocs(u64),
}

impl Condition {
    pub fn is_met(&self, stats: &IndexStats) -> bool {
        match self {
            Condition::MaxAge { limit, .. } => stats.age >= *limit,
            Condition::MaxDocs(limit) => stats.docs >= *limit,
            Condition::MaxSize { bytes, .. } => stats.primary_bytes >= *bytes,
            Condition::MaxPrimaryShardSize { bytes, .. } => {
                stats.largest_primary_shard_bytes >= *bytes
            }
            Condition::MaxPrimaryShardDocs(limit) => stats.largest_primary_shard_docs >= *limit,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::MaxAge { text, .. } => write!(f, "max_age {text}"),
            Condition::MaxDocs(limit) => write!(f, "max_docs {limit}"),
            Condition::MaxSize { text, .. } => write!(f, "max_size {text}"),
            Condition::MaxPrimaryShardSize { text, .. } => {
                write!(f, "max_primary_shard_size {text}")
            }
            Condition::MaxPrimaryShardDocs(limit) => write!(f, "max_primary_shard_docs {limit}"),
        }
    }
}

/// `--conditions`: any one met rolls over; none at all (`{}`) always does,
/// as with Elasticsearch's `_rollover`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conditions(Vec<Condition>);

impl Conditions {
    /// Parses Elasticsearch's rollover conditions JSON, e.g.
    /// `{"max_age":"2d","max_size":"50gb"}`; the error is one line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let map: serde_json::Map<String, Value> = serde_json::from_str(text)
            .map_err(|e| format!("--conditions {text:?} is not a JSON object: {e}"))?;
        map.iter()
            .map(|(key, value)| {
                parse_condition(key, value)
                    .map_err(|problem| format!("--conditions: {key} {value}: {problem}"))
            })
            .collect::<Result<_, _>>()
            .map(Conditions)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The met conditions, as `max_age 2d met, …`; `None` when none is.
    pub fn met(&self, stats: &IndexStats) -> Option<String> {
        let met: Vec<String> = self
            .0
            .iter()
            .filter(|c| c.is_met(stats))
            .map(|c| format!("{c} met"))
            .collect();
        (!met.is_empty()).then(|| met.join(", "))
    }
}

fn parse_condition(key: &str, value: &Value) -> Result<Condition, String> {
    let text = || {
        value
            .as_str()
            .map(|t| t.trim().to_owned())
            .ok_or_else(|| "must be a string with a unit".to_owned())
    };
    Ok(match key {
        "max_age" => {
            let text = text()?;
            Condition::MaxAge {
                limit: parse_time_value(&text)?,
                text,
            }
        }
        "max_docs" => Condition::MaxDocs(parse_count(value)?),
        "max_primary_shard_docs" => Condition::MaxPrimaryShardDocs(parse_count(value)?),
        "max_size" => {
            let text = text()?;
            Condition::MaxSize {
                bytes: parse_byte_size(&text)?,
                text,
            }
        }
        "max_primary_shard_size" => {
            let text = text()?;
            Condition::MaxPrimaryShardSize {
                bytes: parse_byte_size(&text)?,
                text,
            }
        }
        _ => {
            return Err(format!(
                "unknown condition (supported: {SUPPORTED_CONDITIONS})"
            ))
        }
    })
}

/// A non-negative integer, as a JSON number or a string of digits (both
/// accepted by Elasticsearch).
fn parse_count(value: &Value) -> Result<u64, String> {
    let count = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    count.ok_or_else(|| "must be a non-negative integer".to_owned())
}

/// An Elasticsearch time value: an integer and one of the units `d`, `h`,
/// `m`, `s`, `ms`, `micros`, `nanos` (any case).
pub fn parse_time_value(text: &str) -> Result<Duration, String> {
    let lower = text.trim().to_ascii_lowercase();
    // Longer suffixes first: `ms` also ends in `s`.
    const UNITS: [(&str, u64); 7] = [
        ("nanos", 1),
        ("micros", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
        ("d", 86_400_000_000_000),
    ];
    let (number, nanos_per_unit) = UNITS
        .iter()
        .find_map(|&(unit, nanos)| lower.strip_suffix(unit).map(|n| (n, nanos)))
        .ok_or("unit missing or unknown (use d, h, m, s, ms, micros or nanos)")?;
    let number = number.trim();
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be a whole non-negative number followed by a unit".into());
    }
    let nanos = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(nanos_per_unit))
        .ok_or("too large")?;
    Ok(Duration::from_nanos(nanos))
}

/// An Elasticsearch byte size: a number (fractions allowed) and one of the
/// units `b`, `kb`, `mb`, `gb`, `tb`, `pb` or their one-letter forms
/// (any case), in powers of 1024.
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    const UNITS: [(&str, u32); 11] = [
        ("kb", 10),
        ("mb", 20),
        ("gb", 30),
        ("tb", 40),
        ("pb", 50),
        ("k", 10),
        ("m", 20),
        ("g", 30),
        ("t", 40),
        ("p", 50),
        ("b", 0),
    ];
    let (number, shift) = UNITS
        .iter()
        .find_map(|&(unit, shift)| lower.strip_suffix(unit).map(|n| (n.trim(), shift)))
        .ok_or("unit missing or unknown (use b, kb, mb, gb, tb or pb)")?;
    let multiplier = 1_u64 << shift;
    let valid = !number.is_empty()
        && number.bytes().filter(|&b| b == b'.').count() <= 1
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && number.bytes().any(|b| b.is_ascii_digit());
    if !valid {
        return Err("must be a non-negative number followed by a unit".into());
    }
    if let Ok(whole) = number.parse::<u64>() {
        return whole
            .checked_mul(multiplier)
            .ok_or_else(|| "too large".into());
    }
    let fraction: f64 = number.parse().map_err(|_| "not a number".to_owned())?;
    let bytes = fraction * multiplier as f64;
    if bytes >= u64::MAX as f64 {
        return Err("too large".into());
    }
    Ok(bytes as u64)
}

// ---- lookback time ----

/// `--unit` of lookback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

impl Unit {
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "seconds" => Unit::Seconds,
            "minutes" => Unit::Minutes,
            "hours" => Unit::Hours,
            "days" => Unit::Days,
            "weeks" => Unit::Weeks,
            "months" => Unit::Months,
            "years" => Unit::Years,
            _ => {
                return Err(format!(
                    "--unit {text:?}: use seconds, minutes, hours, days, weeks, months or years"
                ))
            }
        })
    }
}

/// The time (ms since the epoch, UTC) before which lookback takes indices
/// out of the read alias, as Jaeger's es-rollover computes it: seconds,
/// minutes and hours count back from now truncated to that unit; days and
/// weeks from the start of tomorrow (so `1 days` keeps today); months and
/// years from the start of today, by the calendar (a day past the end of the
/// target month runs into the next one, as Go's `AddDate` does).
pub fn time_reference(now_millis: i64, unit: Unit, count: u32) -> i64 {
    let count = i64::from(count);
    let back = |step: i64| {
        let truncated = now_millis - now_millis.rem_euclid(step);
        truncated - count * step
    };
    let today = now_millis.div_euclid(MILLIS_PER_DAY);
    match unit {
        Unit::Seconds => back(1_000),
        Unit::Minutes => back(60_000),
        Unit::Hours => back(3_600_000),
        Unit::Days => (today + 1 - count) * MILLIS_PER_DAY,
        Unit::Weeks => (today + 1 - 7 * count) * MILLIS_PER_DAY,
        Unit::Months | Unit::Years => {
            let months = if unit == Unit::Years {
                12 * count
            } else {
                count
            };
            let (year, month, day) = civil_from_days(today);
            let total = year * 12 + i64::from(month) - 1 - months;
            let day = days_from_civil(total.div_euclid(12), total.rem_euclid(12) + 1, day.into());
            day * MILLIS_PER_DAY
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of a time in ms since the epoch.
pub fn format_utc(millis: i64) -> String {
    let (year, month, day) = civil_from_days(millis.div_euclid(MILLIS_PER_DAY));
    let ms = millis.rem_euclid(MILLIS_PER_DAY);
    let (hour, minute, second) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1_000 % 60);
    format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{:03}Z",
        ms % 1_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ms since the epoch of a UTC date and time.
    fn at(year: i64, month: i64, day: i64, hms: (i64, i64, i64), ms: i64) -> i64 {
        let (h, m, s) = hms;
        days_from_civil(year, month, day) * MILLIS_PER_DAY + ((h * 60 + m) * 60 + s) * 1_000 + ms
    }

    #[test]
    fn names_aliases_and_first_index_per_set_and_prefix() {
        let sets = index_sets(&RolloverOptions {
            prefix: String::new(),
            skip_dependencies: false,
        });
        let names: Vec<_> = sets
            .iter()
            .map(|s| (s.first_index(), s.write_alias(), s.read_alias()))
            .collect();
        assert_eq!(
            names[0],
            (
                "jaeger-span-000001".into(),
                "jaeger-span-write".into(),
                "jaeger-span-read".into()
            )
        );
        assert_eq!(names[1].0, "jaeger-service-000001");
        assert_eq!(names[2].2, "jaeger-dependencies-read");
        for prefix in ["prod", "prod-"] {
            let sets = index_sets(&RolloverOptions {
                prefix: prefix.into(),
                skip_dependencies: true,
            });
            assert_eq!(sets.len(), 2);
            assert_eq!(sets[0].write_alias(), "prod-jaeger-span-write");
            assert_eq!(sets[1].first_index(), "prod-jaeger-service-000001");
        }
    }

    #[test]
    fn next_index_increments_the_trailing_number_zero_padded() {
        assert_eq!(
            next_index("jaeger-span-000001").unwrap(),
            "jaeger-span-000002"
        );
        assert_eq!(
            next_index("p-jaeger-service-000009").unwrap(),
            "p-jaeger-service-000010"
        );
        assert_eq!(next_index("x-41").unwrap(), "x-000042");
        assert_eq!(next_index("x-999999").unwrap(), "x-1000000");
        assert_eq!(next_index("x-0001000000").unwrap(), "x-1000001");
        for name in [
            "jaeger-span",
            "jaeger-span-",
            "jaeger-span-00a001",
            "000001",
            "jaeger-span-2026.11.26",
            "x-99999999999999999999999",
        ] {
            assert!(next_index(name).is_err(), "{name}");
        }
    }

    #[test]
    fn parses_elasticsearch_time_values() {
        let ok = |t: &str| parse_time_value(t).unwrap();
        assert_eq!(ok("2d"), Duration::from_secs(2 * 86_400));
        assert_eq!(ok("12h"), Duration::from_secs(12 * 3_600));
        assert_eq!(ok("30m"), Duration::from_secs(1_800));
        assert_eq!(ok("45s"), Duration::from_secs(45));
        assert_eq!(ok("1500ms"), Duration::from_millis(1_500));
        assert_eq!(ok("7micros"), Duration::from_micros(7));
        assert_eq!(ok("9nanos"), Duration::from_nanos(9));
        assert_eq!(ok(" 1D "), Duration::from_secs(86_400));
        assert_eq!(ok("0s"), Duration::ZERO);
        for bad in [
            "2",
            "d",
            "2w",
            "2 days",
            "-1d",
            "1.5h",
            "2dd",
            "",
            "1e3s",
            "9999999999999d",
        ] {
            assert!(parse_time_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_elasticsearch_byte_sizes_in_powers_of_1024() {
        let ok = |t: &str| parse_byte_size(t).unwrap();
        assert_eq!(ok("10b"), 10);
        assert_eq!(ok("1kb"), 1_024);
        assert_eq!(ok("1k"), 1_024);
        assert_eq!(ok("5mb"), 5 << 20);
        assert_eq!(ok("50gb"), 50 << 30);
        assert_eq!(ok("50GB"), 50 << 30);
        assert_eq!(ok("2tb"), 2 << 40);
        assert_eq!(ok("1pb"), 1 << 50);
        assert_eq!(ok("1.5gb"), 3 << 29);
        assert_eq!(ok("0.5 kb"), 512);
        for bad in [
            "10",
            "gb",
            "1x",
            "-1gb",
            "1..5gb",
            ".gb",
            "1e3b",
            "",
            "99999999pb",
        ] {
            assert!(parse_byte_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_conditions_and_rejects_unknown_keys_and_bad_values() {
        let conditions =
            Conditions::parse(r#"{"max_age":"2d","max_docs":100,"max_size":"50gb"}"#).unwrap();
        assert_eq!(conditions.0.len(), 3);
        assert!(conditions.0.contains(&Condition::MaxDocs(100)));
        assert!(Conditions::parse("{}").unwrap().is_empty());
        assert_eq!(
            Conditions::parse(r#"{"max_docs":"7","max_primary_shard_docs":3}"#)
                .unwrap()
                .0,
            [Condition::MaxDocs(7), Condition::MaxPrimaryShardDocs(3)]
        );
        let problem = Conditions::parse(r#"{"min_age":"1d"}"#).unwrap_err();
        assert!(problem.contains("min_age"), "{problem}");
        assert!(problem.contains(SUPPORTED_CONDITIONS), "{problem}");
        for bad in [
            r#"{"max_age":2}"#,
            r#"{"max_age":"2x"}"#,
            r#"{"max_docs":-1}"#,
            r#"{"max_docs":1.5}"#,
            r#"{"max_size":"lots"}"#,
            r#"{"max_primary_shard_size":100}"#,
            r#"["max_age"]"#,
            r#"{"max_age":"2d""#,
            "",
        ] {
            let problem = Conditions::parse(bad).unwrap_err();
            assert!(problem.starts_with("--conditions"), "{bad}: {problem}");
            assert!(!problem.contains('\n'), "{bad}: {problem}");
        }
    }

    #[test]
    fn any_met_condition_rolls_over_and_reaching_the_limit_counts() {
        let conditions = Conditions::parse(
            r#"{"max_age":"2d","max_docs":1000,"max_size":"1kb","max_primary_shard_size":"512b"}"#,
        )
        .unwrap();
        let young = IndexStats {
            age: Duration::from_secs(3_600),
            docs: 999,
            primary_bytes: 1_000,
            largest_primary_shard_bytes: 511,
            largest_primary_shard_docs: 999,
        };
        assert_eq!(conditions.met(&young), None);
        let old = IndexStats {
            age: Duration::from_secs(2 * 86_400),
            ..young
        };
        assert_eq!(conditions.met(&old).as_deref(), Some("max_age 2d met"));
        let full = IndexStats {
            docs: 1_000,
            largest_primary_shard_bytes: 512,
            ..young
        };
        assert_eq!(
            conditions.met(&full).as_deref(),
            Some("max_docs 1000 met, max_primary_shard_size 512b met")
        );
        let big = IndexStats {
            primary_bytes: 1_024,
            ..young
        };
        assert_eq!(conditions.met(&big).as_deref(), Some("max_size 1kb met"));
    }

    #[test]
    fn time_reference_matches_jaeger_for_every_unit() {
        // Jaeger's own fixture: 2021-10-10T10:10:10Z (plus a few ms).
        let now = at(2021, 10, 10, (10, 10, 10), 7);
        let cases = [
            (Unit::Seconds, 30, at(2021, 10, 10, (10, 9, 40), 0)),
            (Unit::Minutes, 30, at(2021, 10, 10, (9, 40, 0), 0)),
            (Unit::Hours, 2, at(2021, 10, 10, (8, 0, 0), 0)),
            (Unit::Days, 2, at(2021, 10, 9, (0, 0, 0), 0)),
            (Unit::Weeks, 2, at(2021, 9, 27, (0, 0, 0), 0)),
            (Unit::Months, 2, at(2021, 8, 10, (0, 0, 0), 0)),
            (Unit::Years, 2, at(2019, 10, 10, (0, 0, 0), 0)),
            (Unit::Seconds, 0, at(2021, 10, 10, (10, 10, 10), 0)),
            (Unit::Days, 0, at(2021, 10, 11, (0, 0, 0), 0)),
            (Unit::Days, 1, at(2021, 10, 10, (0, 0, 0), 0)),
            (Unit::Months, 10, at(2020, 12, 10, (0, 0, 0), 0)),
        ];
        for (unit, count, expected) in cases {
            assert_eq!(
                format_utc(time_reference(now, unit, count)),
                format_utc(expected),
                "{unit:?} {count}"
            );
        }
    }

    #[test]
    fn calendar_units_overflow_into_the_next_month_like_go() {
        // Go: time.Date(2021, 3, 31, …).AddDate(0, -1, 0) is 2021-03-03.
        let now = at(2021, 3, 31, (12, 0, 0), 0);
        assert_eq!(
            time_reference(now, Unit::Months, 1),
            at(2021, 3, 3, (0, 0, 0), 0)
        );
        // 2024-02-29 minus one year is 2023-02-29, that is 2023-03-01.
        let leap = at(2024, 2, 29, (0, 0, 1), 0);
        assert_eq!(
            time_reference(leap, Unit::Years, 1),
            at(2023, 3, 1, (0, 0, 0), 0)
        );
        // Back across a year boundary.
        let january = at(2026, 1, 15, (0, 0, 0), 0);
        assert_eq!(
            time_reference(january, Unit::Months, 13),
            at(2024, 12, 15, (0, 0, 0), 0)
        );
    }

    #[test]
    fn units_are_jaegers_names_only() {
        assert_eq!(Unit::parse("days"), Ok(Unit::Days));
        assert_eq!(Unit::parse("weeks"), Ok(Unit::Weeks));
        for bad in ["day", "Days", "milliseconds", ""] {
            assert!(Unit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_utc_times() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_utc(at(2026, 11, 26, (5, 10, 33), 176)),
            "2026-11-26T05:10:33.176Z"
        );
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn lookback_removes_old_read_indices_but_never_the_write_index() {
        let day = |d: i64| at(2026, 11, d, (0, 0, 0), 0);
        let reading = BTreeMap::from([
            ("s-000003".to_owned(), day(20)),
            ("s-000001".to_owned(), day(10)),
            ("s-000002".to_owned(), day(15)),
            ("s-000004".to_owned(), day(25)),
            ("s-000005".to_owned(), day(1)),
        ]);
        let writing = BTreeSet::from(["s-000005".to_owned()]);
        assert_eq!(
            lookback_plan(&reading, &writing, day(20)),
            ["s-000001", "s-000002"],
            "created exactly at the reference is kept"
        );
        assert_eq!(
            lookback_plan(&reading, &writing, day(30)),
            ["s-000001", "s-000002", "s-000003", "s-000004"]
        );
        assert!(lookback_plan(&reading, &writing, day(1)).is_empty());
        assert!(lookback_plan(&BTreeMap::new(), &writing, day(30)).is_empty());
    }
}
