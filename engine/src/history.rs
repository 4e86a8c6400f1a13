//! The recent requests of each model version — when, how long, whether
//! they failed — so that versions can be compared over a chosen window
//! ("is 1.1.0 worse than 1.0.0 since the canary started?"). Prometheus
//! counters answer that only with a time-series database beside Wick;
//! this keeps the last `KEPT` requests per version in memory instead.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Requests remembered per model version (about 1.6 MB each when full).
const KEPT: usize = 100_000;

struct Entry {
    at_ms: u64,
    latency_ms: f32,
    failed: bool,
}

/// One version's requests within a window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VersionSummary {
    pub requests: u64,
    /// Requests that ended in an error (a cancelled request is not one).
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl VersionSummary {
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }
}

#[derive(Default)]
pub struct History {
    versions: Mutex<BTreeMap<(String, String), VecDeque<Entry>>>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl History {
    pub fn record(&self, model: &str, version: &str, outcome: &str, seconds: f64) {
        let mut versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        let entries = versions
            .entry((model.to_string(), version.to_string()))
            .or_default();
        if entries.len() == KEPT {
            entries.pop_front();
        }
        entries.push_back(Entry {
            at_ms: now_ms(),
            latency_ms: (seconds * 1000.0) as f32,
            failed: outcome != "ok" && outcome != "cancelled",
        });
    }

    /// Each version of `model` over the requests since `since_ms` (Unix
    /// milliseconds).
    pub fn summary(&self, model: &str, since_ms: u64) -> BTreeMap<String, VersionSummary> {
        let versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        versions
            .iter()
            .filter(|((name, _), _)| name == model)
            .map(|((_, version), entries)| {
                let recent: Vec<&Entry> = entries.iter().filter(|e| e.at_ms >= since_ms).collect();
                let mut latencies: Vec<f64> = recent.iter().map(|e| e.latency_ms as f64).collect();
                latencies.sort_by(f64::total_cmp);
                let summary = VersionSummary {
                    requests: recent.len() as u64,
                    errors: recent.iter().filter(|e| e.failed).count() as u64,
                    p50_ms: percentile(&latencies, 0.50),
                    p99_ms: percentile(&latencies, 0.99),
                };
                (version.clone(), summary)
            })
            .collect()
    }
}

/// The nearest-rank `p` quantile (0..=1) of sorted values; `None` for none.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_summarized_over_the_window() {
        let history = History::default();
        for i in 1..=100 {
            history.record("m", "1", "ok", i as f64 / 1000.0);
        }
        history.record("m", "2", "overloaded", 0.5);
        history.record("m", "2", "cancelled", 0.5);
        history.record("other", "1", "ok", 0.1);
        let summary = history.summary("m", 0);
        assert_eq!(summary["1"].requests, 100);
        assert_eq!(summary["1"].p50_ms, Some(50.0));
        assert_eq!(summary["1"].p99_ms, Some(99.0));
        assert_eq!(summary["2"].errors, 1);
        assert_eq!(summary["2"].error_rate(), Some(0.5));
        assert!(history.summary("m", now_ms() + 60_000)["1"].requests == 0);
    }
}
