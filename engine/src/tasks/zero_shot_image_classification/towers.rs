//! CLIP and SigLIP: an image tower and a text tower that map into one
//! space, with the tokenizer, the image preprocessing and the learnt logit
//! scale (and SigLIP's bias) that turn cosine similarities into scores.
//!
//! The towers are candle-transformers' (`clip`, `siglip`). CLIP's text
//! tower is run to its last hidden states here and pooled as transformers
//! does: at the first end-of-text token (or the largest id, for configs
//! that keep the legacy `eos_token_id = 2`). SigLIP's texts are padded to
//! its position table (64 tokens) and pooled at the last position, with no
//! mask, as the model was trained.

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use candle_transformers::models::clip::div_l2_norm;
use candle_transformers::models::clip::text_model::{
    Activation, ClipTextConfig, ClipTextTransformer,
};
use candle_transformers::models::clip::vision_model::{ClipVisionConfig, ClipVisionTransformer};
use candle_transformers::models::siglip;
use serde::Deserialize;
use tokenizers::{Encoding, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::images::{Preprocess, PreprocessorConfig};
use crate::tasks::text_encoder::read_json;

/// How a family turns a scaled similarity into a score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Softmax over the candidate labels: they compete.
    Clip,
    /// A sigmoid per label: each is judged on its own.
    Siglip,
}

enum Towers {
    Clip {
        text: ClipTextTransformer,
        vision: ClipVisionTransformer,
        text_projection: Linear,
        visual_projection: Linear,
        /// Where a text is pooled: its first `Some(id)`, or its largest id.
        end_of_text: Option<u32>,
    },
    Siglip {
        text: siglip::TextModel,
        vision: siglip::VisionModel,
    },
}

pub struct DualEncoder {
    towers: Towers,
    pub family: Family,
    tokenizer: Tokenizer,
    preprocess: Preprocess,
    /// `exp(logit_scale)`.
    scale: f32,
    /// SigLIP's `logit_bias`; 0 for CLIP.
    bias: f32,
    device: Device,
}

/// `config.json` of a `CLIPModel`, with transformers' defaults.
#[derive(Deserialize)]
struct ClipConfig {
    #[serde(default = "d512")]
    projection_dim: usize,
    #[serde(default)]
    text_config: ClipTextJson,
    #[serde(default)]
    vision_config: ClipVisionJson,
}

#[derive(Deserialize)]
#[serde(default)]
struct ClipTextJson {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    hidden_act: String,
    layer_norm_eps: f64,
    eos_token_id: u32,
}

