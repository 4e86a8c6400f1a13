//! Matrix products for the CPU encoder, with AVX-512 (and AMX, in `amx`,
//! for layer weights on CPUs that have it).
//!
//! The right-hand operand is packed once into panels of `NR` = 32 columns,
//! stored k-major (row k of a panel is 32 consecutive floats, 64-byte
//! aligned), so the kernel reads it as two aligned vectors per step. A
//! Linear layer's weight is packed when the model loads; attention packs
//! its keys and values per head. For the layers, the left operand is
//! repacked per block into strips of `MR` = 12 rows, also k-major, so each
//! step broadcasts 12 consecutive floats; attention's small products read
//! it in place, where repacking would cost more than it saves. The kernel
//! keeps a 12 × 32 block of the result in 24 of the 32 vector registers:
//! 24 FMAs for 2 loads and 12 broadcasts: 126–145 GFLOP/s on one core
//! here in isolation, against 138–152 for a bare FMA loop.
//!
//! Why not Candle's matmul: on stable Rust the `gemm` crate it uses runs
//! AVX2 kernels; the profile in `examples/profile_bert.rs` shows the
//! linear layers at ~55 % of a forward pass and ~80 GFLOP/s on 2 cores.
//!
//! Only for CPUs with AVX-512F (`available()`); the encoder uses Candle's
//! ops elsewhere.

use std::arch::x86_64::*;

use std::ops::Range;

use rayon::prelude::*;

use super::aligned::Aligned;
use super::{amx, fast_math};

/// Columns per packed panel: two 16-float vectors.
const NR: usize = 32;
/// Rows per kernel call.
const MR: usize = 12;
/// Depth per pass over a panel: a 256 × 32 panel slice (32 KB) and a
/// 12 × 256 strip (12 KB) stay in L1 together.
const KC: usize = 256;
/// Rows per parallel task.
const MC: usize = 8 * MR;

/// Whether this CPU can run these kernels.
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

/// A (k, n) matrix in panels of `NR` columns, zero-padded to a whole
/// panel; or, for a layer's weights on a CPU with AMX, as AMX tiles.
pub struct Packed {
    k: usize,
    n: usize,
    panels: Panels,
}

enum Panels {
    F32(Aligned<f32>),
    Amx(amx::Weights),
}

impl Packed {
    /// A Linear layer's weight (n rows of k): on AMX tiles when this CPU
    /// has them and n is a whole number of blocks, else as `from_rows`.
    pub fn weights(w: &[f32], n: usize, k: usize) -> Packed {
        match amx::available().then(|| amx::Weights::pack(w, k, n, k)) {
            Some(Some(tiles)) => Packed {
                k,
                n,
                panels: Panels::Amx(tiles),
            },
            _ => Packed::from_rows(w, k, n, k),
        }
    }

    /// From `w` holding n rows of k (row stride `stride`): the product
    /// computes x · wᵀ, as a Linear layer with weight `w` does.
    pub fn from_rows(w: &[f32], stride: usize, n: usize, k: usize) -> Packed {
        let mut panels = Aligned::zeroed(n.div_ceil(NR) * k * NR);
        let out = panels.as_mut_slice();
        for j in 0..n {
            let row = &w[j * stride..j * stride + k];
            let base = (j / NR) * k * NR + j % NR;
            for (depth, value) in row.iter().enumerate() {
                out[base + depth * NR] = *value;
            }
        }
        Packed {
            k,
            n,
            panels: Panels::F32(panels),
        }
    }

    /// From `w` holding k rows of n (row stride `stride`): the product
    /// computes x · w.
    pub fn from_columns(w: &[f32], stride: usize, k: usize, n: usize) -> Packed {
        let mut panels = Aligned::zeroed(n.div_ceil(NR) * k * NR);
        let out = panels.as_mut_slice();
        for depth in 0..k {
            let row = &w[depth * stride..depth * stride + n];
            for (start, chunk) in row.chunks(NR).enumerate() {
                let at = (start * k + depth) * NR;
                out[at..at + chunk.len()].copy_from_slice(chunk);
            }
        }
        Packed {
            k,
            n,
            panels: Panels::F32(panels),
        }
    }

