//! The BERT encoder on the CPU with packed matmuls (`gemm`: AVX-512, and
//! AMX tiles for the layers' weights where the CPU has them), over real
//! tokens only: the batch's texts are laid end to end without their
//! padding, so the linear layers never multiply padding and attention runs
//! per text and head over that text's own length. A batch of one long and
//! many short texts costs what its tokens cost.
//!
//! Threads (rayon's pool): attention splits by text and head; with many
//! rows, the rest of a layer runs in parts of `ROWS_PER_PART` rows, one
//! part per thread at a time, so the feed-forward intermediates stay in
//! that core's cache; with few rows, the matmuls split their columns.
//!
//! Built from a loaded `CandleEncoder` (one place names the weights); the
//! weights are copied out and packed, and the tensors dropped.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::LayerNorm;
use rayon::prelude::*;

use super::candle::{self, CandleEncoder};
use crate::kernels::fast_math;
use crate::kernels::gemm::{self, Packed, Rows};

pub struct PackedEncoder {
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
}

struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    up: Linear,
    down: Linear,
    output_norm: Norm,
}

struct Linear {
    weight: Packed,
    bias: Vec<f32>,
}

struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

/// Rows per parallel chunk of the element-wise steps.
const ROWS_PER_CHUNK: usize = 16;

/// Rows per part when a layer's feed-forward half is cut into parts.
const ROWS_PER_PART: usize = 128;

fn floats(tensor: &Tensor) -> Result<Vec<f32>> {
    tensor.flatten_all()?.to_dtype(DType::F32)?.to_vec1()
}

impl Linear {
    fn new(linear: &candle::Linear) -> Result<Linear> {
        let (outputs, inputs) = linear.weight.dims2()?;
        Ok(Linear {
            weight: Packed::weights(&floats(&linear.weight)?, outputs, inputs),
            bias: floats(&linear.bias)?,
        })
    }

    /// (rows, in) → (rows, out).
    fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let inputs = self.weight.depth();
        gemm::matmul(Rows::new(x, rows, inputs), &self.weight, Some(&self.bias))
    }
}

impl Norm {
    fn new(norm: &LayerNorm) -> Result<Norm> {
        let Some(bias) = norm.bias() else {
            candle_core::bail!("a BERT layer norm has a bias");
        };
        Ok(Norm {
            weight: floats(norm.weight())?,
            bias: floats(bias)?,
            eps: norm.eps() as f32,
        })
    }

    /// x = norm(x + residual), row by row.
    fn apply(&self, x: &mut [f32], residual: Option<&[f32]>) {
        let chunk = self.weight.len() * ROWS_PER_CHUNK;
        x.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(index, rows)| {
                let residual = residual.map(|r| &r[index * chunk..index * chunk + rows.len()]);
                fast_math::layer_norm_all(rows, residual, &self.weight, &self.bias, self.eps);
            });
    }
}

