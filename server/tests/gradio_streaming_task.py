"""gradio_client (PyPI, pinned in scripts/test) against a user's own
streaming task served through Wick as a library (server/tests/streaming.rs:
the toy `tick`, whose Endpoint declares that it streams). Usage:
gradio_streaming_task.py BASE_URL."""

import json
import os
import sys
import urllib.request

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from gradio_client import Client  # noqa: E402

base = sys.argv[1]
with urllib.request.urlopen(base + "/config") as response:
    config = json.load(response)
kinds = {d["api_name"]: d["types"]["generator"] for d in config["dependencies"]}
assert kinds == {"count": True, "tick": True}, kinds

client = Client(base, verbose=False, analytics_enabled=False)
api = client.view_api(print_info=False, return_format="dict")
assert "/tick" in api["named_endpoints"], api

job = client.submit(5, api_name="/tick")
partials = [output for output in job]
assert len(partials) >= 3, partials
assert all(b.startswith(a) for a, b in zip(partials, partials[1:])), partials
assert job.result() == "tick 0 tick 1 tick 2 tick 3 tick 4 ", job.result()
print("gradio_client iterates a user task's partial outputs:", len(partials))
