r"""Convolution layers: `Conv2D` and `ConvTranspose2D` (NCHW).

The kernels may copy receptive fields into columns (``im2col``) in a workspace the layer
owns and reuses from call to call; how large it is, the backend's kernels say
(``conv_workspace_size``: on the CPU a fixed scratch of a few samples' columns, so they are
still in cache when the matrix product reads them; on a GPU the whole batch). See
`atlas.kernels.cpu.conv` for the algorithms.
"""

from __future__ import annotations

import math

from atlas.checks import integer
from atlas.initializers import get_initializer
from atlas.nn.layer import Layer
from atlas.nn.windows import image_shape, output_length, padding_pairs, pair, resolve_padding


class _Convolution(Layer):
    """What `Conv2D` and `ConvTranspose2D` share: arguments, parameters and workspace.
    Subclasses say how the weight is laid out (``weight_shape``)."""

    def __init__(self, filters, kernel_size, *, stride=1, padding=0, dilation=1,
                 use_bias=True, weight_init="glorot_uniform", bias_init="zeros", name=None):
        super().__init__(name)
        self.filters = integer(filters, "filters", self.kind)
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.dilation = pair(dilation, "dilation")
        self.padding = padding_pairs(padding)
        self.use_bias = bool(use_bias)
        self.weight_init = get_initializer(weight_init)
        self.bias_init = get_initializer(bias_init)

    def init_params(self, input_shape, rng):
        params = {"W": self.weight_init(self.weight_shape(input_shape[0]), rng, self.dtype)}
        if self.use_bias:
            params["b"] = self.bias_init((self.filters,), rng, self.dtype)
        return params

    def _bias(self):
        if self.use_bias:
            return self.params["b"]
        if getattr(self, "_zero_bias", None) is None:
            self._zero_bias = self.backend.zeros((self.filters,), self.dtype)
        return self._zero_bias

    def _workspace(self, batch, per_sample):
        """The 1-D ``cols`` workspace, reused from call to call, of the size the backend's
        kernels ask for a batch whose columns take ``per_sample`` values per sample."""
        size = self.backend.kernels.conv_workspace_size(batch, per_sample)
        cols = getattr(self, "_cols", None)
        if cols is None or cols.size != size:
            self._cols = cols = self.backend.empty((size,), self.dtype)  # kept: reused
        return cols

    fuses_activation = chains_activation = True

    def _gradients(self, activation, backward, backward_chained, *args):
        """Fill ``grads`` and return the input gradient (None when the layer needs none)
        from ``backward(*args, dx, dW, db, input_grad)``; with ``activation`` (the
        element-wise `Activation` before this layer, $x = f(z)$), the gradient with
        respect to that activation's input, from ``backward_chained(*args, code, alpha,
        z, dx, dW, db, input_grad)``: one kernel for both layers."""
        dx, db, input_grad = self._grad_outputs()
        outputs = (dx, self.grads["W"], db, input_grad)
        if activation is None:
            backward(*args, *outputs)
        else:
            code, alpha, z, _ = activation.chain_rule()
            backward_chained(*args, code, alpha, z, *outputs)
        return dx if input_grad else None

    def _grad_outputs(self):
        """``(dx, db, input_grad)`` arrays for the backward kernels."""
        input_grad = self.needs_input_grad
        shape = self._x.shape if input_grad else (0, 0, 0, 0)
        dx = self.backend.scratch(shape, self.dtype)
        db = self.grads["b"] if self.use_bias else self.backend.scratch((self.filters,),
                                                                      self.dtype)
        return dx, db, input_grad

    def get_config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size),
                "stride": list(self.stride), "padding": _json(self.padding),
                "dilation": list(self.dilation), "use_bias": self.use_bias,
                "weight_init": self.weight_init.get_config(),
                "bias_init": self.bias_init.get_config(), "name": self.name}


