"""Official clients against a running `wick serve` with the encoder
fixtures (engine/tests/fixtures/heads): the `openai` package's
`embeddings.create` (its default base64 encoding and float), and
`huggingface_hub.InferenceClient` pointed at Wick's TEI routes
(`feature_extraction`, `text_classification`, `token_classification`),
and `gradio_client` on the tagger (HighlightedText). Answers are compared with
what sentence-transformers and transformers gave (each fixture's
expected.json)."""
import json
import math
import sys
from pathlib import Path

import openai
from huggingface_hub import InferenceClient

base, fixtures = sys.argv[1], Path(sys.argv[2])


def expected(name):
    return json.loads((fixtures / name / "expected.json").read_text())


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


embedder = expected("xlm-roberta-embedder")
client = openai.OpenAI(base_url=base + "/v1", api_key="unused")
for encoding in (openai.NOT_GIVEN, "float"):
    answer = client.embeddings.create(model="xlm-roberta-embedder", input=embedder["texts"],
                                      encoding_format=encoding)
    assert len(answer.data) == len(embedder["texts"]), answer
    for item, want in zip(answer.data, embedder["vectors"]):
        assert cosine(item.embedding, want) >= 0.9999, (encoding, item.index)
one = client.embeddings.create(model="xlm-roberta-embedder", input="Marie Curie worked in Paris.")
assert cosine(one.data[0].embedding, embedder["vectors"][5]) >= 0.9999
try:
    client.embeddings.create(model="bert-classifier", input="x")
    raise AssertionError("a classifier answered as an embedder")
except openai.BadRequestError as error:
    assert "text-classification" in str(error), error

hub = InferenceClient(base_url=base + "/tei/xlm-roberta-embedder")
vector = hub.feature_extraction(embedder["texts"][0])
assert cosine(vector.reshape(-1).tolist(), embedder["vectors"][0]) >= 0.9999, vector.shape
vector = hub.feature_extraction(embedder["texts"][0], prompt_name="query")
assert cosine(vector.reshape(-1).tolist(), embedder["query_vectors"][0]) >= 0.9999

classifier = expected("bert-classifier")
hub = InferenceClient(base_url=base + "/tei/bert-classifier")
for text, want in zip(classifier["texts"], classifier["labels"]):
    got = hub.text_classification(text)
    assert [g.label for g in got] == [w["label"] for w in want], (text, got)
    for g, w in zip(got, want):
        assert abs(g.score - w["score"]) <= 1e-4, (text, g, w)
tagger = expected("bert-ner")
hub = InferenceClient(base_url=base + "/tei/bert-ner")
for text, want in zip(tagger["texts"], tagger["entities"]):
    got = hub.token_classification(text)
    assert [(g.entity_group, g.word, g.start, g.end) for g in got] == \
        [(w["entity_group"], w["word"], w["start"], w["end"]) for w in want], (text, got)
    for g, w in zip(got, want):
        assert abs(g.score - w["score"]) <= 1e-4, (text, g, w)
# Gradio's client: the entities as HighlightedText's pieces of the text.
from gradio_client import Client  # noqa: E402

gradio = Client(base + "/", verbose=False)
named = gradio.view_api(return_format="dict", print_info=False)["named_endpoints"]
[api_name] = [name for name in named if name.endswith("entities")]
text, want = tagger["texts"][-1], tagger["entities"][-1]
pieces = gradio.predict(text, api_name=api_name)
assert "".join(p["token"] for p in pieces) == text, pieces
assert [p["class_or_confidence"] for p in pieces if p["class_or_confidence"]] == \
    [w["entity_group"] for w in want], (pieces, want)
print("openai embeddings and InferenceClient answered as the references")
