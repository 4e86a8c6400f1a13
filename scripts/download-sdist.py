"""Downloads one source distribution from the package index, as listed on
its simple index page (PEP 503), without building anything.

  download-sdist.py NAME FILE DIR

`pip download --no-binary` prepares the package's metadata first, which
for a package built with CMake (llama-cpp-python) means building its
build tools from source: over ten minutes here. The caller checks the
file's sha256. Uses $PIP_INDEX_URL when set."""

import os
import re
import sys
import urllib.request
from pathlib import Path

name, filename, directory = sys.argv[1], sys.argv[2], Path(sys.argv[3])
index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
normalized = re.sub(r"[-_.]+", "-", name).lower()
page_url = f"{index}/{normalized}/"
page = urllib.request.urlopen(page_url, timeout=180).read().decode()
links = [
    urllib.request.urljoin(page_url, link)
    for link in re.findall(r'href="([^"]+)"', page)
    if link.split("#")[0].endswith("/" + filename)
]
if not links:
    sys.exit(f"download-sdist: {page_url} lists no {filename}")
target = directory / filename
partial = target.with_suffix(".partial")
with urllib.request.urlopen(links[0].split("#")[0], timeout=180) as response, open(partial, "wb") as out:
    while block := response.read(1 << 20):
        out.write(block)
partial.rename(target)
print(f"download-sdist: {filename} ({target.stat().st_size:,} bytes)")
