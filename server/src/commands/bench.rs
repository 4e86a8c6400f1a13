//! `wick bench`: throughput and latency of a bundle, measured here.
//!
//! It loads the bundle in this process and drives the engine directly (no
//! HTTP), then starts `wick serve` on 127.0.0.1 (or targets `--url`) and
//! drives it over HTTP with keep-alive from a Rust load generator, at each
//! concurrency and text length (or with the bundle's example photos, for
//! an image endpoint: `workload`). Each cell stops after `--seconds` or
//! `--requests`, whichever comes first. It also measures the server's cold
//! start and idle memory, and, at concurrency 16 with 16-token texts, the
//! same server with batching off (`--max-batch-size 1`). A text-generation
//! bundle is measured in its own way instead (`generation_bench`).

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::json;
use wick_engine::Bundle;

use super::workload::Workload;
use crate::cli::{BenchArgs, ServingArgs};

#[derive(Clone, Debug, Serialize)]
struct Cell {
    path: &'static str,
    /// Text length, for text endpoints.
    tokens: Option<usize>,
    concurrency: usize,
    max_batch_size: Option<usize>,
    requests: usize,
    errors: usize,
    seconds: f64,
    requests_per_second: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    mean_batch_size: Option<f64>,
    /// Seconds of audio transcribed per second, for an audio endpoint.
    real_time_factor: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    endpoint: String,
    /// What one input is: sentences or images.
    unit: &'static str,
    cold_start_ms: Option<f64>,
    idle_rss_mb: Option<f64>,
    cells: Vec<Cell>,
}

