//! Row ids and timestamps, made here rather than by the database so the
//! same SQL runs on SQLite and Postgres.
//!
//! Timestamps are UTC RFC 3339 with milliseconds ("2026-11-28T19:51:48.123Z"):
//! readable in an export, and they sort as text. Ids start with the time
//! in milliseconds, so they sort by creation too.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A new row id: 12 hex digits of milliseconds since 1970, 6 of a
/// per-process counter (so ids made in one millisecond keep their order),
/// then 10 of a per-process random hash, so two replicas writing to one
/// Postgres do not collide.
pub fn new_id(now: SystemTime) -> String {
    static STATE: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let millis = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = STATE
        .get_or_init(RandomState::new)
        .hash_one((count, millis));
    format!(
        "{:012x}{:06x}{:010x}",
        millis & 0xffff_ffff_ffff,
        count & 0xff_ffff,
        random & 0xff_ffff_ffff
    )
}

pub fn format_timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs() as i64;
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// `--since`: a UTC date or time ("2026-11-28", "2026-11-28T09:30",
/// "2026-11-28T09:30:00Z") or an age ("90m", "24h", "7d"). Returns the
/// lower bound as text that compares with stored timestamps.
pub fn parse_since(text: &str, now: SystemTime) -> Result<String, String> {
    let text = text.trim();
    if let Some(age) = parse_age(text) {
        return Ok(format_timestamp(now.checked_sub(age).unwrap_or(UNIX_EPOCH)));
    }
    let time = text.replacen(' ', "T", 1);
    let time = time.strip_suffix('Z').unwrap_or(&time);
    // The shape of "YYYY-MM-DDTHH:MM:SS.fff", cut anywhere after the day.
    const SHAPE: &str = "dddd-dd-ddTdd:dd:dd.ddd";
    let fits = time.len() >= 10
        && time.len() <= SHAPE.len()
        && time.len() != 11
        && time.chars().zip(SHAPE.chars()).all(|(c, s)| match s {
            'd' => c.is_ascii_digit(),
            other => c == other,
        })
        && !matches!(time.len(), 12 | 14 | 15 | 17 | 18 | 20);
    if fits {
        Ok(time.to_string())
    } else {
        Err(format!(
            "`{text}` is not a time: give a UTC date or time such as 2026-11-28 or \
             2026-11-28T09:30:00Z, or an age such as 90m, 24h or 7d"
        ))
    }
}

fn parse_age(text: &str) -> Option<Duration> {
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let count: u64 = text[..text.len() - 1].parse().ok()?;
    Some(Duration::from_secs(count.checked_mul(unit)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_rfc3339_with_milliseconds() {
        assert_eq!(format_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap_day = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(format_timestamp(leap_day), "2024-02-29T12:34:56.789Z");
        let later = UNIX_EPOCH + Duration::from_secs(4_102_444_800);
        assert_eq!(format_timestamp(later), "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn ids_are_unique_and_sort_by_time() {
        let now = SystemTime::now();
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| new_id(now)).collect();
        assert_eq!(ids.len(), 10_000);
        let later = new_id(now + Duration::from_millis(5));
        assert!(ids.iter().all(|id| id.len() == 28 && *id < later));
        // Within one millisecond, ids keep the order they were made in.
        let (first, second) = (new_id(now), new_id(now));
        assert!(first < second, "{first} then {second}");
    }

    #[test]
    fn since_takes_dates_times_and_ages() {
        let now = UNIX_EPOCH + Duration::from_secs(86_400 * 2);
        assert_eq!(parse_since("2026-11-28", now).unwrap(), "2026-11-28");
        assert_eq!(
            parse_since("2026-11-28T09:30:00Z", now).unwrap(),
            "2026-11-28T09:30:00"
        );
        assert_eq!(
            parse_since("2026-11-28 09:30", now).unwrap(),
            "2026-11-28T09:30"
        );
        assert_eq!(parse_since("1d", now).unwrap(), "1970-01-02T00:00:00.000Z");
        assert_eq!(parse_since("36h", now).unwrap(), "1970-01-01T12:00:00.000Z");
        for bad in [
            "yesterday",
            "2026-11",
            "2026-11-28T9",
            "2026-11-28T09:30+01:00",
            "5w",
        ] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
        // A bound without seconds still includes rows of that minute.
        assert!(
            "2026-11-28T09:30:00.000Z" >= parse_since("2026-11-28T09:30Z", now).unwrap().as_str()
        );
    }
}
