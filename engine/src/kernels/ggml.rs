//! llama.cpp's CPU arithmetic, operation for operation: the float steps
//! of its llama graph as ggml runs them on x86 with AVX-512 (`ggml-cpu`'s
//! `ggml_v_expf`, its dot products of f16 values, softmax, RMS norm,
//! SwiGLU, and GCC's `_mm512_reduce_add_ps`), in the same order, so that
//! `models::llama` produces llama.cpp's numbers bit for bit.
//!
//! Why not simply accurate math: llama.cpp rounds every activation to 8
//! bits per block of 32 before each product, and a difference of one unit
//! in the last place anywhere upstream flips some of those roundings.
//! Measured on SmolLM2-135M (`bench/smollm2_numpy_reference.py`): a
//! relative perturbation of 1e-6 of the embeddings moves the first step's
//! log-probabilities by 0.13 — more than the gap between the top tokens at
//! some steps of a chat reply — while without the 8-bit rounding it moves
//! them by 3e-6. Agreeing with llama.cpp's greedy text therefore needs its
//! exact operations, not merely close ones. Checked against llama.cpp's own
//! intermediate tensors (its eval callback): every layer's output equal in
//! every bit, prompt and decode steps alike.

/// ggml's `ggml_v_expf` (AVX-512 build) for one value: e^x as 2^n · p(b),
/// with n = round(x · log2 e), b the reduced argument in two steps, p a
/// degree-5 polynomial; |n| > 192 saturates to 0 or +∞. Branch-free, so
/// that loops over it vectorize.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let c = f32::from_bits;
    let shifter = c(0x4b40_0000); // 0x1.8p23
    let z = x.mul_add(c(0x3fb8_aa3b), shifter);
    let n = z - shifter;
    let b = (-n).mul_add(c(0x35bf_be8e), (-n).mul_add(c(0x3f31_7200), x));
    let u = b * b;
    let j = c(0x3c07_2010)
        .mul_add(b, c(0x3d2b_9f17))
        .mul_add(u, c(0x3e2a_af33).mul_add(b, c(0x3eff_fedb)))
        .mul_add(u, c(0x3f7f_fff6).mul_add(b, 1.0));
    let saturated = if n <= 0.0 { 0.0 } else { f32::INFINITY };
    if n.abs() > 192.0 {
        saturated
    } else {
        scale_by_power_of_two(j, n)
    }
}

/// `_mm512_scalef_ps(j, n)` for an integral n within ±192 (others give
/// anything; the caller replaces them): j · 2ⁿ rounded once — j · 2^(n/2)
/// is exact (j is near 1), the second factor rounds.
#[inline(always)]
fn scale_by_power_of_two(j: f32, n: f32) -> f32 {
    let n = n.clamp(-192.0, 192.0) as i32;
    let power = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    let half = n >> 1;
    j * power(half) * power(n - half)
}

/// ggml's `ggml_v_silu`: x / (1 + e^-x), with `exp` above.
#[inline(always)]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + exp(0.0 - x))
}

/// GCC's `_mm512_reduce_add_ps`: halves added, then quarters, then pairs.
#[inline(always)]
pub fn reduce(lanes: &[f32; 16]) -> f32 {
    let eighths: [f32; 8] = std::array::from_fn(|i| lanes[i + 8] + lanes[i]);
    let quarters: [f32; 4] = std::array::from_fn(|i| eighths[i + 4] + eighths[i]);
    (quarters[0] + quarters[2]) + (quarters[1] + quarters[3])
}

/// How ggml sums a product of f16 values: `ggml_vec_dot_f16` when the
/// batch has one token, llamafile's tinyBLAS when it has more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// `ggml_vec_dot_f16`: four 16-lane sums over steps of 64 values,
    /// folded (0 + 2) + (1 + 3), reduced; the rest added in f64.
    OneToken,
    /// tinyBLAS: one 16-lane sum over steps of 16 values, reduced (when
    /// the length is a multiple of 16; otherwise ggml falls back to
    /// `OneToken`'s kernel).
    Batch,
}

