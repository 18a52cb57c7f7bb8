"""Networks beyond a stack: layers wired into any acyclic graph, the functional API.

::

    image = atlas.Input((1, 28, 28))
    h = atlas.Conv2D(8, 3, padding="same")(image)
    y = atlas.Add()([h, atlas.Conv2D(8, 1)(image)])     # a shortcut: two paths, one sum
    model = atlas.Model(image, atlas.Dense(10)(atlas.Flatten()(y)))

`Input` makes a symbolic `Tensor` (a per-sample shape, no values); calling a layer on
tensors adds a `Node` (one use of that layer) and returns its output tensor, with the
output shape checked then and there. `Model` collects the nodes that lead from its inputs
to its outputs, in topological order, and builds every layer once.

Forward runs the nodes in that order. Backward runs them in reverse: where a tensor feeds
several nodes (fan-out), the gradients that come back are summed,

$$
\\frac{\\partial L}{\\partial t} = \\sum_{\\text{uses } u \\text{ of } t}
\\frac{\\partial L}{\\partial t}\\Big|_u ,
$$

and a layer used at several nodes (shared weights) sums its parameter gradients over its
uses in the same way. A shared layer's per-call caches are kept per node (copied after
each forward and put back before that node's backward), so every use backpropagates
through its own activations.
"""

from __future__ import annotations

import numpy as np

from atlas.backend import flat
from atlas.checks import integer
from atlas.nn.network import Network, name_layers
from atlas.nn.sequential import layer_config, layer_from_config


class Tensor:
    """A symbolic tensor: the per-sample ``shape`` of a value in a graph, and the ``node``
    that computes it (None for an `Input`)."""

    def __init__(self, shape, node=None, name=None):
        self.shape = tuple(shape)
        self.node = node
        self.name = name

    def __repr__(self):
        source = self.name if self.node is None else self.node.layer.name or self.node.layer.kind
        return f"Tensor(shape={(None, *self.shape)}, from={source!r})"