    /// Whether products with this matrix run on AMX tiles.
    pub fn on_tiles(&self) -> bool {
        matches!(self.panels, Panels::Amx(_))
    }

    /// The f32 panels, unless the matrix is on AMX tiles.
    fn f32_panels(&self) -> Option<&[f32]> {
        match &self.panels {
            Panels::F32(panels) => Some(panels.as_slice()),
            Panels::Amx(_) => None,
        }
    }

    /// k: the columns of the left operand.
    pub fn depth(&self) -> usize {
        self.k
    }

    /// n: the columns of the product.
    pub fn columns(&self) -> usize {
        self.n
    }
}

/// A row-major matrix of `rows` rows, `stride` floats apart; the columns
/// used are the first k (or n) of each row.
pub struct Rows<T> {
    pub data: T,
    pub rows: usize,
    pub stride: usize,
}

impl<T> Rows<T> {
    pub fn new(data: T, rows: usize, stride: usize) -> Self {
        Rows { data, rows, stride }
    }
}

/// What happens to each block of a product right after it is computed,
/// while it is still in cache: a residual added, then a clamp (ReLU6 is
/// [0, 6]). A convolutional network's 1×1 layers would otherwise each make
/// another pass over their whole output.
#[derive(Clone, Copy, Default)]
pub struct Epilogue<'a> {
    /// (a.rows, w.columns()), row-major, added to the product.
    pub residual: Option<&'a [f32]>,
    pub clamp: Option<(f32, f32)>,
}

/// a · w (+ bias on every row), (a.rows, w.columns()), over rayon's pool.
/// `a` has `w.depth()` columns.
pub fn matmul(a: Rows<&[f32]>, w: &Packed, bias: Option<&[f32]>) -> Vec<f32> {
    matmul_then(a, w, bias, Epilogue::default())
}

/// `matmul`, then `epilogue` on each block of the result.
pub fn matmul_then(
    a: Rows<&[f32]>,
    w: &Packed,
    bias: Option<&[f32]>,
    epilogue: Epilogue,
) -> Vec<f32> {
    check(&a, w, bias);
    if let Some(residual) = epilogue.residual {
        assert!(
            residual.len() >= a.rows * w.n,
            "the residual has rows × n floats"
        );
    }
    let panels = w.n.div_ceil(NR);
    match &w.panels {
        Panels::F32(weights) => {
            let tasks = Tasks::new(a.rows, panels, MC);
            Output::new(a.rows, a.rows, w.n).fill(|target| {
                tasks.run(|rows, panels| {
                    let weights = weights.as_slice();
                    // SAFETY: `check` passed (AVX-512F, shapes); tasks write
                    // disjoint (rows × panels) blocks inside the output.
                    unsafe {
                        multiply_block::<false>(
                            &a,
                            w,
                            weights,
                            bias,
                            target,
                            rows.clone(),
                            panels.clone(),
                        )
                    };
                    finish(&epilogue, target, rows, columns(&panels, w.n));
                })
            })
        }
        Panels::Amx(tiles) => {
            // Panels of NR = 32 columns are AMX's blocks; rows go in
            // blocks of 32, padded.
            let left = amx::Left::convert(a.data, a.rows, a.stride, w.k);
            let blocks = left.padded_rows() / amx::BLOCK;
            let tasks = Tasks::new(blocks * amx::BLOCK, panels, amx::ROWS_PER_TASK);
            Output::new(a.rows, left.padded_rows(), w.n).fill(|target| {
                tasks.run(|rows, panels| {
                    let blocks = rows.start / amx::BLOCK..rows.end.div_ceil(amx::BLOCK);
                    // SAFETY: AMX is available (the tiles exist); tasks
                    // write disjoint blocks of an output with room for the
                    // padded rows.
                    unsafe {
                        amx::multiply(&left, tiles, bias, target.data, blocks, panels.clone())
                    };
                    let real = rows.start.min(a.rows)..rows.end.min(a.rows);
                    finish(&epilogue, target, real, columns(&panels, w.n));
                })
            })
        }
    }
}

