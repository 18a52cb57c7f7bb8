"""Fashion-MNIST and MNIST: find the IDX files on disk, or fetch them once with checks.

Search order for a data set named ``fashion-mnist`` (likewise ``mnist``):

1. ``$ATLAS_DATA/fashion-mnist/``
2. the user's cache: ``$XDG_CACHE_HOME/atlas/fashion-mnist/`` (``~/.cache/atlas/...``)
3. ``/usr/share/datasets/fashion-mnist/`` (Debian's ``dataset-fashion-mnist`` package)

If none has the files and ``download=True``, they are fetched from the data set's canonical
mirror into the cache, their MD5 checked against the published one, and written
atomically. Offline, the error says where it looked and how to get the data.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atlas.data.idx import read_idx
from atlas.io import atomic_write


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    mirrors: tuple[str, ...]
    md5: dict  # file name -> MD5 of the published .gz
    classes: tuple[str, ...]
    debian_package: str | None = None


FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    md5={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot"),
    debian_package="dataset-fashion-mnist",
)

MNIST = DatasetSpec(
    name="mnist",
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
    md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    classes=tuple(str(d) for d in range(10)),
)


class DataNotFoundError(FileNotFoundError):
    """The data set is on none of the searched paths and could not be downloaded."""


def search_dirs(spec: DatasetSpec) -> list[Path]:
    """The folders searched for ``spec``'s files, in order."""
    dirs = []
    if os.environ.get("ATLAS_DATA"):
        dirs.append(Path(os.environ["ATLAS_DATA"]) / spec.name)
    dirs.append(cache_dir() / spec.name)
    dirs.append(Path("/usr/share/datasets") / spec.name)
    return dirs


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "atlas"


def locate(spec: DatasetSpec, filename: str, download=True) -> Path:
    """Path of ``filename`` of ``spec``: found on disk, else downloaded into the cache."""
    dirs = search_dirs(spec)
    for d in dirs:
        for candidate in (d / filename, d / filename.removesuffix(".gz")):
            if candidate.is_file():
                return candidate
    errors = []
    if download:
        target = cache_dir() / spec.name / filename
        for mirror in spec.mirrors:
            try:
                return fetch(mirror + filename, target, spec.md5[filename])
            except (urllib.error.URLError, OSError, ValueError) as error:
                errors.append(f"{mirror}{filename}: {error}")
    how = [f"set ATLAS_DATA to a folder holding {spec.name}/{filename}"]
    if spec.debian_package:
        how.insert(0, f"apt-get install {spec.debian_package}")
    raise DataNotFoundError(
        f"{spec.name}: {filename} not found. Looked in:\n"
        + "".join(f"  {d}\n" for d in dirs)
        + ("Download failed:\n" + "".join(f"  {e}\n" for e in errors) if errors else
           "Download not attempted (download=False).\n")
        + "To get it: " + "; or ".join(how) + ".")


def fetch(url: str, target: Path, md5: str, timeout=30) -> Path:
    """Download ``url`` to ``target`` if its MD5 is ``md5``; nothing is written otherwise."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data = response.read()
    digest = hashlib.md5(data).hexdigest()
    if digest != md5:
        raise ValueError(f"checksum mismatch: MD5 {digest}, expected {md5}")
    return atomic_write(target, lambda f: f.write(data))


def load_idx_dataset(spec: DatasetSpec, split="train", download=True, normalize=True):
    """``(images, labels)`` of a split: images ``(N, 28, 28)`` float32 in [0, 1] (or uint8
    with ``normalize=False``), labels ``(N,)`` int64."""
    if split not in FILES:
        raise ValueError(f"split must be one of {sorted(FILES)}, got {split!r}")
    image_file, label_file = FILES[split]
    images = read_idx(locate(spec, image_file, download))
    labels = read_idx(locate(spec, label_file, download)).astype(np.int64)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"{spec.name} {split}: images {images.shape} and labels "
                         f"{labels.shape} do not form a data set of 2-D images")
    if normalize:
        images = images.astype(np.float32) / np.float32(255)
    return images, labels


def load_fashion_mnist(split="train", download=True, normalize=True):
    """Fashion-MNIST (Zalando): 60,000 training and 10,000 test images of 10 clothing classes
    (names in ``FASHION_MNIST.classes``)."""
    return load_idx_dataset(FASHION_MNIST, split, download, normalize)


def load_mnist(split="train", download=True, normalize=True):
    """MNIST handwritten digits, same format and sizes as Fashion-MNIST."""
    return load_idx_dataset(MNIST, split, download, normalize)
