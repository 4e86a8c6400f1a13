"""Why Wick repeats llama.cpp's arithmetic exactly (engine/src/kernels/ggml.rs):
SmolLM2's first-step log-probabilities from the model's forward pass in
NumPy (float64 products) over the GGUF's dequantized weights, compared with
llama.cpp's top-10 in engine/tests/fixtures/smollm2-llama-cpp.json. With
--q8 the activations are rounded to 8 bits per block of 32 before each
product, as llama.cpp does (Q8_1/Q8_0). With --perturb E the embeddings
are multiplied by (1 + E·N(0, 1)) and the script prints how far that moves
the top-10 log-probabilities. Run outside the test suite, in a throwaway venv:

    python3 -m venv /tmp/gg && /tmp/gg/bin/pip install gguf numpy
    /tmp/gg/bin/python bench/smollm2_numpy_reference.py examples/smollm2/model.gguf [--q8] [--perturb 1e-6]

Measured 2026-12-03: worst |Δ log p| against llama.cpp 0.224 (0.147 with
--q8). A perturbation of 1e-6 moves the log-probabilities by 3e-6 without
--q8 and by 0.13 with it: the 8-bit rounding turns last-place differences
into visible ones, so only llama.cpp's own operations in its own order
give its numbers (Wick's are within 1e-5 of them).
"""
import functools
import json
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

reader = GGUFReader(sys.argv[1])
tensors = {t.name: t for t in reader.tensors}
Q8 = "--q8" in sys.argv
PERTURB = float(sys.argv[sys.argv.index("--perturb") + 1]) if "--perturb" in sys.argv else 0.0


@functools.cache  # dequantized once, though --perturb runs the model twice
def weight(name):
    t = tensors[name]
    return np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)


def field(key):
    f = reader.fields[key]
    return f.parts[f.data[0]][0]


layers = int(field("llama.block_count"))
heads = int(field("llama.attention.head_count"))
kv_heads = int(field("llama.attention.head_count_kv"))
eps = float(field("llama.attention.layer_norm_rms_epsilon"))
base = float(field("llama.rope.freq_base"))
embedding = weight("token_embd.weight")
hidden = embedding.shape[1]
head_dim = hidden // heads


def q8(x):
    blocks = x.reshape(-1, 32)
    scale = np.abs(blocks).max(1, keepdims=True) / 127
    q = np.round(blocks / np.where(scale == 0, 1, scale))
    return (q * scale.astype(np.float16).astype(np.float32)).reshape(x.shape)


def product(x, w):
    x = q8(x) if Q8 else x
    return (x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.float32)


def rms_norm(x, w):
    mean = (x.astype(np.float64) ** 2).mean(-1, keepdims=True)
    return (x / np.sqrt(mean + eps)).astype(np.float32) * w


# MODELS.md's reference prompt (plain ChatML).
prompt = [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]
n = len(prompt)
angles = np.arange(n)[:, None] * base ** (-np.arange(0, head_dim, 2) / head_dim)
cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]


def rotate(t):  # (n, heads, head_dim), adjacent pairs as GGUF's llama layout
    a, b = t[..., 0::2], t[..., 1::2]
    out = np.empty_like(t)
    out[..., 0::2], out[..., 1::2] = a * cos - b * sin, a * sin + b * cos
    return out


def log_probabilities(x):
    causal = np.triu(np.full((n, n), -np.inf), 1)
    for i in range(layers):
        w = lambda part: weight(f"blk.{i}.{part}.weight")
        h = rms_norm(x, w("attn_norm"))
        q = rotate(product(h, w("attn_q")).reshape(n, heads, head_dim))
        k = rotate(product(h, w("attn_k")).reshape(n, kv_heads, head_dim))
        v = product(h, w("attn_v")).reshape(n, kv_heads, head_dim)
        out = np.zeros((n, heads, head_dim), np.float32)
        for head in range(heads):
            kv = head // (heads // kv_heads)
            scores = q[:, head] @ k[:, kv].T / np.sqrt(head_dim) + causal
            weights = np.exp(scores - scores.max(1, keepdims=True))
            out[:, head] = (weights / weights.sum(1, keepdims=True)) @ v[:, kv]
        x = x + product(out.reshape(n, hidden), w("attn_output"))
        h = rms_norm(x, w("ffn_norm"))
        gate, up = product(h, w("ffn_gate")), product(h, w("ffn_up"))
        x = x + product(gate / (1 + np.exp(-gate)) * up, w("ffn_down"))
    logits = product(rms_norm(x[-1:], weight("output_norm.weight")), embedding)[0].astype(np.float64)
    logprobs = logits - logits.max()
    return logprobs - np.log(np.exp(logprobs).sum())


x = embedding[prompt]
logprobs = log_probabilities(x)
fixture = json.load(open("engine/tests/fixtures/smollm2-llama-cpp.json"))
worst = 0.0
for top in fixture["first_step_top_logprobs"]:
    ours = logprobs[top["id"]]
    worst = max(worst, abs(ours - top["logprob"]))
    print(f"token {top['id']:>6}: llama.cpp {top['logprob']:.3f}, NumPy {ours:.3f}")
print(f"worst |Δ log p| against llama.cpp: {worst:.3f}")
if PERTURB:
    noise = np.random.default_rng(0).standard_normal(x.shape)
    moved = log_probabilities((x * (1 + PERTURB * noise)).astype(np.float32))
    ids = [top["id"] for top in fixture["first_step_top_logprobs"]]
    print(f"a {PERTURB:g} perturbation moves them by {np.abs(moved[ids] - logprobs[ids]).max():.3g}")
