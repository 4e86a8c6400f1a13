"""Writes one float32 array of a NumPy .npz as raw little-endian bytes (row
major), as Whisper's mel filters are read. No NumPy needed: .npz is a zip
of .npy files, and .npy a small header before the data.

  npz-to-raw.py FILE.npz OUT KEY"""

import ast
import struct
import sys
import zipfile

source, target, key = sys.argv[1:4]
with zipfile.ZipFile(source) as archive:
    data = archive.read(f"{key}.npy")
if data[:6] != b"\x93NUMPY":
    sys.exit(f"{source}: {key} is not a .npy array")
major = data[6]
length_format, offset = ("<H", 8) if major == 1 else ("<I", 8)
(header_length,) = struct.unpack_from(length_format, data, offset)
start = offset + struct.calcsize(length_format)
header = ast.literal_eval(data[start : start + header_length].decode("latin1"))
if header["descr"] != "<f4" or header["fortran_order"]:
    sys.exit(f"{source}: {key} is {header}, not a C-ordered little-endian float32 array")
count = 1
for dimension in header["shape"]:
    count *= dimension
body = data[start + header_length :]
if len(body) != 4 * count:
    sys.exit(f"{source}: {key} has {len(body)} bytes of data, its shape needs {4 * count}")
with open(target, "wb") as out:
    out.write(body)