impl Default for ClipTextJson {
    fn default() -> Self {
        ClipTextJson {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            max_position_embeddings: 77,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
            eos_token_id: 49407,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct ClipVisionJson {
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_channels: usize,
    image_size: usize,
    patch_size: usize,
    hidden_act: String,
    layer_norm_eps: f64,
}

impl Default for ClipVisionJson {
    fn default() -> Self {
        ClipVisionJson {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
        }
    }
}

fn d512() -> usize {
    512
}

/// What a SigLIP `config.json` says beyond candle-transformers' `Config`.
#[derive(Deserialize)]
struct SiglipExtra {
    #[serde(default)]
    vision_config: SiglipVisionExtra,
}

#[derive(Deserialize)]
struct SiglipVisionExtra {
    #[serde(default = "yes")]
    vision_use_head: bool,
}

impl Default for SiglipVisionExtra {
    fn default() -> Self {
        SiglipVisionExtra {
            vision_use_head: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// CLIP's towers are built with QuickGELU and LayerNorm eps 1e-5 only.
fn clip_tower_supported(name: &str, act: &str, eps: f64) -> std::result::Result<(), String> {
    if act != "quick_gelu" {
        return Err(format!(
            "the {name} tower's hidden_act is `{act}`; Wick's CLIP runs quick_gelu only"
        ));
    }
    if (eps - 1e-5).abs() > 1e-12 {
        return Err(format!(
            "the {name} tower's layer_norm_eps is {eps}; Wick's CLIP runs 1e-5 only"
        ));
    }
    Ok(())
}

impl DualEncoder {
    /// Loads the towers, tokenizer and preprocessing of a verified bundle.
    pub fn from_bundle(bundle: &Bundle, device: &Device) -> Result<DualEncoder> {
        let fail = |message: String| bundle.load_error(message);
        let config_path = bundle.required_file("config.json")?;
        let json: serde_json::Value = read_json(&config_path)?
            .ok_or_else(|| fail(format!("cannot read {}", config_path.display())))?;
        let preprocessor: PreprocessorConfig =
            read_json(&bundle.required_file("preprocessor_config.json")?)?
                .ok_or_else(|| fail("cannot read preprocessor_config.json".into()))?;
        let preprocess = Preprocess::from_config(&preprocessor)
            .map_err(|e| fail(format!("preprocessor_config.json: {e}")))?;
        let mut tokenizer = Tokenizer::from_file(bundle.required_file("tokenizer.json")?)
            .map_err(|e| fail(format!("tokenizer.json: {e}")))?;
        let weights = bundle.required_file("model.safetensors")?;
        // SAFETY: the file was just hashed against wick.toml and is not
        // written while served; mmap avoids a second copy in memory.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, device)? };
        let model_type = json
            .get("model_type")
            .and_then(|t| t.as_str())
            .unwrap_or("");
        let weight = |e: candle_core::Error| fail(format!("weights: {e}"));
        let parse = |e: serde_json::Error| fail(format!("config.json: {e}"));
        let (towers, family, image_size, max_tokens, padding) = match model_type {
            "clip" => {
                let config: ClipConfig = serde_json::from_value(json).map_err(parse)?;
                let (t, v) = (&config.text_config, &config.vision_config);
                clip_tower_supported("text", &t.hidden_act, t.layer_norm_eps).map_err(fail)?;
                clip_tower_supported("image", &v.hidden_act, v.layer_norm_eps).map_err(fail)?;
                let text_config = ClipTextConfig {
                    vocab_size: t.vocab_size,
                    embed_dim: t.hidden_size,
                    activation: Activation::QuickGelu,
                    intermediate_size: t.intermediate_size,
                    max_position_embeddings: t.max_position_embeddings,
                    pad_with: None,
                    num_hidden_layers: t.num_hidden_layers,
                    num_attention_heads: t.num_attention_heads,
                    projection_dim: config.projection_dim,
                };
                let vision_config = ClipVisionConfig {
                    embed_dim: v.hidden_size,
                    activation: Activation::QuickGelu,
                    intermediate_size: v.intermediate_size,
                    num_hidden_layers: v.num_hidden_layers,
                    num_attention_heads: v.num_attention_heads,
                    projection_dim: config.projection_dim,
                    num_channels: v.num_channels,
                    image_size: v.image_size,
                    patch_size: v.patch_size,
                };
                // transformers' rule: configs from before it knew the
                // end-of-text id say 2 and pool at the largest id.
                let end_of_text = (t.eos_token_id != 2).then_some(t.eos_token_id);
                let towers = Towers::Clip {
                    text: ClipTextTransformer::new(vb.pp("text_model"), &text_config)
                        .map_err(weight)?,
                    vision: ClipVisionTransformer::new(vb.pp("vision_model"), &vision_config)
                        .map_err(weight)?,
                    text_projection: candle_nn::linear_no_bias(
                        t.hidden_size,
                        config.projection_dim,
                        vb.pp("text_projection"),
                    )
                    .map_err(weight)?,
                    visual_projection: candle_nn::linear_no_bias(
                        v.hidden_size,
                        config.projection_dim,
                        vb.pp("visual_projection"),
                    )
                    .map_err(weight)?,
                    end_of_text,
                };
                // Causal: what follows the end of a text is never read.
                (
                    towers,
                    Family::Clip,
                    v.image_size,
                    t.max_position_embeddings,
                    None,
                )
            }
            "siglip" => {
                let extra: SiglipExtra = serde_json::from_value(json.clone()).map_err(parse)?;
                if !extra.vision_config.vision_use_head {
                    return Err(fail(
                        "vision_use_head = false: this SigLIP has no pooled image embedding".into(),
                    ));
                }
                let config: siglip::Config = serde_json::from_value(json).map_err(parse)?;
                let (t, v) = (&config.text_config, &config.vision_config);
                let towers = Towers::Siglip {
                    text: siglip::TextModel::new(t, vb.pp("text_model")).map_err(weight)?,
                    vision: siglip::VisionModel::new(v, true, vb.pp("vision_model"))
                        .map_err(weight)?,
                };
                // Trained on texts padded to the whole position table.
                let padding = Some(PaddingParams {
                    strategy: PaddingStrategy::Fixed(t.max_position_embeddings),
                    pad_id: t.pad_token_id,
                    ..PaddingParams::default()
                });
                (
                    towers,
                    Family::Siglip,
                    v.image_size,
                    t.max_position_embeddings,
                    padding,
                )
            }
            other => {
                return Err(fail(format!(
                    "config.json's model_type `{other}` is not one this task runs (clip, siglip)"
                )));
            }
        };
        if (preprocess.height, preprocess.width) != (image_size as u32, image_size as u32) {
            return Err(fail(format!(
                "preprocessor_config.json makes {} × {} images, but the image tower takes {image_size} × {image_size}",
                preprocess.width, preprocess.height
            )));
        }
        // A scalar, saved as shape [] (CLIP) or [1] (SigLIP).
        let scalar = |name: &str| -> Result<f32> {
            let values = vb
                .get_unchecked(name)
                .map_err(weight)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            match values[..] {
                [value] => Ok(value),
                _ => Err(fail(format!(
                    "weights: {name} holds {} values, not one",
                    values.len()
                ))),
            }
        };
        let scale = scalar("logit_scale")?.exp();
        let bias = match family {
            Family::Clip => 0.0,
            Family::Siglip => scalar("logit_bias")?,
        };
        // The tokenizer's own padding and truncation are replaced by the
        // model's: the tower's position table bounds a text.
        tokenizer.with_padding(padding);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..TruncationParams::default()
            }))
            .map_err(|e| fail(format!("tokenizer truncation: {e}")))?;
        let encoder = DualEncoder {
            towers,
            family,
            tokenizer,
            preprocess,
            scale,
            bias,
            device: device.clone(),
        };
        encoder.check_end_of_text().map_err(fail)?;
        Ok(encoder)
    }

    /// CLIP pools at the end-of-text token, so the tokenizer must end every
    /// text with it; one that does not would be read at its first token.
    fn check_end_of_text(&self) -> std::result::Result<(), String> {
        let Towers::Clip {
            end_of_text: Some(id),
            ..
        } = &self.towers
        else {
            return Ok(());
        };
        let sample = self.encode("a").map_err(|e| e.to_string())?;
        if sample.get_ids().last() != Some(id) {
            return Err(format!(
                "tokenizer.json does not end a text with the end-of-text token (id {id}, config.json's \
                 text_config.eos_token_id), where CLIP reads a text"
            ));
        }
        Ok(())
    }

    pub fn preprocess(&self) -> &Preprocess {
        &self.preprocess
    }

    /// Tokenizes one text, truncated to the text tower (padded, for
    /// SigLIP).
    pub fn encode(&self, text: &str) -> Result<Encoding> {
        self.tokenizer
            .encode(text, true)
            .map_err(|e| Error::Inference(format!("tokenizer: {e}")))
    }

    /// Tokenized texts → their unit-length embeddings (texts, dim), in one
    /// pass.
    pub fn embed_texts(&self, texts: &[&Encoding]) -> Result<Tensor> {
        let width = texts.iter().map(|e| e.len()).max().unwrap_or(1).max(1);
        let mut ids = Vec::with_capacity(texts.len() * width);
        for encoding in texts {
            let row = encoding.get_ids();
            ids.extend_from_slice(row);
            let pad = row.last().copied().unwrap_or_default();
            ids.extend(std::iter::repeat_n(pad, width - row.len()));
        }
        let input = Tensor::from_vec(ids, (texts.len(), width), &self.device)?;
        let features = match &self.towers {
            Towers::Clip {
                text,
                text_projection,
                end_of_text,
                ..
            } => {
                let states = text.forward_with_mask(&input, usize::MAX)?;
                let rows = texts
                    .iter()
                    .enumerate()
                    .map(|(row, encoding)| {
                        let at = pooled_position(encoding.get_ids(), *end_of_text);
                        states.i((row, at))?.unsqueeze(0)
                    })
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Tensor::cat(&rows, 0)?.apply(text_projection)?
            }
            Towers::Siglip { text, .. } => text.forward(&input)?,
        };
        Ok(div_l2_norm(&features)?)
    }

    /// Preprocessed images (each `Preprocess::apply`'s output, height ×
    /// width × 3) → their unit-length embeddings (images, dim).
    pub fn embed_images(&self, images: &[&[f32]]) -> Result<Tensor> {
        let input = self
            .preprocess
            .stack(images, &self.device)?
            .permute((0, 3, 1, 2))?
            .contiguous()?;
        let features = match &self.towers {
            Towers::Clip {
                vision,
                visual_projection,
                ..
            } => vision.forward(&input)?.apply(visual_projection)?,
            Towers::Siglip { vision, .. } => vision.forward(&input)?,
        };
        Ok(div_l2_norm(&features)?)
    }

    /// A cosine similarity as the model scores it: scaled (and shifted,
    /// for SigLIP) into a logit.
    pub fn logit(&self, similarity: f32) -> f32 {
        similarity * self.scale + self.bias
    }

    /// One image's logits over its candidate labels → scores: softmax for
    /// CLIP, a sigmoid each for SigLIP (transformers' pipeline).
    pub fn scores(&self, logits: &[f32]) -> Vec<f32> {
        match self.family {
            Family::Siglip => logits.iter().map(|l| 1.0 / (1.0 + (-l).exp())).collect(),
            Family::Clip => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
                let sum: f32 = exps.iter().sum();
                exps.iter().map(|e| e / sum).collect()
            }
        }
    }
}

/// Where CLIP reads a text: its first end-of-text token, or (legacy
/// configs) its largest id, first of equals as `torch.argmax`.
fn pooled_position(ids: &[u32], end_of_text: Option<u32>) -> usize {
    match end_of_text {
        Some(eos) => ids.iter().position(|&id| id == eos).unwrap_or(0),
        None => {
            ids.iter()
                .enumerate()
                .fold(
                    (0, 0),
                    |(best, max), (at, &id)| {
                        if id > max { (at, id) } else { (best, max) }
                    },
                )
                .0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pooled_position;

    #[test]
    fn clip_reads_a_text_where_transformers_does() {
        assert_eq!(pooled_position(&[0, 5, 9, 1, 1, 1], Some(1)), 3);
        assert_eq!(pooled_position(&[0, 5, 1, 7, 1], Some(1)), 2);
        assert_eq!(pooled_position(&[49406, 320, 49407, 49407], None), 2);
        assert_eq!(pooled_position(&[], None), 0);
    }
}