/// How a product is cut into parallel tasks: blocks of rows × groups of
/// panels. Row blocks are `block` rows (a multiple of `MR` and of AMX's
/// 32) or all rows.
struct Tasks {
    rows: usize,
    block_rows: usize,
    row_blocks: usize,
    panels: usize,
    per_group: usize,
    column_groups: usize,
}

impl Tasks {
    fn new(rows: usize, panels: usize, block: usize) -> Tasks {
        let threads = rayon::current_num_threads();
        let (block_rows, column_groups) = if rows >= 2 * threads * block {
            (block, 1)
        } else {
            // Few rows: every task takes all of them and a share of the
            // columns, so each weight panel is read once.
            (rows.max(1), (2 * threads).min(panels).max(1))
        };
        let per_group = panels.div_ceil(column_groups).max(1);
        Tasks {
            rows,
            block_rows,
            row_blocks: rows.div_ceil(block_rows),
            panels,
            per_group,
            column_groups: panels.div_ceil(per_group),
        }
    }

    fn run(&self, work: impl Fn(Range<usize>, Range<usize>) + Sync) {
        (0..self.row_blocks * self.column_groups)
            .into_par_iter()
            .for_each(|task| {
                let (block, group) = (task / self.column_groups, task % self.column_groups);
                let rows = block * self.block_rows..((block + 1) * self.block_rows).min(self.rows);
                let panels =
                    group * self.per_group..((group + 1) * self.per_group).min(self.panels);
                work(rows, panels);
            })
    }
}

/// The output columns of a range of panels.
fn columns(panels: &Range<usize>, n: usize) -> Range<usize> {
    (panels.start * NR).min(n)..(panels.end * NR).min(n)
}

/// Applies `epilogue` to rows × columns of the output, which the calling
/// task has just written.
fn finish(epilogue: &Epilogue, target: &Target, rows: Range<usize>, columns: Range<usize>) {
    if epilogue.residual.is_none() && epilogue.clamp.is_none() {
        return;
    }
    for row in rows {
        let at = row * target.stride + columns.start;
        // SAFETY: the block rows × columns lies inside the output (the
        // tasks' ranges do), was written by this task, and no other task
        // touches it.
        let out = unsafe { std::slice::from_raw_parts_mut(target.data.add(at), columns.len()) };
        if let Some(residual) = epilogue.residual {
            fast_math::add_all(out, &residual[at..at + columns.len()]);
        }
        if let Some((low, high)) = epilogue.clamp {
            fast_math::clamp_all(out, low, high);
        }
    }
}

/// As `matmul`, on the calling thread only and reading `a` in place (for
/// the small products of attention, already split across threads by head;
/// a matrix on AMX tiles, which attention never makes, goes to `matmul`).
pub fn matmul_here(a: Rows<&[f32]>, w: &Packed) -> Vec<f32> {
    let Some(weights) = w.f32_panels() else {
        return matmul(a, w, None);
    };
    check(&a, w, None);
    let panels = w.n.div_ceil(NR);
    Output::new(a.rows, a.rows, w.n).fill(|target| {
        // SAFETY: `check` passed (AVX-512F, shapes); the one writer.
        unsafe { multiply_block::<true>(&a, w, weights, None, target, 0..a.rows, 0..panels) };
    })
}

fn check(a: &Rows<&[f32]>, w: &Packed, bias: Option<&[f32]>) {
    assert!(available(), "gemm needs AVX-512F");
    let fits = a.rows == 0 || (a.stride >= w.k && (a.rows - 1) * a.stride + w.k <= a.data.len());
    assert!(fits, "the left operand has rows × k floats");
    if let Some(bias) = bias {
        assert!(bias.len() >= w.n, "bias length");
    }
}

/// A product's (rows, columns) result, allocated but not zeroed: the
/// kernels write every element before anything reads it.
struct Output {
    data: Vec<f32>,
    rows: usize,
    columns: usize,
}

