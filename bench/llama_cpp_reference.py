"""Writes engine/tests/fixtures/smollm2-llama-cpp.json from llama.cpp's
llama-server on the SmolLM2 GGUF: its tokenization of test strings, the
first step's top-10 log-probabilities for MODELS.md's reference prompt, and
greedy chat completions through the GGUF's template. Start the server first
(built as ../shared/PERF-NOTES.md says; on this VM with -DGGML_NATIVE=OFF
-DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON):

    llama-server -m examples/smollm2/model.gguf -t 2 -fa off --port 8078
    python3 bench/llama_cpp_reference.py http://127.0.0.1:8078

The K-quant fixtures come from the same model requantized by llama.cpp's
own tool (`llama-quantize --allow-requantize model.gguf OUT.gguf Q4_K_M`,
likewise Q5_K_M and Q6_K), served the same way:

    PYTHONPATH=$LLAMA_CPP/gguf-py python3 bench/llama_cpp_reference.py http://127.0.0.1:8078 \
        engine/tests/fixtures/smollm2-q4_k_m-llama-cpp.json Q4_K_M OUT.gguf

With the GGUF as a fourth argument it also records each tensor's type and
the sha256 of all tensors' bytes (by name order), which the test rebuilds
the file from (engine/tests/k_quants_match_llama_cpp).
"""
import json
import sys

import llama_server

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8078"
out = sys.argv[2] if len(sys.argv) > 2 else "engine/tests/fixtures/smollm2-llama-cpp.json"
# The file's type: Q4_1 as published, or what llama-quantize made of it.
file_type = sys.argv[3] if len(sys.argv) > 3 else "Q4_1"


def post(path, body):
    return llama_server.post(base, path, body)


texts = [
    "12345 and 3.14159, 1,000,000", "Café naïve façade — 日本語 🦀 ü", "a  b\t\tc\n\n\nd   e    ",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "fn main() { println!(\"{}\", 42); }", "   leading spaces", "I'm sure you'll say we've done it.",
    "<repo_name>wick<file_sep>a.rs", "x", "HTTP/1.1 200 OK\r\n\r\n",
]
prompt = llama_server.REFERENCE_PROMPT
chats = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are a terse assistant."}, {"role": "user", "content": "Name three colors."}],
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Count from 1 to 5."}],
]
first = post("/completion", {"prompt": prompt, "n_predict": 1, "n_probs": 10, "temperature": 0, "cache_prompt": False})
fixture = {
    "source": "llama.cpp's llama-server (the sources vendored by llama-cpp-python 0.3.36) on "
              f"SmolLM2-135M-Instruct.Q4_1.gguf ({file_type}), run with -t 2 -fa off (exact attention; its CPU flash "
              "attention accumulates in f16 and changes this model's greedy text); see bench/llama_cpp_reference.py",
    "tokenize": [{"text": t, "ids": post("/tokenize", {"content": t, "add_special": False, "parse_special": True})["tokens"]}
                 for t in texts],
    "reference_prompt": prompt,
    "first_step_top_logprobs": [{"id": t["id"], "logprob": t["logprob"]}
                                for t in first["completion_probabilities"][0]["top_logprobs"]],
    "chat": [],
}
for messages in chats:
    answer = post("/v1/chat/completions", {"messages": messages, "temperature": 0, "max_tokens": 48, "cache_prompt": False})
    fixture["chat"].append({
        "messages": messages, "max_tokens": 48,
        "prompt_tokens": answer["usage"]["prompt_tokens"],
        "completion_tokens": answer["usage"]["completion_tokens"],
        "text": answer["choices"][0]["message"]["content"],
        "finish_reason": answer["choices"][0]["finish_reason"],
    })
if len(sys.argv) > 4:
    import hashlib
    from gguf import GGUFReader
    tensors = sorted(GGUFReader(sys.argv[4]).tensors, key=lambda t: t.name)
    fixture["tensor_types"] = {t.name: t.tensor_type.name for t in tensors}
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(t.data.tobytes())
    fixture["tensor_sha256"] = digest.hexdigest()
json.dump(fixture, open(out, "w"), indent=1, ensure_ascii=False)
print(f"wrote {out}")
