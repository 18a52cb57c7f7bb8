r"""Layers that regularise or normalise: inverted dropout and batch normalisation."""

from __future__ import annotations

import numpy as np

from atlas.backend import channel_view, flat
from atlas.checks import fraction, positive
from atlas.nn.layer import Layer
from atlas.nn.windows import image_shape


class Dropout(Layer):
    r"""Inverted dropout: in training, zero each unit with probability ``rate`` and scale the
    rest by $1 / (1 - \text{rate})$; at inference, the identity.

    The random draws come from the generator the model gives at build time (seeded), so a
    training run is reproducible.
    """

    def __init__(self, rate: float = 0.5, name=None):
        super().__init__(name)
        self.rate = fraction(rate, "rate", "Dropout")

    def build(self, input_shape, backend="cpu", rng=None, dtype="float32"):
        self._rng = rng if rng is not None else np.random.default_rng(0)
        return super().build(input_shape, backend, rng, dtype)

    def forward(self, x, training=True):
        self.check_input(x)
        self._training = training and self.rate > 0
        if not self._training:
            return x
        # The uniforms are drawn where the model runs, from one key a step.
        u = self.backend.scratch(x.size, self.dtype)
        self.backend.kernels.random_uniform(int(self._rng.integers(2**32)), u)
        y = self.backend.scratch(x.shape, self.dtype)
        self._mask = self.backend.scratch(x.size, self.dtype)
        self.backend.kernels.dropout_forward(flat(x), u, self.rate, flat(y), self._mask)
        return y

    chains_activation = True

    def backward(self, dy, activation=None):
        """``mask * dy``; with ``activation`` (the element-wise `Activation` before this
        layer, $x = f(z)$), ``mask * dy * f'(z)``, from the same kernel."""
        if not self._training:
            return dy if activation is None else activation.backward(dy)
        dx = self.backend.scratch(dy.shape, self.dtype)
        k = self.backend.kernels
        if activation is None:
            k.dropout_backward(flat(dy), self._mask, flat(dx))
        else:
            code, alpha, z, x = activation.chain_rule()
            k.dropout_backward_chained(flat(dy), self._mask, code, alpha, flat(z), flat(x),
                                       flat(dx))
        return dx

    def get_config(self):
        return {"rate": self.rate, "name": self.name}


class BatchNorm(Layer):
    r"""Batch normalisation over the feature axis (dense inputs ``(N, F)``) or the channel
    axis (images ``(N, C, H, W)``).

    $$
    y = \gamma\,\frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta
    $$

    In training, $\mu, \sigma^2$ are the batch's statistics, and the running averages
    (``buffers``) move towards them by ``momentum``; at inference the running averages are
    used. Parameters ``gamma`` (ones) and ``beta`` (zeros) have one entry per channel.
    """

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5, name=None):
        super().__init__(name)
        self.momentum = fraction(momentum, "momentum", self.kind, high_open=False)
        self.eps = positive(eps, "eps", self.kind)

    def init_params(self, input_shape, rng):
        c = input_shape[0]
        return {"gamma": np.ones(c), "beta": np.zeros(c)}

    def init_buffers(self, input_shape):
        c = input_shape[0]
        return {"running_mean": np.zeros(c), "running_var": np.ones(c)}

    def forward(self, x, training=True):
        self.check_input(x)
        k = self.backend.kernels
        y = self.backend.scratch(x.shape, self.dtype)
        p, b = self.params, self.buffers
        if not training:
            k.batchnorm_eval_forward(channel_view(x), p["gamma"], p["beta"], b["running_mean"],
                                     b["running_var"], self.eps, channel_view(y))
            return y
        if x.size // x.shape[1] < 2:
            raise ValueError(f"BatchNorm in training needs more than one value per channel, "
                             f"got input of shape {tuple(x.shape)}")
        self._xhat = self.backend.scratch(x.shape, self.dtype)
        self._inv_std = self.backend.scratch((x.shape[1],), self.dtype)
        k.batchnorm_train_forward(channel_view(x), p["gamma"], p["beta"], self.eps,
                                  self.momentum, b["running_mean"], b["running_var"],
                                  channel_view(y), channel_view(self._xhat), self._inv_std)
        return y

    def backward(self, dy):
        dx = self.backend.scratch(dy.shape, self.dtype)
        self.backend.kernels.batchnorm_backward(
            channel_view(dy), channel_view(self._xhat), self.params["gamma"], self._inv_std,
            channel_view(dx), self.grads["gamma"], self.grads["beta"])
        return dx

    def get_config(self):
        return {"momentum": self.momentum, "eps": self.eps, "name": self.name}


class BatchNorm2D(BatchNorm):
    r"""`BatchNorm` for images only: statistics per channel over the batch and all pixels,
    ``(N, C, H, W)`` inputs (a clear error for anything else)."""

    def compute_output_shape(self, input_shape):
        return image_shape(self.kind, input_shape)
