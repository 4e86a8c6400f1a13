"""Tiny random-weight ResNet, ConvNeXt and DINOv2 image classifiers, and
what transformers' image-classification pipeline answers for them, as test
fixtures.

For each model this writes a Hugging Face folder (`save_pretrained`:
config, safetensors, preprocessor_config.json) under OUT/<name>/ and
OUT/<name>/expected.json: the pipeline's probability of every label for
each image of engine/tests/fixtures/zero-shot/images (one at the models'
input size, one larger and not square, so resizing and cropping are
checked too). DINOv2's position table is made for 48 × 48 images and read
at 32 × 32, so its interpolation is checked as well.

Set up once, outside the repo:

    python3 -m venv /tmp/torch-ref
    /tmp/torch-ref/bin/pip install torch==2.15.0 transformers==5.24.0 pillow==12.0.0
    /tmp/torch-ref/bin/python bench/image_backbones_reference.py engine/tests/fixtures/backbones
"""

import json
import shutil
import sys
from pathlib import Path

import torch
import transformers
from transformers import (
    BitImageProcessor,
    ConvNextConfig,
    ConvNextForImageClassification,
    ConvNextImageProcessor,
    Dinov2Config,
    Dinov2ForImageClassification,
    ResNetConfig,
    ResNetForImageClassification,
)

IMAGES = Path(__file__).resolve().parent.parent / "engine/tests/fixtures/zero-shot/images"
LABELS = {0: "cat", 1: "dog", 2: "car", 3: "tree", 4: "house"}
SIDE = 32


def randomize(model):
    """transformers starts norms at 1 and 0, biases at 0 and layer scales
    small; random ones make a test that could not pass on a wrong weight
    name. BatchNorm's running statistics are made random too."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name or name.endswith("bias") or "lambda" in name or "layer_scale" in name:
                parameter.add_(torch.randn_like(parameter) * 0.1)
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(torch.randn_like(buffer) * 0.1)
            elif name.endswith("running_var"):
                buffer.copy_(torch.rand_like(buffer) + 0.5)


def save(out: Path, model, processor):
    if out.exists():
        shutil.rmtree(out)
    randomize(model)
    model.eval()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    pipe = transformers.pipeline("image-classification", model=str(out), device="cpu")
    scores = {}
    for image in sorted(IMAGES.iterdir()):
        scores[image.name] = {r["label"]: r["score"] for r in pipe(str(image), top_k=None)}
    (out / "expected.json").write_text(json.dumps({"scores": scores}, indent=1) + "\n")


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    # ConvNeXt's processor (ResNet's too): shortest edge to
    # int(32 / 0.875) = 36, then the centre 32 × 32.
    convnext_processor = ConvNextImageProcessor(size={"shortest_edge": SIDE}, crop_pct=0.875)
    save(out / "resnet", ResNetForImageClassification(ResNetConfig(
        embedding_size=8, hidden_sizes=[16, 32], depths=[1, 2], layer_type="bottleneck",
        downsample_in_bottleneck=True, id2label=LABELS)), convnext_processor)
    save(out / "resnet-basic", ResNetForImageClassification(ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[2, 1], layer_type="basic", id2label=LABELS)),
        convnext_processor)
    save(out / "convnext", ConvNextForImageClassification(ConvNextConfig(
        num_stages=2, hidden_sizes=[8, 16], depths=[1, 2], id2label=LABELS)), convnext_processor)
    save(out / "dinov2", Dinov2ForImageClassification(Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2, image_size=48,
        patch_size=8, id2label=LABELS)),
        BitImageProcessor(size={"shortest_edge": 36}, crop_size={"height": SIDE, "width": SIDE},
                          resample=3, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]))
    for folder in sorted(out.iterdir()):
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        print(f"{folder.name:14} {size:>9} bytes")


if __name__ == "__main__":
    main()
