//! Row ids and timestamps, made here rather than by the database so the
//! same SQL runs on SQLite and Postgres.
//!
//! Ids are UUID v7 (`uuid`): they start with the time in milliseconds and
//! keep their creation order within a process, so they sort by creation,
//! and their random bits keep two replicas writing to one Postgres apart.
//! Timestamps are UTC RFC 3339 with milliseconds ("2026-11-28T19:51:48.123Z",
//! written by `time`): readable in an export, and they sort as text.

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

/// A new row id, later than every id this process made before.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

const TIMESTAMP: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

pub fn format_timestamp(time: SystemTime) -> String {
    OffsetDateTime::from(time)
        .format(TIMESTAMP)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_string())
}

/// `--since`: a UTC date or time ("2026-11-28", "2026-11-28T09:30",
/// "2026-11-28T09:30:00Z") or an age (`humantime`: "90m", "24h", "7d").
/// Returns the lower bound as text that compares with stored timestamps.
pub fn parse_since(text: &str, now: SystemTime) -> Result<String, String> {
    let text = text.trim();
    if let Ok(age) = humantime::parse_duration(text) {
        return Ok(format_timestamp(now.checked_sub(age).unwrap_or(UNIX_EPOCH)));
    }
    let time = text.replacen(' ', "T", 1);
    let time = time.strip_suffix('Z').unwrap_or(&time);
    if is_date_or_time(time) {
        // Stored timestamps are this text's prefix form: compare as text.
        Ok(time.to_string())
    } else {
        Err(format!(
            "`{text}` is not a time: give a UTC date or time such as 2026-11-28 or \
             2026-11-28T09:30:00Z, or an age such as 90m, 24h or 7d"
        ))
    }
}

/// A real calendar date, or date and time to the minute, second or
/// fraction of a second.
fn is_date_or_time(text: &str) -> bool {
    const DATE: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");
    const TIMES: [&[BorrowedFormatItem<'static>]; 3] = [
        format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"),
    ];
    Date::parse(text, DATE).is_ok()
        || TIMES
            .iter()
            .any(|format| PrimitiveDateTime::parse(text, format).is_ok())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
        let ids: Vec<String> = (0..10_000).map(|_| new_id()).collect();
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), 10_000);
        assert!(ids.iter().all(|id| id.len() == 36));
        // Ids keep the order they were made in, within a millisecond too.
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
        std::thread::sleep(Duration::from_millis(5));
        let later = new_id();
        assert!(ids.iter().all(|id| *id < later));
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
            "2026-02-30",
            "5x",
        ] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
        // A bound without seconds still includes rows of that minute.
        assert!(
            "2026-11-28T09:30:00.000Z" >= parse_since("2026-11-28T09:30Z", now).unwrap().as_str()
        );
    }
}
