//! Matrix products on Intel AMX tiles, at f32 accuracy.
//!
//! AMX multiplies bf16 matrices (8-bit mantissa) into f32 sums, about 16×
//! the multiply rate of AVX-512 f32 FMAs per core. To keep f32 results,
//! every operand is split in two bf16 parts, x = hi + lo (hi = x rounded to
//! bf16, lo = the remainder rounded to bf16), and a · b is summed as
//! hi·hi + hi·lo + lo·hi: the dropped lo·lo term and the rounding of lo are
//! ~2^-16 of the product, so results stay within ~1e-5 of f32 math — three
//! tile products still beat one AVX-512 pass several times over.
//!
//! Layouts (TDPBF16PS): a left tile is 16 rows × 32 bf16 of a row-major
//! matrix; a right tile is 16 rows, each 16 columns × a pair of
//! consecutive k ("VNNI" order). The result block per step is 32 × 32:
//! tiles 0–3 hold it, 4–5 the left rows, 6–7 the right columns.
//!
//! The instructions are written with `asm!`: Rust's AMX intrinsics are not
//! stable. Linux hands out AMX state only on request (`arch_prctl`), made
//! once in `available()`.

use std::arch::asm;
use std::sync::OnceLock;

use rayon::prelude::*;

use super::aligned::Aligned;

/// Rows and columns of a result block; k per step.
pub const BLOCK: usize = 32;

/// Whether this CPU has AMX-BF16 (and the AVX-512 the bf16 split is built
/// for) and the kernel lets this process use it.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        if std::env::var_os("WICK_NO_AMX").is_some() {
            return false;
        }
        // CPUID.(EAX=7, ECX=0):EDX bit 22 = AMX-BF16, bit 24 = AMX-TILE.
        let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
        let avx512 =
            std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw");
        if edx & (1 << 22) == 0 || edx & (1 << 24) == 0 || !avx512 {
            return false;
        }
        tile_state_granted()
    })
}

/// Linux hands AMX tile state to a process only once it asks.
#[cfg(target_os = "linux")]
fn tile_state_granted() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: a request for a permission with two integer arguments; it
    // reads and writes no memory of this process.
    let granted = unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        )
    };
    granted == 0
}

/// Elsewhere (macOS, Windows) Wick does not know how to ask, so it does
/// not use AMX: the AVX-512 kernels run instead.
#[cfg(not(target_os = "linux"))]
fn tile_state_granted() -> bool {
    false
}

/// bf16 of x, rounded to nearest even.
#[inline(always)]
fn bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    (bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

#[inline(always)]
fn widen(x: u16) -> f32 {
    f32::from_bits(u32::from(x) << 16)
}

/// x as hi + lo, both bf16.
#[inline(always)]
fn split(x: f32) -> (u16, u16) {
    let hi = bf16(x);
    (hi, bf16(x - widen(hi)))
}

/// bf16 halves of a matrix, in one tile layout or the other.
struct Halves {
    hi: Aligned<u16>,
    lo: Aligned<u16>,
}

impl Halves {
    fn zeroed(len: usize) -> Halves {
        Halves {
            hi: Aligned::zeroed(len),
            lo: Aligned::zeroed(len),
        }
    }

    /// Where (hi, lo) start, for the tile loads.
    fn pointers(&self) -> (*const u16, *const u16) {
        (self.hi.as_slice().as_ptr(), self.lo.as_slice().as_ptr())
    }
}

/// A Linear layer's weight (n rows of k) as right-hand tiles.
pub struct Weights {
    depth: usize,
    n: usize,
    halves: Halves,
}

impl Weights {
    /// None when n is not a whole number of blocks (the caller then keeps
    /// AVX-512).
    pub fn pack(w: &[f32], stride: usize, n: usize, k: usize) -> Option<Weights> {
        if !n.is_multiple_of(BLOCK) || n == 0 {
            return None;
        }
        let depth = k.div_ceil(BLOCK) * BLOCK;
        let mut halves = Halves::zeroed(n * depth);
        let (hi, lo) = (halves.hi.as_mut_slice(), halves.lo.as_mut_slice());
        for j in 0..n {
            // Tile column j / 16; within a tile row, column j % 16 holds
            // the pair (k, k + 1).
            let base = (j / 16) * depth * 16 + (j % 16) * 2;
            for (d, value) in w[j * stride..j * stride + k].iter().enumerate() {
                let at = base + (d / 2) * 32 + d % 2;
                (hi[at], lo[at]) = split(*value);
            }
        }
        Some(Weights { depth, n, halves })
    }
}

/// The left operand (rows of k) as bf16 halves, rows padded to a whole
/// block and k to a whole step with zeros, stored tile by tile (16 rows ×
/// 32 values, 1 KB, contiguous; row tiles outer, steps inner) so that a
/// tile load reads consecutive cache lines.
pub struct Left {
    rows: usize,
    depth: usize,
    halves: Halves,
}

impl Left {
    pub fn convert(a: &[f32], rows: usize, stride: usize, k: usize) -> Left {
        let depth = k.div_ceil(BLOCK) * BLOCK;
        let padded = rows.div_ceil(BLOCK) * BLOCK;
        let mut halves = Halves::zeroed(padded * depth);
        // One row tile (16 rows) per chunk.
        let tile_rows = 16 * depth;
        let (hi, lo) = (halves.hi.as_mut_slice(), halves.lo.as_mut_slice());
        hi.par_chunks_mut(tile_rows)
            .zip(lo.par_chunks_mut(tile_rows))
            .enumerate()
            .for_each(|(tile, (hi, lo))| {
                for r in 0..16.min(rows.saturating_sub(tile * 16)) {
                    let row = tile * 16 + r;
                    let source = &a[row * stride..row * stride + k];
                    // SAFETY: `available()` checked AVX-512F and BW.
                    unsafe { split_row(source, r, hi, lo) };
                }
            });
        Left {
            rows: padded,
            depth,
            halves,
        }
    }

    /// Rows after padding: the output must have room for this many.
    pub fn padded_rows(&self) -> usize {
        self.rows
    }
}

/// Row r of a row tile: its values 32 at a time into each step's tile.
///
/// # Safety
/// The CPU has AVX-512F and AVX-512BW.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn split_row(source: &[f32], r: usize, hi: &mut [u16], lo: &mut [u16]) {
    for (step, values) in source.chunks(BLOCK).enumerate() {
        let at = step * 512 + r * BLOCK;
        let (hi, lo) = (
            &mut hi[at..at + values.len()],
            &mut lo[at..at + values.len()],
        );
        for ((hi, lo), value) in hi.iter_mut().zip(lo.iter_mut()).zip(values) {
            (*hi, *lo) = split(*value);
        }
    }
}

