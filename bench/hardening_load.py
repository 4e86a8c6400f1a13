#!/usr/bin/env python3
"""Load from the largest accepted requests, against a running `wick serve`
of examples/minilm on 127.0.0.1: does a small request still get through,
does /healthz still answer, and does memory come back afterwards?

For SECONDS, HEAVY threads each send the largest request the server
accepts (64 texts, 3,000 characters each = 192,000 characters, under
max_input_chars) in a loop; one prober sends a one-text request every
100 ms and another GETs /healthz every 50 ms. Prints p50/p99 of each,
and the server's RSS idle, at peak and 2 s after the load stopped.
Bounded in time; loopback only. Standard library only.

  target/release/wick serve examples/minilm --host 127.0.0.1 --port 7870 &
  python3 bench/hardening_load.py --port 7870 --pid $!
"""

import argparse
import json
import threading
import time
import urllib.request


def post(url, body, timeout=60):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
        return response.status


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=7870)
    ap.add_argument("--pid", type=int, required=True, help="the server's process id, for its RSS")
    ap.add_argument("--heavy", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=12.0)
    a = ap.parse_args()
    base = f"http://127.0.0.1:{a.port}"
    embed = f"{base}/api/models/minilm/embed"
    words = "the cat sat on a mat and dog ran in park with red ball while children played ".split()
    long_text = " ".join(words[i % len(words)] for i in range(600))[:3000]
    heavy_body = json.dumps({"inputs": [{"text": long_text}] * 64}).encode()
    small_body = json.dumps({"inputs": {"text": "The cat sits outside"}}).encode()

    idle = rss_mb(a.pid)
    stop = time.monotonic() + a.seconds
    small, health, heavy_done, errors, peak = [], [], [0], [0], [idle]

    def heavy():
        while time.monotonic() < stop:
            try:
                post(embed, heavy_body)
                heavy_done[0] += 1
            except Exception:
                errors[0] += 1

    def prober(action, latencies, every):
        while time.monotonic() < stop:
            began = time.monotonic()
            try:
                action()
                latencies.append(time.monotonic() - began)
            except Exception:
                errors[0] += 1
            time.sleep(max(0.0, every - (time.monotonic() - began)))

    def watch_memory():
        while time.monotonic() < stop:
            peak[0] = max(peak[0], rss_mb(a.pid))
            time.sleep(0.2)

    threads = [threading.Thread(target=heavy) for _ in range(a.heavy)]
    threads.append(threading.Thread(target=prober, args=(lambda: post(embed, small_body), small, 0.1)))
    threads.append(threading.Thread(
        target=prober, args=(lambda: urllib.request.urlopen(f"{base}/healthz", timeout=10).read(), health, 0.05)))
    threads.append(threading.Thread(target=watch_memory))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(2.0)
    after = rss_mb(a.pid)
    ms = lambda s: f"{s * 1000:.0f} ms"
    print(f"{a.heavy} heavy clients for {a.seconds:.0f} s: {heavy_done[0]} heavy requests answered, {errors[0]} errors")
    print(f"small request: {len(small)} sent, p50 {ms(percentile(small, 0.5))}, p99 {ms(percentile(small, 0.99))}")
    print(f"/healthz: {len(health)} probes, p50 {ms(percentile(health, 0.5))}, p99 {ms(percentile(health, 0.99))}")
    print(f"RSS: idle {idle:.0f} MB, peak {peak[0]:.0f} MB, 2 s after {after:.0f} MB ({after / idle:.2f}x idle)")


if __name__ == "__main__":
    main()
