r"""Fully connected layer: $y = x W + b$, with ``W`` of shape ``(in, out)``."""

from __future__ import annotations

from atlas.checks import integer
from atlas.initializers import get_initializer
from atlas.nn.layer import Layer
from atlas.views import reshaped


class Dense(Layer):
    r"""Affine map of a batch of vectors: $y = x W + b$.

    Parameters
    ----------
    units : int
        Output features.
    use_bias : bool
        Without it, $y = x W$ (``b`` stays a zero buffer).
    weight_init : str, dict or Initializer
        See `initializers` (default: Glorot uniform, as in Keras).
    bias_init : str, dict or Initializer
        See `initializers` (default: zeros).

    Notes
    -----
    Shapes: ``x (N, in) -> y (N, units)``; ``W (in, units)``, ``b (units,)``. On sequences
    ``(N, T, in)`` it applies the same map at every step (time-distributed), ``(N, T, units)``:
    the ``N T`` rows go through the kernels as one matrix.
    """

    def __init__(self, units: int, *, use_bias=True, weight_init="glorot_uniform",
                 bias_init="zeros", name=None):
        super().__init__(name)
        self.units = integer(units, "units", "Dense")
        self.use_bias = bool(use_bias)
        self.weight_init = get_initializer(weight_init)
        self.bias_init = get_initializer(bias_init)

    def compute_output_shape(self, input_shape):
        if len(input_shape) not in (1, 2):
            raise ValueError(f"Dense expects vectors (N, features) or sequences (N, T, "
                             f"features), got per-sample shape {input_shape}; put a Flatten "
                             f"layer before it")
        return (*input_shape[:-1], self.units)

    def init_params(self, input_shape, rng):
        shape = (input_shape[-1], self.units)
        params = {"W": self.weight_init(shape, rng, self.dtype)}
        if self.use_bias:
            params["b"] = self.bias_init((self.units,), rng, self.dtype)
        return params

    def _bias(self):
        if self.use_bias:
            return self.params["b"]
        if getattr(self, "_zero_bias", None) is None:
            self._zero_bias = self.backend.zeros((self.units,), self.dtype)
        return self._zero_bias

    fuses_activation = True

    def forward(self, x, training=True, activation=None):
        """``y = x W + b``; with an element-wise ``activation`` (the `Activation` layer
        after this one), its output ``f(y)``, from the same kernel."""
        self.check_input(x)
        self._x_shape = tuple(x.shape)
        self._x = _matrix(x)
        k = self.backend.kernels
        return self._output((*x.shape[:-1], self.units), activation, k.dense_forward,
                            k.dense_forward_activated, self._x, self.params["W"],
                            self._bias(), operand=_matrix)

    chains_activation = True

    def backward(self, dy, activation=None):
        """Fill ``grads``; return ``dy W^T``, or with ``activation`` (the element-wise
        `Activation` before this layer, $x = f(z)$) ``(dy W^T) * f'(z)``, the gradient
        with respect to that activation's input, from the same kernel."""
        k = self.backend.kernels
        db = self.grads["b"] if self.use_bias else self.backend.scratch((self.units,), self.dtype)
        dy = _matrix(dy)
        k.dense_backward_params(self._x, dy, self.grads["W"], db)
        if not self.needs_input_grad:
            return None
        dx = self.backend.scratch((dy.shape[0], self.input_shape[-1]), self.dtype)
        if activation is None:
            k.dense_backward_input(dy, self.params["W"], dx)
        else:
            code, alpha, z, _ = activation.chain_rule()
            k.dense_backward_input_chained(dy, self.params["W"], code, alpha, _matrix(z),
                                           self._x, dx)
        return reshaped(dx, *self._x_shape)

    def get_config(self):
        return {"units": self.units, "use_bias": self.use_bias,
                "weight_init": self.weight_init.get_config(),
                "bias_init": self.bias_init.get_config(), "name": self.name}


def _matrix(a):
    """``(N, in)`` as is; ``(N, T, in)`` as the ``(N T, in)`` matrix (a view)."""
    return a if len(a.shape) == 2 else reshaped(a, a.shape[0] * a.shape[1], a.shape[2])