/// The dot product of two runs of f16 values (each product exact in
/// f32, so `+` is ggml's FMA) in `order`.
#[inline(always)]
pub fn dot(order: Order, x: &[f32], y: &[f32]) -> f32 {
    let (xs, rest) = x.as_chunks::<16>();
    let (ys, _) = y.as_chunks::<16>();
    if order == Order::Batch && rest.is_empty() {
        let mut lanes = [0.0f32; 16];
        for (xs, ys) in xs.iter().zip(ys) {
            for lane in 0..16 {
                lanes[lane] += xs[lane] * ys[lane];
            }
        }
        return reduce(&lanes);
    }
    let mut sums = [[0.0f32; 16]; 4];
    for (xs, ys) in xs.chunks_exact(4).zip(ys.chunks_exact(4)) {
        for (sum, (xs, ys)) in sums.iter_mut().zip(xs.iter().zip(ys)) {
            for lane in 0..16 {
                sum[lane] += xs[lane] * ys[lane];
            }
        }
    }
    let folded = std::array::from_fn(|l| (sums[0][l] + sums[2][l]) + (sums[1][l] + sums[3][l]));
    let whole = x.len() / 64 * 64;
    let tail = x[whole..].iter().zip(&y[whole..]);
    tail.fold(reduce(&folded) as f64, |sum, (a, b)| sum + (a * b) as f64) as f32
}

/// Running sums of f16-valued products in ggml's order, for several
/// outputs at once (`width` of them, each summing over the same
/// positions): add position after position, then `finish`. The positions
/// run over a cache that llama.cpp pads with zeros to a multiple of 256,
/// so every one falls in a whole step of either order's kernel.
pub struct F16Sums {
    order: Order,
    width: usize,
    /// (sum, lane, output): 4 × 16 × width for `OneToken`, 16 × width for
    /// `Batch`.
    partial: Vec<f32>,
}

impl F16Sums {
    pub fn new(order: Order, width: usize) -> F16Sums {
        let sums = match order {
            Order::OneToken => 4,
            Order::Batch => 1,
        };
        F16Sums {
            order,
            width,
            partial: vec![0.0; sums * 16 * width],
        }
    }

    /// Adds `weight × values[o]` to every output o at `position`. Both are
    /// f16 values, so each product is exact in f32 and `+` is ggml's FMA
    /// (call it where FMA instructions are enabled: `widest!`).
    #[inline(always)]
    pub fn add(&mut self, position: usize, weight: f32, values: &[f32]) {
        let lane = position % 16;
        let row = match self.order {
            Order::Batch => lane,
            Order::OneToken => (position / 16 % 4) * 16 + lane,
        };
        let partial = &mut self.partial[row * self.width..][..self.width];
        for (p, v) in partial.iter_mut().zip(values) {
            // The product is exact, so this is `*p += weight * v`.
            *p = weight.mul_add(*v, *p);
        }
    }

    /// The sums, one per output: the partial sums folded and reduced
    /// lane by lane as `reduce` does, for all outputs at once.
    pub fn finish(&self, out: &mut [f32]) {
        let width = self.width;
        let row = |sum: usize, lane: usize| &self.partial[(sum * 16 + lane) * width..][..width];
        let mut lanes = vec![0.0f32; 16 * width];
        for (lane, values) in lanes.chunks_exact_mut(width).enumerate() {
            match self.order {
                Order::Batch => values.copy_from_slice(row(0, lane)),
                Order::OneToken => {
                    let rows = (row(0, lane), row(1, lane), row(2, lane), row(3, lane));
                    for (o, v) in values.iter_mut().enumerate() {
                        *v = (rows.0[o] + rows.2[o]) + (rows.1[o] + rows.3[o]);
                    }
                }
            }
        }
        for half in [8, 4] {
            let (low, high) = lanes.split_at_mut(half * width);
            for (l, h) in low.iter_mut().zip(&high[..half * width]) {
                *l += *h;
            }
        }
        let quarter = |i: usize| &lanes[i * width..][..width];
        let (q0, q1, q2, q3) = (quarter(0), quarter(1), quarter(2), quarter(3));
        for (o, out) in out.iter_mut().enumerate() {
            *out = (q0[o] + q2[o]) + (q1[o] + q3[o]);
        }
    }
}

