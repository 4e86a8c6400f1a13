"""The gRPC port behind the same door as HTTP, and its inputs checked as
strictly: run by server/tests/hardening.rs as
`grpc_doors.py ADDRESS TOKEN` against `wick serve --auth ... --auth-token
TOKEN --grpc-port` with MiniLM and SmolLM2 loaded. tritonclient[grpc]."""
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

address, token = sys.argv[1], sys.argv[2]
client = grpcclient.InferenceServerClient(url=address)
signed_in = {"authorization": f"Bearer {token}"}


def embed(headers=None):
    text = grpcclient.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([b"The cat sits outside"], dtype=np.object_))
    return client.infer("minilm", [text], headers=headers)


def refused(call, status):
    try:
        call()
    except InferenceServerException as error:
        assert status in str(error.status()), (status, error.status(), str(error))
        return str(error)
    raise AssertionError(f"expected {status}, the call was answered")


refused(lambda: embed(), "UNAUTHENTICATED")
refused(lambda: client.get_model_metadata("minilm"), "UNAUTHENTICATED")
refused(lambda: embed({"authorization": "Bearer wrong"}), "UNAUTHENTICATED")
vectors = embed(signed_in).as_numpy("embedding")
assert vectors.shape == (1, 384), vectors.shape

# Numbers the JSON API could never carry: NaN and infinity.
for bad in [np.nan, np.inf]:
    prompt = grpcclient.InferInput("prompt", [1], "BYTES")
    prompt.set_data_from_numpy(np.array([b"Once upon a time"], dtype=np.object_))
    temperature = grpcclient.InferInput("temperature", [1], "FP64")
    temperature.set_data_from_numpy(np.array([bad], dtype=np.float64))
    message = refused(
        lambda: client.infer("smollm2.complete", [prompt, temperature], headers=signed_in),
        "INVALID_ARGUMENT",
    )
    assert "temperature" in message, message

# A temperature the sampler once failed on decodes greedily, as on HTTP.
prompt = grpcclient.InferInput("prompt", [1], "BYTES")
prompt.set_data_from_numpy(np.array([b"Once upon a time"], dtype=np.object_))
tokens = grpcclient.InferInput("max_new_tokens", [1], "INT64")
tokens.set_data_from_numpy(np.array([3], dtype=np.int64))
cold = grpcclient.InferInput("temperature", [1], "FP64")
cold.set_data_from_numpy(np.array([1e-40], dtype=np.float64))
text = client.infer("smollm2.complete", [prompt, tokens, cold], headers=signed_in).as_numpy("text")
assert len(text) == 1 and len(text[0]) > 0, text

# Wrong tokens are guesses, counted per address as on HTTP: after ten in a
# minute even the right one is refused.
for i in range(9):
    refused(lambda: embed({"authorization": f"Bearer guess-{i}"}), "UNAUTHENTICATED")
refused(lambda: embed(signed_in), "RESOURCE_EXHAUSTED")
print("grpc doors: all checks passed")
