//! Latency and outcome recording for load runs. Every latency is kept (microseconds, u32)
//! and sorted once at the end, so percentiles are exact.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// What one worker observed. Workers record into their own recorder and merge at the end.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    /// Latency of every request that got an HTTP answer, in microseconds.
    latencies_us: Vec<u32>,
    /// Answers by status code.
    statuses: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer (connect error, reset, timeout).
    transport_errors: u64,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record(&mut self, status: u16, latency: Duration) {
        self.latencies_us.push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        *self.statuses.entry(status).or_insert(0) += 1;
    }

    pub fn record_transport_error(&mut self) {
        self.transport_errors += 1;
    }

    pub fn merge(&mut self, other: Recorder) {
        self.latencies_us.extend(other.latencies_us);
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_insert(0) += n;
        }
        self.transport_errors += other.transport_errors;
    }

    /// How many answers had this status.
    pub fn count(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// Summarizes the run; `elapsed` is the wall time the workers ran for.
    pub fn summary(mut self, elapsed: Duration) -> Summary {
        self.latencies_us.sort_unstable();
        let answered = self.latencies_us.len() as u64;
        let requests = answered + self.transport_errors;
        let ok: u64 = self.statuses.iter().filter(|(s, _)| (200..300).contains(*s)).map(|(_, n)| n).sum();
        let mut errors: BTreeMap<String, u64> =
            self.statuses.iter().filter(|(s, _)| !(200..300).contains(*s)).map(|(s, n)| (s.to_string(), *n)).collect();
        if self.transport_errors > 0 {
            errors.insert("transport".into(), self.transport_errors);
        }
        let secs = elapsed.as_secs_f64();
        let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        Summary {
            requests,
            ok,
            errors,
            elapsed_secs: secs,
            req_per_sec: per_sec(requests),
            ok_per_sec: per_sec(ok),
            latency_us: LatencySummary::of_sorted(&self.latencies_us),
        }
    }
}

/// Latency samples alone (microseconds), for runs whose outcomes are counted elsewhere
/// (the WebSocket load). Percentiles are exact, like [`Recorder`]'s.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples_us: Vec<u32>,
}

impl Latencies {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record(&mut self, latency: Duration) {
        self.record_us(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn record_us(&mut self, us: u64) {
        self.samples_us.push(u32::try_from(us).unwrap_or(u32::MAX));
    }

    pub fn merge(&mut self, other: Latencies) {
        self.samples_us.extend(other.samples_us);
    }

    pub fn len(&self) -> usize {
        self.samples_us.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples_us.is_empty()
    }

    pub fn summary(mut self) -> LatencySummary {
        self.samples_us.sort_unstable();
        LatencySummary::of_sorted(&self.samples_us)
    }
}

/// Nearest-rank percentile of sorted samples (`q` in 0..=1); 0 when there are none.
pub fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Microseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    pub mean: u64,
    pub p50: u32,
    pub p90: u32,
    pub p99: u32,
    pub max: u32,
}

impl LatencySummary {
    /// Summarizes samples sorted in ascending order (all zeros when there are none).
    pub fn of_sorted(sorted: &[u32]) -> Self {
        let sum: u64 = sorted.iter().map(|&us| u64::from(us)).sum();
        LatencySummary {
            mean: sum.checked_div(sorted.len() as u64).unwrap_or(0),
            p50: percentile(sorted, 0.50),
            p90: percentile(sorted, 0.90),
            p99: percentile(sorted, 0.99),
            max: sorted.last().copied().unwrap_or(0),
        }
    }

    /// The same figures in milliseconds.
    pub fn in_ms(&self) -> LatencyMs {
        let ms = |us: u64| us as f64 / 1e3;
        LatencyMs {
            mean: ms(self.mean),
            p50: ms(u64::from(self.p50)),
            p90: ms(u64::from(self.p90)),
            p99: ms(u64::from(self.p99)),
            max: ms(u64::from(self.max)),
        }
    }
}

/// A [`LatencySummary`] in milliseconds (fractional), for reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyMs {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Requests finished: answered plus transport errors.
    pub requests: u64,
    /// Answers with a 2xx status.
    pub ok: u64,
    /// Everything else, by status code (`"429"`, `"500"`, ...) and `"transport"`.
    pub errors: BTreeMap<String, u64>,
    pub elapsed_secs: f64,
    pub req_per_sec: f64,
    pub ok_per_sec: f64,
    /// Over every answered request, errors included; microseconds.
    pub latency_us: LatencySummary,
}

/// Microseconds as a short human figure: `850us`, `3.21ms`, `1.50s`.
pub fn fmt_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.50), 50);
        assert_eq!(percentile(&v, 0.90), 90);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn merged_recorders_summarize_outcomes_and_latencies() {
        let mut a = Recorder::new();
        for ms in 1..=9 {
            a.record(200, Duration::from_millis(ms));
        }
        let mut b = Recorder::new();
        b.record(429, Duration::from_millis(10));
        b.record_transport_error();
        a.merge(b);
        assert_eq!(a.count(429), 1);
        let s = a.summary(Duration::from_secs(2));
        assert_eq!(s.requests, 11);
        assert_eq!(s.ok, 9);
        assert_eq!(s.errors.get("429"), Some(&1));
        assert_eq!(s.errors.get("transport"), Some(&1));
        assert!((s.req_per_sec - 5.5).abs() < 1e-9);
        assert!((s.ok_per_sec - 4.5).abs() < 1e-9);
        assert_eq!(s.latency_us.p50, 5_000);
        assert_eq!(s.latency_us.p90, 9_000);
        assert_eq!(s.latency_us.max, 10_000);
        assert_eq!(s.latency_us.mean, 5_500);
    }

    #[test]
    fn empty_run_summarizes_to_zeros() {
        let s = Recorder::new().summary(Duration::ZERO);
        assert_eq!(s.requests, 0);
        assert_eq!(s.req_per_sec, 0.0);
        assert_eq!(s.latency_us.max, 0);
    }

    #[test]
    fn bare_latencies_summarize_exactly() {
        let mut a = Latencies::new();
        for us in 1..=50 {
            a.record_us(us * 1_000);
        }
        let mut b = Latencies::new();
        for us in 51..=100 {
            b.record(Duration::from_millis(us));
        }
        a.merge(b);
        assert_eq!(a.len(), 100);
        let s = a.summary();
        assert_eq!((s.p50, s.p90, s.p99, s.max), (50_000, 90_000, 99_000, 100_000));
        assert_eq!(s.mean, 50_500);
        let ms = s.in_ms();
        assert!((ms.p99 - 99.0).abs() < 1e-9);
        assert_eq!(Latencies::new().summary().max, 0);
    }

    #[test]
    fn latencies_print_in_readable_units() {
        assert_eq!(fmt_us(850), "850us");
        assert_eq!(fmt_us(3_210), "3.21ms");
        assert_eq!(fmt_us(1_500_000), "1.50s");
    }
}
