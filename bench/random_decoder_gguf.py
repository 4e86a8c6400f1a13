"""Writes a random-weight decoder GGUF in F16 for speed measurements
(`llama-quantize` then makes the K-quant file both servers load): the
issue's "one model of >= 0.5 B parameters", shaped like Qwen2.5-0.5B
(biases on q, k, v; NeoX rope) but with widths whole 256-value
super-blocks, and SmolLM2's vocabulary and tokenizer (so the usual
prompts and clients work). Needs numpy and gguf (pip install gguf).

    python3 bench/random_decoder_gguf.py examples/smollm2/model.gguf /tmp/qwen2-0.5b-f16.gguf
    llama-quantize /tmp/qwen2-0.5b-f16.gguf /tmp/qwen2-0.5b-Q4_K_M.gguf Q4_K_M
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter

source, out = sys.argv[1], sys.argv[2]
LAYERS, HIDDEN, HEADS, KV_HEADS, FFN = 24, 1024, 16, 4, 4608
HEAD_DIM = HIDDEN // HEADS
ARCH = "qwen2"

reader = GGUFReader(source)
writer = GGUFWriter(out, ARCH)
writer.add_block_count(LAYERS)
writer.add_context_length(4096)
writer.add_embedding_length(HIDDEN)
writer.add_feed_forward_length(FFN)
writer.add_head_count(HEADS)
writer.add_head_count_kv(KV_HEADS)
writer.add_rope_freq_base(1_000_000.0)
writer.add_layer_norm_rms_eps(1e-6)
for key, field in reader.fields.items():
    if not key.startswith("tokenizer."):
        continue
    if key == "tokenizer.ggml.pre":
        writer.add_string(key, "qwen2")
        continue
    kind = field.types[0]
    if kind == GGUFValueType.ARRAY:
        writer.add_array(key, field.contents())
    elif kind == GGUFValueType.STRING:
        writer.add_string(key, field.contents())
    else:
        writer.add_key_value(key, field.contents(), kind)
vocab = len(reader.fields["tokenizer.ggml.tokens"].data)

rng = np.random.default_rng(0)


def matrix(rows, cols):
    return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16)


def ones(n):
    return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)


writer.add_tensor("token_embd.weight", matrix(vocab, HIDDEN))
writer.add_tensor("output.weight", matrix(vocab, HIDDEN))
writer.add_tensor("output_norm.weight", ones(HIDDEN))
kv = KV_HEADS * HEAD_DIM
for i in range(LAYERS):
    writer.add_tensor(f"blk.{i}.attn_norm.weight", ones(HIDDEN))
    writer.add_tensor(f"blk.{i}.attn_q.weight", matrix(HIDDEN, HIDDEN))
    writer.add_tensor(f"blk.{i}.attn_k.weight", matrix(kv, HIDDEN))
    writer.add_tensor(f"blk.{i}.attn_v.weight", matrix(kv, HIDDEN))
    writer.add_tensor(f"blk.{i}.attn_q.bias", (0.1 * rng.standard_normal(HIDDEN)).astype(np.float32))
    writer.add_tensor(f"blk.{i}.attn_k.bias", (0.1 * rng.standard_normal(kv)).astype(np.float32))
    writer.add_tensor(f"blk.{i}.attn_v.bias", (0.1 * rng.standard_normal(kv)).astype(np.float32))
    writer.add_tensor(f"blk.{i}.attn_output.weight", matrix(HIDDEN, HIDDEN))
    writer.add_tensor(f"blk.{i}.ffn_norm.weight", ones(HIDDEN))
    writer.add_tensor(f"blk.{i}.ffn_gate.weight", matrix(FFN, HIDDEN))
    writer.add_tensor(f"blk.{i}.ffn_up.weight", matrix(FFN, HIDDEN))
    writer.add_tensor(f"blk.{i}.ffn_down.weight", matrix(HIDDEN, FFN))
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
params = 2 * vocab * HIDDEN + LAYERS * (2 * HIDDEN * HIDDEN + 2 * kv * HIDDEN + 3 * FFN * HIDDEN)
print(f"wrote {out}: {params / 1e6:.0f} M parameters")
