"""Writes engine/tests/fixtures/random-ARCH-llama-cpp.json from llama.cpp's
llama-server on the random-weight GGUF that
engine/tests/architectures_match_llama_cpp writes (run that test once; it
prints nothing but leaves the file in cargo's test scratch folder,
$CARGO_TARGET_DIR/tmp/random-ARCH.gguf): the file's sha256, the first
step's top-10 log-probabilities for SmolLM2's reference prompt (or a
text's tokens), 32 greedy tokens (and each step's top 10 where the server
gives them), and how it tokenizes a few test strings. Build llama-server
as ../shared/PERF-NOTES.md says, then:

    llama-server -m $CARGO_TARGET_DIR/tmp/random-qwen2.gguf -t 2 -fa off --port 8078
    python3 bench/llama_cpp_random_reference.py http://127.0.0.1:8078 \\
        $CARGO_TARGET_DIR/tmp/random-qwen2.gguf engine/tests/fixtures/random-qwen2-llama-cpp.json

The Gemma fixtures were made with the text prompt
"The capital of France is Paris. The capital of Italy is" as a fourth
argument (see below why).
"""
import hashlib
import json
import sys

import llama_server

base, gguf, out = sys.argv[1], sys.argv[2], sys.argv[3]


def post(path, body):
    return llama_server.post(base, path, body)


# SmolLM2's reference prompt, or (a fourth argument) a text's tokens: the
# server leaves out the probabilities of a step whose token is part of a
# UTF-8 character, so a model whose first greedy token is a lone byte
# needs another prompt.
prompt = llama_server.REFERENCE_PROMPT
if len(sys.argv) > 4:
    prompt = post("/tokenize", {"content": sys.argv[4], "add_special": True})["tokens"]


texts = [
    "12345 and 3.14159, 1,000,000", "Café naïve façade — 日本語 🦀 ü", "a  b\t\tc\n\n\nd   e    ",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "fn main() { println!(\"{}\", 42); }", "   leading spaces", "I'm sure you'll say we've done it.",
    "DON'T SHOUT, IT'S LOUD", "x", "HTTP/1.1 200 OK\r\n\r\n",
]
# Two steps: for models with sliding-window layers llama-server leaves
# the probabilities out of a one-step reply.
first = post("/completion", {"prompt": prompt, "n_predict": 2, "n_probs": 10, "temperature": 0,
                             "cache_prompt": False})
greedy = post("/completion", {"prompt": prompt, "n_predict": 32, "temperature": 0, "ignore_eos": True,
                              "cache_prompt": False, "return_tokens": True, "n_probs": 10})
steps = greedy.get("completion_probabilities", [])
fixture = {
    "source": "llama.cpp's llama-server (the sources vendored by llama-cpp-python 0.3.36), -t 2 -fa off, "
              "on the random-weight GGUF engine/tests/architectures_match_llama_cpp writes; "
              "see bench/llama_cpp_random_reference.py",
    "gguf_sha256": hashlib.sha256(open(gguf, "rb").read()).hexdigest(),
    "tokenize": [{"text": t, "ids": post("/tokenize", {"content": t, "add_special": False, "parse_special": True})["tokens"]}
                 for t in texts],
    "prompt": prompt,
    "first_step_top_logprobs": [{"id": t["id"], "logprob": t["logprob"]}
                                for t in first["completion_probabilities"][0]["top_logprobs"]],
    "greedy": greedy["tokens"],
}
# Every step's top 10 too, where the server gave them all (see above).
if len(steps) == len(greedy["tokens"]):
    fixture["greedy_top_logprobs"] = [[{"id": t["id"], "logprob": t["logprob"]} for t in step["top_logprobs"]]
                                      for step in steps]
json.dump(fixture, open(out, "w"), indent=1)
print(f"wrote {out}: greedy {greedy['tokens']}")
