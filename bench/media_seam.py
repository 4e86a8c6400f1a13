"""What a large image costs the server on its way in, per protocol: four
concurrent ~9.5 MiB PNGs (noise, so they do not compress) sent to the
image model over multipart, Gradio's upload then two-step call, and V2's
binary tensors; prints each protocol's latency (median of the four) and
the server's peak resident memory over its idle RSS while they ran
(VmRSS polled every 5 ms). Run against `wick serve
examples/efficientnet-lite0`, giving its PID:

    python3 bench/media_seam.py http://127.0.0.1:7860 PID [ROUNDS]

Standard library only (the PNG is written with zlib at level 0).
"""
import json
import os
import statistics
import struct
import sys
import threading
import time
import urllib.request
import uuid
import zlib

base, pid = sys.argv[1], int(sys.argv[2])
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
MODEL = "efficientnet-lite0"


def png(width, height):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + os.urandom(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b""))


def rss():
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def request(url, body, headers):
    started = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, body, headers)) as response:
        answer = response.read()
        assert response.status == 200, (response.status, answer[:200])
    return time.perf_counter() - started, answer


def multipart(image):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()
    return request(f"{base}/api/models/{MODEL}/classify", body,
                   {"content-type": f"multipart/form-data; boundary={boundary}"})[0]


def gradio(image):
    boundary = uuid.uuid4().hex
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()
    started = time.perf_counter()
    _, paths = request(f"{base}/gradio_api/upload", form,
                       {"content-type": f"multipart/form-data; boundary={boundary}"})
    path = json.loads(paths)[0]
    data = json.dumps({"data": [{"path": path, "meta": {"_type": "gradio.FileData"}}]}).encode()
    _, started_call = request(f"{base}/gradio_api/call/classify", data,
                              {"content-type": "application/json"})
    event = json.loads(started_call)["event_id"]
    with urllib.request.urlopen(f"{base}/gradio_api/call/classify/{event}") as response:
        events = response.read().decode()
    assert "event: complete" in events, events[:300]
    return time.perf_counter() - started


def v2(image):
    header = json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(image) + 4}}]}).encode()
    body = header + struct.pack("<I", len(image)) + image
    return request(f"{base}/v2/models/{MODEL}/infer", body,
                   {"content-type": "application/octet-stream",
                    "inference-header-content-length": str(len(header))})[0]


images = [png(1800, 1850) for _ in range(4)]
print(f"4 PNGs of {len(images[0]) / 2**20:.1f} MiB each, {rounds} rounds per protocol")
for name, send in [("multipart", multipart), ("gradio", gradio), ("v2", v2)]:
    latencies, peaks = [], []
    for _ in range(rounds):
        time.sleep(1.0)
        idle = rss()
        peak = [idle]
        done = threading.Event()

        def watch():
            while not done.is_set():
                peak[0] = max(peak[0], rss())
                time.sleep(0.005)

        watcher = threading.Thread(target=watch)
        watcher.start()
        results = [None] * 4
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, send(images[i])))
                   for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        watcher.join()
        latencies.append(statistics.median(results))
        peaks.append(peak[0] - idle)
    print(f"{name:9s}  latency {statistics.median(latencies) * 1000:7.0f} ms"
          f"  peak RSS +{statistics.median(peaks) / 2**20:6.0f} MB (rounds: "
          + ", ".join(f"+{p / 2**20:.0f}" for p in peaks) + ")")
