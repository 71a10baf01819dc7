//! ISO 8601 UTC text of engine timestamps, as Lambda writes them in window bounds
//! (`2020-12-09T07:04:00Z`) and on-failure documents (`2019-11-14T00:38:06.021Z`).

use crate::engine::types::Timestamp;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso8601_millis(t: Timestamp) -> String {
    let (date, secs, ms) = split(t);
    format!("{date}T{:02}:{:02}:{:02}.{ms:03}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `YYYY-MM-DDTHH:MM:SSZ`, with a `.mmm` fraction only when the time is not a whole second.
pub fn iso8601_secs(t: Timestamp) -> String {
    let (date, secs, ms) = split(t);
    let frac = if ms == 0 { String::new() } else { format!(".{ms:03}") };
    format!("{date}T{:02}:{:02}:{:02}{frac}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// (`YYYY-MM-DD`, seconds of the day, milliseconds of the second).
fn split(t: Timestamp) -> (String, i64, i64) {
    let ms = t.as_millis();
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = crate::clock::civil_from_days(days);
    (format!("{y:04}-{m:02}-{d:02}"), in_day / 1000, in_day % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(iso8601_millis(Timestamp(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_millis(Timestamp(1_573_691_886_021)), "2019-11-14T00:38:06.021Z");
        assert_eq!(iso8601_secs(Timestamp(1_607_497_440_000)), "2020-12-09T07:04:00Z");
        assert_eq!(iso8601_secs(Timestamp(951_782_400_500)), "2000-02-29T00:00:00.500Z");
        assert_eq!(iso8601_millis(Timestamp(-1)), "1969-12-31T23:59:59.999Z");
    }
}
