//! Names of Jaeger's daily indices and the service:operation documents.
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
//!
//! The service document's `_id` is Jaeger's: FNV-1a 64 over the service name
//! bytes followed by the operation name bytes, printed as unpadded lowercase
//! hex (Go's `%x`), so our service docs overwrite Jaeger's own and vice versa.

use super::writer::push_json_str;

const MICROS_PER_DAY: u64 = 86_400_000_000;

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

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month,
/// day), month and day 1-based. Howard Hinnant's `civil_from_days`: exact for
/// every day in range, leap years included, with no tables or loops.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365, March-based
    let mp = (5 * doy + 2) / 153; // 0..=11, March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date, month and day
/// 1-based: the inverse of [`civil_from_days`] (Howard Hinnant's
/// `days_from_civil`). Linear in `day`, so a day past the end of the month
/// lands in the next month, as Go's `time.Date` normalises it.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn push_date(out: &mut String, separator: &str, day: u64) {
    // u64 microseconds reach only ~213 million days, far inside i64.
    let (year, month, day) = civil_from_days(day as i64);
    push_padded(out, year as u64, 4);
    out.push_str(separator);
    push_padded(out, u64::from(month), 2);
    out.push_str(separator);
    push_padded(out, u64::from(day), 2);
}

/// Appends `value` in decimal, zero-padded to `width` digits (Go's `2006`
/// and `01` layout elements do the same).
fn push_padded(out: &mut String, value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut n = value;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = i.min(digits.len() - width);
    for &d in &digits[start..] {
        out.push(char::from(d));
    }
}

/// Jaeger's service document hash: FNV-1a 64 over the service name bytes
/// then the operation name bytes, with nothing between them.
pub fn service_doc_hash(service: &str, operation: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for &b in service.as_bytes().iter().chain(operation.as_bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// The `_id` Jaeger gives the service:operation document: the hash as
/// lowercase hex *without* zero padding (Go `fmt.Sprintf("%x", …)`).
pub fn service_doc_id(service: &str, operation: &str) -> String {
    format!("{:x}", service_doc_hash(service, operation))
}

/// Appends the service document JSON, `{"serviceName":…,"operationName":…}`,
/// escaped like the span writer escapes strings.
pub fn write_service_doc(out: &mut Vec<u8>, service: &str, operation: &str) {
    out.extend_from_slice(b"{\"serviceName\":");
    push_json_str(out, service);
    out.extend_from_slice(b",\"operationName\":");
    push_json_str(out, operation);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jaeger::model::Service;

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
    fn civil_from_days_agrees_with_its_inverse_for_every_day_of_four_centuries() {
        let start = -719_468_i64; // 0000-03-01
        let mut expected = (0_i64, 3_u32, 1_u32);
        let month_len = |y: i64, m: u32| match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        for days in start..start + 146_097 * 5 {
            assert_eq!(civil_from_days(days), expected, "days {days}");
            let (y, m, d) = expected;
            expected = if d < month_len(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
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

    #[test]
    fn service_doc_id_matches_jaeger_fnv64a() {
        // FNV-1a 64 of the empty input is the offset basis; of "a" a known
        // vector; Jaeger prints it with %x, so no zero padding.
        assert_eq!(service_doc_id("", ""), "cbf29ce484222325");
        assert_eq!(service_doc_id("a", ""), "af63dc4c8601ec8c");
        assert_eq!(service_doc_id("", "a"), "af63dc4c8601ec8c");
        assert_eq!(service_doc_id("foo", "bar"), service_doc_id("foob", "ar"));
        assert_eq!(service_doc_id("foobar", ""), "85944171f73967e8");
        // A hash below 2^60 would print fewer than 16 digits.
        assert_eq!(format!("{:x}", 0x0abc_u64), "abc");
    }

    #[test]
    fn writes_service_doc_json() {
        let mut out = Vec::new();
        write_service_doc(&mut out, "api \"v2\"", "GET /x");
        assert_eq!(
            out,
            br#"{"serviceName":"api \"v2\"","operationName":"GET /x"}"#.to_vec()
        );
        let parsed: Service = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(parsed.service_name, "api \"v2\"");
    }
}
