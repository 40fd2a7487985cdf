//! Times are Unix milliseconds (UTC) inside; RFC 3339 text outside.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-26T05:57:25.123Z`.
pub fn rfc3339(ms: i64) -> String {
    match fast_rfc3339(ms) {
        Some(buf) => String::from_utf8_lossy(&buf).into_owned(),
        None => slow_rfc3339(ms),
    }
}

/// The same text on the stack, for years 1970–9999 (every time this server
/// writes); lists of many rows serialise thousands of these.
fn fast_rfc3339(ms: i64) -> Option<[u8; 24]> {
    if !(0..253_402_300_800_000).contains(&ms) {
        return None;
    }
    let (days, ms_of_day) = (ms / 86_400_000, ms % 86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut n: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, ms_of_day / 3_600_000);
    put(14, 2, ms_of_day / 60_000 % 60);
    put(17, 2, ms_of_day / 1000 % 60);
    put(20, 3, ms_of_day % 1000);
    Some(out)
}

/// A time that serialises as `rfc3339` text without allocating.
#[derive(Clone, Copy, Debug)]
pub struct Time(pub i64);

impl serde::Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match fast_rfc3339(self.0) {
            Some(buf) => s.serialize_str(std::str::from_utf8(&buf).unwrap_or_default()),
            None => s.serialize_str(&slow_rfc3339(self.0)),
        }
    }
}

fn slow_rfc3339(ms: i64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

pub fn opt_rfc3339(ms: Option<i64>) -> Option<String> {
    ms.map(rfc3339)
}

pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A duration in milliseconds, saturating (settings are durations; the
/// rules compare milliseconds).
pub fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_formatter_agrees_with_the_time_crate() {
        let mut ms: i64 = 0;
        // Epoch, leap days, century rules (2000, 2100), the last ms of 9999.
        let edges = [
            0,
            951_782_400_000,
            951_868_799_999,
            4_107_542_400_000,
            253_402_300_799_999,
        ];
        for &t in &edges {
            assert_eq!(rfc3339(t), slow_rfc3339(t), "{t}");
        }
        for _ in 0..20_000 {
            // A walk over 9,000 years in uneven steps.
            ms = (ms + 14_195_123_457_011) % 253_402_300_800_000;
            assert_eq!(rfc3339(ms), slow_rfc3339(ms), "{ms}");
        }
        assert_eq!(rfc3339(-1), slow_rfc3339(-1));
        assert_eq!(
            serde_json::to_string(&Time(1_795_000_000_123)).unwrap(),
            "\"2026-11-18T11:06:40.123Z\""
        );
    }

    #[test]
    fn time_round_trips_through_rfc3339() {
        let ms = 1_795_000_000_123;
        assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        assert_eq!(rfc3339(1_795_000_000_000), "2026-11-18T11:06:40.000Z");
        assert_eq!(parse_rfc3339("2030-01-01T00:00:00+01:00"), Some(1_893_452_400_000));
        assert_eq!(parse_rfc3339("tomorrow"), None);
    }
}