/// ggml's `soft_max_ext` over one row of scores, then rounded to f16 as
/// the next product reads them: × scale, e^(s − max) in chunks of 16
/// (each chunk reduced, the chunks summed in f64), × (1 / sum).
#[inline(always)]
pub fn softmax_f16(scores: &mut [f32], scale: f32) {
    for s in scores.iter_mut() {
        *s *= scale;
    }
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
    for s in scores.iter_mut() {
        *s = exp(*s - max);
    }
    let mut sum = 0.0f64;
    for chunk in scores.chunks(16) {
        let mut lanes = [0.0f32; 16];
        lanes[..chunk.len()].copy_from_slice(chunk);
        sum += reduce(&lanes) as f64;
    }
    let inverse = (1.0 / sum) as f32;
    for s in scores.iter_mut() {
        *s = round_f16(*s * inverse);
    }
}

/// x rounded to the nearest f16 (ties to even), back as f32.
#[inline(always)]
pub fn round_f16(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

widest! {
    /// ggml's rope in llama's layout (adjacent pairs) for every head of
    /// `row`, `angles` the (cos, sin) of each pair: `x0·cos − x1·sin` and
    /// `x0·sin + x1·cos` with one product of each fused into the sum, as
    /// GCC compiles ggml's loop.
    pub fn rotate_pairs(row: &mut [f32], angles: &[(f32, f32)], head_dim: usize) {
        for head in row.chunks_exact_mut(head_dim) {
            for (pair, &(cos, sin)) in head.chunks_exact_mut(2).zip(angles) {
                let (a, b) = (pair[0], pair[1]);
                pair[0] = cos.mul_add(a, -(sin * b));
                pair[1] = sin.mul_add(a, cos * b);
            }
        }
    }
}

widest! {
    /// ggml's rope in the NeoX layout (Qwen's): pair i of each head is
    /// values i and i + head_dim / 2, rotated as `rotate_pairs` rotates.
    pub fn rotate_halves(row: &mut [f32], angles: &[(f32, f32)], head_dim: usize) {
        let half = head_dim / 2;
        for head in row.chunks_exact_mut(head_dim) {
            let (low, high) = head.split_at_mut(half);
            for ((a, b), &(cos, sin)) in low.iter_mut().zip(high.iter_mut()).zip(angles) {
                let (x0, x1) = (*a, *b);
                *a = cos.mul_add(x0, -(sin * x1));
                *b = sin.mul_add(x0, cos * x1);
            }
        }
    }
}

widest! {
    /// ggml's RMS norm fused with the weight: the squares summed in f64 in
    /// order, mean and scale in f32, then x · scale · w.
    pub fn rms_norm_rows(data: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
        let width = weight.len();
        for (row, out) in data.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
            let sum = row.iter().fold(0.0f64, |s, v| s + (v * v) as f64);
            let mean = (sum / width as f64) as f32;
            let scale = 1.0 / (mean + eps).sqrt();
            for ((o, v), w) in out.iter_mut().zip(row).zip(weight) {
                *o = v * scale * w;
            }
        }
    }
}

widest! {
    /// ggml's `swiglu`: silu(gate) × up for every row of `gate | up` (each
    /// half `width` values) into `out`; runs of 16 through `silu`, the
    /// rest through libm's `expf` as ggml's scalar tail does.
    pub fn swiglu_rows(gate_up: &[f32], width: usize, out: &mut [f32]) {
        let whole = width / 16 * 16;
        for (row, out) in gate_up.chunks_exact(2 * width).zip(out.chunks_exact_mut(width)) {
            let (gate, up) = row.split_at(width);
            for (i, ((o, g), u)) in out.iter_mut().zip(gate).zip(up).enumerate() {
                *o = if i < whole { silu(*g) * u } else { g / (1.0 + (-g).exp()) * u };
            }
        }
    }
}

