//! Names of Jaeger's daily indices.
//!
//! A span goes to `[prefix-]jaeger-span-YYYY-MM-DD`, named by the UTC date
//! of the span's *start time* (not the time it was ingested), exactly as
//! Jaeger 1.x's span writer does; its service:operation pair goes to
//! `[prefix-]jaeger-service-YYYY-MM-DD` for the same date, and the
//! dependencies job writes `[prefix-]jaeger-dependencies-YYYY-MM-DD`. The
//! date parts are joined by a configurable separator (Jaeger's
//! `--es.index-date-separator`, default `-`).
//!
//! The date comes from plain civil-from-days arithmetic on the microsecond
//! timestamp, so no date crate is involved and every day, month, year and
//! leap-day boundary is exact. [`IndexNamer`] remembers the last day it
//! formatted so the ingester formats a name once per day, not once per span.

use crate::civil_date::push_date;
use crate::civil_date::MICROS_PER_DAY;

/// Which of Jaeger's daily indices a name is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexKind {
    Span,
    Service,
    Dependencies,
}

impl IndexKind {
    /// The index base name, before the date.
    pub const fn base(self) -> &'static str {
        match self {
            IndexKind::Span => "jaeger-span-",
            IndexKind::Service => "jaeger-service-",
            IndexKind::Dependencies => "jaeger-dependencies-",
        }
    }
}

/// `[prefix-]jaeger-span-YYYY-MM-DD` for the UTC day of `start_time_micros`.
pub fn span_index(prefix: &str, date_separator: &str, start_time_micros: u64) -> String {
    index_name(IndexKind::Span, prefix, date_separator, start_time_micros)
}

/// `[prefix-]jaeger-service-YYYY-MM-DD` for the UTC day of `start_time_micros`.
pub fn service_index(prefix: &str, date_separator: &str, start_time_micros: u64) -> String {
    index_name(
        IndexKind::Service,
        prefix,
        date_separator,
        start_time_micros,
    )
}

/// `[prefix-]jaeger-dependencies-YYYY-MM-DD` for the UTC day of `time_micros`.
pub fn dependencies_index(prefix: &str, date_separator: &str, time_micros: u64) -> String {
    index_name(IndexKind::Dependencies, prefix, date_separator, time_micros)
}

/// The daily index name of `kind` for the UTC day of `time_micros`.
pub fn index_name(kind: IndexKind, prefix: &str, date_separator: &str, time_micros: u64) -> String {
    let mut name = index_base(kind, prefix);
    push_date(&mut name, date_separator, time_micros / MICROS_PER_DAY);
    name
}

/// `[prefix-]jaeger-<kind>-`: the part of every daily index name before the
/// date, also the stem of template patterns and aliases.
///
/// A prefix gets one `-` appended unless it already ends with one. Jaeger
/// 1.x's span writer appends it unconditionally (so its prefix `foo-` gave
/// `foo--jaeger-span-…`, which its own templates, built with the suffix
/// check, do not match); later Jaeger versions avoid the doubled separator,
/// and so do we.
pub fn index_base(kind: IndexKind, prefix: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + 1 + kind.base().len() + 10);
    push_prefix(&mut name, prefix);
    name.push_str(kind.base());
    name
}

/// `[prefix-]jaeger-<kind>-write`: the alias rollover mode writes through.
pub fn write_alias(kind: IndexKind, prefix: &str) -> String {
    index_base(kind, prefix) + "write"
}

/// `[prefix-]jaeger-<kind>-read`: the alias rollover mode reads through.
pub fn read_alias(kind: IndexKind, prefix: &str) -> String {
    index_base(kind, prefix) + "read"
}

/// Appends `prefix` and its `-` separator (none for an empty prefix).
pub fn push_prefix(out: &mut String, prefix: &str) {
    if !prefix.is_empty() {
        out.push_str(prefix);
        if !prefix.ends_with('-') {
            out.push('-');
        }
    }
}

/// Remembers the last day it named, so that naming the index of each span
/// costs a comparison instead of a date computation and a format.
#[derive(Debug, Clone)]
pub struct IndexNamer {
    date_separator: String,
    base_len: usize,
    day: Option<u64>,
    name: String,
}