impl Output {
    /// `written_rows` ≥ rows: kernels that write whole blocks may write
    /// rows past the end, into spare capacity.
    fn new(rows: usize, written_rows: usize, columns: usize) -> Output {
        Output {
            data: Vec::with_capacity(written_rows * columns),
            rows,
            columns,
        }
    }

    /// Runs `write`, which must write every element through the target.
    fn fill(mut self, write: impl FnOnce(&Target)) -> Vec<f32> {
        let target = Target {
            data: self.data.as_mut_ptr(),
            stride: self.columns,
        };
        write(&target);
        // SAFETY: every element of rows × columns was written: the tasks
        // cover all rows and panels, and a kernel's masked stores cover
        // every column below `columns` of its rows.
        unsafe { self.data.set_len(self.rows * self.columns) };
        self.data
    }
}

/// The output as a raw pointer, so tasks can write disjoint blocks of it.
struct Target {
    data: *mut f32,
    stride: usize,
}

// SAFETY: tasks write disjoint blocks (see `matmul`).
unsafe impl Sync for Target {}

/// Rows × panels of the output; `weights` are `w`'s f32 panels.
///
/// # Safety
/// No other thread touches that block of `target`, and it lies inside the
/// output; the CPU has AVX-512F.
unsafe fn multiply_block<const DIRECT: bool>(
    a: &Rows<&[f32]>,
    w: &Packed,
    weights: &[f32],
    bias: Option<&[f32]>,
    target: &Target,
    rows: Range<usize>,
    panels: Range<usize>,
) {
    let k = w.k;
    let strip = if DIRECT {
        None
    } else {
        Some(pack_strips(a, rows.clone(), k))
    };
    for depth in (0..k).step_by(KC) {
        let kc = KC.min(k - depth);
        for panel in panels.clone() {
            let b = weights[(panel * k + depth) * NR..].as_ptr();
            let columns = NR.min(w.n - panel * NR);
            let bias = bias.map(|b| b[panel * NR..].as_ptr());
            for first in (rows.start..rows.end).step_by(MR) {
                let height = MR.min(rows.end - first);
                let strip_start = match &strip {
                    Some(strip) => {
                        strip.as_slice()[(first - rows.start) * k + depth * height..].as_ptr()
                    }
                    None => a.data[first * a.stride + depth..].as_ptr(),
                };
                let c = target.data.wrapping_add(first * target.stride + panel * NR);
                let step = Step {
                    depth: kc,
                    a: strip_start,
                    a_stride: a.stride,
                    b,
                    c,
                    stride: target.stride,
                    columns,
                    start: if depth > 0 {
                        Start::Accumulate
                    } else {
                        bias.map_or(Start::Zero, Start::Bias)
                    },
                };
                // SAFETY: the strip has `height` rows of k from `first`,
                // the panel slice kc × NR from `depth`, and the caller
                // gives this thread the output block those rows and this
                // panel write.
                unsafe { kernel::<DIRECT>(height, &step) };
            }
        }
    }
}

/// Rows of `a` as strips of up to `MR` rows, each k-major: strip s holds
/// a[s·MR + i][d] at s·MR·k + d·height + i.
fn pack_strips(a: &Rows<&[f32]>, rows: Range<usize>, k: usize) -> Aligned<f32> {
    let mut strips = Aligned::zeroed(rows.len() * k);
    let out = strips.as_mut_slice();
    for first in (rows.start..rows.end).step_by(MR) {
        let height = MR.min(rows.end - first);
        let base = (first - rows.start) * k;
        let out = &mut out[base..base + height * k];
        if height == MR {
            // SAFETY: rows first..first + MR of `a` hold k floats each
            // (`check` bounds the operand).
            unsafe { pack_full_strip(a, first, k, out) };
            continue;
        }
        for (i, row) in (first..first + height).enumerate() {
            let row = &a.data[row * a.stride..row * a.stride + k];
            for (d, value) in row.iter().enumerate() {
                out[d * height + i] = *value;
            }
        }
    }
    strips
}

