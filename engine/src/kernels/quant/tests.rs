//! Every type against Candle's own quantizer and dequantizer (the GGUF
//! bytes come from `QTensor::quantize`): rows dequantize to Candle's
//! values, products equal the dense product of those values up to the
//! activations' 8-bit rounding, and the VNNI and portable kernels agree
//! bit for bit.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use super::*;
use crate::kernels::test_values;

const ALL: [(Format, GgmlDType); 8] = [
    (Format::Q4_0, GgmlDType::Q4_0),
    (Format::Q4_1, GgmlDType::Q4_1),
    (Format::Q5_0, GgmlDType::Q5_0),
    (Format::Q5_1, GgmlDType::Q5_1),
    (Format::Q8_0, GgmlDType::Q8_0),
    (Format::Q4K, GgmlDType::Q4K),
    (Format::Q5K, GgmlDType::Q5K),
    (Format::Q6K, GgmlDType::Q6K),
];

/// GGUF bytes of a random (rows × cols) matrix in `dtype`, and Candle's
/// dequantization of them.
fn quantized(dtype: GgmlDType, rows: usize, cols: usize, seed: u32) -> (Vec<u8>, Vec<f32>) {
    let values = test_values(rows * cols, seed, (-1.0, 1.0));
    let tensor = Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap();
    let q = QTensor::quantize(&tensor, dtype).unwrap();
    let dense = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap();
    (q.data().unwrap().to_vec(), dense.to_vec1().unwrap())
}

#[test]
fn rows_dequantize_to_candles_values() {
    for (format, dtype) in ALL {
        let (data, dense) = quantized(dtype, 32, 512, 3);
        let matrix = QMatrix::from_gguf(format, 32, 512, &data).unwrap();
        for row in [0, 5, 16, 31] {
            assert_eq!(
                matrix.row(row),
                dense[row * 512..][..512],
                "{format:?} row {row}"
            );
        }
    }
}

#[test]
fn packed_matrices_take_about_the_files_size() {
    for (format, dtype) in ALL {
        let (data, _) = quantized(dtype, 64, 1024, 4);
        let matrix = QMatrix::from_gguf(format, 64, 1024, &data).unwrap();
        let ratio = matrix.bytes() as f64 / data.len() as f64;
        assert!(ratio < 1.05, "{format:?}: {ratio:.3} × the file's bytes");
    }
}

/// The product of one group computed by the portable kernel.
fn portable_matmul(x: &Quantized, w: &QMatrix) -> Vec<f32> {
    let (inputs, rows) = (x.rows(), w.rows());
    let mut out = vec![0.0; inputs * rows];
    for group in 0..rows / LANES {
        for tile in (0..inputs).step_by(TILE) {
            let count = (inputs - tile).min(TILE);
            let mut sums = [[0.0; LANES]; TILE];
            portable::group_product(x, w, group, tile, count, &mut sums);
            for (r, sums) in sums.iter().take(count).enumerate() {
                out[(tile + r) * rows + group * LANES..][..LANES].copy_from_slice(sums);
            }
        }
    }
    out
}

#[test]
fn products_match_the_dequantized_matrix_and_each_other() {
    let (rows, cols) = (48, 768);
    for (format, dtype) in ALL {
        let (data, dense) = quantized(dtype, rows, cols, 11);
        let matrix = QMatrix::from_gguf(format, rows, cols, &data).unwrap();
        for inputs in [1, 2, 7, 9] {
            let x = test_values(inputs * cols, 5 + inputs as u32, (-1.0, 1.0));
            let activations = Quantized::new(&x, cols);
            let fast = matmul(&activations, &matrix);
            let portable = portable_matmul(&activations, &matrix);
            for i in 0..inputs {
                for o in 0..rows {
                    let products = (0..cols).map(|c| x[i * cols + c] * dense[o * cols + c]);
                    let exact: f32 = products.clone().sum();
                    // 8-bit activations: each product is off by at most
                    // ~1/254 of itself.
                    let bound = products.map(f32::abs).sum::<f32>() / 127.0;
                    let (f, p) = (fast[i * rows + o], portable[i * rows + o]);
                    assert_eq!(f.to_bits(), p.to_bits(), "{format:?}: {f} vs {p}");
                    assert!((f - exact).abs() <= bound, "{format:?}: {f} vs {exact}");
                }
            }
        }
    }
}

#[test]
fn dense_rows_requantize_to_q8_0() {
    let values = test_values(16 * 64, 9, (-2.0, 2.0));
    let matrix = QMatrix::from_f32(16, 64, &values).unwrap();
    let row = matrix.row(3);
    for (a, b) in row.iter().zip(&values[3 * 64..]) {
        assert!((a - b).abs() <= 2.0 / 127.0 * 0.51 + 1e-3, "{a} vs {b}");
    }
}

#[test]
fn stacking_appends_rows() {
    let (a, _) = quantized(GgmlDType::Q4K, 16, 256, 1);
    let (b, dense_b) = quantized(GgmlDType::Q4K, 32, 256, 2);
    let a = QMatrix::from_gguf(Format::Q4K, 16, 256, &a).unwrap();
    let b = QMatrix::from_gguf(Format::Q4K, 32, 256, &b).unwrap();
    let both = QMatrix::stack(vec![a, b]).unwrap();
    assert_eq!(both.rows(), 48);
    assert_eq!(both.row(16 + 20), dense_b[20 * 256..][..256]);
}

#[test]
fn formats_that_disagree_do_not_stack() {
    let (a, _) = quantized(GgmlDType::Q4K, 16, 256, 1);
    let (b, _) = quantized(GgmlDType::Q6K, 16, 256, 2);
    let a = QMatrix::from_gguf(Format::Q4K, 16, 256, &a).unwrap();
    let b = QMatrix::from_gguf(Format::Q6K, 16, 256, &b).unwrap();
    assert!(QMatrix::stack(vec![a, b]).is_err());
}
