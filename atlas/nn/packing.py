"""A network's parameters packed in one array, and their gradients in another.

An optimizer's update is the same arithmetic for every value of every parameter (Adam's
moments, SGD's velocity: element by element), so it does not need to know where one
parameter ends and the next begins. `PackedParameters` lays every parameter of a network
end to end in one array, and every gradient in another, and makes each layer's
``params[name]`` and ``grads[name]`` a view of its stretch: the layers compute as before,
into the same memory, and the optimizer updates the whole network with one kernel launch
per step instead of one per parameter (LeNet-5 has ten; on a GPU each launch is about
ten microseconds of host time).

>>> import numpy as np
>>> from atlas.nn import Dense
>>> layer = Dense(3).build((2,))
>>> packed = PackedParameters([layer], layer.backend, layer.dtype)
>>> packed.values.shape, np.shares_memory(packed.values, layer.params["W"])
((32,), True)
"""

from __future__ import annotations

from atlas.views import part, reshaped

#: Each parameter starts at a multiple of this many values (64 bytes in float32): the
#: CPU's matrix products read aligned rows. The gaps hold zeros, and their gradients stay
#: zero, so every optimizer leaves them at zero.
ALIGN = 16


class PackedParameters:
    """Every parameter of ``layers`` in ``values``, every gradient in ``grads`` (1-D arrays
    on ``backend``); the layers' ``params`` and ``grads`` entries become views of them,
    with their values copied in.

    Attributes
    ----------
    values, grads : array
        The packed parameters and gradients, ``size`` values each.
    key : str
        The optimizer's name for the packed whole (its state is kept under it).
    """

    def __init__(self, layers, backend, dtype):
        entries = [(layer, name) for layer in layers for name in layer.params]
        starts, size = [], 0
        for layer, name in entries:
            starts.append(size)
            size += -(-layer.params[name].size // ALIGN) * ALIGN
        self.size = size
        self.values = backend.zeros(size, dtype)
        self.grads = backend.zeros(size, dtype)
        self.key = f"{size} values packed at {id(self):#x}"
        self._views = []
        for (layer, name), start in zip(entries, starts):
            param, grad = layer.params[name], layer.grads[name]
            shape, stop = tuple(param.shape), start + param.size
            values = reshaped(part(self.values, (start, stop)), *shape)
            grads = reshaped(part(self.grads, (start, stop)), *shape)
            backend.copy_into(values, param)
            backend.copy_into(grads, grad)
            layer.params[name], layer.grads[name] = values, grads
            self._views.append((layer, name, values, grads))

    def intact(self):
        """Whether every layer still computes in the packed arrays (a layer built again,
        or packed by another network that shares it, has arrays of its own)."""
        return all(layer.params.get(name) is values and layer.grads.get(name) is grads
                   for layer, name, values, grads in self._views)