pub fn run(args: BenchArgs, tasks: wick_engine::Registry) -> anyhow::Result<()> {
    if let Some(threads) = args.forward_threads {
        return super::forward_bench::measure(&args, threads, &tasks);
    }
    if args.in_process {
        return super::forward_bench::run(&args);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let engine = Arc::new(super::load_engine(&[&args.bundle], &args.serving, tasks)?);
    let info = engine
        .models()
        .into_iter()
        .next()
        .context("the bundle loaded no model")?;
    if super::generation_bench::generates(&info) {
        return runtime.block_on(super::generation_bench::run(&args, engine, &info));
    }
    let endpoint_name = super::forward_bench::endpoint_name(&args.endpoint, &info.endpoints)?;
    let endpoint = info
        .endpoint(&endpoint_name)
        .with_context(|| format!("model `{}` has no endpoint `{endpoint_name}`", info.name))?;
    let workload = Workload::of(endpoint, &Bundle::open_unverified(&args.bundle)?)?;
    let mut report = Report {
        model: info.name.clone(),
        endpoint: endpoint_name.clone(),
        unit: workload.unit(),
        cold_start_ms: None,
        idle_rss_mb: None,
        cells: Vec::new(),
    };

    eprintln!("in process (no HTTP)…");
    for size in workload.sizes(&args.tokens) {
        let inputs = Arc::new(workload.inputs(size, 64));
        for &concurrency in &args.concurrency {
            let (engine, inputs, model, endpoint) = (
                engine.clone(),
                inputs.clone(),
                info.name.clone(),
                endpoint_name.clone(),
            );
            let cell = runtime.block_on(drive(&args, concurrency, move |n| {
                let (engine, inputs, model, endpoint) = (
                    engine.clone(),
                    inputs.clone(),
                    model.clone(),
                    endpoint.clone(),
                );
                async move {
                    let one = inputs[n % inputs.len()].clone();
                    engine
                        .predict(&model, &wick_engine::Route::any(), &endpoint, vec![one])
                        .await
                        .is_ok()
                }
            }));
            report
                .cells
                .push(finish(cell, "in-process", size, concurrency, None, None));
        }
    }
    drop(engine);

    let server = match &args.url {
        Some(url) => Target::Remote(url.trim_end_matches('/').to_string()),
        None => {
            let started = Target::start(&args.bundle, &args.serving)?;
            if let Target::Local {
                cold_start, pid, ..
            } = &started
            {
                report.cold_start_ms = Some(cold_start.as_secs_f64() * 1000.0);
                report.idle_rss_mb = wick_engine::metrics::resident_bytes(&pid.to_string())
                    .map(|bytes| bytes as f64 / (1024.0 * 1024.0));
            }
            started
        }
    };
    eprintln!("over HTTP at {}…", server.base());
    runtime.block_on(http_cells(
        &args,
        &server,
        (&info.name, &endpoint_name),
        &workload,
        None,
        &mut report,
    ))?;
    drop(server);

    let texts_of_16 = matches!(workload, Workload::Texts { .. }) && args.tokens.contains(&16);
    let images = matches!(workload, Workload::Images { .. });
    if args.url.is_none() && (texts_of_16 || images) && args.concurrency.contains(&16) {
        eprintln!("over HTTP with batching off (--max-batch-size 1)…");
        let unbatched = ServingArgs {
            max_batch_size: Some(1),
            ..args.serving.clone()
        };
        let server = Target::start(&args.bundle, &unbatched)?;
        let args = BenchArgs {
            tokens: vec![16],
            concurrency: vec![16],
            ..args.clone()
        };
        runtime.block_on(http_cells(
            &args,
            &server,
            (&info.name, &endpoint_name),
            &workload,
            Some(1),
            &mut report,
        ))?;
    }

    if let Some(seconds) = workload.audio_seconds() {
        for cell in &mut report.cells {
            cell.real_time_factor = Some(cell.requests_per_second * seconds);
        }
    }
    print_table(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

async fn http_cells(
    args: &BenchArgs,
    server: &Target,
    (model, endpoint): (&str, &str),
    workload: &Workload,
    max_batch_size: Option<usize>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let url = format!("{}/api/models/{model}/{endpoint}", server.base());
    let metrics_url = format!("{}/metrics", server.base());
    for size in workload.sizes(&args.tokens) {
        let bodies: Arc<Vec<String>> = Arc::new(
            workload
                .inputs(size, 64)
                .into_iter()
                .map(|inputs| json!({ "inputs": inputs }).to_string())
                .collect(),
        );
        for &concurrency in &args.concurrency {
            let before = batch_totals(&client, &metrics_url, model).await;
            let (sender, url, bodies) = (client.clone(), url.clone(), bodies.clone());
            let cell = drive(args, concurrency, move |n| {
                let (client, url, bodies) = (sender.clone(), url.clone(), bodies.clone());
                async move {
                    let sent = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(bodies[n % bodies.len()].clone())
                        .send()
                        .await;
                    match sent {
                        Ok(response) => {
                            let ok = response.status().is_success();
                            ok && response.bytes().await.is_ok()
                        }
                        Err(_) => false,
                    }
                }
            })
            .await;
            let after = batch_totals(&client, &metrics_url, model).await;
            let mean_batch = match (before, after) {
                (Some((sum0, count0)), Some((sum1, count1))) if count1 > count0 => {
                    Some((sum1 - sum0) / (count1 - count0))
                }
                _ => None,
            };
            report.cells.push(finish(
                cell,
                "http",
                size,
                concurrency,
                max_batch_size,
                mean_batch,
            ));
        }
    }
    Ok(())
}

/// Latencies of the requests that succeeded, failures, and wall time.
struct Drive {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

/// Runs `send(n)` from `concurrency` tasks until the time or request
/// budget is spent, after a short warm-up.
async fn drive<F, Fut>(args: &BenchArgs, concurrency: usize, send: F) -> Drive
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    for n in 0..concurrency.min(8) {
        send(n).await;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let budget = args.requests;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (send, next) = (send.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= budget || Instant::now() >= deadline {
                        break;
                    }
                    let began = Instant::now();
                    if send(n).await {
                        latencies.push(began.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Drive {
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        if let Ok((latencies, errors)) = task.await {
            all.latencies.extend(latencies);
            all.errors += errors;
        }
    }
    all.elapsed = started.elapsed();
    all
}

fn finish(
    mut drive: Drive,
    path: &'static str,
    tokens: Option<usize>,
    concurrency: usize,
    max_batch_size: Option<usize>,
    mean_batch_size: Option<f64>,
) -> Cell {
    drive.latencies.sort();
    let milliseconds: Vec<f64> = drive
        .latencies
        .iter()
        .map(|latency| latency.as_secs_f64() * 1000.0)
        .collect();
    let percentile = |p: f64| percentile(&milliseconds, p);
    let seconds = drive.elapsed.as_secs_f64();
    let cell = Cell {
        path,
        tokens,
        concurrency,
        max_batch_size,
        requests: drive.latencies.len(),
        errors: drive.errors,
        seconds,
        requests_per_second: drive.latencies.len() as f64 / seconds.max(1e-9),
        p50_ms: percentile(0.50),
        p95_ms: percentile(0.95),
        p99_ms: percentile(0.99),
        mean_batch_size,
        real_time_factor: None,
    };
    eprintln!(
        "  {:<10} {:>3} tokens  c={:<3} {:>8.1} req/s  p50 {:>7.1} ms  p99 {:>7.1} ms",
        cell.path,
        cell.tokens.map_or("-".to_string(), |t| t.to_string()),
        cell.concurrency,
        cell.requests_per_second,
        cell.p50_ms,
        cell.p99_ms
    );
    cell
}

/// `wick_batch_size` sum and count of `model`, parsed from /metrics.
async fn batch_totals(client: &reqwest::Client, url: &str, model: &str) -> Option<(f64, f64)> {
    let text = client.get(url).send().await.ok()?.text().await.ok()?;
    let label = format!("model=\"{model}\"");
    let value = |name: &str| -> f64 {
        text.lines()
            .filter(|line| line.starts_with(name) && line.contains(&label))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    Some((
        value("wick_batch_size_sum{"),
        value("wick_batch_size_count{"),
    ))
}

fn print_table(report: &Report) {
    println!(
        "\nwick bench: {} / {} (one {} per request; requests per cell ≤ budget; latency in ms)\n",
        report.model,
        report.endpoint,
        report.unit.trim_end_matches('s')
    );
    println!(
        "| path | tokens | concurrency | batch | req/s | p50 | p95 | p99 | mean batch | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for cell in &report.cells {
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
            cell.path,
            cell.tokens.map_or("-".to_string(), |t| t.to_string()),
            cell.concurrency,
            cell.max_batch_size
                .map_or("auto".to_string(), |b| b.to_string()),
            cell.requests_per_second,
            cell.p50_ms,
            cell.p95_ms,
            cell.p99_ms,
            cell.mean_batch_size
                .map_or("-".to_string(), |m| format!("{m:.1}")),
            cell.errors
        );
    }
    let factors: Vec<String> = report
        .cells
        .iter()
        .filter_map(|cell| {
            let factor = cell.real_time_factor?;
            Some(format!("{} c={}: {factor:.1}", cell.path, cell.concurrency))
        })
        .collect();
    if !factors.is_empty() {
        println!(
            "\nreal-time factor (seconds of audio per second): {}",
            factors.join(", ")
        );
    }
    if let Some(ms) = report.cold_start_ms {
        println!("\ncold start (spawn to /readyz 200): {ms:.0} ms");
    }
    if let Some(mb) = report.idle_rss_mb {
        println!("idle RSS after start: {mb:.0} MB");
    }
}

/// The `p` quantile (0..=1) of `sorted` values, nearest rank; 0 for none.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    wick_engine::history::percentile(sorted, p).unwrap_or(0.0)
}

enum Target {
    Local {
        child: Child,
        base: String,
        cold_start: Duration,
        pid: u32,
        _data: tempfile::TempDir,
    },
    Remote(String),
}

impl Target {
    /// Starts `wick serve` (this binary) on 127.0.0.1 and waits for /readyz.
    fn start(bundle: &Path, serving: &ServingArgs) -> anyhow::Result<Target> {
        let data = tempfile::tempdir()?;
        let started = Instant::now();
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("serve")
            .arg(bundle)
            .args(["--host", "127.0.0.1", "--port", "0", "--data-dir"])
            .arg(data.path())
            .args(serving_flags(serving))
            .env("WICK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().context("cannot start wick serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        while !line.starts_with("listening on ") {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                bail!("wick serve exited before listening");
            }
        }
        let base = line.trim()["listening on ".len()..].to_string();
        while !answers_ok(&base, "/readyz") {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("wick serve was not ready within 60 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let cold_start = started.elapsed();
        let pid = child.id();
        Ok(Target::Local {
            child,
            base,
            cold_start,
            pid,
            _data: data,
        })
    }

    fn base(&self) -> &str {
        match self {
            Target::Local { base, .. } => base,
            Target::Remote(url) => url,
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Target::Local { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn serving_flags(serving: &ServingArgs) -> Vec<String> {
    let mut flags = Vec::new();
    let mut add = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            flags.push(format!("--{name}"));
            flags.push(value);
        }
    };
    add("device", serving.device.clone());
    add(
        "max-batch-size",
        serving.max_batch_size.map(|v| v.to_string()),
    );
    add(
        "max-batch-tokens",
        serving.max_batch_tokens.map(|v| v.to_string()),
    );
    add(
        "max-batch-delay-ms",
        serving.max_batch_delay_ms.map(|v| v.to_string()),
    );
    add("max-queue", serving.max_queue.map(|v| v.to_string()));
    add(
        "request-timeout-ms",
        serving.request_timeout_ms.map(|v| v.to_string()),
    );
    add(
        "max-inputs-per-request",
        serving.max_inputs_per_request.map(|v| v.to_string()),
    );
    add(
        "max-input-chars",
        serving.max_input_chars.map(|v| v.to_string()),
    );
    flags
}

/// Whether `GET path` answers 200, over a plain blocking socket (the
/// cold-start clock must not wait on an async runtime).
fn answers_ok(base: &str, path: &str) -> bool {
    use std::io::{Read, Write};
    let Some(address) = base.strip_prefix("http://") else {
        return false;
    };
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return false;
    };
    let request = format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n");
    let mut head = [0u8; 12];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut head).is_ok()
        && head.ends_with(b" 200")
}
