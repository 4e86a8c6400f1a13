//! Serving metrics in the Prometheus text format (version 0.0.4): request
//! counts and latency per model, version, endpoint and outcome (`ok` or
//! the failure's code, as the API reports it); batch sizes,
//! inference time and dropped requests per model version; queue depth and
//! process memory read when scraped. Kept here, not in the server, so every
//! adapter's requests are counted the same way.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Upper bounds, in seconds, for latency and inference time.
const SECONDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds for batch sizes.
const SIZES: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

#[derive(Clone, Debug, Default)]
struct Histogram {
    /// Count per bucket (not cumulative); the last is +Inf.
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; bounds.len() + 1];
        }
        let index = bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(bounds.len());
        self.buckets[index] += 1;
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let mut cumulative = 0;
        for (index, count) in self.buckets.iter().enumerate() {
            cumulative += count;
            let le = bounds
                .get(index)
                .map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// (model, version, endpoint, outcome)
type RequestKey = (String, String, String, String);
/// (model, version, endpoint)
type EndpointKey = (String, String, String);
/// (model, version)
type VersionKey = (String, String);

#[derive(Default)]
struct Series {
    requests: BTreeMap<RequestKey, u64>,
    latency: BTreeMap<EndpointKey, Histogram>,
    batch_size: BTreeMap<VersionKey, Histogram>,
    inference: BTreeMap<VersionKey, Histogram>,
    /// (model, version, reason)
    dropped: BTreeMap<(String, String, &'static str), u64>,
}

#[derive(Default)]
pub struct Metrics {
    series: Mutex<Series>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Series) -> R) -> R {
        // A panic while holding the lock leaves plain numbers behind: keep
        // counting rather than poison every later request.
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut series)
    }

    /// One finished request: `ok`, or the code of its failure.
    pub fn request(&self, model: &str, version: &str, endpoint: &str, outcome: &str, seconds: f64) {
        let (model, version, endpoint) =
            (model.to_string(), version.to_string(), endpoint.to_string());
        self.with(|s| {
            s.latency
                .entry((model.clone(), version.clone(), endpoint.clone()))
                .or_default()
                .observe(&SECONDS, seconds);
            *s.requests
                .entry((model, version, endpoint, outcome.to_string()))
                .or_default() += 1;
        });
    }

    /// One forward pass of `size` requests that took `seconds`.
    pub fn batch(&self, model: &str, version: &str, size: usize, seconds: f64) {
        self.with(|s| {
            let key = (model.to_string(), version.to_string());
            s.batch_size
                .entry(key.clone())
                .or_default()
                .observe(&SIZES, size as f64);
            s.inference
                .entry(key)
                .or_default()
                .observe(&SECONDS, seconds);
        });
    }

    /// A queued request that never ran: its client went away
    /// (`cancelled`) or it waited past its deadline (`deadline`).
    pub fn dropped(&self, model: &str, version: &str, reason: &'static str) {
        self.with(|s| {
            *s.dropped
                .entry((model.to_string(), version.to_string(), reason))
                .or_default() += 1;
        });
    }

    /// The exposition text; `queues` are (model, version, depth) now.
    pub fn render(&self, queues: &[(String, String, usize)]) -> String {
        let mut out = String::new();
        self.with(|s| {
            header(
                &mut out,
                "wick_requests_total",
                "counter",
                "Requests answered, by outcome: ok or the failure's code.",
            );
            for ((model, version, endpoint, outcome), count) in &s.requests {
                let _ = writeln!(
                    out,
                    "wick_requests_total{{{},outcome=\"{}\"}} {count}",
                    endpoint_labels(model, version, endpoint),
                    escape(outcome)
                );
            }
            header(
                &mut out,
                "wick_request_duration_seconds",
                "histogram",
                "Time from a request reaching the engine to its answer, queueing included.",
            );
            for ((model, version, endpoint), histogram) in &s.latency {
                histogram.render(
                    &mut out,
                    "wick_request_duration_seconds",
                    &endpoint_labels(model, version, endpoint),
                    &SECONDS,
                );
            }
            for (name, help, histograms, bounds) in [
                (
                    "wick_batch_size",
                    "Requests per forward pass.",
                    &s.batch_size,
                    &SIZES[..],
                ),
                (
                    "wick_inference_duration_seconds",
                    "Time of one forward pass.",
                    &s.inference,
                    &SECONDS[..],
                ),
            ] {
                header(&mut out, name, "histogram", help);
                for ((model, version), histogram) in histograms {
                    histogram.render(&mut out, name, &version_labels(model, version), bounds);
                }
            }
            header(
                &mut out,
                "wick_requests_dropped_total",
                "counter",
                "Queued requests that never ran: client gone (cancelled) or past the deadline.",
            );
            for ((model, version, reason), count) in &s.dropped {
                let _ = writeln!(
                    out,
                    "wick_requests_dropped_total{{{},reason=\"{reason}\"}} {count}",
                    version_labels(model, version)
                );
            }
        });
        header(
            &mut out,
            "wick_queue_depth",
            "gauge",
            "Requests waiting for a worker.",
        );
        for (model, version, depth) in queues {
            let _ = writeln!(
                out,
                "wick_queue_depth{{{}}} {depth}",
                version_labels(model, version)
            );
        }
        if let Some(rss) = resident_bytes("self") {
            header(
                &mut out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident set size.",
            );
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn version_labels(model: &str, version: &str) -> String {
    format!(
        "model=\"{}\",version=\"{}\"",
        escape(model),
        escape(version)
    )
}

fn endpoint_labels(model: &str, version: &str, endpoint: &str) -> String {
    format!(
        "{},endpoint=\"{}\"",
        version_labels(model, version),
        escape(endpoint)
    )
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Resident memory of a process (`"self"` or a pid), from
/// /proc/PROCESS/status (Linux); `None` elsewhere.
pub fn resident_bytes(process: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let metrics = Metrics::default();
        metrics.request("m", "1", "embed", "ok", 0.003);
        metrics.request("m", "1", "embed", "ok", 0.2);
        metrics.request("m", "1", "embed", "overloaded", 0.0001);
        metrics.batch("m", "1", 3, 0.01);
        metrics.dropped("m", "1", "cancelled");
        let text = metrics.render(&[("m".into(), "1".into(), 2)]);
        for line in [
            "wick_requests_total{model=\"m\",version=\"1\",endpoint=\"embed\",outcome=\"ok\"} 2",
            "wick_requests_total{model=\"m\",version=\"1\",endpoint=\"embed\",outcome=\"overloaded\"} 1",
            "wick_request_duration_seconds_bucket{model=\"m\",version=\"1\",endpoint=\"embed\",le=\"0.005\"} 2",
            "wick_request_duration_seconds_bucket{model=\"m\",version=\"1\",endpoint=\"embed\",le=\"+Inf\"} 3",
            "wick_request_duration_seconds_count{model=\"m\",version=\"1\",endpoint=\"embed\"} 3",
            "wick_batch_size_bucket{model=\"m\",version=\"1\",le=\"2\"} 0",
            "wick_batch_size_bucket{model=\"m\",version=\"1\",le=\"4\"} 1",
            "wick_requests_dropped_total{model=\"m\",version=\"1\",reason=\"cancelled\"} 1",
            "wick_queue_depth{model=\"m\",version=\"1\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
