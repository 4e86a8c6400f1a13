//! The model wrapper: a network, the preprocessing it was trained with and
//! its labels — images in, probabilities out.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::vit;
use serde::Deserialize;

use super::settings::Settings;
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::images::{Preprocess, PreprocessorConfig};
use crate::models::convnext::{self, ConvNext};
use crate::models::dinov2::{self, Dinov2};
use crate::models::efficientnet_lite::{self, EfficientNetLite};
use crate::models::resnet::{self, ResNet};

/// The networks this task runs, by `config.json`'s `model_type`.
pub enum Network {
    EfficientNetLite(EfficientNetLite),
    Vit(vit::Model),
    ResNet(ResNet),
    ConvNext(ConvNext),
    Dinov2(Dinov2),
}

impl Network {
    /// Images (batch, height, width, 3), normalised → logits.
    fn forward(&self, images: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Network::EfficientNetLite(net) => net.forward(images),
            Network::Vit(net) => net.forward(&channels_first(images)?),
            Network::ResNet(net) => net.forward(&channels_first(images)?),
            Network::ConvNext(net) => net.forward(&channels_first(images)?),
            Network::Dinov2(net) => net.forward(&channels_first(images)?),
        }
    }

    pub fn build_name(&self) -> &'static str {
        match self {
            Network::EfficientNetLite(net) => net.build_name(),
            Network::Vit(_) => "candle-transformers ViT",
            Network::ResNet(_) => "ResNet on Candle's ops",
            Network::ConvNext(_) => "ConvNeXt on Candle's ops",
            Network::Dinov2(_) => "DINOv2 on Candle's ops",
        }
    }
}

/// (batch, height, width, channels) → (batch, channels, height, width).
fn channels_first(images: &Tensor) -> candle_core::Result<Tensor> {
    images.permute((0, 3, 1, 2))?.contiguous()
}

pub struct Classifier {
    network: Network,
    preprocess: Preprocess,
    labels: Vec<String>,
    device: Device,
}

/// What every classifier's `config.json` has.
#[derive(Deserialize)]
struct CommonConfig {
    model_type: Option<String>,
    id2label: Option<BTreeMap<String, String>>,
}

impl Classifier {
    pub fn new(
        network: Network,
        preprocess: Preprocess,
        labels: Vec<String>,
        device: Device,
    ) -> Classifier {
        Classifier {
            network,
            preprocess,
            labels,
            device,
        }
    }