impl PackedEncoder {
    pub fn new(encoder: &CandleEncoder) -> Result<PackedEncoder> {
        if !gemm::available() {
            candle_core::bail!("the packed encoder needs a CPU with AVX-512F");
        }
        if encoder.heads == 0 || !encoder.hidden.is_multiple_of(encoder.heads) {
            candle_core::bail!(
                "hidden size {} is not a multiple of {} heads",
                encoder.hidden,
                encoder.heads
            );
        }
        let layers = encoder
            .layers
            .iter()
            .map(|layer| {
                Ok(Layer {
                    qkv: Linear::new(&layer.qkv)?,
                    attention_out: Linear::new(&layer.attention_out)?,
                    attention_norm: Norm::new(&layer.attention_norm)?,
                    up: Linear::new(&layer.up)?,
                    down: Linear::new(&layer.down)?,
                    output_norm: Norm::new(&layer.output_norm)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PackedEncoder {
            word: floats(&encoder.word)?,
            position: floats(&encoder.position)?,
            token_type: floats(&encoder.token_type)?,
            embedding_norm: Norm::new(&encoder.embedding_norm)?,
            layers,
            heads: encoder.heads,
            hidden: encoder.hidden,
        })
    }

    /// "packed AVX-512", with "+ AMX" when the linear layers run on tiles.
    pub fn build_name(&self) -> &'static str {
        if self.layers.iter().any(|layer| layer.up.weight.on_tiles()) {
            "packed AVX-512 + AMX"
        } else {
            "packed AVX-512"
        }
    }

    /// As `Encoder::forward`; padding rows come back as zeros.
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (batch, tokens) = ids.dims2()?;
        let h = self.hidden;
        let ids = ids.to_dtype(DType::U32)?.to_vec2::<u32>()?;
        let type_ids = type_ids.to_dtype(DType::U32)?.to_vec2::<u32>()?;
        let mask = mask.to_dtype(DType::U32)?.to_vec2::<u32>()?;
        // The real tokens, text after text: (text, position) of each, and
        // each text's range of them.
        let mut places = Vec::new();
        let mut texts = Vec::with_capacity(batch);
        for (b, row) in mask.iter().enumerate() {
            let start = places.len();
            places.extend((0..tokens).filter(|&t| row[t] != 0).map(|t| (b, t)));
            texts.push(start..places.len());
        }
        let mut x = self.embed(&places, &ids, &type_ids)?;
        for layer in &self.layers {
            x = self.layer(layer, x, &texts);
        }
        let mut out = vec![0.0f32; batch * tokens * h];
        for (row, &(b, t)) in places.iter().enumerate() {
            let at = (b * tokens + t) * h;
            out[at..at + h].copy_from_slice(&x[row * h..(row + 1) * h]);
        }
        Tensor::from_vec(out, (batch, tokens, h), &Device::Cpu)
    }

    /// Word + position + token type embeddings, normalized.
    fn embed(
        &self,
        places: &[(usize, usize)],
        ids: &[Vec<u32>],
        types: &[Vec<u32>],
    ) -> Result<Vec<f32>> {
        let h = self.hidden;
        fn row_of<'a>(table: &'a [f32], h: usize, index: usize, what: &str) -> Result<&'a [f32]> {
            match table.get(index * h..(index + 1) * h) {
                Some(row) => Ok(row),
                None => candle_core::bail!("{what} {index} is outside the embedding table"),
            }
        }
        let mut x = vec![0.0f32; places.len() * h];
        for (row, &(b, t)) in x.chunks_exact_mut(h).zip(places) {
            let word = row_of(&self.word, h, ids[b][t] as usize, "token id")?;
            let kind = row_of(&self.token_type, h, types[b][t] as usize, "token type")?;
            let position = row_of(&self.position, h, t, "position")?;
            for (i, value) in row.iter_mut().enumerate() {
                *value = word[i] + kind[i] + position[i];
            }
        }
        self.embedding_norm.apply(&mut x, None);
        Ok(x)
    }

    fn layer(&self, layer: &Layer, mut x: Vec<f32>, texts: &[std::ops::Range<usize>]) -> Vec<f32> {
        let rows = texts.last().map_or(0, |text| text.end);
        let h = self.hidden;
        let qkv = layer.qkv.forward(&x, rows);
        let context = self_attention(&qkv, rows, texts, self.hidden, self.heads);
        drop(qkv);
        // Many rows: each thread takes parts of `ROWS_PER_PART` through
        // the rest of the layer, so a part's intermediates (the FFN's are 4×
        // wider) stay in its core's cache instead of streaming through
        // memory between steps. Few rows: one part, threads inside.
        let part = if rows >= 2 * ROWS_PER_PART * rayon::current_num_threads() {
            ROWS_PER_PART
        } else {
            rows.max(1)
        };
        x.par_chunks_mut(part * h)
            .zip(context.par_chunks(part * h))
            .for_each(|(x, context)| {
                let rows = x.len() / h;
                let mut attended = layer.attention_out.forward(context, rows);
                layer.attention_norm.apply(&mut attended, Some(x));
                let mut up = layer.up.forward(&attended, rows);
                up.par_chunks_mut(layer.up.weight.columns() * ROWS_PER_CHUNK)
                    .for_each(fast_math::gelu_all);
                let mut down = layer.down.forward(&up, rows);
                layer.output_norm.apply(&mut down, Some(&attended));
                x.copy_from_slice(&down);
            });
        x
    }
}

/// Self-attention of each text over its own tokens, one task per text and
/// head: (rows, 3 × hidden) fused Q|K|V → (rows, hidden) context. Whisper's
/// encoder uses it too, with one "text" of 1,500 positions.
pub(crate) fn self_attention(
    qkv: &[f32],
    rows: usize,
    texts: &[std::ops::Range<usize>],
    h: usize,
    heads: usize,
) -> Vec<f32> {
    let d = h / heads;
    let stride = 3 * h;
    let scale = 1.0 / (d as f32).sqrt();
    let contexts: Vec<Vec<f32>> = (0..texts.len() * heads)
        .into_par_iter()
        .map(|task| {
            let (text, head) = (&texts[task / heads], task % heads);
            let len = text.len();
            if len == 0 {
                return Vec::new();
            }
            let at = text.start * stride + head * d;
            let keys = Packed::from_rows(&qkv[at + h..], stride, len, d);
            let values = Packed::from_columns(&qkv[at + 2 * h..], stride, len, d);
            let mut scores = gemm::matmul_here(Rows::new(&qkv[at..], len, stride), &keys);
            fast_math::scaled_softmax_all(&mut scores, len, scale);
            gemm::matmul_here(Rows::new(&scores, len, len), &values)
        })
        .collect();
    let mut out = vec![0.0f32; rows * h];
    for (task, context) in contexts.iter().enumerate() {
        let (text, head) = (&texts[task / heads], task % heads);
        for (i, values) in context.chunks_exact(d).enumerate() {
            let at = (text.start + i) * h + head * d;
            out[at..at + d].copy_from_slice(values);
        }
    }
    out
}
