"""The `Layer` contract every layer follows.

A layer owns ``params`` (learned arrays), ``grads`` (same keys, written by ``backward``)
and ``buffers`` (state that is saved but not learned, such as running statistics). It is
*built* once its per-sample input shape is known, which allocates its parameters on a
backend. ``forward`` caches what ``backward`` needs; ``backward`` returns the gradient with
respect to the input and overwrites ``grads``.
"""

from __future__ import annotations

import math

import numpy as np

from atlas.backend import get_backend

#: Every Layer subclass by class name, for rebuilding a model from its saved config.
LAYERS: dict[str, type[Layer]] = {}


class Layer:
    """Base class of all layers.

    Attributes
    ----------
    params, grads, buffers : dict[str, array]
    frozen : set[str]
        Names of parameters that optimizers leave alone (see `freeze`).
    input_shape, output_shape : tuple[int, ...]
        Per-sample shapes (without the batch axis), set by `build`; a layer that
        ``takes_list`` (a merge) has a list of input shapes.
    needs_input_grad : bool
        Whether ``backward`` must return the gradient with respect to the input. A model
        clears it for its leading layers (nothing upstream learns), and ``backward`` may
        then skip that work and return None.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        LAYERS[cls.__name__] = cls

    def __init__(self, name: str | None = None):
        self.name = name
        self.params: dict = {}
        self.grads: dict = {}
        self.buffers: dict = {}
        self.frozen: set[str] = set()
        self.built = False
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None
        self.needs_input_grad = True

    # Building --------------------------------------------------------------------------
    def build(self, input_shape, backend="cpu", rng=None, dtype="float32"):
        """Allocate parameters for per-sample inputs of ``input_shape`` on ``backend``."""
        self.backend = get_backend(backend)
        self.dtype = float_dtype(dtype)
        self.input_shape = ([tuple(int(d) for d in s) for s in input_shape] if self.takes_list
                            else tuple(int(d) for d in input_shape))
        self.output_shape = tuple(self.compute_output_shape(self.input_shape))
        host = self.init_params(self.input_shape, rng or np.random.default_rng(0))
        self.params = {k: self.backend.asarray(v, self.dtype) for k, v in host.items()}
        self.grads = {k: self.backend.zeros(v.shape, self.dtype) for k, v in host.items()}
        self.buffers = {k: self.backend.asarray(v, self.dtype)
                        for k, v in self.init_buffers(self.input_shape).items()}
        self.built = True
        return self

    def compute_output_shape(self, input_shape):
        """Per-sample output shape for a per-sample input shape (identity by default)."""
        return input_shape

    def init_params(self, input_shape, rng) -> dict:
        """Initial values of the parameters, as host arrays (none by default)."""
        return {}

    def init_buffers(self, input_shape) -> dict:
        """Initial values of the buffers, as host arrays (none by default)."""
        return {}

    # Computing ---------------------------------------------------------------------------
    def forward(self, x, training=True):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dy):  # pragma: no cover - abstract
        raise NotImplementedError

    #: Whether the layer takes a list of inputs (the merge layers) instead of one array.
    takes_list = False
    #: Whether ``forward(x, training, activation)`` can apply an element-wise `Activation`
    #: that follows the layer in the layer's own kernel (the dense and convolution layers):
    #: `Sequential` runs such a pair as one step.
    fuses_activation = False

    #: Whether ``backward(dy, activation)`` can write the gradient through an element-wise
    #: `Activation` that comes right before the layer (times its derivative, in the layer's
    #: own backward kernel: the dense, convolution, pooling and dropout layers): that
    #: activation's backward is then no step of its own.
    chains_activation = False

    def runs_fused_after(self, layer) -> bool:
        """Whether this layer can run inside ``layer``'s kernel, as one step with it (only
        an element-wise `Activation` after a layer that `fuses_activation` can)."""
        return False

    def runs_fused_before(self, layer) -> bool:
        """Whether this layer's backward can run inside the backward kernel of ``layer``,
        which comes right after it (only an element-wise `Activation` before a layer that
        `chains_activation` can)."""
        return False

    def _output(self, shape, activation, forward, forward_activated, *args, operand=None):
        """The output ``y`` (of ``shape``, batch axis included) from ``forward(*args, y)``;
        with an element-wise ``activation`` (the `Activation` layer after this one), its
        output ``f(z)`` from ``forward_activated(*args, code, alpha, z, y)``: one kernel
        for both layers. ``operand`` is the view of ``y`` and ``z`` the kernels take (the
        arrays themselves by default)."""
        operand = operand or (lambda a: a)
        y = self.backend.scratch(shape, self.dtype)
        if activation is None:
            forward(*args, operand(y))
            return y
        z = self.backend.scratch(shape, self.dtype)
        forward_activated(*args, activation.code, activation.alpha, operand(z), operand(y))
        return activation.ran_fused(z, y)

    def __call__(self, x, training=True):
        """``forward(x)`` on arrays; on symbolic tensors (`atlas.Input` and what layers
        made of it) a new node of a graph, whose output tensor is returned (see
        `atlas.nn.graph`)."""
        from atlas.nn.graph import Tensor, connect

        if isinstance(x, Tensor) or (isinstance(x, (list, tuple)) and x
                                     and all(isinstance(t, Tensor) for t in x)):
            return connect(self, x)
        return self.forward(x, training)

    # Describing --------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Constructor arguments that rebuild this layer (JSON-serialisable)."""
        return {"name": self.name}

    def freeze(self, *names):
        """Keep the named parameters fixed during training (all of them if none is named)."""
        unknown = set(names) - set(self.params)
        if unknown:
            raise ValueError(f"{self.kind} has no parameter {sorted(unknown)}; "
                             f"it has {sorted(self.params)}")
        self.frozen |= set(names or self.params)
        return self

    @property
    def kind(self):
        return type(self).__name__

    def count_params(self, trainable=True):
        """Number of trainable (or, with ``trainable=False``, non-trainable) values."""
        if trainable:
            return sum(math.prod(v.shape) for k, v in self.params.items() if k not in self.frozen)
        frozen = sum(math.prod(v.shape) for k, v in self.params.items() if k in self.frozen)
        return frozen + sum(math.prod(v.shape) for v in self.buffers.values())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v is not None)
        return f"{self.kind}({args})"

    # Checking ----------------------------------------------------------------------------
    def check_input(self, x):
        """Raise a ValueError unless ``x`` is a batch of this layer's per-sample inputs."""
        expected = self.input_shape
        shape = tuple(x.shape)
        if shape[1:] != expected:
            raise ValueError(
                f"{self.kind} expected input of shape (N, {', '.join(map(str, expected))}), "
                f"got {shape}")
        if np.dtype(x.dtype) != self.dtype:
            raise ValueError(f"{self.kind} expected dtype {self.dtype}, got {np.dtype(x.dtype)}")



def float_dtype(dtype):
    """``np.dtype(dtype)`` if it is float32 or float64 (the types every kernel runs in)."""
    try:
        result = None if dtype is None else np.dtype(dtype)  # np.dtype(None) is float64
    except (TypeError, ValueError, SyntaxError):  # NumPy parses "f4, i4"-like strings: ","
        result = None  # raised a SyntaxError from its parser, "0\x1b" a ValueError
    if result not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return result
