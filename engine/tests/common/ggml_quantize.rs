//! ggml's reference quantizers for Q4_K, Q5_K and Q6_K
//! (`quantize_row_q*_K_ref` in ggml-quants.c, which `llama-quantize` runs
//! when it has no importance matrix), operation for operation: ggml-base
//! is built without FMA, so plain f32 arithmetic in the same order gives
//! its bytes. Candle's own K-quantizers choose other scales (measured on
//! SmolLM2: 30 of its 30 K-quant tensors differ), so the test cannot use
//! them to rebuild llama-quantize's files.

const SUPER: usize = 256;
const GROUP_MAX_EPS: f32 = 1e-15;

/// ggml's `nearest_int`: round to nearest, ties to even.
fn nearest_int(value: f32) -> i32 {
    let shifted = value + 12_582_912.0;
    (shifted.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

fn f16_bytes(value: f32) -> [u8; 2] {
    half::f16::from_f32(value).to_le_bytes()
}

fn f16_value(value: f32) -> f32 {
    half::f16::from_f32(value).to_f32()
}

/// ggml's `make_qkx2_quants`: a scale and minimum for `x` minimizing
/// the weighted error; fills `levels`, returns (scale, −minimum).
fn make_qkx2_quants(
    x: &[f32],
    nmax: i32,
    weights: &[f32],
    levels: &mut [u8],
    (rmin, rdelta, steps): (f32, f32, i32),
) -> (f32, f32) {
    let n = x.len();
    let (mut min, mut max) = (x[0], x[0]);
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        levels.iter_mut().for_each(|l| *l = 0);
        return (0.0, -min);
    }
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        levels[i] = l as u8;
        let diff = scale * l as f32 + min - x[i];
        best_error += weights[i] * (diff * diff);
    }
    let mut aux = vec![0u8; n];
    for step in 0..=steps {
        iscale = (rmin + rdelta * step as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            aux[i] = l as u8;
            let (w, l) = (weights[i], l as f32);
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        let determinant = sum_w * sum_l2 - sum_l * sum_l;
        if determinant > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / determinant;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / determinant;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut error = 0.0f32;
            for i in 0..n {
                let diff = this_scale * aux[i] as f32 + this_min - x[i];
                error += weights[i] * (diff * diff);
            }
            if error < best_error {
                levels.copy_from_slice(&aux);
                best_error = error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// ggml's `make_qx_quants` with `rmse_type` 1 and no weights.
fn make_qx_quants(x: &[f32], nmax: i32, levels: &mut [i8]) -> f32 {
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        levels.iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    let sums = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
        for &v in x {
            let l = level(iscale, v) as f32;
            let w = v * v;
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        (sumlx, suml2)
    };
    let mut iscale = -(nmax as f32) / max;
    for (out, &v) in levels.iter_mut().zip(x) {
        *out = (level(iscale, v) + nmax) as i8;
    }
    let (sumlx, suml2) = sums(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for step in -9..=9 {
        if step == 0 {
            continue;
        }
        iscale = -(nmax as f32 + 0.1 * step as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (out, &v) in levels.iter_mut().zip(x) {
                *out = (level(iscale, v) + nmax) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Q4_K (`bits` 4) or Q5_K (`bits` 5) blocks of `x`.
pub fn quantize_q45_k(x: &[f32], bits: u32) -> Vec<u8> {
    let nmax = (1 << bits) - 1;
    let search = if bits == 4 {
        (-1.0, 0.1, 20)
    } else {
        (-0.5, 0.1, 15)
    };
    let mut out = Vec::new();
    for x in x.chunks_exact(SUPER) {
        let mut levels = [0u8; SUPER];
        let (mut scales, mut mins) = ([0.0f32; 8], [0.0f32; 8]);
        let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
        for j in 0..8 {
            let x = &x[32 * j..][..32];
            let sum_x2: f32 = x.iter().fold(0.0, |s, v| s + v * v);
            let average = (sum_x2 / 32.0).sqrt();
            let weights: Vec<f32> = x.iter().map(|v| average + v.abs()).collect();
            let (scale, min) =
                make_qkx2_quants(x, nmax, &weights, &mut levels[32 * j..][..32], search);
            (scales[j], mins[j]) = (scale, min);
            max_scale = max_scale.max(scale);
            max_min = max_min.max(min);
        }
        let inverse_scale = if max_scale > 0.0 {
            63.0 / max_scale
        } else {
            0.0
        };
        let inverse_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
        let mut packed = [0u8; 12];
        let mut sub = [(0u8, 0u8); 8];
        for j in 0..8 {
            let ls = (nearest_int(inverse_scale * scales[j]) as u8).min(63);
            let lm = (nearest_int(inverse_min * mins[j]) as u8).min(63);
            sub[j] = (ls, lm);
            if j < 4 {
                packed[j] = ls;
                packed[j + 4] = lm;
            } else {
                packed[j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
                packed[j - 4] |= (ls >> 4) << 6;
                packed[j] |= (lm >> 4) << 6;
            }
        }
        let (d, dmin) = (f16_value(max_scale / 63.0), f16_value(max_min / 63.0));
        for (j, &(sc, m)) in sub.iter().enumerate() {
            let d = d * sc as f32;
            if d == 0.0 {
                continue;
            }
            let dm = dmin * m as f32;
            for i in 0..32 {
                levels[32 * j + i] = nearest_int((x[32 * j + i] + dm) / d).clamp(0, nmax) as u8;
            }
        }
        out.extend(f16_bytes(max_scale / 63.0));
        out.extend(f16_bytes(max_min / 63.0));
        out.extend(packed);
        if bits == 5 {
            let mut high = [0u8; 32];
            for n in 0..4 {
                for j in 0..32 {
                    high[j] |= (levels[64 * n + j] >> 4) << (2 * n);
                    high[j] |= (levels[64 * n + j + 32] >> 4) << (2 * n + 1);
                }
            }
            out.extend(high);
        }
        for n in 0..4 {
            for j in 0..32 {
                out.push((levels[64 * n + j] & 0x0f) | ((levels[64 * n + j + 32] & 0x0f) << 4));
            }
        }
    }
    out
}

/// Q6_K blocks of `x`.
pub fn quantize_q6_k(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    for x in x.chunks_exact(SUPER) {
        let mut levels = [0i8; SUPER];
        let mut scales = [0.0f32; 16];
        let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
        for (ib, scale) in scales.iter_mut().enumerate() {
            *scale = make_qx_quants(&x[16 * ib..][..16], 32, &mut levels[16 * ib..][..16]);
            if scale.abs() > max_abs_scale {
                max_abs_scale = scale.abs();
                max_scale = *scale;
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            out.extend([0u8; 210]);
            continue;
        }
        let iscale = -128.0 / max_scale;
        let d = f16_value(1.0 / iscale);
        let sub: Vec<i8> = scales
            .iter()
            .map(|&s| nearest_int(iscale * s).min(127) as i8)
            .collect();
        for (j, &sc) in sub.iter().enumerate() {
            let d = d * sc as f32;
            if d == 0.0 {
                continue;
            }
            for i in 0..16 {
                levels[16 * j + i] = (nearest_int(x[16 * j + i] / d).clamp(-32, 31) + 32) as i8;
            }
        }
        let levels = levels.map(|l| l as u8);
        let (mut low, mut high) = ([0u8; 128], [0u8; 64]);
        for half in 0..2 {
            let (j, low, high) = (128 * half, &mut low[64 * half..], &mut high[32 * half..]);
            for l in 0..32 {
                let q = [0, 32, 64, 96].map(|o| levels[j + l + o]);
                low[l] = (q[0] & 0x0f) | ((q[2] & 0x0f) << 4);
                low[l + 32] = (q[1] & 0x0f) | ((q[3] & 0x0f) << 4);
                high[l] =
                    (q[0] >> 4) | ((q[1] >> 4) << 2) | ((q[2] >> 4) << 4) | ((q[3] >> 4) << 6);
            }
        }
        out.extend(low);
        out.extend(high);
        out.extend(sub.iter().map(|&s| s as u8));
        out.extend(f16_bytes(1.0 / iscale));
    }
    out
}
