"""Tiny random-weight CLIP and SigLIP models, and what transformers'
zero-shot-image-classification pipeline answers for them, as test fixtures.

For each model this writes a Hugging Face folder (`save_pretrained`: config,
safetensors, preprocessor_config.json, tokenizer files) under OUT/<name>/
and OUT/<name>/expected.json: the pipeline's scores for each fixture image
(OUT/images/) against the candidate labels. Tokenizers are trained here
with `tokenizers` (byte-level BPE), so the fixtures need no download.

SigLIP's tokenizer is saved without an attention mask in its inputs, as
SigLIP's own tokenizer was before transformers 5 and as the model was
trained (big_vision pads to 64 tokens and masks nothing): the pipeline then
feeds the text tower exactly what Wick does.

Set up once, outside the repo:

    python3 -m venv /tmp/torch-ref
    /tmp/torch-ref/bin/pip install torch==2.15.0 transformers==5.24.0 tokenizers==0.23.3 pillow==12.0.0
    /tmp/torch-ref/bin/python bench/zero_shot_reference.py engine/tests/fixtures/zero-shot
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from PIL import Image
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
from tokenizers.models import BPE
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    PreTrainedTokenizerFast,
    SiglipConfig,
    SiglipImageProcessor,
    SiglipModel,
)

CORPUS = [
    "This is a photo of a cat.",
    "This is a photo of a dog.",
    "This is a photo of a red car on a street.",
    "a photo of a bird, a plane, a boat and a tree",
    "A painting of a sunset over the sea; a sketch of a house.",
    "Café, naïve, façade: accents stay. 東京 is Tokyo. Emoji 🎉 too.",
]

LABELS = ["cat", "dog", "red car", "sunset over the sea", "東京 🎉"]
TEMPLATE = "This is a photo of {}."
SIDE = 32  # the towers' input size: small, so the fixtures stay small
SIZE = dict(hidden=32, layers=2, heads=4, intermediate=64, projection=16, patch=8)


def byte_bpe(special, template) -> Tokenizer:
    tokenizer = Tokenizer(BPE(unk_token=None))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[(t, tokenizer.token_to_id(t)) for t in special])
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def images(out: Path):
    """A gradient at the towers' size (no resampling: exact) and a larger,
    non-square pattern (resized and cropped)."""
    out.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    exact = np.stack([x * 8, y * 8, (x + y) * 4], axis=-1).astype(np.uint8)
    y, x = np.mgrid[0:40, 0:56]
    larger = np.stack([(x * 37) % 256, (y * 53) % 256, ((x * y) * 3) % 256], axis=-1).astype(np.uint8)
    paths = []
    for name, pixels in [("gradient.png", exact), ("pattern.png", larger)]:
        Image.fromarray(pixels).save(out / name)
        paths.append(out / name)
    return paths


def randomize(model):
    """transformers starts norms at 1 and 0 and biases at 0; random ones
    make a test that could not pass on a wrong weight name."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name or name.endswith("bias") or "logit" in name:
                parameter.add_(torch.randn_like(parameter) * 0.1)


def tower(**extra):
    return dict(hidden_size=SIZE["hidden"], num_hidden_layers=SIZE["layers"],
                num_attention_heads=SIZE["heads"], intermediate_size=SIZE["intermediate"], **extra)


def save(out: Path, model, processor, tokenizer, names, inputs):
    if out.exists():
        shutil.rmtree(out)
    randomize(model)
    model.eval()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_input_names=inputs, **names).save_pretrained(out)


def expected(out: Path, pictures):
    pipe = transformers.pipeline("zero-shot-image-classification", model=str(out), device="cpu")
    results = {}
    for picture in pictures:
        answer = pipe(str(picture), candidate_labels=LABELS, hypothesis_template=TEMPLATE)
        results[picture.name] = {r["label"]: r["score"] for r in answer}
    (out / "expected.json").write_text(json.dumps(
        {"labels": LABELS, "hypothesis_template": TEMPLATE, "scores": results},
        indent=1, ensure_ascii=False) + "\n")


def main():
    out = Path(sys.argv[1])
    torch.manual_seed(0)
    pictures = images(out / "images")

    special = ["<|startoftext|>", "<|endoftext|>"]
    tokenizer = byte_bpe(special, "<|startoftext|> $A <|endoftext|>")
    eos = tokenizer.token_to_id("<|endoftext|>")
    config = CLIPConfig(
        text_config=tower(vocab_size=tokenizer.get_vocab_size(), max_position_embeddings=32,
                          bos_token_id=tokenizer.token_to_id("<|startoftext|>"), eos_token_id=eos,
                          pad_token_id=eos),
        vision_config=tower(image_size=SIDE, patch_size=SIZE["patch"]),
        projection_dim=SIZE["projection"])
    processor = CLIPImageProcessor(size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE})
    save(out / "clip", CLIPModel(config), processor, tokenizer,
         dict(bos_token="<|startoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>",
              model_max_length=32), ["input_ids", "attention_mask"])
    expected(out / "clip", pictures)

    special = ["<pad>", "</s>", "<unk>"]
    tokenizer = byte_bpe(special, "$A </s>")
    config = SiglipConfig(
        text_config=tower(vocab_size=tokenizer.get_vocab_size(), max_position_embeddings=64,
                          pad_token_id=1, eos_token_id=1),
        vision_config=tower(image_size=SIDE, patch_size=SIZE["patch"]))
    processor = SiglipImageProcessor(size={"height": SIDE, "width": SIDE})
    save(out / "siglip", SiglipModel(config), processor, tokenizer,
         dict(eos_token="</s>", pad_token="</s>", unk_token="<unk>", model_max_length=64), ["input_ids"])
    expected(out / "siglip", pictures)

    for folder in sorted(out.iterdir()):
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        print(f"{folder.name:10} {size:>9} bytes")


if __name__ == "__main__":
    main()
