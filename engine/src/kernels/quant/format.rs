//! The GGML block types these kernels multiply, and how one block of a
//! GGUF file reads: unsigned quantized values, the block's scale and
//! offset, and (K-quants) the scales and minimums of its sub-blocks.
//! Layouts as ggml's `dequantize_row_*` read them.

use half::f16;

/// Quantized values per K-quant super-block.
pub const SUPER: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// 4-bit values minus 8, one scale per 32 (GGML Q4_0).
    Q4_0,
    /// 4-bit values, a scale and a minimum per 32 (GGML Q4_1).
    Q4_1,
    /// 5-bit values minus 16, one scale per 32 (GGML Q5_0).
    Q5_0,
    /// 5-bit values, a scale and a minimum per 32 (GGML Q5_1).
    Q5_1,
    /// 8-bit values, one scale per 32 (GGML Q8_0).
    Q8_0,
    /// 4-bit values; per 256 a scale and a minimum scale, per 32 6-bit
    /// multiples of each (GGML Q4_K).
    Q4K,
    /// Q4_K with a fifth bit (GGML Q5_K).
    Q5K,
    /// 6-bit values minus 32; per 256 a scale, per 16 an 8-bit signed
    /// multiple of it (GGML Q6_K).
    Q6K,
}

/// How activations are quantized for a format, as ggml pairs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activations {
    /// 8 bits per 32 values (GGML Q8_0 / Q8_1: the same values).
    Blocks,
    /// 8 bits per 256 values with sums per 16 (GGML Q8_K).
    Super,
}

/// One block of a GGUF file, unpacked.
pub struct Block {
    /// The quantized values, unsigned (`Format::zero` is subtracted).
    pub values: [u8; SUPER],
    /// The f16 scale, as stored.
    pub scale: f16,
    /// Q4_1 / Q5_1: the minimum; K-quants with minimums: their scale.
    pub offset: f16,
    /// K-quants: per sub-block, the multiple of `scale` (Q6_K: signed,
    /// stored as its bits).
    pub sub_scales: [u8; 16],
    /// Q4_K / Q5_K: per sub-block, the multiple of `offset`.
    pub sub_mins: [u8; 16],
}

impl Block {
    pub fn new() -> Block {
        Block {
            values: [0; SUPER],
            scale: f16::ZERO,
            offset: f16::ZERO,
            sub_scales: [0; 16],
            sub_mins: [0; 16],
        }
    }
}

impl Format {
    /// Values per block in the file.
    pub fn block_values(self) -> usize {
        match self {
            Format::Q4K | Format::Q5K | Format::Q6K => SUPER,
            _ => 32,
        }
    }

    /// Bytes per block in the file.
    pub fn block_bytes(self) -> usize {
        match self {
            Format::Q4_0 => 18,
            Format::Q4_1 => 20,
            Format::Q5_0 => 22,
            Format::Q5_1 => 24,
            Format::Q8_0 => 34,
            Format::Q4K => 144,
            Format::Q5K => 176,
            Format::Q6K => 210,
        }
    }

    /// Bytes of one row of `cols` values in a GGUF file.
    pub fn row_bytes(self, cols: usize) -> usize {
        cols / self.block_values() * self.block_bytes()
    }

    /// Bits per stored value.
    pub fn bits(self) -> u32 {
        match self {
            Format::Q4_0 | Format::Q4_1 | Format::Q4K => 4,
            Format::Q5_0 | Format::Q5_1 | Format::Q5K => 5,
            Format::Q6K => 6,
            Format::Q8_0 => 8,
        }
    }

    /// What is subtracted from a stored value to give the signed one
    /// (Q8_0's signed bytes are stored plus 128).
    pub fn zero(self) -> i32 {
        match self {
            Format::Q4_0 => 8,
            Format::Q5_0 => 16,
            Format::Q8_0 => 128,
            Format::Q6K => 32,
            Format::Q4_1 | Format::Q5_1 | Format::Q4K | Format::Q5K => 0,
        }
    }

    /// Sub-blocks per super-block (K-quants), else 0.
    pub fn sub_blocks(self) -> usize {
        match self {
            Format::Q4K | Format::Q5K => 8,
            Format::Q6K => 16,
            _ => 0,
        }
    }

    /// Whether blocks carry an offset (a minimum, or its scale).
    pub fn has_offsets(self) -> bool {
        matches!(
            self,
            Format::Q4_1 | Format::Q5_1 | Format::Q4K | Format::Q5K
        )
    }

    pub fn activations(self) -> Activations {
        match self {
            Format::Q4K | Format::Q5K | Format::Q6K => Activations::Super,
            _ => Activations::Blocks,
        }
    }

