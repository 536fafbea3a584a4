//! Civil (proleptic Gregorian, UTC) dates as days since 1970-01-01: the one
//! home of the date arithmetic the formats and jobs need (daily index names,
//! RFC 3339 timestamps in Jaeger JSON, retention and rollover dates).
//!
//! Plain civil-from-days arithmetic, so no date crate is involved and every
//! day, month, year and leap-day boundary is exact.

/// Microseconds in a UTC day: a µs timestamp's day is `t / MICROS_PER_DAY`.
pub const MICROS_PER_DAY: u64 = 86_400_000_000;

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

/// Appends the UTC day `day` (days since the epoch) as
/// `YYYY<sep>MM<sep>DD`, zero-padded, without allocating.
pub fn push_date(out: &mut String, separator: &str, day: u64) {
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

/// The days in `month` (1-based) of the proleptic Gregorian `year`.
pub fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
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

/// A day since the epoch as `YYYY<sep>MM<sep>DD`.
pub fn date_string(day: i64, separator: &str) -> String {
    let (year, month, day) = civil_from_days(day);
    format!("{year:04}{separator}{month:02}{separator}{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> i64 {
        parse_date(text, "-").unwrap()
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
}
