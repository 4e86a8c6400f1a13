//! Whisper's log-mel features, computed as OpenAI's reference computes them
//! (`whisper.audio.log_mel_spectrogram`): a centred STFT (the clip
//! reflected at both ends by half a window), a periodic Hann window of 400
//! samples every 160, the power of bins 0 to 200 (the last frame dropped),
//! the mel filters, log10, then clamped to 8 below the maximum and scaled.
//! candle-transformers' `pcm_to_mel` follows whisper.cpp instead (no
//! centring, mirrored bins added in): on our clips its features made
//! tiny.en's transcripts drift from the reference's.

use realfft::RealFftPlanner;

pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
const BINS: usize = N_FFT / 2 + 1;

/// Features of `samples`: `n_mels` rows of `frames` values, row-major;
/// returns them with `frames` (one per 160 samples).
pub fn log_mel(samples: &[f32], filters: &[f32], n_mels: usize) -> (Vec<f32>, usize) {
    let pad = N_FFT / 2;
    // Reflect padding, as torch.stft(center=True, pad_mode="reflect").
    let reflect = |i: isize| -> f32 {
        let n = samples.len() as isize;
        if n == 1 {
            return samples[0];
        }
        let mut i = i;
        while i < 0 || i >= n {
            i = if i < 0 { -i } else { 2 * (n - 1) - i };
        }
        samples[i as usize]
    };
    let frames = samples.len() / HOP;
    let window: Vec<f32> = (0..N_FFT)
        .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / N_FFT as f32).cos())
        .collect();
    let mut planner = RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(N_FFT);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let mut power = vec![0f32; BINS];
    let mut mel = vec![0f32; n_mels * frames];
    for frame in 0..frames {
        let start = (frame * HOP) as isize - pad as isize;
        for (j, slot) in input.iter_mut().enumerate() {
            let i = start + j as isize;
            let sample = if i >= 0 && (i as usize) < samples.len() {
                samples[i as usize]
            } else {
                reflect(i)
            };
            *slot = sample * window[j];
        }
        if fft
            .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
            .is_err()
        {
            continue;
        }
        for (p, c) in power.iter_mut().zip(&spectrum) {
            *p = c.norm_sqr();
        }
        for m in 0..n_mels {
            let row = &filters[m * BINS..(m + 1) * BINS];
            let energy: f32 = row.iter().zip(&power).map(|(f, p)| f * p).sum();
            mel[m * frames + frame] = energy.max(1e-10).log10();
        }
    }
    let floor = mel.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) - 8.0;
    for value in &mut mel {
        *value = (value.max(floor) + 4.0) / 4.0;
    }
    (mel, frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_lights_the_bins_of_its_frequency_and_silence_sits_at_the_floor() {
        // One triangular filter per FFT bin, so the rows are the spectrum.
        let n_mels = 40;
        let mut filters = vec![0f32; n_mels * BINS];
        for m in 0..n_mels {
            filters[m * BINS + m * 4] = 1.0;
        }
        // 1 kHz at 16 kHz falls in bin 25 (40 Hz each); row 6 holds bin 24.
        let samples: Vec<f32> = (0..16000)
            .map(|i| (i as f32 / 16000.0 * 1000.0 * std::f32::consts::TAU).sin())
            .chain(std::iter::repeat_n(0.0, 16000))
            .collect();
        let (mel, frames) = log_mel(&samples, &filters, n_mels);
        assert_eq!(frames, 200);
        let at = |m: usize, f: usize| mel[m * frames + f];
        let loudest = (0..n_mels)
            .max_by(|&a, &b| at(a, 50).total_cmp(&at(b, 50)))
            .unwrap();
        assert_eq!(loudest * 4, 24, "row {loudest}");
        // The maximum maps to (max + 4) / 4; silence to 8 below it.
        let max = mel.iter().fold(f32::MIN, |m, &v| m.max(v));
        assert!(
            (at(3, 150) - (max - 2.0)).abs() < 1e-5,
            "{} {max}",
            at(3, 150)
        );
    }
}
