"""Deep Learning Atlas: a small deep-learning engine with hand-written backprop in Numba.

The public API, listed explicitly:

- layers and models: `Sequential`, `Dense`, `Activation`, `PReLU`, `Dropout`,
  `BatchNorm`, `Flatten`, `Reshape`, `load`; for images `Conv2D`, `ConvTranspose2D`, `MaxPool2D`,
  `AvgPool2D`, `GlobalAvgPool2D`, `BatchNorm2D`; for sequences `RNN`, `LSTM`, `GRU`,
  `Embedding`
- graphs (the functional API): `Input`, `Model`, and the merge layers `Add`,
  `Concatenate`, `Multiply`
- `losses`, `optimizers`, `initializers`
- `data` (IDX, Fashion-MNIST, MNIST, toy sets, cluttered scenes), `models`, `detect`
  (sliding windows and the fully convolutional scan), `search` (hyperparameter search with
  Optuna, the ``search`` extra)
- `gradcheck`, `get_backend`
"""

import os

# Before anything loads SciPy's BLAS (the engine's): its threads sleep soon after a product
# instead of spinning for 0.1 s against the engine's own threads (see
# `atlas.kernels.cpu.threads`). A value the user set is kept.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")

from atlas import data, detect, gradcheck, initializers, losses, models, optimizers, search
from atlas.backend import BackendError, get_backend
from atlas.nn import (
    GRU,
    LSTM,
    RNN,
    Activation,
    Add,
    AvgPool2D,
    BatchNorm,
    BatchNorm2D,
    Concatenate,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAvgPool2D,
    Input,
    Layer,
    MaxPool2D,
    Model,
    Multiply,
    PReLU,
    Reshape,
    Sequential,
    load,
)

__version__ = "0.1.0"

__all__ = [
    "Activation", "Add", "AvgPool2D", "BackendError", "BatchNorm", "BatchNorm2D", "Concatenate",
    "Conv2D", "ConvTranspose2D", "Dense", "Dropout", "Embedding", "Flatten", "GRU",
    "GlobalAvgPool2D", "Input", "LSTM", "Layer", "MaxPool2D", "Model", "Multiply", "PReLU", "RNN",
    "Reshape", "Sequential", "data", "detect", "get_backend", "gradcheck", "initializers", "load",
    "losses", "models", "optimizers", "search",
]
