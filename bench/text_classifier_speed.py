"""The peer for `wick bench --in-process` on a text classifier: a
MiniLM-sized BertForSequenceClassification (6 layers, hidden 384, 12
heads, MiniLM's own vocabulary and tokenizer, random weights, 3 labels),
run by PyTorch eager through transformers, inputs tokenized beforehand.

`make OUT` writes the model folder (bundle it with `wick bundle`);
`time OUT` prints sentences/s for 16 and 128 tokens, batch 1/8/32, at the
given thread count (the same table as `wick bench --in-process`); `ort OUT`
exports the model to ONNX (torch.onnx, dynamic batch and length) and times
ONNX Runtime (pinned: onnxruntime==1.31.1, onnx, onnxscript) the same way:

    /tmp/torch-ref/bin/python bench/text_classifier_speed.py make /tmp/minilm-classifier
    /tmp/torch-ref/bin/python bench/text_classifier_speed.py time /tmp/minilm-classifier --threads 2
    /tmp/torch-ref/bin/python bench/text_classifier_speed.py ort /tmp/minilm-classifier --threads 2
    wick bundle --name minilm-classifier /tmp/minilm-classifier /tmp/minilm-classifier-bundle
    wick bench --in-process /tmp/minilm-classifier-bundle --seconds 3

The tokenizer comes from the MiniLM example (examples/minilm, fetched by
scripts/fetch-examples).
"""

import argparse
import shutil
import time
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "in", "park", "with", "red",
         "ball", "while", "children", "played", "near", "old", "tree", "under", "blue", "sky",
         "people", "walked", "by", "river", "after", "long", "day", "at", "work"]


def text_of(tokens: int, seed: int) -> str:
    """As `wick bench`'s texts: one-token words, [CLS] and [SEP] included."""
    return " ".join(WORDS[(i * 7 + seed * 13) % len(WORDS)] for i in range(max(1, tokens - 2)))


def make(out: Path, minilm: Path):
    if out.exists():
        shutil.rmtree(out)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                        intermediate_size=1536, max_position_embeddings=512,
                        id2label={0: "negative", 1: "neutral", 2: "positive"})
    BertForSequenceClassification(config).eval().save_pretrained(out)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(minilm / "tokenizer.json"), cls_token="[CLS]",
                                        sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]",
                                        mask_token="[MASK]", model_max_length=512)
    tokenizer.save_pretrained(out)


def measure(folder: Path, threads: int, seconds: float):
    torch.set_num_threads(threads)
    model = BertForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    print(f"torch {torch.__version__}, {threads} thread(s), sentences/s")
    print("| tokens | batch | PyTorch |")
    print("|---|---|---|")
    for tokens in (16, 128):
        for batch in (1, 8, 32):
            texts = [text_of(tokens, seed) for seed in range(batch)]
            inputs = tokenizer(texts, padding=True, return_tensors="pt")
            assert inputs["input_ids"].shape[1] == tokens, inputs["input_ids"].shape
            with torch.inference_mode():
                model(**inputs)
                passes, start = 0, time.perf_counter()
                while passes < 3 or time.perf_counter() - start < seconds:
                    model(**inputs)
                    passes += 1
                elapsed = time.perf_counter() - start
            print(f"| {tokens} | {batch} | {passes * batch / elapsed:.1f} |", flush=True)


def measure_ort(folder: Path, threads: int, seconds: float):
    import onnxruntime

    model = BertForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    path = folder / "model.onnx"
    example = tokenizer([text_of(16, 0)] * 2, return_tensors="pt")
    names = ["input_ids", "attention_mask"]
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    torch.onnx.export(model, tuple(example[n] for n in names), str(path), input_names=names,
                      output_names=["logits"], dynamic_axes=axes, dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    print(f"onnxruntime {onnxruntime.__version__}, {threads} thread(s), sentences/s")
    print("| tokens | batch | ONNX Runtime |")
    print("|---|---|---|")
    for tokens in (16, 128):
        for batch in (1, 8, 32):
            texts = [text_of(tokens, seed) for seed in range(batch)]
            inputs = {n: v.numpy() for n, v in tokenizer(texts, padding=True, return_tensors="pt").items()}
            session.run(None, inputs)
            passes, start = 0, time.perf_counter()
            while passes < 3 or time.perf_counter() - start < seconds:
                session.run(None, inputs)
                passes += 1
            elapsed = time.perf_counter() - start
            print(f"| {tokens} | {batch} | {passes * batch / elapsed:.1f} |", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["make", "time", "ort"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--minilm", type=Path, default=Path(__file__).parent.parent / "examples/minilm")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if args.command == "make":
        make(args.folder, args.minilm)
    elif args.command == "ort":
        measure_ort(args.folder, args.threads, args.seconds)
    else:
        measure(args.folder, args.threads, args.seconds)


if __name__ == "__main__":
    main()