    /// Unpacks one block of the file (`raw` is `block_bytes()` long).
    pub fn decode(self, raw: &[u8], out: &mut Block) {
        let values = &mut out.values;
        match self {
            Format::Q4_0 | Format::Q4_1 => {
                let at = if self == Format::Q4_0 { 2 } else { 4 };
                nibbles(&raw[at..at + 16], values);
                out.scale = f16_at(raw, 0);
                out.offset = if self == Format::Q4_1 {
                    f16_at(raw, 2)
                } else {
                    f16::ZERO
                };
            }
            Format::Q5_0 | Format::Q5_1 => {
                let at = if self == Format::Q5_0 { 2 } else { 4 };
                let high = u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
                nibbles(&raw[at + 4..at + 20], values);
                for (i, value) in values.iter_mut().take(32).enumerate() {
                    *value |= (((high >> i) & 1) as u8) << 4;
                }
                out.scale = f16_at(raw, 0);
                out.offset = if self == Format::Q5_1 {
                    f16_at(raw, 2)
                } else {
                    f16::ZERO
                };
            }
            Format::Q8_0 => {
                for (value, &byte) in values.iter_mut().zip(&raw[2..34]) {
                    *value = (byte as i8 as i16 + 128) as u8;
                }
                out.scale = f16_at(raw, 0);
                out.offset = f16::ZERO;
            }
            Format::Q4K | Format::Q5K => {
                out.scale = f16_at(raw, 0);
                out.offset = f16_at(raw, 2);
                let scales = &raw[4..16];
                for j in 0..8 {
                    let (scale, min) = scale_min_k4(j, scales);
                    out.sub_scales[j] = scale;
                    out.sub_mins[j] = min;
                }
                let (high, low) = match self {
                    Format::Q5K => (Some(&raw[16..48]), &raw[48..176]),
                    _ => (None, &raw[16..144]),
                };
                // Each 32 bytes of `low` hold 64 values: the low nibbles
                // the first 32, the high ones the next.
                for (j, bytes) in low.chunks_exact(32).enumerate() {
                    for (l, &byte) in bytes.iter().enumerate() {
                        values[64 * j + l] = byte & 0x0f;
                        values[64 * j + 32 + l] = byte >> 4;
                    }
                    if let Some(high) = high {
                        for (l, &bits) in high.iter().enumerate() {
                            values[64 * j + l] |= ((bits >> (2 * j)) & 1) << 4;
                            values[64 * j + 32 + l] |= ((bits >> (2 * j + 1)) & 1) << 4;
                        }
                    }
                }
            }
            Format::Q6K => {
                let (low, high, scales) = (&raw[..128], &raw[128..192], &raw[192..208]);
                out.scale = f16_at(raw, 208);
                out.offset = f16::ZERO;
                out.sub_scales.copy_from_slice(scales);
                for half in 0..2 {
                    let (low, high) = (&low[64 * half..], &high[32 * half..]);
                    let values = &mut values[128 * half..];
                    for l in 0..32 {
                        let h = high[l];
                        values[l] = (low[l] & 0x0f) | ((h & 3) << 4);
                        values[l + 32] = (low[l + 32] & 0x0f) | (((h >> 2) & 3) << 4);
                        values[l + 64] = (low[l] >> 4) | (((h >> 4) & 3) << 4);
                        values[l + 96] = (low[l + 32] >> 4) | (((h >> 6) & 3) << 4);
                    }
                }
            }
        }
    }

    /// Value `i` of a decoded block as ggml's `dequantize_row_*` computes
    /// it (products and sums rounded one at a time: ggml-base is built
    /// without FMA), for embedding lookups.
    pub fn dequantize(self, block: &Block, i: usize) -> f32 {
        let value = block.values[i] as i32;
        let (scale, offset) = (block.scale.to_f32(), block.offset.to_f32());
        match self {
            Format::Q4_1 | Format::Q5_1 => value as f32 * scale + offset,
            Format::Q4_0 | Format::Q5_0 | Format::Q8_0 => (value - self.zero()) as f32 * scale,
            Format::Q4K | Format::Q5K => {
                let sub = i / 32;
                let d = scale * block.sub_scales[sub] as f32;
                let m = offset * block.sub_mins[sub] as f32;
                d * value as f32 - m
            }
            Format::Q6K => {
                let sub_scale = block.sub_scales[i / 16] as i8 as f32;
                scale * sub_scale * (value - 32) as f32
            }
        }
    }
}

/// 16 bytes of nibbles: values 0..16 in the low ones, 16..32 in the high.
fn nibbles(bytes: &[u8], values: &mut [u8; SUPER]) {
    for (i, &byte) in bytes.iter().enumerate() {
        values[i] = byte & 0x0f;
        values[i + 16] = byte >> 4;
    }
}

/// ggml's `get_scale_min_k4`: sub-block `j`'s 6-bit scale and minimum
/// from the 12 packed bytes.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

fn f16_at(raw: &[u8], at: usize) -> f16 {
    f16::from_le_bytes([raw[at], raw[at + 1]])
}
