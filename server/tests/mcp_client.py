"""The official MCP Python SDK (`mcp`: its Streamable HTTP client and
ClientSession) against a running `wick serve` with the four example models,
at both paths Wick serves MCP on: every endpoint is a tool with the
schema the API documents; a text tool, an image tool given a data URL, bare
base64, a file uploaded with Gradio's upload route (its path and its URL)
and an example's URL, while a URL of this machine's network is refused; the
chat tool with progress notifications, and a refused input (a tool error
with Wick's message); and a call abandoned mid-reply stops decoding.

    python mcp_client.py BASE_URL IMAGE.png
"""
import asyncio
import base64
import json
import re
import sys
import urllib.request

import anyio
import requests

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

base, image = sys.argv[1], sys.argv[2]


def get(path):
    return json.load(urllib.request.urlopen(base + path))


models = get("/api/models")["models"]
openapi = get("/openapi.json")["components"]["schemas"]
expected = {}
for model in models:
    for endpoint in model["endpoints"]:
        name = f"{model['name']}_{endpoint['name']}".replace(".", "_").replace("@", "_")
        expected[name] = openapi[f"{model['name']}.{endpoint['name']}.Inputs"]
assert len(expected) == 7, expected.keys()
data_url = "data:image/png;base64," + base64.b64encode(open(image, "rb").read()).decode()


def text_of(result):
    return "".join(block.text for block in result.content if block.type == "text")


async def check(path):
    async with streamable_http_client(base + path) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            assert set(tools) == set(expected), (sorted(tools), sorted(expected))
            for name, tool in tools.items():
                assert tool.input_schema == expected[name], (name, tool.input_schema, expected[name])
                assert tool.description, name

            embedded = await session.call_tool("minilm_embed", {"text": "The cat sits outside"})
            assert not embedded.is_error, text_of(embedded)
            embedding = embedded.structured_content["embedding"]
            assert len(embedding) == 384, len(embedding)
            assert json.loads(text_of(embedded))["embedding"] == embedding

            classified = await session.call_tool("efficientnet-lite0_classify", {"image": data_url})
            assert not classified.is_error, text_of(classified)
            label = classified.structured_content["label"]
            assert "cat" in json.dumps(label).lower(), label
            # The file's bytes in base64, as agents often send files.
            bare = data_url.split(",", 1)[1]
            again = await session.call_tool("efficientnet-lite0_classify", {"image": bare})
            assert not again.is_error, text_of(again)
            assert again.structured_content["label"] == label, (again.structured_content, label)
            not_image = await session.call_tool("efficientnet-lite0_classify", {"image": "aGVsbG8="})
            assert not_image.is_error and "image" in text_of(not_image), text_of(not_image)
            # A file uploaded as Gradio's clients upload it, by its path and
            # by its URL; an example file by its URL.
            with open(image, "rb") as f:
                uploaded = requests.post(base + "/gradio_api/upload", files={"files": ("cat.png", f)}, timeout=30)
            uploaded.raise_for_status()
            path = uploaded.json()[0]
            for reference in (path, f"{base}/gradio_api/file={path}",
                              f"{base}/api/models/efficientnet-lite0/files/examples/chelsea.png"):
                by_reference = await session.call_tool("efficientnet-lite0_classify", {"image": reference})
                assert not by_reference.is_error, (reference, text_of(by_reference))
                assert by_reference.structured_content["label"] == label, (reference, by_reference.structured_content)
            # Any other URL is downloaded only from the public internet: this
            # server's own address is not.
            private = await session.call_tool("efficientnet-lite0_classify", {"image": base + "/favicon.svg"})
            assert private.is_error and "not an address on the public internet" in text_of(private), text_of(private)

            progress = []

            async def on_progress(done, total, message):
                progress.append((done, message))

            chat = await session.call_tool(
                "smollm2_chat",
                {"messages": [{"role": "user", "content": "What is the capital of France?"}],
                 "max_new_tokens": 12, "temperature": 0},
                progress_callback=on_progress,
            )
            assert not chat.is_error, text_of(chat)
            reply = chat.structured_content["text"]
            assert reply, chat
            assert len(progress) >= 2, progress
            assert [done for done, _ in progress] == sorted(done for done, _ in progress), progress
            assert "".join(message for _, message in progress) == reply, (progress, reply)

            refused = await session.call_tool("minilm_embed", {"text": 42})
            assert refused.is_error, refused
            assert "text" in text_of(refused), text_of(refused)
            unknown = await session.call_tool("minilm_embed", {"words": "hi"})
            assert unknown.is_error and "words" in text_of(unknown), text_of(unknown)
    print(f"{path}: {len(tools)} tools; chat reply {reply!r} in {len(progress)} progress notifications")


def generated_tokens():
    metrics = urllib.request.urlopen(base + "/metrics").read().decode()
    return sum(float(v) for v in re.findall(r"^wick_generated_tokens_total\{[^}]*\} (\S+)$", metrics, re.M))


async def abandon_a_long_reply():
    async with streamable_http_client(base + "/mcp") as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            with anyio.move_on_after(1.5):
                await session.call_tool(
                    "smollm2_chat",
                    {"messages": [{"role": "user", "content": "Tell me a very long story."}],
                     "max_new_tokens": 1000, "temperature": 0.8, "seed": 1},
                )
                raise AssertionError("a 1000-token reply came back within 1.5 s")
    # The client has gone: within a step or two the server stops decoding.
    await asyncio.sleep(0.5)
    before = generated_tokens()
    await asyncio.sleep(1.5)
    after = generated_tokens()
    assert after == before, f"still decoding after the client left: {before} -> {after} tokens"
    metrics = urllib.request.urlopen(base + "/metrics").read().decode()
    assert re.search(r'wick_requests_total\{model="smollm2",[^}]*endpoint="chat",outcome="cancelled"\} 1', metrics), \
        [line for line in metrics.splitlines() if "smollm2" in line and "requests_total" in line]
    print(f"abandoned call: decoding stopped at {after:.0f} generated tokens in all")


async def main():
    for path in ("/mcp", "/gradio_api/mcp/"):
        await check(path)
    await abandon_a_long_reply()


asyncio.run(main())
