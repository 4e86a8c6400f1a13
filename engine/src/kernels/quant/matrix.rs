//! A quantized matrix packed for the products: output rows 16 at a time,
//! so each of the 16 lanes of a vector register accumulates one output
//! row — no horizontal sums, and the scales of 16 rows are one vector.
//!
//! Per group of 16 rows and run of 32 inputs the weights are 8 chunks of
//! 64 bytes, lane r of chunk c holding row r's inputs 4c..4c+4 (what one
//! 32-bit lane of `vpdpbusd` multiplies). Q8_0 stores the chunks as bytes;
//! every other type as nibbles (chunks 0-3 in the low ones, 4-7 in the
//! high ones) and, for 5 and 6 bits, one 64-bit mask per chunk and higher
//! bit. Scales are f16 per group and block, as in the file, sub-block scales one byte per
//! row: the matrix takes about the file's size.

use half::f16;

use super::LANES;
use super::activations::BLOCK;
use super::format::{Block, Format};

pub struct QMatrix {
    pub(super) format: Format,
    pub(super) rows: usize,
    pub(super) cols: usize,
    /// Per group, per block (of the file's type): the 16 rows' scales,
    /// f16 as the file stores them.
    pub(super) scales: Vec<f16>,
    /// Per group, per block: the 16 rows' offsets (empty when the type
    /// has none).
    pub(super) offsets: Vec<f16>,
    /// K-quants: per group, block and sub-block, the 16 rows' multiples.
    pub(super) sub_scales: Vec<u8>,
    pub(super) sub_mins: Vec<u8>,
    /// Per group, per run of 32 inputs: the low bits (see above).
    pub(super) weights: Vec<u8>,
    /// Per group, per run, per bit above the fourth, per chunk: a mask of
    /// the 64 bytes whose value has that bit.
    pub(super) high: Vec<u64>,
}

impl QMatrix {
    /// Packs a matrix from its GGUF bytes (row-major blocks). `rows` must
    /// be a multiple of 16 and `cols` of the type's block.
    pub fn from_gguf(
        format: Format,
        rows: usize,
        cols: usize,
        data: &[u8],
    ) -> Result<QMatrix, String> {
        let block_values = format.block_values();
        if !rows.is_multiple_of(LANES) || !cols.is_multiple_of(block_values) {
            return Err(format!(
                "a {rows} × {cols} {format:?} matrix: rows must be a multiple of {LANES} and columns of {block_values}"
            ));
        }
        if data.len() != rows * format.row_bytes(cols) {
            return Err(format!(
                "a {rows} × {cols} {format:?} matrix has {} bytes, not {}",
                data.len(),
                rows * format.row_bytes(cols)
            ));
        }
        let groups = rows / LANES;
        let blocks = cols / block_values;
        let runs = cols / BLOCK;
        let subs = format.sub_blocks();
        let offsets = if format.has_offsets() {
            groups * blocks * LANES
        } else {
            0
        };
        let mut matrix = QMatrix {
            format,
            rows,
            cols,
            scales: vec![f16::ZERO; groups * blocks * LANES],
            offsets: vec![f16::ZERO; offsets],
            sub_scales: vec![0; groups * blocks * subs * LANES],
            sub_mins: vec![
                0;
                if format.has_offsets() {
                    groups * blocks * subs * LANES
                } else {
                    0
                }
            ],
            weights: vec![0; groups * runs * matrix_run_bytes(format)],
            high: vec![0; groups * runs * planes(format) * 8],
        };
        let mut block = Block::new();
        for row in 0..rows {
            let (group, lane) = (row / LANES, row % LANES);
            for (b, raw) in data[row * format.row_bytes(cols)..][..format.row_bytes(cols)]
                .chunks_exact(format.block_bytes())
                .enumerate()
            {
                format.decode(raw, &mut block);
                let slot = (group * blocks + b) * LANES + lane;
                matrix.scales[slot] = block.scale;
                if format.has_offsets() {
                    matrix.offsets[slot] = block.offset;
                }
                for sub in 0..subs {
                    let at = ((group * blocks + b) * subs + sub) * LANES + lane;
                    matrix.sub_scales[at] = block.sub_scales[sub];
                    if format.has_offsets() {
                        matrix.sub_mins[at] = block.sub_mins[sub];
                    }
                }
                let runs_per_block = block_values / BLOCK;
                for r in 0..runs_per_block {
                    let run = group * runs + b * runs_per_block + r;
                    matrix.pack_run(run, lane, &block.values[r * BLOCK..][..BLOCK]);
                }
            }
        }
        Ok(matrix)
    }

    /// Writes lane `lane`'s 32 values of run `run` (counted over groups).
    fn pack_run(&mut self, run: usize, lane: usize, values: &[u8]) {
        let format = self.format;
        let bytes = matrix_run_bytes(format);
        let packed = &mut self.weights[run * bytes..][..bytes];
        let planes = planes(format);
        for (i, &value) in values.iter().enumerate() {
            let (chunk, byte) = (i / 4, i % 4);
            let bit = lane * 4 + byte;
            if format == Format::Q8_0 {
                packed[chunk * 64 + bit] = value;
                continue;
            }
            packed[(chunk % 4) * 64 + bit] |= (value & 0x0f) << (4 * (chunk / 4));
            for plane in 0..planes {
                if value >> (4 + plane) & 1 == 1 {
                    self.high[(run * planes + plane) * 8 + chunk] |= 1 << bit;
                }
            }
        }
    }

