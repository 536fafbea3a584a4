//! What the Jaeger and Zipkin → OTLP translators share: the result type,
//! the reasons a span is refused, and the checks behind those reasons.
//!
//! A translator refuses a span rather than inventing data for it: a zero
//! trace or span ID would merge unrelated spans in storage, and a start time
//! that is missing, negative or too large to express in nanoseconds (often
//! a nanosecond value sent where microseconds belong) would create a daily
//! index for 1970 or the year 50000. Refused spans are counted by reason so
//! a receiver can report them and export the rest.

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
}

impl Refusal {
    /// Every reason, in the order of their labels' counts.
    pub const ALL: [Refusal; 4] = [
        Refusal::ZeroTraceId,
        Refusal::ZeroSpanId,
        Refusal::InvalidId,
        Refusal::InvalidTimestamp,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::ZeroTraceId => "zero_trace_id",
            Refusal::ZeroSpanId => "zero_span_id",
            Refusal::InvalidId => "invalid_id",
            Refusal::InvalidTimestamp => "invalid_timestamp",
        }
    }
}

/// Refused spans by reason, and the first refusal's description for the client.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refusals {
    counts: [u64; 4],
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
}
