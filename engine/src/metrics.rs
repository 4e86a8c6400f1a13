//! Serving metrics, exposed in the OpenMetrics text format by
//! `prometheus-client`: request counts and latency per model, version,
//! endpoint and outcome (`ok` or the failure's code, as the API reports it);
//! batch sizes, inference time and dropped requests per model version; queue
//! depth and process memory read when scraped. Kept here, not in the server,
//! so every adapter's requests are counted the same way.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::history::History;
use crate::shadow::ShadowStats;

/// The content type of `Metrics::render`'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds, in seconds, for latency and inference time.
const SECONDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds for batch sizes.
const SIZES: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    model: String,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    model: String,
    version: String,
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    model: String,
    version: String,
    endpoint: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShadowLabels {
    model: String,
    version: String,
    endpoint: String,
    output: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DroppedLabels {
    model: String,
    version: String,
    reason: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(SECONDS)
}

fn size_histogram() -> Histogram {
    Histogram::new(SIZES)
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<EndpointLabels, Histogram>,
    batch_size: Family<VersionLabels, Histogram>,
    inference: Family<VersionLabels, Histogram>,
    dropped: Family<DroppedLabels, Counter>,
    generated: Family<VersionLabels, Counter>,
    queue_depth: Family<VersionLabels, Gauge>,
    resident_memory: Gauge,
    shadow_compared: Family<ShadowLabels, Gauge>,
    shadow_agreement: Family<ShadowLabels, Gauge<f64, AtomicU64>>,
    shadow_cosine: Family<ShadowLabels, Gauge<f64, AtomicU64>>,
    /// Recent requests per version, for comparing versions over a window.
    pub history: History,
    /// How shadow versions' answers compare with the serving ones'.
    pub shadows: ShadowStats,
    /// One scrape at a time: the gauges read at scrape time are cleared and
    /// set again, and two scrapes must not interleave that.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::default();
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let batch_size = Family::new_with_constructor(size_histogram as fn() -> Histogram);
        let inference = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let dropped = Family::default();
        let generated = Family::default();
        let queue_depth = Family::default();
        let resident_memory = Gauge::default();
        let shadow_compared = Family::default();
        let shadow_agreement = Family::default();
        let shadow_cosine = Family::default();
        let mut registry = Registry::default();
        // Counters get their `_total` suffix from the encoder.
        registry.register(
            "wick_requests",
            "Requests answered, by outcome: ok or the failure's code",
            requests.clone(),
        );
        registry.register(
            "wick_request_duration_seconds",
            "Time from a request reaching the engine to its answer, queueing included",
            latency.clone(),
        );
        registry.register(
            "wick_batch_size",
            "Requests per forward pass",
            batch_size.clone(),
        );
        registry.register(
            "wick_inference_duration_seconds",
            "Time of one forward pass",
            inference.clone(),
        );
        registry.register(
            "wick_requests_dropped",
            "Requests whose (remaining) work was skipped: client gone (cancelled) or past the deadline",
            dropped.clone(),
        );
        registry.register(
            "wick_generated_tokens",
            "Tokens generated (sampled) by text-generation models",
            generated.clone(),
        );
        registry.register(
            "wick_queue_depth",
            "Requests waiting for a worker",
            queue_depth.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident set size",
            resident_memory.clone(),
        );
        registry.register(
            "wick_shadow_compared",
            "Answers of a shadow version compared with the serving version's, per output",
            shadow_compared.clone(),
        );
        registry.register(
            "wick_shadow_agreement_ratio",
            "Share of a shadow version's labels, texts and numbers equal to the serving version's",
            shadow_agreement.clone(),
        );
        registry.register(
            "wick_shadow_mean_cosine",
            "Mean cosine between a shadow version's embeddings and the serving version's",
            shadow_cosine.clone(),
        );
        Metrics {
            registry,
            shadow_compared,
            shadow_agreement,
            shadow_cosine,
            history: History::default(),
            shadows: ShadowStats::default(),
            requests,
            latency,
            batch_size,
            inference,
            dropped,
            generated,
            queue_depth,
            resident_memory,
            scrape: Mutex::new(()),
        }
    }
}

