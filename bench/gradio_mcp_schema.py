"""Writes server/tests/fixtures/gradio-mcp-schema.json: what Gradio itself
serves at /gradio_api/mcp/schema for a demo with the signatures of
minilm's `similarity` (two texts in, a number out) and efficientnet-lite0's
`classify` (an image in, a label out). server/tests/mcp.rs compares Wick's
schema with it: the same keys, types and meta. In a throwaway venv:

    python3 -m venv /tmp/gradiovenv && /tmp/gradiovenv/bin/pip install "gradio[mcp]==6.31.0"
    /tmp/gradiovenv/bin/python bench/gradio_mcp_schema.py server/tests/fixtures/gradio-mcp-schema.json
"""
import json
import sys
import urllib.request

import gradio as gr


def similarity(a: str, b: str) -> float:
    """How alike two sentences are: the cosine of their embeddings.

    Args:
        a: The first sentence.
        b: The second sentence.
    """
    return 0.5


def classify(image):
    """The ImageNet class of an image.

    Args:
        image: The image to classify.
    """
    return {"cat": 1.0}


with gr.Blocks() as demo:
    a, b, score = gr.Textbox(label="a"), gr.Textbox(label="b"), gr.Number(label="score")
    gr.Button("Compare").click(similarity, [a, b], score, api_name="similarity")
    image, label = gr.Image(label="image", type="filepath"), gr.Label(label="label")
    gr.Button("Classify").click(classify, [image], label, api_name="classify")

demo.launch(mcp_server=True, server_name="127.0.0.1", server_port=7893, prevent_thread_lock=True)
schema = json.load(urllib.request.urlopen("http://127.0.0.1:7893/gradio_api/mcp/schema"))
json.dump({"source": f"gradio {gr.__version__}, launch(mcp_server=True); see bench/gradio_mcp_schema.py",
           "schema": schema}, open(sys.argv[1], "w"), indent=1)
demo.close()
print(f"wrote {sys.argv[1]}: {[tool['name'] for tool in schema]}")
