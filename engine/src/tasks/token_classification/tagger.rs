//! The network of `token-classification`: a BERT-family encoder with
//! transformers' token-classification head and the labels of
//! `config.json`. Tokenized texts in, each token's label probabilities out.

use candle_core::{DType, Device};
use tokenizers::Encoding;

use crate::bundle::Bundle;
use crate::error::Result;
use crate::models::bert::heads::TokenHead;
use crate::tasks::text_classification::HeadConfig;
use crate::tasks::text_encoder::TextEncoder;

pub struct Tagger {
    pub(crate) text: TextEncoder,
    head: TokenHead,
    labels: Vec<String>,
}

impl Tagger {
    pub fn from_bundle(
        bundle: &Bundle,
        device: &Device,
        max_seq_length: Option<usize>,
    ) -> Result<Tagger> {
        let (_, labels) = HeadConfig::of(bundle)?;
        let (text, weights) = TextEncoder::from_bundle(bundle, device, max_seq_length)?;
        let head = TokenHead::load(weights, &text.config, labels.len())
            .map_err(|e| bundle.load_error(format!("the token classification head: {e}")))?;
        Ok(Tagger { text, head, labels })
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Each text's tokens' probabilities per label (padding left out), in
    /// one forward pass.
    pub fn probabilities(&self, encodings: &[&Encoding]) -> Result<Vec<Vec<Vec<f32>>>> {
        if encodings.is_empty() {
            return Ok(Vec::new());
        }
        let hidden = self.text.forward(encodings)?;
        let logits = self.head.forward(&hidden.states)?.to_dtype(DType::F32)?;
        let probabilities: Vec<Vec<Vec<f32>>> =
            candle_nn::ops::softmax_last_dim(&logits)?.to_vec3()?;
        Ok(probabilities
            .into_iter()
            .zip(&hidden.token_counts)
            .map(|(mut tokens, count)| {
                tokens.truncate(*count);
                tokens
            })
            .collect())
    }
}
