"""Data: the IDX reader, Fashion-MNIST and MNIST loaders, and seeded toy sets."""

from atlas.data.datasets import (
    FASHION_MNIST,
    MNIST,
    DataNotFoundError,
    load_fashion_mnist,
    load_mnist,
)
from atlas.data.idx import IDXError, read_idx, write_idx
from atlas.data.toy import circles, moons, spirals, xor

__all__ = ["FASHION_MNIST", "MNIST", "DataNotFoundError", "IDXError", "circles",
           "load_fashion_mnist", "load_mnist", "moons", "read_idx", "spirals", "write_idx", "xor"]
