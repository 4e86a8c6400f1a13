"""Converts a CTranslate2 Whisper model (model.bin, binary version 6) to a
safetensors file with Hugging Face's names, as candle-transformers' whisper
loads it. No CTranslate2 or NumPy needed: both formats are read and written
here, byte for byte, so the output's SHA-256 is stable.

  ctranslate2-to-safetensors.py MODEL.BIN OUT.safetensors

CTranslate2 fuses attention weights: self-attention's Q, K and V are one
matrix (`linear_0`, 3×d rows), cross-attention's K and V another
(`attention/linear_1`, 2×d rows); K has no bias in Whisper (CTranslate2
stores zeros, dropped here). Layer norms are `gamma`/`beta`."""

import json
import re
import struct
import sys

# CTranslate2's DataType ids and their safetensors names and sizes.
DTYPES = {0: ("F32", 4), 1: ("I8", 1), 2: ("I16", 2), 3: ("I32", 4), 4: ("F16", 2), 5: ("BF16", 2)}


def read_ctranslate2(path):
    data = open(path, "rb").read()
    offset = 0

    def take(fmt):
        nonlocal offset
        values = struct.unpack_from("<" + fmt, data, offset)
        offset += struct.calcsize("<" + fmt)
        return values[0] if len(values) == 1 else values

    def text():
        nonlocal offset
        length = take("H")
        value = data[offset : offset + length].rstrip(b"\0").decode()
        offset += length
        return value

    version = take("I")
    if version != 6:
        sys.exit(f"{path}: CTranslate2 binary version {version}, this reads 6")
    spec, _revision = text(), take("I")
    if spec != "WhisperSpec":
        sys.exit(f"{path}: a {spec}, not a WhisperSpec")
    variables = {}
    for _ in range(take("I")):
        name = text()
        shape = [take("I") for _ in range(take("B"))]
        dtype, size = take("B"), take("I")
        variables[name] = (DTYPES[dtype][0], shape, data[offset : offset + size])
        offset += size
    return variables


def split_rows(tensor, parts):
    """Splits a row-major tensor into `parts` equal blocks of rows."""
    dtype, shape, raw = tensor
    rows = shape[0] // parts
    step = len(raw) // parts
    return [(dtype, [rows] + shape[1:], raw[i * step : (i + 1) * step]) for i in range(parts)]


def hugging_face_names(variables):
    out = {}
    for name, tensor in variables.items():
        if not tensor[1]:
            continue  # scalars: CTranslate2's settings, not weights
        m = re.fullmatch(r"(encoder|decoder)/(.*)", name)
        side, rest = m.group(1), m.group(2)
        prefix = f"model.{side}."
        rest = rest.replace("/gamma", "/weight").replace("/beta", "/bias")
        layer = re.fullmatch(r"layer_(\d+)/(\w+)/(\w+)/(weight|bias)", rest)
        if layer:
            index, block, part, kind = layer.groups()
            base = f"{prefix}layers.{index}."
            if part == "layer_norm":
                norm = {"self_attention": "self_attn_layer_norm", "attention": "encoder_attn_layer_norm",
                        "ffn": "final_layer_norm"}[block]
                out[f"{base}{norm}.{kind}"] = tensor
            elif block == "ffn":
                out[f"{base}{ {'linear_0': 'fc1', 'linear_1': 'fc2'}[part] }.{kind}"] = tensor
            elif block == "self_attention" and part == "linear_0":
                for proj, piece in zip(("q_proj", "k_proj", "v_proj"), split_rows(tensor, 3)):
                    if not (proj == "k_proj" and kind == "bias"):
                        out[f"{base}self_attn.{proj}.{kind}"] = piece
            elif block == "self_attention" and part == "linear_1":
                out[f"{base}self_attn.out_proj.{kind}"] = tensor
            elif block == "attention" and part == "linear_0":
                out[f"{base}encoder_attn.q_proj.{kind}"] = tensor
            elif block == "attention" and part == "linear_1":
                for proj, piece in zip(("k_proj", "v_proj"), split_rows(tensor, 2)):
                    if not (proj == "k_proj" and kind == "bias"):
                        out[f"{base}encoder_attn.{proj}.{kind}"] = piece
            elif block == "attention" and part == "linear_2":
                out[f"{base}encoder_attn.out_proj.{kind}"] = tensor
            else:
                sys.exit(f"unexpected variable {name}")
            continue
        simple = {
            "conv1/weight": "conv1.weight", "conv1/bias": "conv1.bias",
            "conv2/weight": "conv2.weight", "conv2/bias": "conv2.bias",
            "layer_norm/weight": "layer_norm.weight", "layer_norm/bias": "layer_norm.bias",
            "position_encodings/encodings": "embed_positions.weight",
            "embeddings/weight": "embed_tokens.weight",
        }
        if rest not in simple:
            sys.exit(f"unexpected variable {name}")
        out[prefix + simple[rest]] = tensor
    return out


def write_safetensors(tensors, path):
    header, offset = {}, 0
    for name in sorted(tensors):
        dtype, shape, raw = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    encoded = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for name in sorted(tensors):
            f.write(tensors[name][2])


if __name__ == "__main__":
    source, target = sys.argv[1], sys.argv[2]
    write_safetensors(hugging_face_names(read_ctranslate2(source)), target)
