//! The reasons a span is refused at the door, and the checks behind them:
//! shared by the Jaeger and Zipkin → OTLP translators and by the OTLP split
//! ([`crate::otlp`]), which every input goes through last.
//!
//! A span is refused rather than stored with invented data: a zero trace or
//! span ID would merge unrelated spans in storage, and a start time that is
//! missing, negative or too large to express in nanoseconds (often a
//! nanosecond value sent where microseconds belong) would create a daily
//! index for 1970 or the year 50000. The split also refuses a start outside
//! a [`TimeWindow`] around the receiving clock, so that no span creates an
//! index retention never reaches. Refused spans are counted by reason so a
//! receiver can report them and export the rest.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

/// Why a span was refused; `label()` is the `reason` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The trace ID is all zeros.
    ZeroTraceId,
    /// The span ID is all zeros.
    ZeroSpanId,
    /// An ID has the wrong number of bytes or is not valid hex.
    InvalidId,
    /// Start time missing or not representable, or a negative duration.
    InvalidTimestamp,
    /// Start time outside the [`TimeWindow`] around the receiving clock.
    TimestampOutOfWindow,
    /// Larger than a Kafka message, even alone.
    TooLarge,
}

impl Refusal {
    /// Every reason, in `label()` order of the metric's known values.
    pub const ALL: [Refusal; 6] = [
        Refusal::ZeroTraceId,
        Refusal::ZeroSpanId,
        Refusal::InvalidId,
        Refusal::InvalidTimestamp,
        Refusal::TimestampOutOfWindow,
        Refusal::TooLarge,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::ZeroTraceId => "zero_trace_id",
            Refusal::ZeroSpanId => "zero_span_id",
            Refusal::InvalidId => "invalid_id",
            Refusal::InvalidTimestamp => "invalid_timestamp",
            Refusal::TimestampOutOfWindow => "timestamp_out_of_window",
            Refusal::TooLarge => "too_large",
        }
    }
}

/// Refused spans by reason, and the first refusal's description for the client.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refusals {
    counts: [u64; Refusal::ALL.len()],
    first: Option<String>,
}