impl IndexNamer {
    /// A namer for `kind` indices under `prefix`.
    pub fn new(kind: IndexKind, prefix: &str, date_separator: &str) -> Self {
        let name = index_base(kind, prefix);
        IndexNamer {
            date_separator: date_separator.to_owned(),
            base_len: name.len(),
            day: None,
            name,
        }
    }

    /// The index for a document whose time is `time_micros` (µs since the
    /// epoch, UTC).
    pub fn name_for(&mut self, time_micros: u64) -> &str {
        let day = time_micros / MICROS_PER_DAY;
        if self.day != Some(day) {
            self.name.truncate(self.base_len);
            push_date(&mut self.name, &self.date_separator, day);
            self.day = Some(day);
        }
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Microseconds of 00:00:00 UTC on the given civil date, by the inverse
    /// algorithm (days_from_civil), written independently as a cross-check.
    fn micros_at(year: i64, month: u32, day: u32) -> u64 {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days as u64 * MICROS_PER_DAY
    }

    #[test]
    fn names_span_index_by_utc_start_date() {
        // 2017-01-26T21:46:31.639875Z, Jaeger's own fixture time.
        assert_eq!(
            span_index("", "-", 1_485_467_191_639_875),
            "jaeger-span-2017-01-26"
        );
        assert_eq!(
            service_index("prod", ".", 1_485_467_191_639_875),
            "prod-jaeger-service-2017.01.26"
        );
        assert_eq!(
            dependencies_index("prod-", "", 1_485_467_191_639_875),
            "prod-jaeger-dependencies-20170126"
        );
    }

    #[test]
    fn rollover_aliases_follow_the_index_base() {
        assert_eq!(
            write_alias(IndexKind::Span, "prod"),
            "prod-jaeger-span-write"
        );
        assert_eq!(
            write_alias(IndexKind::Span, "prod-"),
            "prod-jaeger-span-write"
        );
        assert_eq!(
            read_alias(IndexKind::Dependencies, ""),
            "jaeger-dependencies-read"
        );
        assert_eq!(read_alias(IndexKind::Service, "p"), "p-jaeger-service-read");
    }

    #[test]
    fn splits_days_at_utc_midnight() {
        let midnight = micros_at(2024, 3, 15);
        assert_eq!(span_index("", "-", midnight - 1), "jaeger-span-2024-03-14");
        assert_eq!(span_index("", "-", midnight), "jaeger-span-2024-03-15");
    }

    #[test]
    fn handles_leap_day_and_month_ends() {
        let leap = micros_at(2024, 2, 29);
        assert_eq!(span_index("", "-", leap - 1), "jaeger-span-2024-02-28");
        assert_eq!(span_index("", "-", leap), "jaeger-span-2024-02-29");
        assert_eq!(
            span_index("", "-", leap + MICROS_PER_DAY),
            "jaeger-span-2024-03-01"
        );
        // 1900 and 2100 are not leap years, 2000 is.
        assert_eq!(
            span_index("", "-", micros_at(2100, 3, 1) - 1),
            "jaeger-span-2100-02-28"
        );
        assert_eq!(
            span_index("", "-", micros_at(2000, 3, 1) - 1),
            "jaeger-span-2000-02-29"
        );
        assert_eq!(
            span_index("", "-", micros_at(2023, 5, 1) - 1),
            "jaeger-span-2023-04-30"
        );
    }

    #[test]
    fn handles_year_end() {
        let new_year = micros_at(2025, 1, 1);
        assert_eq!(span_index("", "-", new_year - 1), "jaeger-span-2024-12-31");
        assert_eq!(span_index("", "-", new_year), "jaeger-span-2025-01-01");
        assert_eq!(span_index("", "-", 0), "jaeger-span-1970-01-01");
    }

    #[test]
    fn namer_reformats_only_when_the_day_changes() {
        let mut namer = IndexNamer::new(IndexKind::Span, "tenant", "-");
        let day = micros_at(2023, 12, 31);
        assert_eq!(namer.name_for(day), "tenant-jaeger-span-2023-12-31");
        assert_eq!(
            namer.name_for(day + MICROS_PER_DAY - 1),
            "tenant-jaeger-span-2023-12-31"
        );
        assert_eq!(
            namer.name_for(day + MICROS_PER_DAY),
            "tenant-jaeger-span-2024-01-01"
        );
        // Going back a day (late spans) works too.
        assert_eq!(namer.name_for(day), "tenant-jaeger-span-2023-12-31");
    }
}
