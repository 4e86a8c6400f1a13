//! The network: hashed character trigrams of the text, one linear layer,
//! softmax over two moods. Trained at start on the reviews below with
//! plain gradient descent from zero weights, so every start gives the
//! same weights and nothing is downloaded.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, Module, Optimizer, VarBuilder, VarMap};

const FEATURES: usize = 1024;
const MOODS: [&str; 2] = ["negative", "positive"];

/// Reviews and their mood (1: positive).
const REVIEWS: &[(&str, u32)] = &[
    ("a wonderful film, I loved every minute", 1),
    ("great acting and a beautiful story", 1),
    ("delightful, funny and warm", 1),
    ("the best meal I have had this year", 1),
    ("excellent service, lovely staff", 1),
    ("I loved it and would happily go again", 1),
    ("brilliant, moving and beautifully shot", 1),
    ("fantastic value, works perfectly", 1),
    ("a joy to read from start to finish", 1),
    ("superb, I recommend it to everyone", 1),
    ("awful, a complete waste of time", 0),
    ("boring plot and terrible acting", 0),
    ("the food was cold and bland", 0),
    ("rude staff and a dirty room", 0),
    ("I hated it and left early", 0),
    ("broken on arrival, poor quality", 0),
    ("dull, slow and far too long", 0),
    ("the worst service I have ever had", 0),
    ("disappointing and overpriced", 0),
    ("a mess, I would not recommend it", 0),
];

pub struct Mood {
    layer: Linear,
}

impl Mood {
    /// Trains the layer: 300 steps of gradient descent, well under a second.
    pub fn train() -> candle_core::Result<Mood> {
        let device = Device::Cpu;
        let weights = VarMap::new();
        let layer = candle_nn::linear(
            FEATURES,
            MOODS.len(),
            VarBuilder::from_varmap(&weights, DType::F32, &device),
        )?;
        for var in weights.all_vars() {
            var.set(&var.zeros_like()?)?;
        }
        let texts: Vec<&str> = REVIEWS.iter().map(|(text, _)| *text).collect();
        let inputs = features(&texts, &device)?;
        let labels: Vec<u32> = REVIEWS.iter().map(|(_, mood)| *mood).collect();
        let labels = Tensor::new(labels.as_slice(), &device)?;
        let mut descent = candle_nn::SGD::new(weights.all_vars(), 2.0)?;
        for _ in 0..300 {
            let loss = candle_nn::loss::cross_entropy(&layer.forward(&inputs)?, &labels)?;
            descent.backward_step(&loss)?;
        }
        Ok(Mood { layer })
    }

    /// Each mood's probability for `text`.
    pub fn scores(&self, text: &str) -> candle_core::Result<Vec<(&'static str, f64)>> {
        let inputs = features(&[text], &Device::Cpu)?;
        let probabilities = candle_nn::ops::softmax_last_dim(&self.layer.forward(&inputs)?)?;
        let probabilities = probabilities.squeeze(0)?.to_vec1::<f32>()?;
        Ok(MOODS
            .iter()
            .zip(probabilities)
            .map(|(mood, p)| (*mood, f64::from(p)))
            .collect())
    }
}

/// Counts of each text's character trigrams, hashed into `FEATURES`
/// buckets and scaled to unit length.
fn features(texts: &[&str], device: &Device) -> candle_core::Result<Tensor> {
    let mut rows = vec![0f32; texts.len() * FEATURES];
    for (row, text) in rows.chunks_mut(FEATURES).zip(texts) {
        let chars: Vec<char> = format!(" {} ", text.to_lowercase()).chars().collect();
        for trigram in chars.windows(3) {
            // FNV-1a: a fixed hash, so features are the same on every run.
            let hash = trigram.iter().fold(0x811c9dc5u32, |hash, c| {
                (hash ^ *c as u32).wrapping_mul(0x01000193)
            });
            row[hash as usize % FEATURES] += 1.0;
        }
        let length = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1.0);
        row.iter_mut().for_each(|x| *x /= length);
    }
    Tensor::from_vec(rows, (texts.len(), FEATURES), device)
}
