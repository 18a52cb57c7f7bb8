"""Deep Learning Atlas: a small deep-learning engine with hand-written backprop in Numba.

The public API, listed explicitly:

- layers and models: :class:`Sequential`, :class:`Dense`, :class:`Activation`,
  :class:`PReLU`, :class:`Dropout`, :class:`BatchNorm`, :class:`Flatten`, :func:`load`
- :mod:`atlas.losses`, :mod:`atlas.optimizers`, :mod:`atlas.initializers`
- :mod:`atlas.data` (IDX, Fashion-MNIST, MNIST, toy sets), :mod:`atlas.models`
- :mod:`atlas.gradcheck`, :func:`get_backend`
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
