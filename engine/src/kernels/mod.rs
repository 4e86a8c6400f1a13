//! CPU kernels with no model knowledge: packed matrix products (AVX-512,
//! and AMX tiles where the CPU has them), vectorized element-wise math,
//! and the aligned buffers they work in. Models call them; they call no
//! model.
//!
//! Every `unsafe fn` here states its contract under "Safety", and every
//! `unsafe` block says why its contract holds (`// SAFETY:`).

// The packed kernels: x86-64 only (AVX-512, AMX).
#[cfg(target_arch = "x86_64")]
mod aligned;
#[cfg(target_arch = "x86_64")]
mod amx;
pub mod fast_math;
#[cfg(target_arch = "x86_64")]
pub mod gemm;