/// `pack_strips` for a strip of `MR` rows, read `MR` at a time and
/// written in order: the hot case, kept free of bounds checks.
///
/// # Safety
/// Rows first..first + MR of `a` hold at least k floats each.
unsafe fn pack_full_strip(a: &Rows<&[f32]>, first: usize, k: usize, out: &mut [f32]) {
    let rows: [*const f32; MR] =
        std::array::from_fn(|i| a.data.as_ptr().wrapping_add((first + i) * a.stride));
    for (d, column) in out.chunks_exact_mut(MR).take(k).enumerate() {
        for (value, row) in column.iter_mut().zip(rows) {
            // SAFETY: d < k, inside each row (the caller's contract).
            *value = unsafe { *row.add(d) };
        }
    }
}

#[derive(Clone, Copy)]
enum Start {
    Zero,
    Bias(*const f32),
    Accumulate,
}

/// One kernel call: a strip of `height` rows times one panel, over `depth`.
struct Step {
    depth: usize,
    a: *const f32,
    /// Floats between rows of `a` when it is read in place (not packed).
    a_stride: usize,
    b: *const f32,
    c: *mut f32,
    stride: usize,
    columns: usize,
    start: Start,
}

/// # Safety
/// `step` points at a strip of `height` × depth floats, a panel slice of
/// depth × NR, and an output block of `height` rows that only this thread
/// writes; the CPU has AVX-512F.
unsafe fn kernel<const DIRECT: bool>(height: usize, step: &Step) {
    // SAFETY: every arm is `kernel_rows` of this height, whose contract is
    // the caller's.
    unsafe {
        match height {
            1 => kernel_rows::<1, DIRECT>(step),
            2 => kernel_rows::<2, DIRECT>(step),
            3 => kernel_rows::<3, DIRECT>(step),
            4 => kernel_rows::<4, DIRECT>(step),
            5 => kernel_rows::<5, DIRECT>(step),
            6 => kernel_rows::<6, DIRECT>(step),
            7 => kernel_rows::<7, DIRECT>(step),
            8 => kernel_rows::<8, DIRECT>(step),
            9 => kernel_rows::<9, DIRECT>(step),
            10 => kernel_rows::<10, DIRECT>(step),
            11 => kernel_rows::<11, DIRECT>(step),
            _ => kernel_rows::<MR, DIRECT>(step),
        }
    }
}

