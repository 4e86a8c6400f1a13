"""NVIDIA's tritonclient[grpc] (PyPI) against `wick serve --grpc-port`
with MiniLM: health, metadata, a batch of 3, requested outputs, a bad
request. Run by server/tests/v2.rs with the gRPC address."""
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

client = grpcclient.InferenceServerClient(url=sys.argv[1])
assert client.is_server_live()
assert client.is_server_ready()
assert client.is_model_ready("minilm")
assert not client.is_model_ready("nope")
metadata = client.get_model_metadata("minilm", as_json=True)
assert metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": ["-1"]}], metadata
assert metadata["outputs"][0]["shape"] == ["-1", "384"], metadata

rows = np.array([b"The cat sits outside", b"A man is eating food.", b"Wick serves models."], dtype=np.object_)
text = grpcclient.InferInput("text", [3], "BYTES")
text.set_data_from_numpy(rows)
answer = client.infer("minilm", [text], request_id="g-1")
vectors = answer.as_numpy("embedding")
assert vectors.shape == (3, 384) and vectors.dtype == np.float32, (vectors.shape, vectors.dtype)
assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
assert answer.get_response().id == "g-1"
assert answer.get_response().model_version == "1.0.0"

text = grpcclient.InferInput("text", [2], "BYTES")
text.set_data_from_numpy(np.array([b"The new movie is awesome", b"I hated every minute"], dtype=np.object_))
labels = grpcclient.InferInput("labels", [2, 2], "BYTES")
labels.set_data_from_numpy(np.array([[b"positive", b"negative"]] * 2, dtype=np.object_))
classified = client.infer("minilm.classify", [text, labels],
                          outputs=[grpcclient.InferRequestedOutput("label")])
top = [t.decode() for t in classified.as_numpy("label")]
assert top == ["positive", "negative"], top
assert [o.name for o in classified.get_response().outputs] == ["label"]

try:
    client.infer("nope", [text])
    raise AssertionError("an unknown model was answered")
except InferenceServerException as error:
    assert "nope" in str(error), str(error)
assert client.is_server_live()
print("tritonclient[grpc]: all checks passed")
