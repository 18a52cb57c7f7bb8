r"""Embedding: integer tokens to learned vectors, ``(N, T) -> (N, T, D)``."""

from __future__ import annotations

import numpy as np

from atlas.checks import integer
from atlas.initializers import Normal, get_initializer
from atlas.nn.layer import Layer


class Embedding(Layer):
    r"""Look up row $v$ of a learned table ``(V, D)`` for every token $v$.

    The same as multiplying the one-hot vector of each token by the table, without
    forming it; the backward pass adds each position's gradient into its token's row.

    Parameters
    ----------
    vocabulary : int
        Number $V$ of distinct tokens; inputs must lie in ``[0, V)``.
    dim : int
        Size $D$ of each vector.
    weight_init : str, dict or Initializer
        Default: $\mathcal N(0, 1)$, as PyTorch.

    Notes
    -----
    Inputs are integer arrays ``(N, T)`` (any integer dtype); there is no gradient with
    respect to them, so this is the first layer of a model.
    """

    #: `Sequential` passes integer inputs to this layer unchanged (no float conversion).
    takes_indices = True

    def __init__(self, vocabulary: int, dim: int, *, weight_init=None, name=None):
        super().__init__(name)
        self.vocabulary = integer(vocabulary, "vocabulary", "Embedding")
        self.dim = integer(dim, "dim", "Embedding")
        self.weight_init = Normal(0.0, 1.0) if weight_init is None else \
            get_initializer(weight_init)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"Embedding expects token sequences (N, T), got per-sample shape "
                             f"{input_shape}")
        return (input_shape[0], self.dim)

    def init_params(self, input_shape, rng):
        return {"table": self.weight_init((self.vocabulary, self.dim), rng, self.dtype)}

    def check_input(self, x):
        shape = tuple(x.shape)
        if len(shape) != 2 or shape[1:] != self.input_shape:
            raise ValueError(f"Embedding expected tokens of shape (N, {self.input_shape[0]}), "
                             f"got {shape}")
        if np.dtype(x.dtype).kind not in "iu":
            raise ValueError(f"Embedding expects integer tokens, got dtype {x.dtype}")
        if isinstance(x, np.ndarray) and x.size:
            low, high = int(x.min()), int(x.max())
            if low < 0 or high >= self.vocabulary:
                raise ValueError(f"tokens must lie in [0, {self.vocabulary}) (the vocabulary), "
                                 f"got values in [{low}, {high}]")

    def forward(self, x, training=True):
        self.check_input(x)
        tokens = self.backend.asarray(x, np.int64)
        self._tokens = tokens.reshape(tokens.size)
        y = self.backend.scratch((x.shape[0], x.shape[1], self.dim), self.dtype)
        self.backend.kernels.embedding_forward(self._tokens, self.params["table"],
                                               y.reshape(x.shape[0] * x.shape[1], self.dim))
        return y

    def backward(self, dy):
        rows = self._tokens.shape[0]
        self.backend.kernels.embedding_backward(self._tokens, dy.reshape(rows, self.dim),
                                                self.grads["table"])
        return None

    def get_config(self):
        return {"vocabulary": self.vocabulary, "dim": self.dim,
                "weight_init": self.weight_init.get_config(), "name": self.name}
