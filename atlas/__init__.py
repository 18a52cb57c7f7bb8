"""Deep Learning Atlas: a small deep-learning engine with hand-written backprop in Numba.

The public API, listed explicitly:

- layers and models: `Sequential`, `Dense`, `Activation`,
  `PReLU`, `Dropout`, `BatchNorm`, `Flatten`, `load`
- `losses`, `optimizers`, `initializers`
- `data` (IDX, Fashion-MNIST, MNIST, toy sets), `models`
- `gradcheck`, `get_backend`
"""

from atlas import data, gradcheck, initializers, losses, models, optimizers
from atlas.backend import BackendError, get_backend
from atlas.nn import Activation, BatchNorm, Dense, Dropout, Flatten, Layer, PReLU, Sequential, load

__version__ = "0.1.0"

__all__ = [
    "Activation", "BackendError", "BatchNorm", "Dense", "Dropout", "Flatten", "Layer", "PReLU",
    "Sequential", "data", "get_backend", "gradcheck", "initializers", "load", "losses",
    "models", "optimizers",
]