    /// Quantizes a dense row-major matrix to Q8_0 (weights stored in a
    /// type these kernels do not run, F16 or F32).
    pub fn from_f32(rows: usize, cols: usize, values: &[f32]) -> Result<QMatrix, String> {
        if values.len() != rows * cols || !cols.is_multiple_of(BLOCK) {
            return Err(format!(
                "{} values are not a {rows} × {cols} matrix of whole blocks",
                values.len()
            ));
        }
        let mut data = Vec::with_capacity(rows * Format::Q8_0.row_bytes(cols));
        for block in values.chunks_exact(BLOCK) {
            let max = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = half::f16::from_f32(max / 127.0);
            let inverse = if max == 0.0 {
                0.0
            } else {
                1.0 / scale.to_f32()
            };
            data.extend(scale.to_bits().to_le_bytes());
            data.extend(
                block
                    .iter()
                    .map(|v| (v * inverse).round().clamp(-127.0, 127.0) as i8 as u8),
            );
        }
        QMatrix::from_gguf(Format::Q8_0, rows, cols, &data)
    }

    /// Stacks matrices with the same columns and format into one (fused
    /// projections: one pass over the activations for q, k and v).
    pub fn stack(parts: Vec<QMatrix>) -> Result<QMatrix, String> {
        let mut parts = parts.into_iter();
        let mut all = parts.next().ok_or("nothing to stack")?;
        for part in parts {
            if part.cols != all.cols || part.format != all.format {
                return Err(format!(
                    "cannot stack a {:?} matrix of {} columns onto a {:?} one of {}",
                    part.format, part.cols, all.format, all.cols
                ));
            }
            all.rows += part.rows;
            all.scales.extend(part.scales);
            all.offsets.extend(part.offsets);
            all.sub_scales.extend(part.sub_scales);
            all.sub_mins.extend(part.sub_mins);
            all.weights.extend(part.weights);
            all.high.extend(part.high);
        }
        Ok(all)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Bytes the packed matrix takes.
    pub fn bytes(&self) -> usize {
        self.scales.len() * 2
            + self.offsets.len() * 2
            + self.sub_scales.len()
            + self.sub_mins.len()
            + self.weights.len()
            + self.high.len() * 8
    }

    /// Stored value `i` (0..32) of lane `lane` in run `run` (counted over
    /// groups), unsigned.
    pub(super) fn value(&self, run: usize, lane: usize, i: usize) -> u8 {
        let (chunk, byte) = (i / 4, i % 4);
        let bit = lane * 4 + byte;
        let bytes = matrix_run_bytes(self.format);
        let packed = &self.weights[run * bytes..][..bytes];
        if self.format == Format::Q8_0 {
            return packed[chunk * 64 + bit];
        }
        let mut value = (packed[(chunk % 4) * 64 + bit] >> (4 * (chunk / 4))) & 0x0f;
        let planes = planes(self.format);
        for plane in 0..planes {
            let mask = self.high[(run * planes + plane) * 8 + chunk];
            value |= (((mask >> bit) & 1) as u8) << (4 + plane);
        }
        value
    }

    /// Row `row`, dequantized as ggml dequantizes it (an embedding lookup).
    pub fn row(&self, row: usize) -> Vec<f32> {
        let format = self.format;
        let block_values = format.block_values();
        let (blocks, runs, subs) = (
            self.cols / block_values,
            self.cols / BLOCK,
            format.sub_blocks(),
        );
        let (group, lane) = (row / LANES, row % LANES);
        let mut block = Block::new();
        let mut out = Vec::with_capacity(self.cols);
        for b in 0..blocks {
            let slot = (group * blocks + b) * LANES + lane;
            block.scale = self.scales[slot];
            block.offset = self.offsets.get(slot).copied().unwrap_or(f16::ZERO);
            for sub in 0..subs {
                let at = ((group * blocks + b) * subs + sub) * LANES + lane;
                block.sub_scales[sub] = self.sub_scales[at];
                block.sub_mins[sub] = self.sub_mins.get(at).copied().unwrap_or(0);
            }
            for i in 0..block_values {
                let run = group * runs + b * (block_values / BLOCK) + i / BLOCK;
                block.values[i] = self.value(run, lane, i % BLOCK);
            }
            out.extend((0..block_values).map(|i| format.dequantize(&block, i)));
        }
        out
    }
}

/// Packed low-bit bytes per group and run of 32 inputs.
pub(super) fn matrix_run_bytes(format: Format) -> usize {
    match format {
        Format::Q8_0 => LANES * BLOCK,
        _ => LANES * BLOCK / 2,
    }
}

/// Bits stored as masks above the four low ones.
pub(super) fn planes(format: Format) -> usize {
    match format {
        Format::Q8_0 => 0,
        _ => format.bits() as usize - 4,
    }
}