class Conv2D(_Convolution):
    r"""2-D convolution (cross-correlation) of ``(N, C_in, H, W)`` images.

    $$
    y_{n,o,p,q} = b_o + \sum_{c=0}^{C_{in}-1}\sum_{i=0}^{k_h-1}\sum_{j=0}^{k_w-1}
    W_{o,c,i,j}\; x_{n,\,c,\,p s_h + i d_h - p_h,\,q s_w + j d_w - p_w}
    $$

    Parameters
    ----------
    filters : int
        Output channels $C_{out}$.
    kernel_size, stride, dilation : int or (int, int)
    padding : int, (int, int), "same" or "valid"
        Zeros added around the input. ``"same"`` keeps ``ceil(H / stride)`` rows (the odd
        zero goes at the bottom/right, as in TensorFlow).
    use_bias : bool
    weight_init, bias_init : str, dict or Initializer
        Defaults: Glorot uniform (fans ``C_in k_h k_w`` and ``C_out k_h k_w``) and zeros.

    Notes
    -----
    Shapes: ``x (N, C_in, H, W) -> y (N, C_out, OH, OW)`` with
    $OH = \lfloor (H + p_{top} + p_{bottom} - d_h (k_h - 1) - 1) / s_h \rfloor + 1$;
    ``W (C_out, C_in, kh, kw)``, ``b (C_out,)``.
    """

    def weight_shape(self, channels):
        return (self.filters, channels, *self.kernel_size)

    def compute_output_shape(self, input_shape):
        channels, height, width = image_shape(self.kind, input_shape)
        out, self._pad_before = [], []
        for axis, size, k, s, d, spec in zip(("height", "width"), (height, width),
                                             self.kernel_size, self.stride, self.dilation,
                                             self.padding):
            before, total = resolve_padding(spec, size, k, s, d)
            self._pad_before.append(before)
            out.append(output_length(self.kind, axis, size, k, s, total, d))
        self._pad_before = tuple(self._pad_before)
        return (self.filters, *out)

    def forward(self, x, training=True, activation=None):
        self.check_input(x)
        self._x = x
        n = x.shape[0]
        c_in = self.input_shape[0]
        _, oh, ow = self.output_shape
        cols = self._workspace(n, c_in * math.prod(self.kernel_size) * oh * ow)
        k = self.backend.kernels
        return self._output((n, *self.output_shape), activation, k.conv2d_forward,
                            k.conv2d_forward_activated, x, self.params["W"], self._bias(),
                            self.stride, self._pad_before, self.dilation, cols)

    def backward(self, dy, activation=None):
        k = self.backend.kernels
        return self._gradients(activation, k.conv2d_backward, k.conv2d_backward_chained, dy,
                               self._x, self.params["W"], self.stride, self._pad_before,
                               self.dilation, self._cols)


class ConvTranspose2D(_Convolution):
    r"""Transposed convolution ("deconvolution"): the adjoint of `Conv2D`, which maps each
    input pixel to a weighted copy of the kernel in the output and adds the overlaps.

    $$
    y_{n,o,\,p s_h + i d_h - p_h,\,q s_w + j d_w - p_w} \mathrel{+}= W_{c,o,i,j}\,x_{n,c,p,q},
    \qquad y \mathrel{+}= b_o
    $$

    Parameters
    ----------
    filters : int
        Output channels $C_{out}$.
    kernel_size, stride, dilation : int or (int, int)
    padding : int or (int, int)
        Removes that many rows/columns from each border of the full output (as PyTorch).
    output_padding : int or (int, int)
        Extra rows/columns at the bottom/right (less than the stride or the dilation), to
        pick one of the input sizes a strided convolution maps to the same output size.

    Notes
    -----
    Shapes: ``x (N, C_in, H, W) -> y (N, C_out, OH, OW)`` with
    $OH = (H - 1) s_h - 2 p_h + d_h (k_h - 1) + \text{output\_padding}_h + 1$;
    ``W (C_in, C_out, kh, kw)`` (as PyTorch), ``b (C_out,)``.
    """

    def __init__(self, filters, kernel_size, *, stride=1, padding=0, output_padding=0,
                 dilation=1, use_bias=True, weight_init="glorot_uniform", bias_init="zeros",
                 name=None):
        super().__init__(filters, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, use_bias=use_bias, weight_init=weight_init,
                         bias_init=bias_init, name=name)
        if not all(isinstance(p, int) and p >= 0 for p in self.padding):
            raise ValueError(f"ConvTranspose2D padding must be ints >= 0, got {padding!r}")
        op = pair(output_padding, "output_padding", minimum=0)
        for o, s, d in zip(op, self.stride, self.dilation):
            if not 0 <= o < max(s, d):
                raise ValueError(f"output_padding must be >= 0 and smaller than the stride or "
                                 f"the dilation, got {output_padding!r} with stride "
                                 f"{self.stride} and dilation {self.dilation}")
        self.output_padding = op

    def weight_shape(self, channels):
        return (channels, self.filters, *self.kernel_size)

    def compute_output_shape(self, input_shape):
        _, height, width = image_shape(self.kind, input_shape)
        out = [(size - 1) * s - 2 * p + d * (k - 1) + o + 1
               for size, k, s, p, d, o in zip((height, width), self.kernel_size, self.stride,
                                              self.padding, self.dilation, self.output_padding)]
        if min(out) < 1:
            raise ValueError(f"ConvTranspose2D: padding {self.padding} leaves no output for "
                             f"input {height}x{width} (output would be {out[0]}x{out[1]})")
        return (self.filters, *out)

    def forward(self, x, training=True, activation=None):
        self.check_input(x)
        self._x = x
        n, _, height, width = x.shape
        cols = self._workspace(n, self.filters * math.prod(self.kernel_size) * height * width)
        k = self.backend.kernels
        return self._output((n, *self.output_shape), activation, k.conv_transpose2d_forward,
                            k.conv_transpose2d_forward_activated, x, self.params["W"],
                            self._bias(), self.stride, self.padding, self.dilation, cols)

    def backward(self, dy, activation=None):
        k = self.backend.kernels
        return self._gradients(activation, k.conv_transpose2d_backward,
                               k.conv_transpose2d_backward_chained, dy, self._x,
                               self.params["W"], self.stride, self.padding, self.dilation,
                               self._cols)

    def get_config(self):
        return {**super().get_config(), "output_padding": list(self.output_padding)}


def _json(padding):
    return list(padding) if not isinstance(padding, str) else padding