/// ggml's `geglu` (its `GGML_GELU_FP16` build, the default): gelu(gate)
/// × up for every row of `gate | up`, gelu read from a table of every f16
/// value (the gate rounded to f16; beyond ±10, 0 or the gate itself).
pub fn geglu_rows(gate_up: &[f32], width: usize, out: &mut [f32]) {
    let table = gelu_table();
    for (row, out) in gate_up
        .chunks_exact(2 * width)
        .zip(out.chunks_exact_mut(width))
    {
        let (gate, up) = row.split_at(width);
        for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
            *o = if g <= -10.0 {
                0.0
            } else if g >= 10.0 {
                g * u
            } else {
                table[half::f16::from_f32(g).to_bits() as usize] * u
            };
        }
    }
}

/// ggml's `ggml_table_gelu_f16`, widened: GELU's tanh form in f32 for
/// every f16 value, rounded to f16 — with the one product GCC fuses into
/// an FMA fused here too (checked against libggml-cpu's table: all 65536
/// entries equal; unfused, one differs).
fn gelu_table() -> &'static [f32] {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        const GELU_COEF_A: f32 = 0.044715;
        const SQRT_2_OVER_PI: f32 = 0.797_884_6;
        (0..=u16::MAX)
            .map(|bits| {
                let x = half::f16::from_bits(bits).to_f32();
                let inner = (GELU_COEF_A * x).mul_add(x, 1.0);
                let gelu = 0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * inner).tanh());
                round_f16(gelu)
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geglu_reads_gelu_from_its_f16_table_and_passes_large_gates() {
        let gate_up = [0.0, 1.0, -11.0, 12.0, 3.0, 2.0, 5.0, 0.5];
        let mut out = [0.0; 4];
        geglu_rows(&gate_up, 4, &mut out);
        // GELU(1) = 0.841192, rounded to f16 (0.84130859375).
        assert_eq!(out, [0.0, round_f16(0.841_192) * 2.0, 0.0, 6.0]);
    }

    #[test]
    fn exp_is_within_two_ulps_and_saturates() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.043;
            let (ours, exact) = (exp(x), (x as f64).exp());
            let ulp = (exact as f32).abs() * f32::EPSILON;
            assert!(
                (ours as f64 - exact).abs() <= 2.0 * ulp as f64 + 1e-38,
                "e^{x}: {ours} vs {exact}"
            );
        }
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-200.0), 0.0);
        assert_eq!(exp(200.0), f32::INFINITY);
        assert!(silu(-200.0).abs() < 1e-30 && silu(200.0) == 200.0);
    }

    #[test]
    fn reduction_adds_in_gccs_tree() {
        // 1 + 2^-24 rounds back to 1, so which terms meet first shows.
        let tiny = f32::EPSILON / 2.0;
        let mut lanes = [0.0f32; 16];
        lanes[0] = 1.0;
        lanes[8] = tiny; // lane 8 joins lane 0 first: lost
        assert_eq!(reduce(&lanes), 1.0);
        lanes[4] = tiny; // lanes 4 and 12 meet first (2^-23), then join lane 0
        lanes[12] = tiny;
        assert_eq!(reduce(&lanes), 1.0 + f32::EPSILON);
    }

    #[test]
    fn sums_in_either_order_are_the_exact_dot_product_of_small_integers() {
        for (order, length) in [
            (Order::OneToken, 200),
            (Order::Batch, 96),
            (Order::Batch, 70),
        ] {
            let mut sums = F16Sums::new(order, 3);
            for p in 0..length {
                let values = [p as f32, 1.0, -(p as f32 % 7.0)];
                sums.add(p, (p % 5) as f32, &values);
            }
            let mut out = [0.0; 3];
            sums.finish(&mut out);
            let expect =
                |f: &dyn Fn(usize) -> f32| (0..length).map(|p| (p % 5) as f32 * f(p)).sum::<f32>();
            assert_eq!(out[0], expect(&|p| p as f32));
            assert_eq!(out[1], expect(&|_| 1.0));
            assert_eq!(out[2], expect(&|p| -(p as f32 % 7.0)));
        }
    }

    #[test]
    fn softmax_sums_to_one_in_f16() {
        let mut scores: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin() * 8.0).collect();
        softmax_f16(&mut scores, 0.125);
        let total: f32 = scores.iter().sum();
        assert!((total - 1.0).abs() < 2e-3, "{total}");
        assert!(scores.iter().all(|&s| round_f16(s) == s && s >= 0.0));
    }
}
