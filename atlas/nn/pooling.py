"""Pooling layers over NCHW images: `MaxPool2D`, `AvgPool2D`, `GlobalAvgPool2D`."""

from __future__ import annotations

import numpy as np

from atlas.backend import channel_view
from atlas.nn.layer import Layer
from atlas.nn.windows import image_shape, output_length, pair


class _Pool2D(Layer):
    chains_activation = True

    def __init__(self, pool_size=2, stride=None, padding=0, name=None):
        super().__init__(name)
        self.pool_size = pair(pool_size, "pool_size")
        self.stride = pair(stride, "stride") if stride is not None else self.pool_size
        padding = pair(padding, "padding", minimum=0)
        for p, k in zip(padding, self.pool_size):
            if 2 * p > k:
                raise ValueError(f"{self.kind}: padding {padding} must be at most half the "
                                 f"pool size {self.pool_size} (a window must not lie wholly "
                                 f"in the padding)")
        self.padding = padding

    def compute_output_shape(self, input_shape):
        channels, height, width = image_shape(self.kind, input_shape)
        out = [output_length(self.kind, axis, size, k, s, 2 * p)
               for axis, size, k, s, p in zip(("height", "width"), (height, width),
                                              self.pool_size, self.stride, self.padding)]
        return (channels, *out)

    def get_config(self):
        return {"pool_size": list(self.pool_size), "stride": list(self.stride),
                "padding": list(self.padding), "name": self.name}


class MaxPool2D(_Pool2D):
    r"""Max pooling: each output is the largest value of its ``pool_size`` window
    (windows ``stride`` apart, default ``pool_size``; padding counts as $-\infty$).

    The gradient flows only to each window's maximum.
    """

    def forward(self, x, training=True):
        self.check_input(x)
        self._input_shape = x.shape
        y = self.backend.scratch((x.shape[0], *self.output_shape), self.dtype)
        self._argmax = self.backend.scratch(y.shape, np.int64)
        self.backend.kernels.maxpool2d_forward(x, self.pool_size, self.stride, self.padding,
                                               y, self._argmax)
        return y

    def backward(self, dy, activation=None):
        dx = self.backend.scratch(self._input_shape, self.dtype)
        k = self.backend.kernels
        window = (self.pool_size, self.stride, self.padding)
        if activation is None:
            k.maxpool2d_backward(dy, self._argmax, *window, dx)
        else:  # the gradient through the activation before this layer (chains_activation)
            k.maxpool2d_backward_chained(dy, self._argmax, *window, *activation.chain_rule(),
                                         dx)
        return dx


class AvgPool2D(_Pool2D):
    r"""Average pooling: each output is the mean of its window.

    Parameters
    ----------
    count_include_pad : bool
        Divide by the full window, padding included (PyTorch's default), or only by the
        real pixels in it.
    """

    def __init__(self, pool_size=2, stride=None, padding=0, count_include_pad=True,
                 name=None):
        super().__init__(pool_size, stride, padding, name)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x, training=True):
        self.check_input(x)
        self._input_shape = x.shape
        y = self.backend.scratch((x.shape[0], *self.output_shape), self.dtype)
        self.backend.kernels.avgpool2d_forward(x, self.pool_size, self.stride, self.padding,
                                               self.count_include_pad, y)
        return y

    def backward(self, dy, activation=None):
        dx = self.backend.scratch(self._input_shape, self.dtype)
        k = self.backend.kernels
        window = (self.pool_size, self.stride, self.padding, self.count_include_pad)
        if activation is None:
            k.avgpool2d_backward(dy, *window, dx)
        else:  # the gradient through the activation before this layer (chains_activation)
            k.avgpool2d_backward_chained(dy, *window, *activation.chain_rule(), dx)
        return dx

    def get_config(self):
        return {**super().get_config(), "count_include_pad": self.count_include_pad}


class GlobalAvgPool2D(Layer):
    r"""The mean of each channel over the whole image: ``(N, C, H, W) -> (N, C)``,
    $y_{n,c} = \frac{1}{HW}\sum_{h,w} x_{n,c,h,w}$."""

    def compute_output_shape(self, input_shape):
        return (image_shape(self.kind, input_shape)[0],)

    def forward(self, x, training=True):
        self.check_input(x)
        self._input_shape = x.shape
        y = self.backend.scratch((x.shape[0], x.shape[1]), self.dtype)
        self.backend.kernels.global_avgpool_forward(channel_view(x), y)
        return y

    def backward(self, dy):
        dx = self.backend.scratch(self._input_shape, self.dtype)
        self.backend.kernels.global_avgpool_backward(dy, channel_view(dx))
        return dx
