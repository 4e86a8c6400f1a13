"""The peer for `wick bench --in-process` on the image backbones: a
ResNet-50, a ConvNeXt-Tiny and a DINOv2-Small image classifier
(transformers' default shapes for the first two, random weights, 1000
labels), run by PyTorch eager through transformers on 224 × 224 inputs
made beforehand.

`make OUT` writes the three model folders (bundle each with `wick
bundle`); `time OUT --threads N` prints images/s for batch 1/8/32 (the
same table as `wick bench --in-process`):

    /tmp/torch-ref/bin/python bench/image_backbone_speed.py make /tmp/backbones
    /tmp/torch-ref/bin/python bench/image_backbone_speed.py time /tmp/backbones --threads 2
    wick bundle --name resnet50 /tmp/backbones/resnet50 /tmp/backbones-bundles/resnet50
    wick bench --in-process /tmp/backbones-bundles/resnet50 --seconds 3
"""

import argparse
import shutil
import time
from pathlib import Path

import torch
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

LABELS = {i: f"class {i}" for i in range(1000)}


def models():
    return {
        "resnet50": (lambda: ResNetForImageClassification(ResNetConfig(id2label=LABELS)),
                     ConvNextImageProcessor(size={"shortest_edge": 224}, crop_pct=0.875)),
        "convnext-tiny": (lambda: ConvNextForImageClassification(ConvNextConfig(id2label=LABELS)),
                          ConvNextImageProcessor(size={"shortest_edge": 224}, crop_pct=0.875)),
        "dinov2-small": (lambda: Dinov2ForImageClassification(Dinov2Config(
            hidden_size=384, num_attention_heads=6, image_size=518, id2label=LABELS)),
            BitImageProcessor(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224},
                              resample=3)),
    }


def make(out: Path):
    torch.manual_seed(0)
    for name, (build, processor) in models().items():
        folder = out / name
        if folder.exists():
            shutil.rmtree(folder)
        build().eval().save_pretrained(folder)
        processor.save_pretrained(folder)


def time_them(out: Path, threads: int, seconds: float):
    torch.set_num_threads(threads)
    for name, (build, _) in models().items():
        model = type(build()).from_pretrained(out / name).eval()
        print(f"\n{name}, PyTorch {torch.__version__} eager, {threads} thread(s), images/s")
        print("| batch | images/s |\n|---|---|")
        for batch in (1, 8, 32):
            pixels = torch.randn(batch, 3, 224, 224)
            with torch.inference_mode():
                model(pixel_values=pixels)
                done, start = 0, time.perf_counter()
                while time.perf_counter() - start < seconds:
                    model(pixel_values=pixels)
                    done += batch
            print(f"| {batch} | {done / (time.perf_counter() - start):.1f} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["make", "time"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if args.command == "make":
        make(args.out)
    else:
        time_them(args.out, args.threads, args.seconds)


if __name__ == "__main__":
    main()
