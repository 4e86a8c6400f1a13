//! One forward pass over several streams at once. Each stream brings its
//! cache and the tokens it adds this step (a chunk of its prompt, or the
//! one token it sampled last); all their rows go through every product
//! together, and only attention is per stream. The pass returns, per
//! stream, the logits after its last token.

use half::f16;
use rayon::prelude::*;

use super::{Activation, Layer, Llama};
use crate::kernels::attention::{Scoring, attend_one};
use crate::kernels::fast_math::add_all;
use crate::kernels::ggml::{
    Order, geglu_rows, rms_norm_rows, rotate_halves, rotate_pairs, swiglu_rows,
};
use crate::kernels::quant::{Quantized, matmul};

/// One stream's keys and values, per layer, (position, kv_heads × head_dim),
/// in f16 as llama.cpp's cache keeps them. It grows with the stream; the
/// model's context bounds it.
pub struct Cache {
    keys: Vec<Vec<f16>>,
    values: Vec<Vec<f16>>,
    len: usize,
}

impl Cache {
    pub fn new(llama: &Llama) -> Cache {
        Cache {
            keys: vec![Vec::new(); llama.config.layers],
            values: vec![Vec::new(); llama.config.layers],
            len: 0,
        }
    }

    /// Tokens seen so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Llama {
    /// Feeds each stream its tokens; returns each stream's logits after
    /// its last token. Every stream must bring at least one token, and
    /// stay within the context (`context()`): the caller checks.
    pub fn forward(&self, streams: &mut [(&mut Cache, &[u32])]) -> Vec<Vec<f32>> {
        // The whole pass on rayon's workers: its ~5 parallel steps per
        // layer then start from a worker, instead of each handing off from
        // (and waking) the calling thread.
        rayon::scope(|_| self.forward_on_workers(streams))
    }

    fn forward_on_workers(&self, streams: &mut [(&mut Cache, &[u32])]) -> Vec<Vec<f32>> {
        let config = &self.config;
        let (hidden, kv_width, q_width) = (config.hidden, config.kv_width(), config.q_width());
        // Where each stream's rows start in the batch.
        let mut starts = Vec::with_capacity(streams.len());
        let mut rows = 0;
        for (cache, tokens) in streams.iter() {
            assert!(
                !tokens.is_empty() && cache.len + tokens.len() <= self.context(),
                "a stream brings no token or passes the context"
            );
            starts.push(rows);
            rows += tokens.len();
        }
        let mut x = Vec::with_capacity(rows * hidden);
        for (_, tokens) in streams.iter() {
            for &token in tokens.iter() {
                x.extend(self.embedding.row(token as usize));
            }
        }
        if let Some(scale) = config.embedding_scale {
            x.iter_mut().for_each(|v| *v *= scale);
        }
        let positions: Vec<usize> = streams
            .iter()
            .flat_map(|(cache, tokens)| cache.len..cache.len + tokens.len())
            .collect();
        let width = q_width + 2 * kv_width;
        let mut normed = vec![0.0; rows * hidden];
        let mut activated = vec![0.0; rows * config.ffn];
        for (index, layer) in self.layers.iter().enumerate() {
            rms_norm_rows(&x, &layer.attention_norm, config.rms_eps, &mut normed);
            let mut qkv = layer.qkv.apply(&Quantized::new(&normed, hidden));
            if let Some(bias) = &layer.qkv_bias {
                for row in qkv.chunks_exact_mut(width) {
                    add_all(row, bias);
                }
            }
            if let Some((q_norm, k_norm)) = &layer.qk_norms {
                // The norms read a copy: their input and output are the same row.
                let mut unnormed = vec![0.0; q_width + kv_width];
                for row in qkv.chunks_exact_mut(width) {
                    unnormed.copy_from_slice(&row[..q_width + kv_width]);
                    let (q, k) = unnormed.split_at(q_width);
                    rms_norm_rows(q, q_norm, config.rms_eps, &mut row[..q_width]);
                    rms_norm_rows(
                        k,
                        k_norm,
                        config.rms_eps,
                        &mut row[q_width..q_width + kv_width],
                    );
                }
            }
            for (row, &position) in positions.iter().enumerate() {
                let row = &mut qkv[row * width..][..q_width + kv_width];
                self.rotate(layer, row, position);
                // Phi-3 and Gemma scale q before attention, in f32.
                if let Some(scale) = config.query_scale {
                    row[..q_width].iter_mut().for_each(|v| *v *= scale);
                }
            }
            // In f16, as llama.cpp's cache stores them.
            for ((cache, tokens), &start) in streams.iter_mut().zip(&starts) {
                for row in start..start + tokens.len() {
                    let row = &qkv[row * width..][..width];
                    let keys = &row[q_width..q_width + kv_width];
                    cache.keys[index].extend(keys.iter().map(|&k| f16::from_f32(k)));
                    let values = &row[q_width + kv_width..];
                    cache.values[index].extend(values.iter().map(|&v| f16::from_f32(v)));
                }
            }
            let attended = self.attend(index, streams, &starts, &qkv, rows);
            let out = matmul(&Quantized::new(&attended, q_width), &layer.output);
            self.add_residual(&mut x, out, layer.post_attention_norm.as_deref());
            rms_norm_rows(&x, &layer.ffn_norm, config.rms_eps, &mut normed);
            let gate_up = layer.gate_up.apply(&Quantized::new(&normed, hidden));
            match config.activation {
                Activation::Silu => swiglu_rows(&gate_up, config.ffn, &mut activated),
                Activation::Gelu => geglu_rows(&gate_up, config.ffn, &mut activated),
            }
            let out = matmul(&Quantized::new(&activated, config.ffn), &layer.down);
            self.add_residual(&mut x, out, layer.post_ffn_norm.as_deref());
        }
        for (cache, tokens) in streams.iter_mut() {
            cache.len += tokens.len();
        }
        let mut last = Vec::with_capacity(streams.len() * hidden);
        for ((_, tokens), &start) in streams.iter().zip(&starts) {
            last.extend_from_slice(&x[(start + tokens.len() - 1) * hidden..][..hidden]);
        }
        let mut normed = vec![0.0; last.len()];
        rms_norm_rows(&last, &self.norm, config.rms_eps, &mut normed);
        let mut logits = matmul(&Quantized::new(&normed, hidden), self.output());
        // Gemma 2: cap · tanh(logit / cap), as ggml's scale, tanh, scale.
        if let Some(cap) = config.final_softcap {
            let inverse = 1.0 / cap;
            logits
                .iter_mut()
                .for_each(|l| *l = (*l * inverse).tanh() * cap);
        }
        logits
            .chunks_exact(self.output().rows())
            .map(<[f32]>::to_vec)
            .collect()
    }