/// # Safety
/// As `kernel`, for a strip of `R` rows.
#[target_feature(enable = "avx512f")]
unsafe fn kernel_rows<const R: usize, const DIRECT: bool>(step: &Step) {
    // Lanes of the output to touch, for a last panel narrower than NR.
    let mask = |skip: usize| -> __mmask16 {
        match step.columns.saturating_sub(skip) {
            0 => 0,
            n if n >= 16 => 0xffff,
            n => (1u16 << n) - 1,
        }
    };
    let (m0, m1) = (mask(0), mask(16));
    // A masked load of one row of the block (32 lanes at most, `columns`
    // of them real).
    let load = |at: *const f32| {
        // SAFETY: `at` is a row of the bias or of the output block, which
        // holds at least `columns` floats (the caller's contract); masked
        // lanes are not touched.
        unsafe {
            [
                _mm512_maskz_loadu_ps(m0, at),
                _mm512_maskz_loadu_ps(m1, at.wrapping_add(16)),
            ]
        }
    };
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    match step.start {
        Start::Zero => {}
        Start::Bias(bias) => acc = [load(bias); R],
        Start::Accumulate => {
            for (i, row) in acc.iter_mut().enumerate() {
                *row = load(step.c.wrapping_add(i * step.stride));
            }
        }
    }
    // Element (i, k) of the strip: packed k-major, or rows in place.
    let (row_step, depth_step) = if DIRECT { (step.a_stride, 1) } else { (1, R) };
    let (mut a, mut b) = (step.a, step.b);
    for _ in 0..step.depth {
        // SAFETY: b is a 64-byte aligned row of NR floats of the panel
        // slice, which has `depth` rows.
        let (b0, b1) = unsafe { (_mm512_load_ps(b), _mm512_load_ps(b.add(16))) };
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: element (i, current depth) of the strip of R rows.
            let x = _mm512_set1_ps(unsafe { *a.add(i * row_step) });
            row[0] = _mm512_fmadd_ps(x, b0, row[0]);
            row[1] = _mm512_fmadd_ps(x, b1, row[1]);
        }
        a = a.wrapping_add(depth_step);
        b = b.wrapping_add(NR);
    }
    for (i, row) in acc.iter().enumerate() {
        let c = step.c.wrapping_add(i * step.stride);
        // SAFETY: row i of the output block, which only this thread writes;
        // masked lanes are not touched.
        unsafe {
            _mm512_mask_storeu_ps(c, m0, row[0]);
            _mm512_mask_storeu_ps(c.wrapping_add(16), m1, row[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], w: &[f32], m: usize, k: usize, n: usize, bias: Option<&[f32]>) -> Vec<f32> {
        let mut out = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut sum = bias.map_or(0.0, |b| b[j] as f64);
                for d in 0..k {
                    sum += a[i * k + d] as f64 * w[j * k + d] as f64;
                }
                out[i * n + j] = sum as f32;
            }
        }
        out
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        crate::kernels::test_values(len, seed, (-1.0, 1.0))
    }

    #[test]
    fn products_match_a_naive_matmul_at_awkward_sizes() {
        if !available() {
            eprintln!("skipped: no AVX-512F on this CPU");
            return;
        }
        let shapes = [
            (1, 1, 1),
            (5, 7, 3),
            (13, 300, 33),
            (61, 520, 70),
            (100, 16, 96),
            (45, 300, 64),
            (70, 800, 64),
            (40, 1600, 32),
        ];
        for (m, k, n) in shapes {
            let a = values(m * k, 1);
            let w = values(n * k, 2);
            let bias = values(n, 3);
            let want = naive(&a, &w, m, k, n, Some(&bias));
            // x · wᵀ, threaded, with bias: AVX-512, then as a layer's
            // weights (AMX tiles where the CPU has them and n allows).
            // AMX's split-bf16 sums are looser than f32 but far tighter
            // than plain bf16 (~1e-2 here); k = 1600 takes two passes.
            let avx512 = Packed::from_rows(&w, k, n, k);
            let layer = Packed::weights(&w, n, k);
            let amx = layer.on_tiles();
            for (packed, bound) in [(avx512, 1e-4), (layer, if amx { 1e-3 } else { 1e-4 })] {
                let got = matmul(Rows::new(&a, m, k), &packed, Some(&bias));
                let worst = want
                    .iter()
                    .zip(&got)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f32::max);
                assert!(worst < bound, "{m}×{k}×{n}: off by {worst}");
            }
            // The same product from wᵀ packed by columns, on this thread,
            // reading a left operand whose rows are 3 floats wider.
            let mut transposed = vec![0.0f32; k * n];
            for j in 0..n {
                for d in 0..k {
                    transposed[d * n + j] = w[j * k + d];
                }
            }
            let packed = Packed::from_columns(&transposed, n, k, n);
            let mut wide = vec![f32::NAN; m * (k + 3)];
            for i in 0..m {
                wide[i * (k + 3)..i * (k + 3) + k].copy_from_slice(&a[i * k..(i + 1) * k]);
            }
            // The fused epilogue: a residual, then a clamp.
            let residual = values(m * n, 4);
            let fused = matmul_then(
                Rows::new(&a, m, k),
                &Packed::weights(&w, n, k),
                Some(&bias),
                Epilogue {
                    residual: Some(&residual),
                    clamp: Some((-0.5, 0.5)),
                },
            );
            for (i, got) in fused.iter().enumerate() {
                let expected = (want[i] + residual[i]).clamp(-0.5, 0.5);
                assert!((expected - got).abs() < 1e-3, "{m}×{k}×{n} epilogue at {i}");
            }
            let got = matmul_here(Rows::new(&wide[..], m, k + 3), &packed);
            for i in 0..m {
                for j in 0..n {
                    let want = want[i * n + j] - bias[j];
                    let got = got[i * n + j];
                    assert!((want - got).abs() < 1e-4, "{m}×{k}×{n} at {i},{j}");
                }
            }
        }
    }
}
