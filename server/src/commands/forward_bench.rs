//! `wick bench --in-process`: the model's forward pass alone — no HTTP, no
//! scheduler, inputs tokenized or decoded once beforehand — in sentences
//! (or images) per second, for each text length, batch size (1, 8, 32) and
//! thread count (1, 2), the table PyTorch is compared with.
//!
//! Candle sizes its CPU thread pool once per process (from
//! RAYON_NUM_THREADS), so each thread count runs in a child process of this
//! binary that prints one JSON line per cell.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use candle_core::Device;
use serde::{Deserialize, Serialize};
use wick_engine::{Bundle, Registry};
use wick_types::{Endpoint, Values, validate_inputs};

use super::workload::Workload;
use crate::cli::BenchArgs;

const BATCHES: [usize; 3] = [1, 8, 32];
const THREADS: [usize; 2] = [1, 2];

#[derive(Debug, Serialize, Deserialize)]
struct Cell {
    endpoint: String,
    /// What one input is: sentences or images.
    unit: String,
    /// Text length, for text endpoints.
    tokens: Option<usize>,
    batch: usize,
    threads: usize,
    /// Inputs (sentences or images) per second.
    per_second: f64,
}

/// The endpoint to measure: the one named, or the model's first.
pub fn endpoint_name(named: &Option<String>, endpoints: &[Endpoint]) -> anyhow::Result<String> {
    match (named, endpoints.first()) {
        (Some(name), _) => Ok(name.clone()),
        (None, Some(first)) => Ok(first.name.clone()),
        (None, None) => bail!("the model has no endpoint"),
    }
}

/// Runs one child per thread count and prints the table. The children load
/// the model and say which endpoint they measured, in what unit.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let mut cells: Vec<Cell> = Vec::new();
    for threads in THREADS {
        eprintln!("forward pass with {threads} thread(s)…");
        let mut child = Command::new(std::env::current_exe()?);
        child.arg("bench").arg(&args.bundle);
        if let Some(endpoint) = &args.endpoint {
            child.args(["--endpoint", endpoint]);
        }
        child
            .args(["--seconds", &args.seconds.to_string()])
            .args(["--forward-threads", &threads.to_string()])
            .arg("--tokens")
            .arg(
                args.tokens
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .env("RAYON_NUM_THREADS", threads.to_string())
            .env("WICK_LOG", "warn");
        let output = child.output().context("cannot run the measuring child")?;
        if !output.status.success() {
            bail!(
                "the measuring child failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            cells.push(serde_json::from_str(line).context("a child's result")?);
        }
    }
    let Some(first) = cells.first() else {
        bail!("the measuring children reported nothing");
    };
    println!(
        "\nforward pass of {} / {}, {}/s\n",
        args.bundle.display(),
        first.endpoint,
        first.unit
    );
    println!("| tokens | batch | 1 thread | 2 threads |");
    println!("|---|---|---|---|");
    let mut sizes: Vec<Option<usize>> = Vec::new();
    for cell in &cells {
        if !sizes.contains(&cell.tokens) {
            sizes.push(cell.tokens);
        }
    }
    for size in sizes {
        for batch in BATCHES {
            let rate = |threads: usize| {
                cells
                    .iter()
                    .find(|c| c.tokens == size && c.batch == batch && c.threads == threads)
                    .map_or("-".to_string(), |c| format!("{:.1}", c.per_second))
            };
            let size = size.map_or("-".to_string(), |t| t.to_string());
            println!("| {size} | {batch} | {} | {} |", rate(1), rate(2));
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&cells)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// In the child: measures every cell and prints one JSON line each.
pub fn measure(args: &BenchArgs, threads: usize, tasks: &Registry) -> anyhow::Result<()> {
    let bundle = Bundle::open(&args.bundle)?;
    let kind = tasks.find(&bundle.manifest.task)?;
    let task = (kind.load)(&bundle, &Device::Cpu)?;
    let name = endpoint_name(&args.endpoint, &task.signatures())?;
    let endpoint = task
        .signatures()
        .into_iter()
        .find(|e| e.name == name)
        .with_context(|| format!("no endpoint `{name}`"))?;
    let workload = Workload::of(&endpoint, &bundle)?;
    for size in workload.sizes(&args.tokens) {
        for batch in BATCHES {
            let inputs = workload
                .inputs(size, batch)
                .iter()
                .map(|json| validate_inputs(&endpoint.inputs, json))
                .collect::<Result<Vec<Values>, _>>()?;
            // Tokenized or decoded once: the passes time the forward pass.
            let mut pass = task.prepared(&name, &inputs)?;
            // One warm-up pass, then passes until the time is up (at least 3).
            pass()?;
            let budget = Duration::from_secs_f64(args.seconds);
            let started = Instant::now();
            let mut passes = 0;
            while passes < 3 || started.elapsed() < budget {
                pass()?;
                passes += 1;
            }
            let cell = Cell {
                endpoint: name.clone(),
                unit: workload.unit().to_string(),
                tokens: size,
                batch,
                threads,
                per_second: (passes * batch) as f64 / started.elapsed().as_secs_f64(),
            };
            println!("{}", serde_json::to_string(&cell)?);
        }
    }
    Ok(())
}
