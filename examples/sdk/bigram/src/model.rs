//! The network: a table of next-character logits, one row per character
//! (a bigram model), trained at start on the rhyme below with gradient
//! descent from zeros, so nothing is downloaded and every start gives the
//! same weights. It writes by sampling from the softmax of the current
//! character's row, with a fixed seed.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Embedding, Module, Optimizer, VarBuilder, VarMap};

const TEXT: &str = "twinkle, twinkle, little star, how I wonder what you are! \
    up above the world so high, like a diamond in the sky. \
    when the blazing sun is gone, when he nothing shines upon, \
    then you show your little light, twinkle, twinkle, all the night. \
    then the traveller in the dark thanks you for your tiny spark: \
    he could not see which way to go, if you did not twinkle so. ";

pub struct Bigram {
    alphabet: Vec<char>,
    table: Embedding,
}

impl Bigram {
    /// Trains the table: 200 steps of gradient descent on every pair of
    /// neighbouring characters of the rhyme.
    pub fn train() -> candle_core::Result<Bigram> {
        let device = Device::Cpu;
        let mut alphabet: Vec<char> = TEXT.chars().collect();
        alphabet.sort_unstable();
        alphabet.dedup();
        let size = alphabet.len();
        let weights = VarMap::new();
        let table = candle_nn::embedding(
            size,
            size,
            VarBuilder::from_varmap(&weights, DType::F32, &device),
        )?;
        for var in weights.all_vars() {
            var.set(&var.zeros_like()?)?;
        }
        let model = Bigram { alphabet, table };
        let ids: Vec<u32> = TEXT.chars().map(|c| model.id(c)).collect();
        let current = Tensor::new(&ids[..ids.len() - 1], &device)?;
        let next = Tensor::new(&ids[1..], &device)?;
        let mut descent = candle_nn::SGD::new(weights.all_vars(), 20.0)?;
        for _ in 0..200 {
            let logits = model.table.forward(&current)?;
            descent.backward_step(&candle_nn::loss::cross_entropy(&logits, &next)?)?;
        }
        Ok(model)
    }

    /// `length` characters that follow `start`, drawn one at a time.
    pub fn write(
        &self,
        start: &str,
        length: usize,
        temperature: f64,
    ) -> candle_core::Result<impl Iterator<Item = char> + '_> {
        let mut current = start.to_lowercase().chars().last().unwrap_or(' ');
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        Ok((0..length).map_while(move |_| {
            let next = self.next(current, temperature, &mut seed).ok()?;
            current = next;
            Some(next)
        }))
    }

    fn next(&self, current: char, temperature: f64, seed: &mut u64) -> candle_core::Result<char> {
        let id = Tensor::new(&[self.id(current)], &Device::Cpu)?;
        let logits = self.table.forward(&id)?.squeeze(0)?;
        let logits: Vec<f32> = logits.to_vec1()?;
        let best = (0..logits.len())
            .max_by(|a, b| logits[*a].total_cmp(&logits[*b]))
            .unwrap_or(0);
        if temperature <= 0.0 {
            return Ok(self.alphabet[best]);
        }
        let top = logits[best] as f64;
        let weights: Vec<f64> = logits
            .iter()
            .map(|l| ((*l as f64 - top) / temperature).exp())
            .collect();
        // xorshift64: a fixed sequence, so a prompt always writes the same.
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let mut pick = (*seed >> 11) as f64 / (1u64 << 53) as f64 * weights.iter().sum::<f64>();
        for (i, weight) in weights.iter().enumerate() {
            pick -= weight;
            if pick <= 0.0 {
                return Ok(self.alphabet[i]);
            }
        }
        Ok(self.alphabet[best])
    }

    /// A character's row; one the rhyme never uses reads as a space.
    fn id(&self, c: char) -> u32 {
        let c = if self.alphabet.contains(&c) { c } else { ' ' };
        self.alphabet.binary_search(&c).unwrap_or(0) as u32
    }
}
