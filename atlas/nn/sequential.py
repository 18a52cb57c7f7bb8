"""A stack of layers trained end to end: `Sequential`."""

from __future__ import annotations

from atlas.nn.layer import LAYERS, Layer
from atlas.nn.network import Network, name_layers
from atlas.nn.serialization import read_model_file


class Sequential(Network):
    """Layers applied one after the other: the chain-shaped special case of a graph, with
    the training loop, evaluation and saving of `Network`.

    Parameters
    ----------
    layers : list of Layer
    input_shape : tuple of int, optional
        Per-sample input shape (no batch axis). Given here, the model is built at once;
        otherwise call `build`.
    device, dtype, seed, name, metadata
        As for `Network`.

    Examples
    --------
    >>> from atlas.nn import Sequential, Dense, Activation
    >>> model = Sequential([Dense(4), Activation("relu"), Dense(2)], input_shape=(3,))
    >>> model.count_params()
    26
    """

    def __init__(self, layers, input_shape=None, *, device="cpu", dtype="float32", seed=0,
                 name="sequential", metadata=None):
        super().__init__(device=device, dtype=dtype, seed=seed, name=name, metadata=metadata)
        self.layers = list(layers)
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"{name}: every layer must be an atlas Layer, got {layer!r}")
        self.input_shape = None
        self.inputs_spec = []
        self.input_grad = False
        name_layers(self.layers)
        self._steps = fused_steps(self.layers)
        self._backward_steps = chained_steps(self.layers)
        if input_shape is not None:
            self.build(input_shape)

    # Building ------------------------------------------------------------------------------
    def build(self, input_shape):
        """Build every layer for per-sample inputs of ``input_shape``."""
        shape = tuple(int(d) for d in input_shape)
        self.input_shape = shape
        self._packed = None  # new parameters: the next step packs them afresh
        for layer in self.layers:
            layer.build(shape, self.backend, self.rng, self.dtype)
            shape = layer.output_shape
        self._mark_input_grads()
        first = self.layers[0] if self.layers else None
        tokens = first if getattr(first, "takes_indices", False) else None
        self.inputs_spec = [(self.input_shape, tokens)]
        return self

    def require_input_grad(self, flag=True):
        """Make `backward` return the gradient with respect to the input (by default it
        stops at the first layer, whose input needs none)."""
        self.input_grad = bool(flag)
        self._mark_input_grads()
        return self

    def _mark_input_grads(self):
        """A layer computes its input gradient when something upstream learns (or the
        caller asked for the model's input gradient)."""
        upstream_learns = self.input_grad
        for layer in self.layers:
            layer.needs_input_grad = upstream_learns
            upstream_learns = upstream_learns or bool(layer.params)

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.layers else self.input_shape

    @property
    def output_shapes(self):
        return [self.output_shape]

    # Computing -----------------------------------------------------------------------------
    def forward(self, x, training=False):
        """Output of the model for a batch ``x`` already on the device: the layers in
        turn, a layer and the element-wise activation after it in one step where the
        layer can apply it (`fused_steps`)."""
        for layer, activation in self._steps:
            x = layer.forward(x, training) if activation is None else \
                layer.forward(x, training, activation)
        return x

    def backward(self, dy):
        """Backpropagate ``dy`` (gradient w.r.t. the output); fills every layer's ``grads``.

        Stops at the first layer whose input needs no gradient (returns None there). An
        element-wise activation right before a layer that can write the gradient through
        it runs in that layer's step (`chained_steps`).
        """
        for layer, activation in self._backward_steps:
            dy = layer.backward(dy) if activation is None else layer.backward(dy, activation)
            if not layer.needs_input_grad or not (activation or layer).needs_input_grad:
                return None
        return dy

    __call__ = forward

    # Describing ------------------------------------------------------------------------------
    def summary_rows(self):
        header = ("Layer (type)", "Output Shape", "Param #")
        return header, [(f"{layer.name} ({layer.kind})", str((None, *layer.output_shape)),
                         f"{layer.count_params() + layer.count_params(False):,}")
                        for layer in self.layers]

    def get_config(self):
        self._require_built()
        return {"name": self.name, "input_shape": list(self.input_shape),
                "dtype": str(self.dtype), "seed": self.seed, "metadata": self.metadata,
                "layers": [layer_config(layer) for layer in self.layers]}

    @classmethod
    def from_config(cls, config, device="cpu"):
        layers = [layer_from_config(spec) for spec in config["layers"]]
        model = cls(layers, config["input_shape"], device=device, dtype=config["dtype"],
                    seed=config.get("seed", 0), name=config.get("name", "sequential"),
                    metadata=config.get("metadata"))
        for layer, spec in zip(model.layers, config["layers"]):
            if spec.get("frozen"):
                layer.freeze(*spec["frozen"])
        return model


def fused_steps(layers):
    """``(layer, activation)`` for each step of a forward pass through ``layers``: where a
    layer that can apply an activation in its own kernel (`Layer.fuses_activation`: the
    dense and convolution layers) is followed by an element-wise `Activation`, that
    activation, which is then no step of its own; else None. Backward goes through every
    layer as before (the fused activation kept what its backward needs). On a GPU a step
    is a launch fewer and a pass fewer over the layer's output; on the CPU the kernels
    run one after the other, with the results of the layers run one by one, bit for bit."""
    steps, i = [], 0
    while i < len(layers):
        layer, following = layers[i], layers[i + 1] if i + 1 < len(layers) else None
        fused = following is not None and following.runs_fused_after(layer)
        steps.append((layer, following if fused else None))
        i += 2 if fused else 1
    return steps


def chained_steps(layers):
    """``(layer, activation)`` for each step of a backward pass through ``layers``, the
    last layer first: where an element-wise `Activation` comes right before a layer that
    can write its input gradient through it (`Layer.chains_activation`: the dense,
    convolution, pooling and dropout layers), that activation, whose backward is then no
    step of its own (the layer returns the gradient with respect to the activation's
    input); else None. On a GPU a step is a launch fewer and a pass fewer over the
    gradient; on the CPU the kernels run one after the other, with the results of the
    layers run one by one, bit for bit."""
    steps, i = [], len(layers) - 1
    while i >= 0:
        layer, before = layers[i], layers[i - 1] if i > 0 else None
        chained = before is not None and before.runs_fused_before(layer)
        steps.append((layer, before if chained else None))
        i -= 2 if chained else 1
    return steps


def layer_config(layer):
    """A layer's entry in a saved model's config."""
    return {"class": type(layer).__name__, "config": layer.get_config(),
            "frozen": sorted(layer.frozen)}


def layer_from_config(spec):
    """The layer a config entry describes (unbuilt), or a ValueError for an unknown class."""
    if spec["class"] not in LAYERS:
        raise ValueError(f"unknown layer class {spec['class']!r} in model config")
    return LAYERS[spec["class"]](**spec["config"])


def load(path, device="cpu"):
    """Rebuild a saved model (architecture and weights) from ``path``: a `Sequential` or a
    graph `Model`, whichever was saved."""
    from atlas.nn.graph import Model

    config, _ = read_model_file(path)
    cls = Model if "nodes" in config else Sequential
    return cls.from_config(config, device=device).load_weights(path)
