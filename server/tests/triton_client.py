"""NVIDIA's tritonclient[http] (PyPI) against a running `wick serve` with
MiniLM: the V2 protocol as KServe/Triton clients speak it. Run by
server/tests/v2.rs with the server's base URL; exits non-zero on the
first failed check."""
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

base = sys.argv[1]
client = httpclient.InferenceServerClient(url=base.removeprefix("http://"))

assert client.is_server_live()
assert client.is_server_ready()
assert client.is_model_ready("minilm")
assert client.is_model_ready("minilm", model_version="1.0.0")
assert not client.is_model_ready("nope")

metadata = client.get_model_metadata("minilm")
assert metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}], metadata
assert metadata["outputs"] == [{"name": "embedding", "datatype": "FP32", "shape": [-1, 384]}], metadata
assert metadata["versions"] == ["1.0.0"], metadata
server = client.get_server_metadata()
assert server["name"] == "wick" and "binary_tensor_data" in server["extensions"], server


def texts(*items):
    return np.array([t.encode() for t in items], dtype=np.object_)


def embed(binary_in, binary_out, *items):
    tensor = httpclient.InferInput("text", [len(items)], "BYTES")
    tensor.set_data_from_numpy(texts(*items), binary_data=binary_in)
    wanted = [httpclient.InferRequestedOutput("embedding", binary_data=binary_out)]
    return client.infer("minilm", [tensor], outputs=wanted, request_id="req-7")


# A batch of 3, JSON and binary both ways: the same vectors.
rows = ("The cat sits outside", "A man is eating food.", "Wick serves models.")
answers = [embed(b_in, b_out, *rows) for b_in, b_out in [(False, False), (True, True), (True, False)]]
vectors = [a.as_numpy("embedding") for a in answers]
for v in vectors:
    assert v.shape == (3, 384) and v.dtype == np.float32, (v.shape, v.dtype)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert np.allclose(v, vectors[0], atol=1e-6)
assert answers[0].get_response()["id"] == "req-7"
assert answers[0].get_response()["model_version"] == "1.0.0"
# Row i of a batch is what row i alone gives.
single = embed(True, True, rows[1]).as_numpy("embedding")
assert np.allclose(single[0], vectors[0][1], atol=1e-5)

# Requested outputs: classify's label tensors, only the ones asked for.
text = httpclient.InferInput("text", [2], "BYTES")
text.set_data_from_numpy(texts("The new movie is awesome", "I hated every minute"), binary_data=True)
labels = httpclient.InferInput("labels", [2, 2], "BYTES")
labels.set_data_from_numpy(
    np.array([[b"positive", b"negative"], [b"positive", b"negative"]], dtype=np.object_))
wanted = [httpclient.InferRequestedOutput("label", binary_data=False),
          httpclient.InferRequestedOutput("label_scores", binary_data=True)]
classified = client.infer("minilm.classify", [text, labels], outputs=wanted)
names = [o["name"] for o in classified.get_response()["outputs"]]
assert names == ["label", "label_scores"], names
top = classified.as_numpy("label")
assert [t.decode() if isinstance(t, bytes) else t for t in top] == ["positive", "negative"], top
scores = classified.as_numpy("label_scores")
assert scores.shape == (2, 2) and scores[0][0] > scores[0][1], scores

# Bad requests: an error naming the problem, and the server keeps serving.
def unknown_input():
    tensor = httpclient.InferInput("words", [1], "BYTES")
    tensor.set_data_from_numpy(texts("x"))
    return client.infer("minilm", [tensor])


bad_requests = [
    (lambda: client.infer("nope", [text]), "nope"),
    (unknown_input, "words"),
    (lambda: client.infer("minilm", [text], outputs=[httpclient.InferRequestedOutput("nothing")]),
     "nothing"),
]
for bad, named in bad_requests:
    try:
        bad()
    except InferenceServerException as error:
        assert named in str(error), str(error)
    else:
        raise AssertionError(f"a bad request ({named}) was answered")
assert client.is_server_live()
assert embed(True, True, "still serving").as_numpy("embedding").shape == (1, 384)
print("tritonclient: all checks passed")
