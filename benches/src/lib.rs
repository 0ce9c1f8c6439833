//! Shared pieces of the Agora benchmarks: latency recording and summaries for `agora-load`,
//! the REST set-up calls it makes, its WebSocket load (`ws`), and the duration syntax of its
//! command line. Criterion benches live in `benches/`.

pub mod api;
pub mod stats;
pub mod ws;

use std::time::Duration;

/// Parses `20s`, `500ms`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 =
        digits.parse().map_err(|_| format!("{raw:?}: expected a number followed by ms, s, m or h (e.g. 20s)"))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        other => return Err(format!("{raw:?}: unknown unit {other:?} (use ms, s, m or h)")),
    };
    if d.is_zero() {
        return Err(format!("{raw:?}: must be longer than zero"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in ["", "s", "0s", "10x", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
