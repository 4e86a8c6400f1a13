"""gradio_client (PyPI, pinned in scripts/test) against `wick serve` with
minilm, efficientnet-lite0 and smollm2: the script a Gradio app's users
already have, unchanged. Usage: gradio_client_test.py BASE_URL IMAGE_PATH.
Exits non-zero on the first failed check."""

import os
import sys
import time
import urllib.request

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

base, image = sys.argv[1], sys.argv[2]
client = Client(base, verbose=False, analytics_enabled=False)

# view_api lists every endpoint, named by model, with typed parameters.
api = client.view_api(print_info=False, return_format="dict")
names = sorted(api["named_endpoints"])
assert names == [
    "/efficientnet-lite0_classify",
    "/minilm_classify",
    "/minilm_embed",
    "/minilm_similarity",
    "/smollm2_chat",
    "/smollm2_complete",
], names
similarity = api["named_endpoints"]["/minilm_similarity"]
assert [p["parameter_name"] for p in similarity["parameters"]] == ["a", "b"], similarity
assert similarity["parameters"][0]["python_type"]["type"] == "str", similarity
assert similarity["returns"][0]["component"] == "Number", similarity
text = client.view_api(print_info=False, return_format="str")
assert 'predict(a, b, api_name="/minilm_similarity")' in text, text

# Texts in, a number out; positional and by name.
score = client.predict(
    "A man is eating food.", "A man is eating a piece of bread.", api_name="/minilm_similarity"
)
assert abs(score - 0.7553) < 1e-3, score
same = client.predict(
    a="A man is eating food.", b="A man is eating a piece of bread.", api_name="/minilm_similarity"
)
assert same == score, (same, score)

# A text and a list in, a Label dict out.
label = client.predict(
    "The new movie is awesome", ["positive", "negative"], api_name="/minilm_classify"
)
assert label["label"] == "positive", label
assert [c["label"] for c in label["confidences"]] == ["positive", "negative"], label

# An embedding: JSON, a list of 384 numbers.
embedding = client.predict("hello", api_name="/minilm_embed")
assert len(embedding) == 384 and all(isinstance(x, float) for x in embedding), embedding[:3]

# An image through handle_file: uploaded, then named by its FileData.
label = client.predict(handle_file(image), api_name="/efficientnet-lite0_classify")
assert label["label"] == "tiger cat", label
# The example of /info (a URL of the model's example file) works as shown.
example = api["named_endpoints"]["/efficientnet-lite0_classify"]["parameters"][0]["example_input"]
label = client.predict(handle_file(example["url"]), api_name="/efficientnet-lite0_classify")
assert label["label"], label

# A streamed chat: submit(), partial outputs growing, then result().
job = client.submit(
    [{"role": "user", "content": "Count from 1 to 5."}], 24, 0.0, api_name="/smollm2_chat"
)
partials = [outputs[0] for outputs in job]
reply, finish_reason, usage, timings = job.result()
assert len(partials) >= 2, partials
assert all(b.startswith(a) for a, b in zip(partials, partials[1:])), partials
assert reply.startswith(partials[-2]) and len(reply) > 0, (reply, partials)
assert finish_reason in ("stop", "length"), finish_reason
assert usage["completion_tokens"] <= 24, usage

# Chatbot-shaped history (content as a list of parts) is understood.
reply = client.predict(
    [{"role": "user", "content": [{"type": "text", "text": "Say hi."}]}],
    8,
    0.0,
    api_name="/smollm2_chat",
)[0]
assert reply, reply


def generated_tokens():
    with urllib.request.urlopen(base + "/metrics") as response:
        for line in response.read().decode().splitlines():
            if line.startswith("wick_generated_tokens_total"):
                return float(line.split()[-1])
    raise AssertionError("no wick_generated_tokens_total in /metrics")


# cancel() on a long generation stops decoding on the server.
before = generated_tokens()
job = client.submit("Once upon a time", 1000, 0.0, api_name="/smollm2_complete")
deadline = time.time() + 60
while len(job.outputs()) < 3 and time.time() < deadline:
    time.sleep(0.02)
assert len(job.outputs()) >= 3, "no partial outputs within 60 s"
assert job.cancel()
time.sleep(0.5)
after_cancel = generated_tokens()
time.sleep(1.0)
assert generated_tokens() == after_cancel, "decoding went on after cancel()"
assert after_cancel - before < 200, (before, after_cancel)
assert job.status().code.name == "CANCELLED", job.status()

# Errors surface as the client's AppError, with Wick's message.
try:
    client.predict(12, "b", api_name="/minilm_similarity")
    raise AssertionError("a number for a text was accepted")
except AppError as error:
    assert "input `a`: expected a string" in str(error), error
try:
    client.predict({"path": "/etc/passwd"}, api_name="/efficientnet-lite0_classify")
    raise AssertionError("a server path was read")
except AppError as error:
    assert "not a file uploaded to this server" in str(error), error

print("gradio_client: every check passed")