impl Refusals {
    /// Counts one refused span; `describe` runs only for the first one.
    pub fn add(&mut self, refusal: Refusal, describe: impl FnOnce() -> String) {
        self.counts[refusal as usize] += 1;
        if self.first.is_none() {
            self.first = Some(describe());
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(reason label, count)` for every reason with at least one span.
    pub fn by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Refusal::ALL
            .iter()
            .map(|r| (r.label(), self.counts[*r as usize]))
            .filter(|(_, n)| *n > 0)
    }

    /// The first refused span's description, if any span was refused.
    pub fn first(&self) -> Option<&str> {
        self.first.as_deref()
    }
}

/// The start times a span may have, from the clock when it is received: at
/// most `max_age` before it and `max_future` after it (the collector's
/// `--max-span-age` and `--max-span-future`). A span's daily index is the
/// day of its start, so this bounds the indices a client can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Nanoseconds since the epoch.
    now: u64,
    max_age: u64,
    max_future: u64,
}

impl TimeWindow {
    /// Any positive start time is accepted.
    pub const ANY: TimeWindow = TimeWindow {
        now: 0,
        max_age: 0,
        max_future: u64::MAX,
    };

    /// The window around `now`.
    pub fn around(now: SystemTime, max_age: Duration, max_future: Duration) -> Self {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        TimeWindow {
            now: nanos(now.duration_since(UNIX_EPOCH).unwrap_or_default()),
            max_age: nanos(max_age),
            max_future: nanos(max_future),
        }
    }

    /// Checks a span's OTLP start and end (ns since the epoch): a start of 0
    /// (unset) or an end before the start is invalid; a start outside the
    /// window is refused with the description `describe` gets.
    pub fn check(&self, start: u64, end: u64) -> Result<(), (Refusal, TimeProblem)> {
        if start == 0 {
            return Err((Refusal::InvalidTimestamp, TimeProblem::NoStart));
        }
        if end < start {
            return Err((Refusal::InvalidTimestamp, TimeProblem::EndsBeforeStart));
        }
        if *self == Self::ANY {
            return Ok(());
        }
        if start < self.now.saturating_sub(self.max_age) {
            return Err((Refusal::TimestampOutOfWindow, TimeProblem::TooOld));
        }
        if start > self.now.saturating_add(self.max_future) {
            return Err((Refusal::TimestampOutOfWindow, TimeProblem::InFuture));
        }
        Ok(())
    }

    /// Why `check` refused a span starting at `start`, for the client.
    pub fn describe(&self, problem: TimeProblem, start: u64, end: u64) -> String {
        match problem {
            TimeProblem::NoStart => "has no start time (start_time_unix_nano 0)".to_owned(),
            TimeProblem::EndsBeforeStart => format!(
                "ends before it starts (end_time_unix_nano {end} < start_time_unix_nano {start})"
            ),
            TimeProblem::TooOld => format!(
                "starts at {}, more than {} (--max-span-age) before the collector's clock {}",
                rfc3339(start),
                duration(self.max_age),
                rfc3339(self.now)
            ),
            TimeProblem::InFuture => format!(
                "starts at {}, more than {} (--max-span-future) after the collector's clock {}",
                rfc3339(start),
                duration(self.max_future),
                rfc3339(self.now)
            ),
        }
    }
}

/// What [`TimeWindow::check`] found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeProblem {
    NoStart,
    EndsBeforeStart,
    TooOld,
    InFuture,
}

/// `72h`, `90m` or `45s`, as the duration flags are written.
fn duration(nanos: u64) -> String {
    let seconds = nanos / 1_000_000_000;
    match seconds {
        s if s % 3_600 == 0 && s > 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `2026-12-06T18:30:00Z` for nanoseconds since the epoch.
fn rfc3339(nanos: u64) -> String {
    let seconds = nanos / 1_000_000_000;
    let (year, month, day) = crate::civil_date::civil_from_days((seconds / 86_400) as i64);
    let time = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        time / 3_600,
        time / 60 % 60,
        time % 60
    )
}

/// An OTLP request built from another format, holding only the spans that
/// passed the checks.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Translated {
    pub request: ExportTraceServiceRequest,
    /// Spans in `request`.
    pub spans: u64,
    pub refused: Refusals,
}

/// Microseconds since the epoch (start) and a duration in microseconds →
/// OTLP start and end in nanoseconds. The start must be positive and both
/// ends must fit in `u64` nanoseconds (before the year 2554).
pub fn micros_to_nanos(start_micros: i64, duration_micros: i64) -> Result<(u64, u64), Refusal> {
    if start_micros <= 0 || duration_micros < 0 {
        return Err(Refusal::InvalidTimestamp);
    }
    let start = (start_micros as u64)
        .checked_mul(1_000)
        .ok_or(Refusal::InvalidTimestamp)?;
    let end = (duration_micros as u64)
        .checked_mul(1_000)
        .and_then(|d| start.checked_add(d))
        .ok_or(Refusal::InvalidTimestamp)?;
    Ok((start, end))
}

/// Checks a 16-byte trace ID and 8-byte span ID for the all-zero value.
pub fn check_ids(trace_id: &[u8; 16], span_id: &[u8; 8]) -> Result<(), Refusal> {
    if *trace_id == [0; 16] {
        Err(Refusal::ZeroTraceId)
    } else if *span_id == [0; 8] {
        Err(Refusal::ZeroSpanId)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_microseconds_and_refuses_absurd_times() {
        assert_eq!(
            micros_to_nanos(1_700_000_000_000_000, 1_500),
            Ok((1_700_000_000_000_000_000, 1_700_000_000_001_500_000))
        );
        assert_eq!(micros_to_nanos(0, 1), Err(Refusal::InvalidTimestamp));
        assert_eq!(micros_to_nanos(-5, 1), Err(Refusal::InvalidTimestamp));
        assert_eq!(
            micros_to_nanos(1_700_000_000_000_000, -1),
            Err(Refusal::InvalidTimestamp)
        );
        // Nanoseconds sent as microseconds.
        assert_eq!(
            micros_to_nanos(1_700_000_000_000_000_000, 1),
            Err(Refusal::InvalidTimestamp)
        );
        assert_eq!(
            micros_to_nanos(1_700_000_000_000_000, i64::MAX),
            Err(Refusal::InvalidTimestamp)
        );
    }

    #[test]
    fn counts_refusals_by_reason_and_keeps_the_first_description() {
        let mut refusals = Refusals::default();
        refusals.add(Refusal::ZeroTraceId, || "span 1: zero trace id".into());
        refusals.add(Refusal::InvalidTimestamp, || "span 2".into());
        refusals.add(Refusal::ZeroTraceId, || unreachable!());
        assert_eq!(refusals.total(), 3);
        assert_eq!(
            refusals.by_reason().collect::<Vec<_>>(),
            vec![("zero_trace_id", 2), ("invalid_timestamp", 1)]
        );
        assert_eq!(refusals.first(), Some("span 1: zero trace id"));
        assert_eq!(check_ids(&[0; 16], &[1; 8]), Err(Refusal::ZeroTraceId));
        assert_eq!(check_ids(&[1; 16], &[0; 8]), Err(Refusal::ZeroSpanId));
        assert_eq!(check_ids(&[1; 16], &[1; 8]), Ok(()));
    }

    #[test]
    fn time_window_refuses_unset_reversed_old_and_future_starts() {
        const HOUR: u64 = 3_600_000_000_000;
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let now_ns = 1_800_000_000 * 1_000_000_000;
        let window = TimeWindow::around(
            now,
            Duration::from_secs(72 * 3600),
            Duration::from_secs(3600),
        );
        assert_eq!(window.check(now_ns, now_ns + 5), Ok(()));
        assert_eq!(window.check(now_ns - 72 * HOUR, now_ns), Ok(()));
        assert_eq!(window.check(now_ns + HOUR, now_ns + HOUR), Ok(()));
        assert_eq!(
            window.check(0, 10),
            Err((Refusal::InvalidTimestamp, TimeProblem::NoStart))
        );
        assert_eq!(
            window.check(now_ns, now_ns - 1),
            Err((Refusal::InvalidTimestamp, TimeProblem::EndsBeforeStart))
        );
        assert_eq!(
            window.check(now_ns - 72 * HOUR - 1, now_ns),
            Err((Refusal::TimestampOutOfWindow, TimeProblem::TooOld))
        );
        // 2200-01-01, the example.
        let future = 7_258_118_400 * 1_000_000_000;
        assert_eq!(
            window.check(future, future),
            Err((Refusal::TimestampOutOfWindow, TimeProblem::InFuture))
        );
        assert_eq!(
            window.describe(TimeProblem::InFuture, future, future),
            "starts at 2200-01-01T00:00:00Z, more than 1h (--max-span-future) after the collector's clock 2027-01-15T08:00:00Z"
        );
        assert_eq!(TimeWindow::ANY.check(future, future), Ok(()));
        assert_eq!(TimeWindow::ANY.check(1, 1), Ok(()));
    }
}
