//! Where the time of a BERT forward pass goes on the CPU, per kind of op.
//!
//! `cargo run --release -p wick-engine --example profile_bert -- BUNDLE [BATCH] [TOKENS]`
//! (RAYON_NUM_THREADS sets Candle's threads). Re-implements the encoder of
//! candle-transformers' BertModel with a timer around every op, checks it
//! against BertModel, and prints milliseconds per op kind; then the same
//! with every Linear as one 2-D matmul over batch × tokens (candle_nn's
//! Linear on a 3-D input runs one small matmul per batch row) and fused
//! Q/K/V weights.

use std::collections::BTreeMap;
use std::time::Instant;

use candle_core::{D, DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use candle_transformers::models::bert::{BertModel, Config};

#[derive(Default)]
struct Timer(BTreeMap<&'static str, f64>);

impl Timer {
    fn time<T>(&mut self, what: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let out = f()?;
        *self.0.entry(what).or_default() += started.elapsed().as_secs_f64() * 1000.0;
        Ok(out)
    }
}

struct Dense {
    weight: Tensor, // (out, in)
    bias: Tensor,
}

impl Dense {
    fn load(vb: VarBuilder, inputs: usize, outputs: usize) -> Result<Dense> {
        Ok(Dense {
            weight: vb.get((outputs, inputs), "weight")?,
            bias: vb.get(outputs, "bias")?,
        })
    }

    /// candle_nn::Linear's way for 3-D input: a batched matmul.
    fn batched(&self, x: &Tensor) -> Result<Tensor> {
        let (b, _, _) = x.dims3()?;
        let w = self.weight.broadcast_left(b)?.t()?;
        x.matmul(&w)?.broadcast_add(&self.bias)
    }

    /// One 2-D matmul over every token of the batch.
    fn flat(&self, x: &Tensor) -> Result<Tensor> {
        let (b, s, h) = x.dims3()?;
        let y = x.reshape((b * s, h))?.matmul(&self.weight.t()?)?;
        y.broadcast_add(&self.bias)?.reshape((b, s, ()))
    }
}

fn layer_norm(vb: VarBuilder, size: usize, eps: f64) -> Result<LayerNorm> {
    Ok(LayerNorm::new(
        vb.get(size, "weight")?,
        vb.get(size, "bias")?,
        eps,
    ))
}

struct Layer {
    q: Dense,
    k: Dense,
    v: Dense,
    qkv: Dense,
    out: Dense,
    ln1: LayerNorm,
    up: Dense,
    down: Dense,
    ln2: LayerNorm,
}

fn load_layer(vb: VarBuilder, c: &Config) -> Result<Layer> {
    let h = c.hidden_size;
    let a = vb.pp("attention");
    let q = Dense::load(a.pp("self.query"), h, h)?;
    let k = Dense::load(a.pp("self.key"), h, h)?;
    let v = Dense::load(a.pp("self.value"), h, h)?;
    let qkv = Dense {
        weight: Tensor::cat(&[&q.weight, &k.weight, &v.weight], 0)?,
        bias: Tensor::cat(&[&q.bias, &k.bias, &v.bias], 0)?,
    };
    Ok(Layer {
        q,
        k,
        v,
        qkv,
        out: Dense::load(a.pp("output.dense"), h, h)?,
        ln1: layer_norm(a.pp("output.LayerNorm"), h, c.layer_norm_eps)?,
        up: Dense::load(vb.pp("intermediate.dense"), h, c.intermediate_size)?,
        down: Dense::load(vb.pp("output.dense"), c.intermediate_size, h)?,
        ln2: layer_norm(vb.pp("output.LayerNorm"), h, c.layer_norm_eps)?,
    })
}

fn encoder(
    layers: &[Layer],
    c: &Config,
    x: &Tensor,
    mask: &Tensor, // (b, 1, 1, s) additive
    fast: bool,
    t: &mut Timer,
) -> Result<Tensor> {
    let (b, s, h) = x.dims3()?;
    let heads = c.num_attention_heads;
    let d = h / heads;
    let scale = 1.0 / (d as f64).sqrt();
    let mut x = x.clone();
    for l in layers {
        let split = |y: Tensor| -> Result<Tensor> {
            y.reshape((b, s, heads, d))?.transpose(1, 2)?.contiguous()
        };
        let (q, k, v) = if fast {
            let qkv = t.time("qkv matmul", || l.qkv.flat(&x))?;
            t.time("copies/contiguous", || {
                let qkv = qkv
                    .reshape((b, s, 3, heads, d))?
                    .permute((2, 0, 3, 1, 4))?
                    .contiguous()?;
                Ok((qkv.i(0)?, qkv.i(1)?, qkv.i(2)?))
            })?
        } else {
            let q = t.time("qkv matmul", || l.q.batched(&x))?;
            let k = t.time("qkv matmul", || l.k.batched(&x))?;
            let v = t.time("qkv matmul", || l.v.batched(&x))?;
            t.time("copies/contiguous", || {
                Ok((split(q)?, split(k)?, split(v)?))
            })?
        };
        let scores = t.time("attention scores (QK^T)", || {
            if fast {
                q.matmul(&k.t()?.contiguous()?)
            } else {
                q.matmul(&k.t()?)
            }
        })?;
        let probs = t.time("mask + softmax", || {
            let scores = (scores * scale)?.broadcast_add(mask)?;
            if fast {
                candle_nn::ops::softmax_last_dim(&scores)
            } else {
                candle_nn::ops::softmax(&scores, D::Minus1)
            }
        })?;
        let context = t.time("attention context (PV)", || probs.matmul(&v))?;
        let context = t.time("copies/contiguous", || {
            context.transpose(1, 2)?.contiguous()?.reshape((b, s, h))
        })?;
        let dense = |d: &Dense, y: &Tensor| if fast { d.flat(y) } else { d.batched(y) };
        let attn = t.time("attention output matmul", || dense(&l.out, &context))?;
        x = t.time("layer norm + residual", || l.ln1.forward(&(attn + &x)?))?;
        let up = t.time("ffn matmuls", || dense(&l.up, &x))?;
        let up = t.time("gelu", || up.gelu_erf())?;
        let down = t.time("ffn matmuls", || dense(&l.down, &up))?;
        x = t.time("layer norm + residual", || l.ln2.forward(&(down + &x)?))?;
    }
    Ok(x)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).map_or("examples/minilm", String::as_str));
    let batch: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let tokens: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(128);
    let device = Device::Cpu;
    let config: Config = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)
        .map_err(candle_core::Error::wrap)?;
    let weights = dir.join("model.safetensors");
    // SAFETY: the bundle's weights, not written while mapped.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device)? };
    let model = BertModel::load(vb.clone(), &config)?;
    let layers = (0..config.num_hidden_layers)
        .map(|i| load_layer(vb.pp(format!("encoder.layer.{i}")), &config))
        .collect::<Result<Vec<_>>>()?;

    let ids: Vec<u32> = (0..batch * tokens)
        .map(|i| (1000 + i * 37 % 20000) as u32)
        .collect();
    let ids = Tensor::from_vec(ids, (batch, tokens), &device)?;
    let types = ids.zeros_like()?;
    let mask = Tensor::ones((batch, tokens), DType::U32, &device)?;
    let reference = model.forward(&ids, &types, Some(&mask))?;

    // Embeddings as BertModel makes them (not timed: the same either way).
    let emb = vb.pp("embeddings");
    let word = emb.get(
        (config.vocab_size, config.hidden_size),
        "word_embeddings.weight",
    )?;
    let position = emb.get(
        (config.max_position_embeddings, config.hidden_size),
        "position_embeddings.weight",
    )?;
    let token_type = emb.get(
        (config.type_vocab_size, config.hidden_size),
        "token_type_embeddings.weight",
    )?;
    let ln = layer_norm(
        emb.pp("LayerNorm"),
        config.hidden_size,
        config.layer_norm_eps,
    )?;
    let x = word
        .index_select(&ids.flatten_all()?, 0)?
        .reshape((batch, tokens, ()))?
        .broadcast_add(&position.narrow(0, 0, tokens)?)?
        .broadcast_add(&token_type.i(0)?)?;
    let x = ln.forward(&x)?;
    let additive = Tensor::zeros((batch, 1, 1, tokens), DType::F32, &device)?;

    for (name, fast) in [
        ("candle BertModel layout", false),
        ("2-D linears + fused QKV", true),
    ] {
        let mut warm = Timer::default();
        let out = encoder(&layers, &config, &x, &additive, fast, &mut warm)?;
        let diff = (out - &reference)?.abs()?.max_all()?.to_scalar::<f32>()?;
        let mut timer = Timer::default();
        let runs = 5;
        let started = Instant::now();
        for _ in 0..runs {
            encoder(&layers, &config, &x, &additive, fast, &mut timer)?;
        }
        let total = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
        println!(
            "\n{name}: batch {batch} × {tokens} tokens, {total:.1} ms per forward ({:.1} sentences/s), max |diff| to BertModel {diff:.2e}",
            batch as f64 * 1000.0 / total
        );
        let mut rows: Vec<(&str, f64)> =
            timer.0.iter().map(|(k, v)| (*k, v / runs as f64)).collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (what, ms) in rows {
            println!("  {what:<28} {ms:>8.2} ms  {:>5.1} %", ms * 100.0 / total);
        }
    }
    Ok(())
}
