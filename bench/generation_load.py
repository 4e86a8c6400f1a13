"""Aggregate decode throughput of an OpenAI-compatible server: N concurrent
streaming chat completions of 128 greedy tokens each; prints aggregate
tokens/s and time-to-first-token p50/p99. Run against `wick serve
examples/smollm2` and llama.cpp's `llama-server` on the same GGUF, in the
same minute (see ../shared/PERF-NOTES.md for building llama-server).

    python3 bench/generation_load.py http://127.0.0.1:7860 16
"""
import json
import statistics
import sys
import threading
import time
import urllib.request

base, streams = sys.argv[1], int(sys.argv[2])
tokens = int(sys.argv[3]) if len(sys.argv) > 3 else 128
topics = ["the sea", "a candle", "Rust", "the moon", "coffee", "rain", "trains", "cats"]


def one(i, results):
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": f"Write a long story about {topics[i % len(topics)]}."}],
        "max_tokens": tokens, "temperature": 0, "stream": True,
        "stream_options": {"include_usage": True},
        # llama-server would otherwise reuse the KV cache of an earlier
        # identical prompt (Wick has no prompt cache and ignores the field).
        "cache_prompt": False,
    }
    request = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    first = None
    count = 0
    with urllib.request.urlopen(request) as response:
        for line in response:
            line = line.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices", []):
                if choice.get("delta", {}).get("content"):
                    first = first or time.perf_counter()
            if chunk.get("usage"):
                count = chunk["usage"]["completion_tokens"]
    results.append((first - start, count, time.perf_counter()))


results = []
began = time.perf_counter()
threads = [threading.Thread(target=one, args=(i, results)) for i in range(streams)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = max(r[2] for r in results) - began
total = sum(r[1] for r in results)
ttft = sorted(r[0] for r in results)
p99 = ttft[min(len(ttft) - 1, int(len(ttft) * 0.99))]
print(f"{base} streams={streams} tokens={total} elapsed={elapsed:.2f}s aggregate={total / elapsed:.1f} tok/s "
      f"ttft p50={statistics.median(ttft) * 1000:.0f} ms p99={p99 * 1000:.0f} ms")
