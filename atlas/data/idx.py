"""The IDX format of MNIST and Fashion-MNIST: a tiny header, then raw big-endian values.

Layout: two zero bytes, a type code, the number of dimensions d; then d big-endian uint32
sizes; then the values, row-major. Files may be gzipped (detected by their magic bytes).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from atlas.io import atomic_write

#: IDX type code -> big-endian NumPy dtype.
IDX_TYPES = {
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """A file is not valid IDX (bad magic, unknown type, wrong length, broken gzip)."""


def parse_idx(data: bytes, source="<bytes>") -> np.ndarray:
    """Decode the bytes of an IDX file (gzipped or raw) into an array in native byte order."""
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise IDXError(f"{source}: broken gzip stream ({error}); the file is truncated "
                           f"or corrupt: delete it and fetch it again") from error
    if len(data) < 4:
        raise IDXError(f"{source}: {len(data)} bytes is too short for an IDX header")
    zero, code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00" or code not in IDX_TYPES:
        raise IDXError(f"{source}: bad magic number 0x{data[:4].hex()} (expected 0x0000 then "
                       f"a type code in {[hex(c) for c in IDX_TYPES]} and the rank)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{source}: header announces {ndim} dimensions but the file ends "
                       f"after {len(data)} bytes")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_TYPES[code]
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise IDXError(f"{source}: shape {shape} of {dtype.name} needs {expected} bytes, "
                       f"the file has {len(data)} (truncated or corrupt)")
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def read_idx(path) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw), checking magic number, dimensions and length."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"no IDX file at {path}") from None
    return parse_idx(data, str(path))


def write_idx(path, array, compress=None):
    """Write ``array`` as IDX (gzipped when ``compress`` or the name ends in ``.gz``), atomically."""
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): c for c, dt in IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; "
                         f"use one of {[d.name for d in codes]}")
    code = codes[native]
    body = (struct.pack(">BBBB", 0, 0, code, array.ndim)
            + struct.pack(f">{array.ndim}I", *array.shape)
            + array.astype(IDX_TYPES[code]).tobytes())
    if compress or (compress is None and str(path).endswith(".gz")):
        body = gzip.compress(body, mtime=0)
    return atomic_write(path, lambda f: f.write(body))