fn version_labels(model: &str, version: &str) -> VersionLabels {
    VersionLabels {
        model: model.to_string(),
        version: version.to_string(),
    }
}

impl Metrics {
    /// One finished request: `ok`, or the code of its failure.
    pub fn request(&self, model: &str, version: &str, endpoint: &str, outcome: &str, seconds: f64) {
        let labels = EndpointLabels {
            model: model.to_string(),
            version: version.to_string(),
            endpoint: endpoint.to_string(),
        };
        self.latency.get_or_create(&labels).observe(seconds);
        self.history.record(model, version, outcome, seconds);
        self.requests
            .get_or_create(&RequestLabels {
                model: labels.model,
                version: labels.version,
                endpoint: labels.endpoint,
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// One forward pass of `size` requests that took `seconds`.
    pub fn batch(&self, model: &str, version: &str, size: usize, seconds: f64) {
        let labels = version_labels(model, version);
        self.batch_size.get_or_create(&labels).observe(size as f64);
        self.inference.get_or_create(&labels).observe(seconds);
    }

    /// Tokens a generation step sampled.
    pub fn generated(&self, model: &str, version: &str, tokens: usize) {
        self.generated
            .get_or_create(&version_labels(model, version))
            .inc_by(tokens as u64);
    }

    /// A queued request that never ran: its client went away
    /// (`cancelled`) or it waited past its deadline (`deadline`).
    pub fn dropped(&self, model: &str, version: &str, reason: &'static str) {
        self.dropped
            .get_or_create(&DroppedLabels {
                model: model.to_string(),
                version: version.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// The exposition text (`CONTENT_TYPE`); `queues` are (model, version,
    /// depth) now.
    pub fn render(&self, queues: &[(String, String, usize)]) -> String {
        let _one_scrape = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        // Only the versions loaded now have a queue.
        self.queue_depth.clear();
        for (model, version, depth) in queues {
            self.queue_depth
                .get_or_create(&version_labels(model, version))
                .set(i64::try_from(*depth).unwrap_or(i64::MAX));
        }
        for (key, agreement) in self.shadows.agreements() {
            let labels = ShadowLabels {
                model: key.model,
                version: key.version,
                endpoint: key.endpoint,
                output: key.output,
            };
            self.shadow_compared
                .get_or_create(&labels)
                .set(i64::try_from(agreement.compared).unwrap_or(i64::MAX));
            if let Some(rate) = agreement.rate() {
                self.shadow_agreement.get_or_create(&labels).set(rate);
            }
            if let Some(cosine) = agreement.mean_cosine() {
                self.shadow_cosine.get_or_create(&labels).set(cosine);
            }
        }
        if let Some(rss) = resident_bytes("self") {
            self.resident_memory
                .set(i64::try_from(rss).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
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
            "wick_request_duration_seconds_bucket{le=\"0.005\",model=\"m\",version=\"1\",endpoint=\"embed\"} 2",
            "wick_request_duration_seconds_bucket{le=\"+Inf\",model=\"m\",version=\"1\",endpoint=\"embed\"} 3",
            "wick_request_duration_seconds_count{model=\"m\",version=\"1\",endpoint=\"embed\"} 3",
            "wick_batch_size_bucket{le=\"2.0\",model=\"m\",version=\"1\"} 0",
            "wick_batch_size_bucket{le=\"4.0\",model=\"m\",version=\"1\"} 1",
            "wick_requests_dropped_total{model=\"m\",version=\"1\",reason=\"cancelled\"} 1",
            "wick_queue_depth{model=\"m\",version=\"1\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Only the queues passed to this scrape are shown.
        let text = metrics.render(&[]);
        assert!(!text.contains("wick_queue_depth{"), "{text}");
    }
}