#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    bytes_per_row: [u16; 16],
    rows: [u8; 16],
}

/// Every tile 16 rows of 64 bytes.
const CONFIG: TileConfig = TileConfig {
    palette: 1,
    start_row: 0,
    reserved: [0; 14],
    bytes_per_row: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
    rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
};

/// Steps of k per pass over the blocks: 48 covers BERT's widest layer
/// (k = 1536) in one pass, so the result tiles are not stored and loaded
/// back mid-product. (Passes of 4–6 steps, which would keep a block's
/// operands in L1, measured about half as fast; 12 against 48 was within
/// this machine's noise.)
const STEPS_PER_PASS: usize = 48;
/// Rows a task should take when there are many: a 384-deep slice of 256
/// rows is 384 KB of halves.
pub const ROWS_PER_TASK: usize = 256;

/// The asm of one product into the four result tiles: two left tiles and
/// two right tiles (operands named by the arguments), four tile products.
macro_rules! product {
    ($a:literal, $a2:literal, $b:literal, $b2:literal) => {
        concat!(
            "tileloadd tmm4, [{",
            $a,
            "} + {s}]\n",
            "tileloadd tmm5, [{",
            $a2,
            "} + {s}]\n",
            "tileloadd tmm6, [{",
            $b,
            "} + {s}]\n",
            "tileloadd tmm7, [{",
            $b2,
            "} + {s}]\n",
            "tdpbf16ps tmm0, tmm4, tmm6\n",
            "tdpbf16ps tmm1, tmm4, tmm7\n",
            "tdpbf16ps tmm2, tmm5, tmm6\n",
            "tdpbf16ps tmm3, tmm5, tmm7",
        )
    };
}

