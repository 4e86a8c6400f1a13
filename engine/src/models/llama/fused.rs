//! Projections of the same activations (q, k and v; gate and up) as one
//! product: their matrices stacked where their types agree, so the
//! activations are read once. K-quant files often mix types within a
//! layer (Q4_K_M keeps some `attn_v` in Q6_K), so a fused projection is a
//! list of stacked runs whose outputs sit side by side in each row.

use crate::kernels::quant::{QMatrix, Quantized, matmul};

pub(super) struct Fused {
    parts: Vec<QMatrix>,
}

impl Fused {
    pub(super) fn new(matrices: Vec<QMatrix>) -> Result<Fused, String> {
        let mut parts: Vec<Vec<QMatrix>> = Vec::new();
        for matrix in matrices {
            match parts.last_mut() {
                Some(run) if run[0].format() == matrix.format() => run.push(matrix),
                _ => parts.push(vec![matrix]),
            }
        }
        let parts = parts
            .into_iter()
            .map(QMatrix::stack)
            .collect::<Result<_, _>>()?;
        Ok(Fused { parts })
    }

    /// Bytes the packed parts take.
    pub(super) fn bytes(&self) -> usize {
        self.parts.iter().map(QMatrix::bytes).sum()
    }

    /// Output values per row.
    pub(super) fn rows(&self) -> usize {
        self.parts.iter().map(QMatrix::rows).sum()
    }

    /// x · wᵀ for every part, (x's rows × `rows()`).
    pub(super) fn apply(&self, x: &Quantized) -> Vec<f32> {
        if let [only] = &self.parts[..] {
            return matmul(x, only);
        }
        let width = self.rows();
        let outputs: Vec<Vec<f32>> = self.parts.iter().map(|part| matmul(x, part)).collect();
        let rows = outputs[0].len() / self.parts[0].rows();
        let mut out = Vec::with_capacity(rows * width);
        for row in 0..rows {
            for (part, output) in self.parts.iter().zip(&outputs) {
                out.extend_from_slice(&output[row * part.rows()..][..part.rows()]);
            }
        }
        out
    }
}
