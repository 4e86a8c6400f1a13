"""Writes engine/tests/fixtures/chat-templates-llama-cpp.json: how
llama.cpp's llama-server (--jinja, its own Jinja engine) renders the chat
templates of popular models (the copies llama.cpp keeps in
models/templates, fetched into engine/tests/from-llama-cpp by
scripts/fetch-examples) for a few conversations. The test
engine/tests/chat_templates_match_llama_cpp.rs renders them with Wick's
minijinja environment and compares, and tokenizes them as Wick does
against the server's tokens. The random-weight Phi-3 model of
engine/tests/architectures_match_llama_cpp serves (its special tokens are
recorded; its vocabulary is tests/from-llama-cpp/phi-3.gguf's):

    python3 bench/chat_templates_reference.py PATH/TO/llama-server $CARGO_TARGET_DIR/tmp/random-phi3.gguf \\
        engine/tests/from-llama-cpp engine/tests/fixtures/chat-templates-llama-cpp.json
"""
import datetime
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import llama_server

server, model, templates, out = sys.argv[1:5]
PORT = 8079
BASE = f"http://127.0.0.1:{PORT}"
TEMPLATES = [
    "google-gemma-2-2b-it.jinja",
    "microsoft-Phi-3.5-mini-instruct.jinja",
    "meta-llama-Llama-3.1-8B-Instruct.jinja",
    "Qwen-Qwen2.5-7B-Instruct.jinja",
    "Qwen-Qwen3-0.6B.jinja",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja",
]
CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello! How can I help?"}, {"role": "user", "content": "Capital of France?"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
     {"role": "user", "content": "  Spaces around  "}],
]


def get(path):
    return json.load(urllib.request.urlopen(BASE + path))


fixture = {"source": "llama.cpp's llama-server --jinja (the sources vendored by llama-cpp-python 0.3.36), "
                     "POST /apply-template; see bench/chat_templates_reference.py",
           # llama.cpp gives templates today's date (Llama 3.1 prints it).
           "date_string": datetime.datetime.now(datetime.timezone.utc).strftime("%d %b %Y"),
           "conversations": CONVERSATIONS, "templates": []}
for name in TEMPLATES:
    process = subprocess.Popen([server, "-m", model, "-t", "1", "--port", str(PORT), "--jinja",
                                "--chat-template-file", f"{templates}/{name}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                props = get("/props")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.25)
        rendered, tokens = [], []
        for messages in CONVERSATIONS:
            try:
                prompt = llama_server.post(BASE, "/apply-template", {"messages": messages})["prompt"]
            except urllib.error.HTTPError as e:
                rendered.append({"error": json.load(e)["error"]["message"]})
                tokens.append(None)
                continue
            rendered.append(prompt)
            # As the server reads a chat prompt: special tokens parsed,
            # the vocabulary's BOS added.
            tokens.append(llama_server.post(BASE, "/tokenize", {"content": prompt, "add_special": True,
                                                                "parse_special": True})["tokens"])
        fixture["templates"].append({"file": name, "bos_token": props["bos_token"],
                                     "eos_token": props["eos_token"], "rendered": rendered,
                                     "tokens": tokens})
        print(name, [r if isinstance(r, dict) else len(r) for r in rendered])
    finally:
        process.terminate()
        process.wait()
json.dump(fixture, open(out, "w"), indent=1, ensure_ascii=False)
