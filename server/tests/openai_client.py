"""The official `openai` package against a running `wick serve` with the
SmolLM2 example: chat and text completions, streamed and not; usage counts
must equal the counts of Wick's own tokenizer (passed in as argv)."""
import json
import sys

import openai

base, prompt_tokens_expected, chat_prompt_tokens_expected = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = openai.OpenAI(base_url=base + "/v1", api_key="unused")

models = [m.id for m in client.models.list()]
assert models == ["smollm2"], models

question = [{"role": "user", "content": "What is the capital of France?"}]
chat = client.chat.completions.create(model="smollm2", messages=question, temperature=0, max_tokens=12)
assert chat.object == "chat.completion", chat
assert chat.choices[0].message.role == "assistant"
text = chat.choices[0].message.content
assert text, chat
assert chat.choices[0].finish_reason in ("stop", "length")
assert chat.usage.prompt_tokens == chat_prompt_tokens_expected, chat.usage
assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens
assert chat.usage.completion_tokens <= 12

pieces = []
finish = None
usage = None
stream = client.chat.completions.create(
    model="smollm2", messages=question, temperature=0, max_tokens=12, stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.usage:
        usage = chunk.usage
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
assert len(pieces) >= 2, pieces
assert "".join(pieces) == text, (pieces, text)
assert finish == chat.choices[0].finish_reason
assert usage.completion_tokens == chat.usage.completion_tokens, usage

raw = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
completion = client.completions.create(model="smollm2", prompt=raw, temperature=0, max_tokens=16)
assert completion.choices[0].text == "The capital of France is Paris.", completion
assert completion.choices[0].finish_reason == "stop"
assert completion.usage.prompt_tokens == prompt_tokens_expected, completion.usage
assert completion.usage.completion_tokens == 7, completion.usage

streamed = "".join(
    c.choices[0].text for c in client.completions.create(model="smollm2", prompt=raw, temperature=0, max_tokens=16, stream=True) if c.choices
)
assert streamed == "The capital of France is Paris.", streamed

short = client.completions.create(model="smollm2", prompt="Once upon a time", temperature=0, max_tokens=3)
assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 3, short

try:
    client.chat.completions.create(model="smollm2", messages=[{"role": "robot", "content": "hi"}])
    raise SystemExit("an unknown role was accepted")
except openai.UnprocessableEntityError as error:
    assert error.body["param"] == "messages[0].role", error.body

try:
    client.chat.completions.create(model="nope", messages=question)
    raise SystemExit("an unknown model was accepted")
except openai.NotFoundError:
    pass
print(json.dumps({"ok": True, "chat": text}))
