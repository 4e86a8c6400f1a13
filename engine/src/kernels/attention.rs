//! Attention of one query over a cache of keys and values, for decoders
//! that keep a cache per stream (`models::llama`): a score per cached
//! position, a softmax, and the weighted sum of the values, vectorized
//! by the compiler for the widest instructions the CPU has.

widest! {
    #[allow(clippy::too_many_arguments)]
    /// One query over the first `count` cached positions of one kv head
    /// (at `offset` in rows of `stride`): softmax(q·k × scale) · v.
    pub fn attend_one(
        query: &[f32],
        keys: &[f32],
        values: &[f32],
        stride: usize,
        offset: usize,
        count: usize,
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32]
    ) {
        let dim = query.len();
        for (position, score) in scores[..count].iter_mut().enumerate() {
            let key = &keys[position * stride + offset..][..dim];
            let mut lanes = [0.0f32; 16];
            for (q, k) in query.chunks_exact(16).zip(key.chunks_exact(16)) {
                for i in 0..16 {
                    lanes[i] += q[i] * k[i];
                }
            }
            let mut dot: f32 = lanes.iter().sum();
            for (q, k) in query.chunks_exact(16).remainder().iter().zip(key.chunks_exact(16).remainder()) {
                dot += q * k;
            }
            *score = dot * scale;
        }
        // The exact exponential, as the llama.cpp reference tests were made
        // with: moving this softmax, SwiGLU and RMS norm onto `fast_math`'s
        // polynomial `exp` and 16-lane sums (each ~1e-6 off) changed
        // SmolLM2's greedy chat text (engine/tests/smollm2_matches_llama_cpp.rs).
        let max = scores[..count].iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
        let mut total = 0.0;
        for score in scores[..count].iter_mut() {
            *score = (*score - max).exp();
            total += *score;
        }
        for score in scores[..count].iter_mut() {
            *score /= total;
        }
        out.fill(0.0);
        for (position, &weight) in scores[..count].iter().enumerate() {
            let value = &values[position * stride + offset..][..dim];
            for (o, v) in out.iter_mut().zip(value) {
                *o += weight * v;
            }
        }
    }
}