    /// x += out, out first through the layer's post-norm where it has one
    /// (Gemma).
    fn add_residual(&self, x: &mut [f32], out: Vec<f32>, post_norm: Option<&[f32]>) {
        match post_norm {
            Some(weight) => {
                let mut normed = vec![0.0; out.len()];
                rms_norm_rows(&out, weight, self.config.rms_eps, &mut normed);
                add_all(x, &normed);
            }
            None => add_all(x, &out),
        }
    }

    /// Rotates the q and k heads of one row to `position` (adjacent
    /// pairs, as GGUF's llama layout stores them, or NeoX's halves), with
    /// the rope of the layer's kind.
    fn rotate(&self, layer: &Layer, row: &mut [f32], position: usize) {
        let head_dim = self.config.head_dim;
        let table = match (&self.window_rope, layer.sliding) {
            (Some(window_rope), true) => window_rope,
            _ => &self.rope,
        };
        let angles = &table[position * head_dim / 2..][..head_dim / 2];
        match self.config.architecture.rotates_halves() {
            true => rotate_halves(row, angles, head_dim),
            false => rotate_pairs(row, angles, head_dim),
        }
    }

    /// Causal attention of every stream's new rows over its cache, one
    /// task per stream and head; (rows, heads × head_dim).
    fn attend(
        &self,
        layer: usize,
        streams: &[(&mut Cache, &[u32])],
        starts: &[usize],
        qkv: &[f32],
        rows: usize,
    ) -> Vec<f32> {
        let config = &self.config;
        let (q_width, head_dim) = (config.q_width(), config.head_dim);
        let width = q_width + 2 * config.kv_width();
        let group = config.heads / config.kv_heads;
        let scoring = Scoring {
            // q was scaled already where the architecture does so.
            scale: match config.query_scale {
                Some(_) => 1.0,
                None => 1.0 / (head_dim as f32).sqrt(),
            },
            softcap: config.attention_softcap,
        };
        let window = match self.layers[layer].sliding {
            true => config.window,
            false => usize::MAX,
        };
        let tasks: Vec<(usize, usize)> = (0..streams.len())
            .flat_map(|s| (0..config.heads).map(move |h| (s, h)))
            .collect();
        let outputs: Vec<Vec<f32>> = tasks
            .par_iter()
            .map(|&(s, head)| {
                let (cache, tokens) = &streams[s];
                // llama.cpp sums a batch of tokens (a prompt) with one
                // kernel and a single token with another.
                let order = match tokens.len() {
                    1 => Order::OneToken,
                    _ => Order::Batch,
                };
                let kv_head = head / group;
                let seen = cache.len;
                let mut out = vec![0.0; tokens.len() * head_dim];
                let mut scores = vec![0.0; seen + tokens.len()];
                for (i, out) in out.chunks_exact_mut(head_dim).enumerate() {
                    let query = &qkv[(starts[s] + i) * width + head * head_dim..][..head_dim];
                    // Positions within the window: llama.cpp masks a key
                    // `window` or more positions before the query.
                    let count = seen + i + 1;
                    attend_one(
                        query,
                        &cache.keys[layer],
                        &cache.values[layer],
                        config.kv_width(),
                        kv_head * head_dim,
                        count.saturating_sub(window)..count,
                        scoring,
                        order,
                        &mut scores,
                        out,
                    );
                }
                out
            })
            .collect();
        let mut attended = vec![0.0; rows * q_width];
        for (&(s, head), out) in tasks.iter().zip(outputs) {
            for (i, values) in out.chunks_exact(head_dim).enumerate() {
                attended[(starts[s] + i) * q_width + head * head_dim..][..head_dim]
                    .copy_from_slice(values);
            }
        }
        attended
    }
}
