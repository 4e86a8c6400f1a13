"""Time to read a 512-token prompt over an OpenAI-compatible server: a
completion of one token after a prompt of 512 tokens (checked against
the server's `usage`), best of five; prints prompt tokens/s. Run against
`wick serve examples/smollm2` and llama.cpp's `llama-server` on the same
GGUF, in the same minute.

    python3 bench/prefill_time.py http://127.0.0.1:7860
"""
import json
import sys
import time
import urllib.request

base = sys.argv[1]
# " the" and " candle" are one token each in SmolLM2's vocabulary.
prompt = " the candle" * 256


def complete():
    body = {"model": "smollm2", "prompt": prompt, "max_tokens": 1, "temperature": 0, "cache_prompt": False}
    request = urllib.request.Request(base + "/v1/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    answer = json.load(urllib.request.urlopen(request))
    return time.perf_counter() - start, answer["usage"]["prompt_tokens"]


complete()  # warm up
runs = [complete() for _ in range(5)]
seconds, tokens = min(runs)
print(f"{base}: {tokens} prompt tokens in {seconds * 1000:.0f} ms = {tokens / seconds:.0f} tokens/s (best of 5)")