    /// Loads the network, preprocessing, labels and `[settings]` of a
    /// verified bundle.
    pub fn from_bundle(bundle: &Bundle, device: &Device) -> Result<(Classifier, Settings)> {
        let fail = |message: String| Error::Load {
            model: bundle.manifest.name.clone(),
            message,
        };
        let read = |name: &str| -> Result<String> {
            let path = bundle.required_file(name)?;
            std::fs::read_to_string(&path).map_err(Error::io(path))
        };
        let config_text = read("config.json")?;
        let common: CommonConfig =
            serde_json::from_str(&config_text).map_err(|e| fail(format!("config.json: {e}")))?;
        let labels = labels(common.id2label).map_err(|e| fail(format!("config.json: {e}")))?;
        let preprocessor: PreprocessorConfig =
            serde_json::from_str(&read("preprocessor_config.json")?)
                .map_err(|e| fail(format!("preprocessor_config.json: {e}")))?;
        let preprocess = Preprocess::from_config(&preprocessor)
            .map_err(|e| fail(format!("preprocessor_config.json: {e}")))?;
        let mut settings: Settings = bundle
            .manifest
            .settings
            .clone()
            .try_into()
            .map_err(|e| fail(format!("[settings]: {e}")))?;
        settings.check(labels.len()).map_err(fail)?;
        let weights = bundle.required_file("model.safetensors")?;
        // SAFETY: the file was just hashed against wick.toml and is not
        // written while served; mmap avoids a second copy in memory.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, device)? };
        let model_type = common.model_type.unwrap_or_default();
        let bad_config = |e: String| fail(format!("config.json: {e}"));
        let parse_error = |e: serde_json::Error| bad_config(e.to_string());
        let bad_weights = |e: candle_core::Error| fail(format!("weights: {e}"));
        let network = match model_type.as_str() {
            "efficientnet-lite" | "efficientnet_lite" => {
                let mut config: efficientnet_lite::Config =
                    serde_json::from_str(&config_text).map_err(parse_error)?;
                config.num_labels = labels.len();
                Network::EfficientNetLite(EfficientNetLite::load(vb, &config).map_err(bad_weights)?)
            }
            "vit" => {
                let config: vit::Config =
                    serde_json::from_str(&config_text).map_err(parse_error)?;
                if (preprocess.height, preprocess.width)
                    != (config.image_size as u32, config.image_size as u32)
                {
                    return Err(fail(format!(
                        "preprocessor_config.json resizes to {} × {}, but the ViT takes {} × {}",
                        preprocess.width, preprocess.height, config.image_size, config.image_size
                    )));
                }
                Network::Vit(vit::Model::new(&config, labels.len(), vb).map_err(bad_weights)?)
            }
            "resnet" => {
                let config: resnet::Config =
                    serde_json::from_str(&config_text).map_err(parse_error)?;
                config.check().map_err(bad_config)?;
                Network::ResNet(ResNet::load(vb, &config, labels.len()).map_err(bad_weights)?)
            }
            "convnext" => {
                let config: convnext::Config =
                    serde_json::from_str(&config_text).map_err(parse_error)?;
                config.check().map_err(bad_config)?;
                Network::ConvNext(ConvNext::load(vb, &config, labels.len()).map_err(bad_weights)?)
            }
            "dinov2" => {
                let config: dinov2::Config =
                    serde_json::from_str(&config_text).map_err(parse_error)?;
                config.check().map_err(bad_config)?;
                if preprocess.height != preprocess.width
                    || !(preprocess.height as usize).is_multiple_of(config.patch_size)
                {
                    return Err(fail(format!(
                        "preprocessor_config.json makes {} × {} images; DINOv2 takes a square of \
                         whole {}-pixel patches",
                        preprocess.width, preprocess.height, config.patch_size
                    )));
                }
                Network::Dinov2(
                    Dinov2::load(vb, &config, labels.len(), preprocess.height as usize)
                        .map_err(bad_weights)?,
                )
            }
            other => {
                return Err(fail(format!(
                    "config.json's model_type `{other}` is not one this task runs \
                     (efficientnet-lite, vit, resnet, convnext, dinov2)"
                )));
            }
        };
        tracing::info!(network = network.build_name(), "image classifier loaded");
        Ok((
            Classifier::new(network, preprocess, labels, device.clone()),
            settings,
        ))
    }

    pub fn preprocess(&self) -> &Preprocess {
        &self.preprocess
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn build_name(&self) -> &'static str {
        self.network.build_name()
    }

    /// Preprocessed images (each `Preprocess::apply`'s output) → each
    /// image's probability per label, in one forward pass.
    pub fn probabilities(&self, images: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        let input = self.preprocess.stack(images, &self.device)?;
        let logits = self.network.forward(&input)?;
        let probabilities = candle_nn::ops::softmax_last_dim(&logits.to_dtype(DType::F32)?)?;
        Ok(probabilities.to_vec2::<f32>()?)
    }
}

/// `id2label` as a list: keys 0..n, each once.
fn labels(id2label: Option<BTreeMap<String, String>>) -> std::result::Result<Vec<String>, String> {
    let id2label = id2label.ok_or("`id2label` is missing: the labels cannot be named")?;
    let count = id2label.len();
    let mut labels = vec![None; count];
    for (id, label) in id2label {
        let index: usize = id
            .parse()
            .map_err(|_| format!("id2label key `{id}` is not a number"))?;
        let slot = labels
            .get_mut(index)
            .ok_or_else(|| format!("id2label key {index} is past the {count} labels"))?;
        *slot = Some(label);
    }
    if labels.is_empty() {
        return Err("id2label is empty".into());
    }
    labels
        .into_iter()
        .enumerate()
        .map(|(index, label)| label.ok_or_else(|| format!("id2label has no key {index}")))
        .collect()
}