def Input(shape, name=None):  # noqa: N802 - a constructor, named as in Keras
    """A model input: a symbolic tensor of per-sample ``shape`` (no batch axis)."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if isinstance(shape, str) or not hasattr(shape, "__iter__"):
        raise TypeError(f"Input: shape must be a tuple of positive integers, got {shape!r}")
    shape = tuple(integer(d, "shape", "Input") for d in shape)
    if not shape:
        raise ValueError("Input: shape must have at least one axis")
    return Tensor(shape, None, name)


class Node:
    """One use of ``layer`` on ``inputs`` (a list of tensors); ``output`` its tensor."""

    def __init__(self, layer, inputs):
        self.layer = layer
        self.inputs = list(inputs)
        shapes = [t.shape for t in self.inputs]
        shape = layer.compute_output_shape(shapes if layer.takes_list else shapes[0])
        self.output = Tensor(shape, self)


def connect(layer, x):
    """Call ``layer`` on the symbolic tensor(s) ``x``: check what it accepts, record the
    node, return its output tensor."""
    tensors = list(x) if isinstance(x, (list, tuple)) else [x]
    if layer.takes_list and not isinstance(x, (list, tuple)):
        raise TypeError(f"{layer.kind} merges a list of tensors, got one tensor")
    if not layer.takes_list and len(tensors) != 1:
        raise TypeError(f"{layer.kind} takes one tensor, got a list of {len(tensors)}")
    first_use = getattr(layer, "_graph_input_shapes", None)
    shapes = [t.shape for t in tensors]
    if first_use is not None and first_use != shapes:
        raise ValueError(f"{layer.name or layer.kind} is shared: it was first called on "
                         f"{_shapes(first_use)} and now on {_shapes(shapes)}; every use of a "
                         f"shared layer needs the same input shape")
    node = Node(layer, tensors)
    layer._graph_input_shapes = shapes
    return node.output


def _shapes(shapes):
    return ", ".join(str((None, *s)) for s in shapes)


class Model(Network):
    """Layers wired into an acyclic graph, with one or several inputs and outputs.

    Parameters
    ----------
    inputs : Tensor or list of Tensor
        `Input` tensors; the model takes one array per input, in this order.
    outputs : Tensor or list of Tensor
        Tensors computed from the inputs; the model gives one array per output.
    device, dtype, seed, name, metadata
        As for `Network`.

    Raises
    ------
    ValueError
        When the wiring is wrong: an output that depends on an `Input` not among
        ``inputs``, an input that reaches no output, or a cycle (possible only in a
        hand-edited config). Shape mismatches are refused earlier, when a layer is called
        on tensors it cannot take.

    Examples
    --------
    >>> import atlas
    >>> x = atlas.Input((4,))
    >>> h = atlas.Dense(8)(x)
    >>> model = atlas.Model(x, atlas.Dense(2)(atlas.Add()([h, atlas.Dense(8)(x)])))
    >>> model.count_params()
    98
    """

    def __init__(self, inputs, outputs, *, device="cpu", dtype="float32", seed=0, name="model",
                 metadata=None):
        super().__init__(device=device, dtype=dtype, seed=seed, name=name, metadata=metadata)
        self.inputs = _tensors(inputs, "inputs")
        self.outputs = _tensors(outputs, "outputs")
        for k, t in enumerate(self.inputs):
            if t.node is not None:
                raise ValueError(f"inputs[{k}] is computed by {t.node.layer.name or t.node.layer.kind}"
                                 f"; a model's inputs must be atlas.Input tensors")
            if t.name is None:
                t.name = "input" if k == 0 else f"input_{k}"
        if len({id(t) for t in self.inputs}) != len(self.inputs):
            raise ValueError("the same Input is listed twice in inputs")
        self.nodes = topological_order(self.outputs)
        self._check_reachability()
        self.layers = list(dict.fromkeys(node.layer for node in self.nodes))
        name_layers(self.layers)
        self._uses = {id(layer): sum(n.layer is layer for n in self.nodes)
                      for layer in self.layers}
        self._fused = self._fused_activations()
        self._applied = {id(after) for after in self._fused.values()}
        self._chained = self._chained_activations()
        self.input_grad = False
        self._build()

    # Building --------------------------------------------------------------------------------------
    def _check_reachability(self):
        """Every output must come from the model's inputs, and every input reach an output."""
        listed = {id(t) for t in self.inputs}
        reached = {id(t): t for node in self.nodes for t in node.inputs if t.node is None}
        reached.update({id(t): t for t in self.outputs if t.node is None})
        stray = [t for key, t in reached.items() if key not in listed]
        if stray:
            raise ValueError(f"an output depends on an Input of shape {(None, *stray[0].shape)}"
                             f" that is not among the model's inputs (add it to inputs=)")
        unused = [t for t in self.inputs if id(t) not in reached]
        if unused:
            raise ValueError(f"input {unused[0].name!r} of shape {(None, *unused[0].shape)} "
                             f"reaches no output")

    def _build(self):
        """Build every layer at its first node; work out which tensors need gradients (all
        of them with `input_grad`, else those downstream of a parameter)."""
        learns = {id(t): self.input_grad for t in self.inputs}
        for layer in self.layers:
            layer.needs_input_grad = False
        for node in self.nodes:
            layer = node.layer
            shapes = [t.shape for t in node.inputs]
            if not layer.built:
                layer.build(shapes if layer.takes_list else shapes[0], self.backend, self.rng,
                            self.dtype)
            upstream = any(learns[id(t)] for t in node.inputs)
            layer.needs_input_grad = layer.needs_input_grad or upstream
            learns[id(node.output)] = upstream or bool(layer.params)
        self.inputs_spec = [(t.shape, self._token_layer(t)) for t in self.inputs]

    def _sole_readers(self):
        """``{id(tensor): node}`` for each tensor that one node alone reads and that is not
        one of the model's outputs."""
        readers: dict = {}
        for node in self.nodes:
            for t in node.inputs:
                readers.setdefault(id(t), []).append(node)
        outputs = {id(t) for t in self.outputs}
        return {key: nodes[0] for key, nodes in readers.items()
                if len(nodes) == 1 and key not in outputs}

    def _unshared(self, *nodes):
        return all(self._uses[id(node.layer)] == 1 for node in nodes)

    def _fused_activations(self):
        """``{id(node): activation node}``: where a layer that can apply an activation in
        its own kernel (`Layer.fuses_activation`) feeds only an element-wise `Activation`,
        neither layer shared and the layer's output not one of the model's, the two run as
        one step (as in `Sequential`, `atlas.nn.sequential.fused_steps`)."""
        sole = self._sole_readers()
        fused = {}
        for node in self.nodes:
            after = sole.get(id(node.output))
            if after is not None and after.layer.runs_fused_after(node.layer) and \
                    self._unshared(node, after):
                fused[id(node)] = after
        return fused

    def _chained_activations(self):
        """``{id(node): activation node}``: where an element-wise `Activation` feeds only a
        layer that can write its input gradient through it (`Layer.chains_activation`),
        neither layer shared and the activation's output not one of the model's, the
        layer's backward gives the gradient with respect to the activation's input and
        the activation's backward is no step of its own (as in `Sequential`,
        `atlas.nn.sequential.chained_steps`)."""
        sole = self._sole_readers()
        chained = {}
        for node in self.nodes:
            before = node.inputs[0].node if len(node.inputs) == 1 else None
            if before is not None and sole.get(id(before.output)) is node and \
                    before.layer.runs_fused_before(node.layer) and \
                    self._unshared(before, node):
                chained[id(node)] = before
        return chained

    def _token_layer(self, tensor):
        """The layer that reads ``tensor`` as integer tokens, or None; a token input may
        feed nothing else."""
        readers = [n.layer for n in self.nodes if any(t is tensor for t in n.inputs)]
        tokens = [r for r in readers if getattr(r, "takes_indices", False)]
        if tokens and len(tokens) != len(readers):
            raise ValueError(f"input {tensor.name!r} feeds {tokens[0].kind} (integer tokens) "
                             f"and layers that need floating-point values")
        return tokens[0] if tokens else None

    @property
    def output_shapes(self):
        return [t.shape for t in self.outputs]

    def require_input_grad(self, flag=True):
        """Make `backward` return the gradients with respect to the inputs (by default it
        skips the work nothing needs: a GAN's generator needs its discriminator's)."""
        self.input_grad = bool(flag)
        self._build()  # the layers are built already: this only marks the gradients
        return self

    # Computing -----------------------------------------------------------------------------------
    def forward(self, x, training=False):
        """The outputs (one array, or a list) for inputs ``x`` (one array, or a list, one per
        input) already on the device: the nodes in topological order, a layer and the
        element-wise activation after it in one step where the layer can apply it
        (`_fused_activations`)."""
        xs = x if self.multi_input else [x]
        if len(xs) != len(self.inputs):
            raise ValueError(f"{self.name} has {len(self.inputs)} inputs, got {len(xs)} arrays")
        values = {id(t): v for t, v in zip(self.inputs, xs)}
        self._caches = {}
        for node in self.nodes:
            if id(node) in self._applied:  # by the layer before it, in that layer's step
                continue
            args = [values[id(t)] for t in node.inputs]
            layer = node.layer
            after = self._fused.get(id(node))
            if after is None:
                values[id(node.output)] = layer.forward(args if layer.takes_list else args[0],
                                                        training)
            else:  # the layer's own output is read by that activation only
                values[id(after.output)] = layer.forward(args[0], training, after.layer)
            if self._uses[id(layer)] > 1:
                self._caches[id(node)] = _cache_of(layer, self.backend)
        outs = [values[id(t)] for t in self.outputs]
        return outs if self.multi_output else outs[0]

    __call__ = forward

    def backward(self, dy):
        """Backpropagate ``dy`` (one array, or a list, one per output) through the graph in
        reverse topological order; fills every layer's ``grads`` (summed over the uses of a
        shared layer) and returns the gradients with respect to the inputs (None for an
        input that needs none). A layer writes its input gradient through the element-wise
        activation before it where it can (`_chained_activations`)."""
        dys = dy if self.multi_output else [dy]
        grads: dict = {}
        for t, g in zip(self.outputs, dys):
            self._add_gradient(grads, t, g)
        sums: dict = {}
        for node in reversed(self.nodes):
            g = grads.pop(id(node.output), None)
            if g is None:
                continue
            layer = node.layer
            shared = self._uses[id(layer)] > 1
            if shared:
                layer.__dict__.update(self._caches[id(node)])
                if id(layer) in sums:  # keep the sum so far: backward overwrites grads
                    layer.grads = {k: self.backend.scratch(v.shape, v.dtype)
                                   for k, v in layer.grads.items()}
            before = self._chained.get(id(node))  # an activation the layer writes through
            dx = layer.backward(g) if before is None else layer.backward(g, before.layer)
            if shared:
                self._sum_parameter_gradients(layer, sums)
            if dx is None or not layer.needs_input_grad:
                continue
            inputs = node.inputs if before is None else before.inputs
            for t, d in zip(inputs, dx if layer.takes_list else [dx]):
                if d is not None:
                    self._add_gradient(grads, t, d)
        for layer, total in sums.values():
            layer.grads = total
        result = [grads.get(id(t)) for t in self.inputs]
        return result if self.multi_input else result[0]

    def _add_gradient(self, grads, tensor, g):
        """Record ``g`` as (part of) the gradient of ``tensor``: a tensor used several times
        gets the sum, in a new array (no array a layer returned is written to)."""
        previous = grads.get(id(tensor))
        if previous is None:
            grads[id(tensor)] = g
            return
        total = self.backend.scratch(tuple(g.shape), self.dtype)
        self.backend.kernels.add(flat(previous), flat(g), flat(total))
        grads[id(tensor)] = total

    def _sum_parameter_gradients(self, layer, sums):
        """After one use of a shared layer: add its fresh ``grads`` to the running sum."""
        if id(layer) not in sums:
            sums[id(layer)] = (layer, layer.grads)
            return
        total = sums[id(layer)][1]
        for name, g in layer.grads.items():
            self.backend.kernels.add(flat(total[name]), flat(g), flat(total[name]))

    # Describing -----------------------------------------------------------------------------------
    def _tensor_name(self, tensor):
        return tensor.name if tensor.node is None else tensor.node.layer.name

    def summary_rows(self):
        header = ("Layer (type)", "Output Shape", "Param #", "Connected to")
        rows = [(f"{t.name} (Input)", str((None, *t.shape)), "0", "") for t in self.inputs]
        seen = set()
        for node in self.nodes:
            layer = node.layer
            count = layer.count_params() + layer.count_params(False)
            params = "(shared)" if id(layer) in seen else f"{count:,}"
            seen.add(id(layer))
            rows.append((f"{layer.name} ({layer.kind})", str((None, *node.output.shape)), params,
                         ", ".join(self._tensor_name(t) for t in node.inputs)))
        return header, rows

    def get_config(self):
        """The graph as JSON: inputs, layers (each once), nodes (a layer index and the
        tensors it reads: ``["input", k]`` or ``["node", j]``) and outputs."""
        index = {id(layer): i for i, layer in enumerate(self.layers)}
        position = {id(node): j for j, node in enumerate(self.nodes)}
        inputs = {id(t): k for k, t in enumerate(self.inputs)}

        def ref(t):
            return ["input", inputs[id(t)]] if t.node is None else ["node", position[id(t.node)]]

        return {"name": self.name, "dtype": str(self.dtype), "seed": self.seed,
                "metadata": self.metadata,
                "inputs": [{"name": t.name, "shape": list(t.shape)} for t in self.inputs],
                "layers": [layer_config(layer) for layer in self.layers],
                "nodes": [{"layer": index[id(n.layer)], "inputs": [ref(t) for t in n.inputs]}
                          for n in self.nodes],
                "outputs": [ref(t) for t in self.outputs]}

    @classmethod
    def from_config(cls, config, device="cpu"):
        """Rebuild the graph of `get_config` (unbuilt layers, new weights). A node that reads
        a node not computed before it (a cycle, in a hand-edited file) is an error."""
        inputs = [Input(spec["shape"], spec.get("name")) for spec in config["inputs"]]
        layers = [layer_from_config(spec) for spec in config["layers"]]
        outputs = []
        for j, spec in enumerate(config["nodes"]):
            args = []
            for kind, k in spec["inputs"]:
                if kind == "node" and not 0 <= k < j:
                    raise ValueError(f"model config: node {j} reads node {k}, which is not "
                                     f"computed before it (the graph has a cycle)")
                args.append(inputs[k] if kind == "input" else outputs[k])
            layer = layers[spec["layer"]]
            outputs.append(connect(layer, args if layer.takes_list else args[0]))
        model = cls(inputs, [inputs[k] if kind == "input" else outputs[k]
                             for kind, k in config["outputs"]],
                    device=device, dtype=config["dtype"], seed=config.get("seed", 0),
                    name=config.get("name", "model"), metadata=config.get("metadata"))
        for layer, spec in zip(layers, config["layers"]):
            if spec.get("frozen"):
                layer.freeze(*spec["frozen"])
        return model


