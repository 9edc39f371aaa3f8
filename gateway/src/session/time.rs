//! FIX UTCTimestamp (`YYYYMMDD-HH:MM:SS` with optional `.sss`, `.ssssss` or `.sssssssss`) to
//! and from nanoseconds since the Unix epoch, without a calendar dependency.

const NS_PER_SEC: u64 = 1_000_000_000;
const SECS_PER_DAY: u64 = 86_400;

/// Formats `ns` as `YYYYMMDD-HH:MM:SS.sss`.
#[must_use]
pub fn format_utc(ns: u64) -> [u8; 21] {
    let secs = ns / NS_PER_SEC;
    let millis = (ns % NS_PER_SEC) / 1_000_000;
    let (y, m, d) = civil_from_days(secs / SECS_PER_DAY);
    let t = secs % SECS_PER_DAY;
    // `YYYYMMDD-HH:MM:SS.sss`, digits written in place (no formatting machinery: this runs
    // for every message sent).
    let mut out = *b"00000000-00:00:00.000";
    crate::fix::write_fixed::<4>(&mut out[0..4], y);
    crate::fix::write_fixed::<2>(&mut out[4..6], m);
    crate::fix::write_fixed::<2>(&mut out[6..8], d);
    crate::fix::write_fixed::<2>(&mut out[9..11], t / 3600);
    crate::fix::write_fixed::<2>(&mut out[12..14], (t / 60) % 60);
    crate::fix::write_fixed::<2>(&mut out[15..17], t % 60);
    crate::fix::write_fixed::<3>(&mut out[18..21], millis);
    out
}

/// Parses a UTCTimestamp; `None` if it is not one, or is past what `u64` nanoseconds hold
/// (2554-07-21T23:34:33.709551615Z).
#[must_use]
pub fn parse_utc(text: &[u8]) -> Option<u64> {
    if text.len() < 17 || text[8] != b'-' || text[11] != b':' || text[14] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| crate::fix::parse_digits(&text[r]);
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s) = (num(9..11)?, num(12..14)?, num(15..17)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let fraction = match &text[17..] {
        [] => 0,
        [b'.', digits @ ..] if matches!(digits.len(), 3 | 6 | 9) => {
            let value = crate::fix::parse_digits(digits)?;
            value * 10u64.pow(9 - u32::try_from(digits.len()).ok()?)
        }
        _ => return None,
    };
    // Four-digit years reach 9999, but u64 nanoseconds end in 2554: later instants are None.
    let secs = days_from_civil(y, mo, d)? * SECS_PER_DAY + h * 3600 + mi * 60 + s;
    secs.checked_mul(NS_PER_SEC)?.checked_add(fraction)
}

/// Howard Hinnant's `civil_from_days`, for days since 1970-01-01 (non-negative).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// The inverse, for dates from 1970 on; `None` before.
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    let y = if m <= 2 { y.checked_sub(1)? } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format_and_parse() {
        // 2026-11-30T09:30:00.123Z
        let ns = 1_796_031_000_123_000_000;
        assert_eq!(&format_utc(ns), b"20261130-09:30:00.123");
        assert_eq!(parse_utc(b"20261130-09:30:00.123"), Some(ns));
        assert_eq!(parse_utc(b"20261130-09:30:00"), Some(ns - 123_000_000));
        assert_eq!(parse_utc(b"20261130-09:30:00.123000"), Some(ns));
        assert_eq!(&format_utc(0), b"19700101-00:00:00.000");
        assert_eq!(
            parse_utc(b"20240229-23:59:59.999"),
            Some(1_709_251_199_999_000_000)
        );
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        for bad in [
            &b""[..],
            b"20261130 09:30:00",
            b"20261330-09:30:00",
            b"20261130-24:00:00",
            b"20261130-09:30:00.12",
            b"19691231-23:59:59",
            b"2026113a-09:30:00",
        ] {
            assert_eq!(parse_utc(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    /// Found by the `fix_session` fuzz target: a SendingTime(52) in year 3026 overflowed the
    /// nanosecond count (a panic where overflow checks are on, a wrong time elsewhere).
    #[test]
    fn instants_past_u64_nanoseconds_are_refused() {
        assert_eq!(
            parse_utc(b"25540721-23:34:33.709551615"),
            Some(u64::MAX),
            "the last instant u64 holds"
        );
        for late in [
            &b"25540721-23:34:33.709551616"[..],
            b"25540721-23:34:34",
            b"30261130-09:30:00.000",
            b"99991231-23:59:60.999999999",
        ] {
            assert_eq!(parse_utc(late), None, "{}", String::from_utf8_lossy(late));
        }
    }

    #[test]
    fn every_millisecond_of_a_few_centuries_round_trips() {
        let mut ns = 0u64;
        while ns < 200 * 365 * SECS_PER_DAY * NS_PER_SEC {
            assert_eq!(parse_utc(&format_utc(ns)), Some(ns), "{ns}");
            ns += 7_919 * 3_600 * NS_PER_SEC + 1_000_000 * 17;
        }
    }
}