/// out[rows × blocks] = left · w (+ bias). `rows` and `blocks` count
/// blocks of 32.
///
/// # Safety
/// `available()` is true; `out` (row stride w.n) has room for the left
/// operand's padded rows; no other thread writes these blocks.
pub unsafe fn multiply(
    left: &Left,
    w: &Weights,
    bias: Option<&[f32]>,
    out: *mut f32,
    rows: std::ops::Range<usize>,
    blocks: std::ops::Range<usize>,
) {
    debug_assert_eq!(left.depth, w.depth);
    let steps = w.depth / BLOCK;
    let out_stride = w.n * 4;
    const TILE: usize = 512; // u16s in one tile
    let (left_hi, left_lo) = left.halves.pointers();
    let (weights_hi, weights_lo) = w.halves.pointers();
    // u16s in one tile column of the weights: depth / 2 rows of 64 B.
    let second = w.depth * 16;
    // Pointers are formed with wrapping arithmetic (safe); only the tile
    // instructions that read and write through them need `unsafe`.
    // SAFETY: AMX is available (the caller's contract); CONFIG is a valid
    // palette-1 configuration of tiles 0–7.
    unsafe { asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly)) };
    for first_step in (0..steps).step_by(STEPS_PER_PASS) {
        let last_step = (first_step + STEPS_PER_PASS).min(steps);
        for block in blocks.clone() {
            // The block's first of two tile columns.
            let right_hi = weights_hi.wrapping_add(2 * block * second);
            let right_lo = weights_lo.wrapping_add(2 * block * second);
            for row_block in rows.clone() {
                let c = out.wrapping_add(row_block * BLOCK * w.n + block * BLOCK);
                let (c1, c2, c3) = (
                    c.wrapping_add(16),
                    c.wrapping_add(16 * w.n),
                    c.wrapping_add(16 * w.n + 16),
                );
                match (first_step, bias) {
                    (0, Some(bias)) => {
                        // A zero stride repeats the biases on every row.
                        let b = bias.as_ptr().wrapping_add(block * BLOCK);
                        // SAFETY: the bias has w.n ≥ (block + 1) · 32
                        // floats; each load reads 16 of them, 16 times.
                        unsafe {
                            asm!(
                                "tileloadd tmm0, [{b} + {zero}]",
                                "tileloadd tmm1, [{b1} + {zero}]",
                                "tileloadd tmm2, [{b} + {zero}]",
                                "tileloadd tmm3, [{b1} + {zero}]",
                                b = in(reg) b, b1 = in(reg) b.wrapping_add(16), zero = in(reg) 0usize,
                                options(nostack, readonly),
                            )
                        };
                    }
                    // SAFETY: no memory is touched.
                    (0, None) => unsafe {
                        asm!(
                            "tilezero tmm0",
                            "tilezero tmm1",
                            "tilezero tmm2",
                            "tilezero tmm3",
                            options(nostack, nomem),
                        )
                    },
                    // SAFETY: the block's 32 × 32 results, written by the
                    // previous pass, inside `out` (the caller's contract).
                    _ => unsafe {
                        asm!(
                            "tileloadd tmm0, [{c} + {s}]",
                            "tileloadd tmm1, [{c1} + {s}]",
                            "tileloadd tmm2, [{c2} + {s}]",
                            "tileloadd tmm3, [{c3} + {s}]",
                            c = in(reg) c, c1 = in(reg) c1, c2 = in(reg) c2, c3 = in(reg) c3,
                            s = in(reg) out_stride,
                            options(nostack, readonly),
                        )
                    },
                }
                // The two row tiles of this block.
                let upper = 2 * row_block * steps * TILE;
                let lower = upper + steps * TILE;
                for step in first_step..last_step {
                    // Both operands hold one tile per step.
                    let at = step * TILE;
                    // Each product reloads all four input tiles: loading
                    // the next operand into a tile a product has just
                    // read measured 2× slower than the extra loads (as if
                    // the load waits for that product to end).
                    // SAFETY: the left halves hold 2 · (rows.end) row tiles
                    // of `steps` tiles each, the weights 2 · (blocks.end)
                    // tile columns of `steps` tiles: every tile read lies
                    // inside them.
                    unsafe {
                        asm!(
                            product!("a_hi", "a_hi2", "b_hi", "b_hi2"),
                            product!("a_hi", "a_hi2", "b_lo", "b_lo2"),
                            product!("a_lo", "a_lo2", "b_hi", "b_hi2"),
                            a_hi = in(reg) left_hi.wrapping_add(upper + at),
                            a_hi2 = in(reg) left_hi.wrapping_add(lower + at),
                            a_lo = in(reg) left_lo.wrapping_add(upper + at),
                            a_lo2 = in(reg) left_lo.wrapping_add(lower + at),
                            b_hi = in(reg) right_hi.wrapping_add(at),
                            b_hi2 = in(reg) right_hi.wrapping_add(at + second),
                            b_lo = in(reg) right_lo.wrapping_add(at),
                            b_lo2 = in(reg) right_lo.wrapping_add(at + second),
                            s = in(reg) 64usize,
                            options(nostack, readonly),
                        )
                    };
                }
                // SAFETY: the block's 32 × 32 results inside `out`, which
                // only this thread writes (the caller's contract).
                unsafe {
                    asm!(
                        "tilestored [{c} + {s}], tmm0",
                        "tilestored [{c1} + {s}], tmm1",
                        "tilestored [{c2} + {s}], tmm2",
                        "tilestored [{c3} + {s}], tmm3",
                        c = in(reg) c, c1 = in(reg) c1, c2 = in(reg) c2, c3 = in(reg) c3,
                        s = in(reg) out_stride,
                        options(nostack),
                    )
                };
            }
        }
    }
    // SAFETY: releases the tile state this function configured.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}
