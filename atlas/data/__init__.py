"""Data: the IDX reader, Fashion-MNIST and MNIST loaders, seeded toy sets and text corpora."""

from atlas.data.datasets import (
    FASHION_MNIST,
    MNIST,
    DataNotFoundError,
    load_fashion_mnist,
    load_mnist,
)
from atlas.data.idx import IDXError, read_idx, write_idx
from atlas.data.text import CharVocabulary, python_stdlib_files, python_stdlib_source, read_text
from atlas.data.toy import circles, moons, ring, ring_centres, spirals, xor

__all__ = ["FASHION_MNIST", "MNIST", "CharVocabulary", "DataNotFoundError", "IDXError",
           "circles", "load_fashion_mnist", "load_mnist", "moons", "python_stdlib_files",
           "python_stdlib_source", "read_idx", "read_text", "ring", "ring_centres", "spirals",
           "write_idx", "xor"]
