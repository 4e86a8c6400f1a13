//! Which task serves a model folder, read from what its files say, so
//! `wick bundle` needs no `--task` for a model Wick knows: `config.json`'s
//! `architectures` and `model_type`, and sentence-transformers' files.

use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use serde::Deserialize;

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::models::bert::config::MODEL_TYPES;
use crate::task::{AnyTask, TaskDefaults, TaskKind};
use crate::tasks::text_encoder::read_json;

/// The files detection reads, as a kind the hub resolver can fetch: a
/// model is probed before its task is known.
pub const PROBE: TaskKind = TaskKind {
    name: "probe",
    required_files: &["config.json"],
    optional_files: SENTENCE_TRANSFORMERS_FILES,
    defaults: |_| Ok(TaskDefaults::default()),
    derive: None,
    load: no_load,
};

fn no_load(bundle: &Bundle, _: &Device) -> Result<Arc<dyn AnyTask>> {
    Err(bundle.load_error("a probe is not a task"))
}

/// Files only a sentence-transformers model has.
const SENTENCE_TRANSFORMERS_FILES: &[&str] = &[
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
];

/// What Wick serves, for the message that refuses a folder.
const SUPPORTED: &str = "sentence embeddings (BERT, RoBERTa, XLM-RoBERTa, DistilBERT, DeBERTa-v2, ModernBERT, Nomic-BERT encoders), \
    text classification and reranking (their *ForSequenceClassification heads), token \
    classification (their *ForTokenClassification heads), image \
    classification (ViT, ResNet, ConvNeXt, DINOv2, EfficientNet-Lite), zero-shot image classification (CLIP, SigLIP), speech to text (Whisper), and GGUF text \
    generation (a .gguf file)";

#[derive(Deserialize, Default)]
struct ModelConfig {
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    model_type: Option<String>,
    #[serde(default)]
    num_labels: Option<usize>,
    #[serde(default)]
    id2label: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The task of the model at `source`: a folder in Hugging Face layout or
/// a GGUF file. A model none of Wick's tasks serves is refused with what
/// was found and what is supported.
pub fn task_of(source: &Path) -> Result<&'static str> {
    let refuse = |found: String| Error::Load {
        model: source.display().to_string(),
        message: format!(
            "{found}: no task of Wick's serves it (pass --task to choose one). Wick serves {SUPPORTED}"
        ),
    };
    if source.is_file() {
        return match source.extension().and_then(|e| e.to_str()) {
            Some("gguf") => Ok("text-generation"),
            _ => Err(refuse("a file that is not a GGUF".into())),
        };
    }
    let config: ModelConfig =
        read_json(&source.join("config.json"))?.ok_or_else(|| refuse("no config.json".into()))?;
    let architecture = config
        .architectures
        .first()
        .map(String::as_str)
        .unwrap_or("");
    let model_type = config.model_type.as_deref().unwrap_or("");
    let found = || {
        format!(
            "config.json names architectures [{}] and model_type {model_type:?}",
            config.architectures.join(", ")
        )
    };
    let encoder = model_type.is_empty() || MODEL_TYPES.contains(&model_type);
    let sentence_transformers = SENTENCE_TRANSFORMERS_FILES
        .iter()
        .any(|file| source.join(file).is_file());
    if architecture.ends_with("ForSequenceClassification") && encoder {
        let labels = config
            .num_labels
            .or(config.id2label.as_ref().map(|labels| labels.len()))
            .unwrap_or(2);
        return Ok(if labels == 1 {
            "text-ranking"
        } else {
            "text-classification"
        });
    }
    if architecture.ends_with("ForTokenClassification") && encoder {
        return Ok("token-classification");
    }
    if architecture.ends_with("ForImageClassification")
        && matches!(
            model_type,
            "vit" | "efficientnet-lite" | "resnet" | "convnext" | "dinov2"
        )
        || model_type == "efficientnet-lite"
    {
        return Ok("image-classification");
    }
    if matches!(model_type, "clip" | "siglip") {
        return Ok("zero-shot-image-classification");
    }
    if model_type == "whisper" {
        return Ok("speech-to-text");
    }
    let bare_encoder = architecture.is_empty()
        || architecture.ends_with("Model")
        || architecture.ends_with("ForMaskedLM");
    if encoder && (sentence_transformers || bare_encoder) {
        return Ok("sentence-embedding");
    }
    Err(refuse(found()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn folder(config: serde_json::Value, extra: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        for file in extra {
            std::fs::write(dir.path().join(file), "{}").unwrap();
        }
        dir
    }

    fn task(config: serde_json::Value, extra: &[&str]) -> Result<&'static str> {
        task_of(folder(config, extra).path())
    }

    #[test]
    fn every_family_finds_its_task() {
        let cases = [
            (
                json!({"architectures": ["BertModel"], "model_type": "bert"}),
                &["modules.json"][..],
                "sentence-embedding",
            ),
            (
                json!({"architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta"}),
                &[][..],
                "sentence-embedding",
            ),
            (
                json!({"architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
                    "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}}),
                &[],
                "text-classification",
            ),
            (
                json!({"architectures": ["XLMRobertaForSequenceClassification"], "model_type": "xlm-roberta",
                    "id2label": {"0": "LABEL_0"}}),
                &[],
                "text-ranking",
            ),
            (
                json!({"architectures": ["BertForSequenceClassification"], "model_type": "bert",
                    "num_labels": 1}),
                &[],
                "text-ranking",
            ),
            (
                json!({"architectures": ["ViTForImageClassification"], "model_type": "vit"}),
                &[],
                "image-classification",
            ),
            (
                json!({"architectures": ["EfficientNetLite"], "model_type": "efficientnet-lite"}),
                &[],
                "image-classification",
            ),
            (
                json!({"architectures": ["ConvNextForImageClassification"], "model_type": "convnext"}),
                &[],
                "image-classification",
            ),
            (
                json!({"architectures": ["CLIPModel"], "model_type": "clip"}),
                &[],
                "zero-shot-image-classification",
            ),
            (
                json!({"architectures": ["SiglipModel"], "model_type": "siglip"}),
                &[],
                "zero-shot-image-classification",
            ),
            (
                json!({"architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper"}),
                &[],
                "speech-to-text",
            ),
        ];
        for (config, files, want) in cases {
            assert_eq!(task(config.clone(), files).unwrap(), want, "{config}");
        }
    }

    #[test]
    fn what_no_task_serves_is_refused_with_what_was_found() {
        let message = task(
            json!({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.contains("Qwen2ForCausalLM") && message.contains("qwen2"),
            "{message}"
        );
        assert!(
            message.contains("--task") && message.contains("Whisper"),
            "{message}"
        );
        let message = task_of(tempfile::tempdir().unwrap().path())
            .unwrap_err()
            .to_string();
        assert!(message.contains("no config.json"), "{message}");
        let gguf = tempfile::tempdir().unwrap();
        let file = gguf.path().join("model.gguf");
        std::fs::write(&file, b"GGUF").unwrap();
        assert_eq!(task_of(&file).unwrap(), "text-generation");
    }
}