def _tensors(value, what):
    tensors = list(value) if isinstance(value, (list, tuple)) else [value]
    if not tensors:
        raise ValueError(f"a model needs at least one of its {what}")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{what} must be symbolic tensors (atlas.Input, or a layer called "
                            f"on one), got {t!r}")
    return tensors


def topological_order(outputs):
    """Every node the ``outputs`` depend on, each after the nodes it reads (depth-first,
    post-order); a ValueError if the nodes form a cycle."""
    order, done, active = [], set(), set()

    def visit(node):
        if id(node) in done:
            return
        if id(node) in active:
            raise ValueError(f"the graph has a cycle through {node.layer.name or node.layer.kind}")
        active.add(id(node))
        for t in node.inputs:
            if t.node is not None:
                visit(t.node)
        active.discard(id(node))
        done.add(id(node))
        order.append(node)

    for t in outputs:
        if t.node is not None:
            visit(t.node)
    return order


def _cache_of(layer, backend):
    """Copies of a layer's per-call state (every attribute but its parameters, gradients
    and buffers, with the arrays in it copied), to put back before that call's backward."""
    keep = {"params", "grads", "buffers", "frozen", "name", "backend"}
    return {k: _clone(v, backend) for k, v in vars(layer).items() if k not in keep}


def _clone(value, backend):
    if isinstance(value, np.ndarray):
        return value.copy()
    if hasattr(value, "copy_to_host"):  # a device array
        out = backend.scratch(value.shape, value.dtype)
        out.copy_to_device(value)
        return out
    if isinstance(value, dict):
        return {k: _clone(v, backend) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) or
                                                hasattr(v, "copy_to_host") for v in value):
        return type(value)(_clone(v, backend) for v in value)
    return value


__all__ = ["Input", "Model", "Node", "Tensor", "connect", "topological_order"]
