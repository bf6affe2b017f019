//! Date parsing for Arrival-Date, Received-Date and Received headers.
//!
//! Reporters write RFC 5322 dates with obsolete zone names (`EST`, `PST`, `UTC`), `-0000`,
//! two-digit years, trailing comments, missing weekdays and sometimes asctime or RFC 3339.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Parses a mail date into UTC; `None` when it cannot be understood.
pub fn parse_date(value: &str) -> Option<DateTime<Utc>> {
    let v = value.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(v) {
        return Some(dt.with_timezone(&Utc));
    }
    let cleaned = strip_comments(v).replace(',', " ");
    let tokens: Vec<&str> = cleaned.split_whitespace().collect();
    let mut t = tokens.as_slice();
    // Weekday names are optional and carry nothing.
    if let Some(first) = t.first() {
        if first.len() >= 3
            && first.chars().all(|c| c.is_ascii_alphabetic())
            && month(first).is_none()
        {
            t = t.get(1..).unwrap_or_default();
        }
    }
    let (day, mon, year, time, zone) = match t {
        // RFC 5322: 4 Aug 2015 08:51:18 -0000
        [d, m, y, time, rest @ ..] if month(m).is_some() => {
            (*d, *m, *y, *time, rest.first().copied())
        }
        // asctime: Aug 4 08:51:18 2015 [zone]
        [m, d, time, y, rest @ ..] if month(m).is_some() && time.contains(':') => {
            (*d, *m, *y, *time, rest.first().copied())
        }
        _ => return None,
    };
    let day: u32 = day.parse().ok()?;
    let mon = month(mon)?;
    let year = parse_year(year)?;
    let date = NaiveDate::from_ymd_opt(year, mon, day)?;
    let time = parse_time(time)?;
    let offset = zone.map_or(Some(0), parse_zone)?;
    let tz = FixedOffset::east_opt(offset)?;
    let local = date.and_time(time);
    tz.from_local_datetime(&local)
        .single()
        .map(|dt| dt.with_timezone(&Utc))
}

fn strip_comments(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut depth = 0u32;
    for c in v.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn month(token: &str) -> Option<u32> {
    let t = token.get(..3)?.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == t)
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn parse_year(token: &str) -> Option<i32> {
    if !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i32 = token.parse().ok()?;
    // RFC 5322 4.3: two-digit years below 50 are 20xx, others 19xx; three digits add 1900.
    Some(match token.len() {
        1 | 2 if y < 50 => 2000 + y,
        1..=3 => 1900 + y,
        _ => y,
    })
}

fn parse_time(token: &str) -> Option<NaiveTime> {
    let mut it = token.split(':');
    let h: u32 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let s: u32 = match it.next() {
        // Fractions of a second appear in some generators' output.
        Some(s) => s.split('.').next()?.parse().ok()?,
        None => 0,
    };
    // A leap second cannot be represented; the second before is close enough.
    NaiveTime::from_hms_opt(h, m, s.min(59))
}

/// Offset east of UTC in seconds. Unknown alphabetic zones count as UTC, as RFC 5322 says
/// for military zones it cannot trust.
fn parse_zone(token: &str) -> Option<i32> {
    let bytes = token.as_bytes();
    if let (Some(sign @ (b'+' | b'-')), Some(digits)) = (bytes.first(), token.get(1..)) {
        // `+01:00`, as RFC 3339 writes it, appears after asctime dates too (X-ARF reporters).
        let digits = match digits.split_once(':') {
            Some((h, m)) if h.len() == 2 && m.len() == 2 => format!("{h}{m}"),
            _ => digits.to_string(),
        };
        if digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()) {
            let n: i32 = digits.parse().ok()?;
            let secs = (n / 100) * 3600 + (n % 100) * 60;
            return Some(if *sign == b'-' { -secs } else { secs });
        }
        return None;
    }
    let hours = match token.to_ascii_uppercase().as_str() {
        "EST" => -5,
        "EDT" => -4,
        "CST" => -6,
        "CDT" => -5,
        "MST" => -7,
        "MDT" => -6,
        "PST" => -8,
        "PDT" => -7,
        "CET" => 1,
        "CEST" => 2,
        "BST" => 1,
        "JST" => 9,
        _ => 0,
    };
    Some(hours * 3600)
}

#[cfg(test)]
mod tests {
    use super::parse_date;

    #[test]
    fn zones_with_a_colon() {
        let expected = "2014-02-13T17:28:15Z".parse().ok();
        assert_eq!(parse_date("Thu Feb 13 18:28:15 2014 +01:00 GMT"), expected);
        assert_eq!(parse_date("Thu, 13 Feb 2014 18:28:15 +0100"), expected);
        assert_eq!(parse_date("Thu, 13 Feb 2014 18:28:15 +1:00"), None);
    }
}
