//! `wick bench` for a text-generation bundle: through the engine in this
//! process (its continuous-batching scheduler included, no HTTP), greedy:
//! - prefill: a 512-token prompt with one new token, prompt tokens per
//!   second of time to first token (median of 3);
//! - decode: one stream of 128 new tokens, its decoding tokens per second
//!   (first token to last; median of 3);
//! - per `--concurrency` N: N streams of 128 new tokens at once, aggregate
//!   tokens per second (all completion tokens over the wall time) and time
//!   to first token p50/p99 (queueing included).

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};
use wick_engine::{Engine, JsonObject};
use wick_types::ModelInfo;

use crate::cli::BenchArgs;

const PREFILL_TOKENS: usize = 512;
const NEW_TOKENS: usize = 128;
const ROUNDS: usize = 3;

/// Whether the model generates text (has `complete` and `chat`).
pub fn generates(info: &ModelInfo) -> bool {
    info.endpoint("complete").is_some() && info.endpoint("chat").is_some()
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    prefill_prompt_tokens: u64,
    prefill_tokens_per_second: f64,
    decode_completion_tokens: u64,
    decode_tokens_per_second: f64,
    streams: Vec<Streams>,
}

#[derive(Debug, Serialize)]
struct Streams {
    concurrency: usize,
    completion_tokens: u64,
    seconds: f64,
    aggregate_tokens_per_second: f64,
    time_to_first_token_p50_ms: f64,
    time_to_first_token_p99_ms: f64,
    errors: usize,
}

/// What one generation reported: completion tokens and its timings.
struct Generated {
    prompt_tokens: u64,
    completion_tokens: u64,
    time_to_first_token_ms: f64,
    tokens_per_second: f64,
}

pub async fn run(args: &BenchArgs, engine: Arc<Engine>, info: &ModelInfo) -> anyhow::Result<()> {
    let model = info.name.clone();
    eprintln!("prefill: a {PREFILL_TOKENS}-token prompt, {ROUNDS} times…");
    // " the" is one token in byte-level BPE vocabularies; the report gives
    // the count the model actually saw.
    let long_prompt = " the".repeat(PREFILL_TOKENS);
    let mut prefills = Vec::new();
    for _ in 0..ROUNDS {
        let one = generate(&engine, &model, "complete", prompt(&long_prompt, 1)).await?;
        prefills.push(one);
    }
    let prefill_rates: Vec<f64> = prefills
        .iter()
        .map(|g| g.prompt_tokens as f64 / (g.time_to_first_token_ms / 1000.0).max(1e-9))
        .collect();

    eprintln!("decode: one stream of {NEW_TOKENS} tokens, {ROUNDS} times…");
    let mut decodes = Vec::new();
    for _ in 0..ROUNDS {
        decodes.push(
            generate(
                &engine,
                &model,
                "complete",
                prompt("Once upon a time", NEW_TOKENS),
            )
            .await?,
        );
    }
    let decode_rates: Vec<f64> = decodes.iter().map(|g| g.tokens_per_second).collect();

    let mut streams = Vec::new();
    for &concurrency in &args.concurrency {
        eprintln!("{concurrency} streams of {NEW_TOKENS} tokens at once…");
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|i| {
                let (engine, model) = (engine.clone(), model.clone());
                tokio::spawn(async move {
                    let story = format!("Write a long story about the number {i}.");
                    let messages = json!([{"role": "user", "content": story}]);
                    generate(
                        &engine,
                        &model,
                        "chat",
                        greedy("messages", messages, NEW_TOKENS),
                    )
                    .await
                })
            })
            .collect();
        let mut done = Vec::new();
        let mut errors = 0;
        for task in tasks {
            match task.await {
                Ok(Ok(generated)) => done.push(generated),
                _ => errors += 1,
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let completion_tokens: u64 = done.iter().map(|g| g.completion_tokens).sum();
        let mut first_tokens: Vec<f64> = done.iter().map(|g| g.time_to_first_token_ms).collect();
        first_tokens.sort_by(f64::total_cmp);
        streams.push(Streams {
            concurrency,
            completion_tokens,
            seconds,
            aggregate_tokens_per_second: completion_tokens as f64 / seconds.max(1e-9),
            time_to_first_token_p50_ms: percentile(&first_tokens, 0.5),
            time_to_first_token_p99_ms: percentile(&first_tokens, 0.99),
            errors,
        });
    }

    let report = Report {
        model,
        prefill_prompt_tokens: prefills.first().map_or(0, |g| g.prompt_tokens),
        prefill_tokens_per_second: median(prefill_rates),
        decode_completion_tokens: decodes.first().map_or(0, |g| g.completion_tokens),
        decode_tokens_per_second: median(decode_rates),
        streams,
    };
    print_report(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Greedy inputs for `complete`.
fn prompt(text: &str, max_new_tokens: usize) -> JsonObject {
    greedy("prompt", json!(text), max_new_tokens)
}

/// `name` = `value`, with greedy decoding of at most `max_new_tokens`.
fn greedy(name: &str, value: Value, max_new_tokens: usize) -> JsonObject {
    let mut inputs = JsonObject::new();
    inputs.insert(name.into(), value);
    inputs.insert("max_new_tokens".into(), json!(max_new_tokens));
    inputs.insert("temperature".into(), json!(0));
    inputs
}

async fn generate(
    engine: &Engine,
    model: &str,
    endpoint: &str,
    inputs: JsonObject,
) -> anyhow::Result<Generated> {
    let prediction = engine
        .predict(model, &wick_engine::Route::any(), endpoint, vec![inputs])
        .await?;
    let outputs = prediction.outputs.into_iter().next().unwrap_or_default();
    let json = |name: &str| match outputs.get(name) {
        Some(wick_types::Value::Json(value)) => value.clone(),
        _ => Value::Null,
    };
    let (usage, timings) = (json("usage"), json("timings"));
    Ok(Generated {
        prompt_tokens: usage["prompt_tokens"].as_u64().unwrap_or(0),
        completion_tokens: usage["completion_tokens"].as_u64().unwrap_or(0),
        time_to_first_token_ms: timings["time_to_first_token_ms"].as_f64().unwrap_or(0.0),
        tokens_per_second: timings["tokens_per_second"].as_f64().unwrap_or(0.0),
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(&values, 0.5)
}

fn print_report(report: &Report) {
    println!("\nwick bench: {} (in process, greedy)\n", report.model);
    println!(
        "prefill: {} prompt tokens at {:.0} tokens/s (median of {ROUNDS})",
        report.prefill_prompt_tokens, report.prefill_tokens_per_second
    );
    println!(
        "decode, one stream: {:.1} tokens/s over {} tokens (median of {ROUNDS})\n",
        report.decode_tokens_per_second, report.decode_completion_tokens
    );
    println!(
        "| streams | tokens | seconds | aggregate tokens/s | first token p50 ms | p99 ms | errors |"
    );
    println!("|---|---|---|---|---|---|---|");
    for cell in &report.streams {
        println!(
            "| {} | {} | {:.2} | {:.1} | {:.0} | {:.0} | {} |",
            cell.concurrency,
            cell.completion_tokens,
            cell.seconds,
            cell.aggregate_tokens_per_second,
            cell.time_to_first_token_p50_ms,
            cell.time_to_first_token_p99_ms,
            cell.errors
        );
    }
}

/// The `p` percentile of sorted milliseconds, 0 when there are none.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    wick_engine::history::percentile(sorted, p).unwrap_or(0.0)
}
