"""Arrays reused from one training step to the next.

A training step asks for the same temporary arrays in the same order every time: each
layer's output, its input gradient, the loss gradient, the kernels' own scratch. An `Arena`
remembers the arrays of a step and hands them out again, in the same order, to the next
step whose inputs have the same shapes: from the second step on, a step allocates nothing.
On a GPU that removes a device allocation (tens of microseconds of host time each, and a
synchronisation when memory runs short) per array per step; on the CPU it spares the
allocator and the first touch of fresh pages.

Only arrays asked for with `take` (through ``Backend.scratch``) come from the arena, and
only while a step is running (`Arena.step`): outside a step, `take` allocates. An array
taken during a step is valid until the same point of the next step, so what must outlive
a step (parameters, optimizer state, a layer's reusable workspace) is allocated with
``Backend.empty`` or ``Backend.zeros`` instead.

>>> import numpy as np
>>> arena = Arena()
>>> with arena.step("batch of 4"):
...     first = take((4, 3), np.float32, np.empty)
>>> with arena.step("batch of 4"):
...     again = take((4, 3), np.float32, np.empty)
>>> again is first
True
"""

from __future__ import annotations

import contextlib

import numpy as np

#: The arena of the step that is running, or None.
_active: Arena | None = None


class Arena:
    """The temporary arrays of a network's training steps, one list per input signature.

    Attributes
    ----------
    allocations : int
        Arrays allocated by `take` so far (a steady state adds none).
    """

    def __init__(self):
        self._steps: dict = {}
        self._arrays: list | None = None
        self._next = 0
        self.allocations = 0

    @contextlib.contextmanager
    def step(self, key):
        """Run one step: `take` hands out this arena's arrays for steps of ``key`` (any
        hashable value that differs when the shapes do, such as the batch's shapes), from
        the first one on. A step inside a running step of the same arena joins it."""
        global _active
        if _active is self:
            yield self
            return
        outer = _active
        self._arrays = self._steps.setdefault(key, [])
        self._next = 0
        _active = self
        try:
            yield self
        finally:
            _active = outer

    def take(self, shape, dtype, allocate):
        """The next array of the step: the one at the same position in the previous step
        of this key if its shape and dtype match, else ``allocate(shape, dtype)`` (kept for
        the next step)."""
        position = self._next
        self._next += 1
        kept = self._arrays[position] if position < len(self._arrays) else None
        if kept is not None and kept.shape == shape and kept.dtype == dtype:
            return kept  # the steady state, matched on the shape and dtype as given
        shape, dtype = _shape(shape), np.dtype(dtype)
        if kept is not None and tuple(kept.shape) == shape and np.dtype(kept.dtype) == dtype:
            return kept
        array = allocate(shape, dtype)
        self.allocations += 1
        if position < len(self._arrays):
            self._arrays[position] = array
        else:
            self._arrays.append(array)
        return array


def take(shape, dtype, allocate):
    """An array of ``shape`` and ``dtype``: from the running step's arena, or
    ``allocate(shape, dtype)`` when no step is running."""
    if _active is None:
        return allocate(_shape(shape), np.dtype(dtype))
    return _active.take(shape, dtype, allocate)


def _shape(shape):
    """``shape`` as a tuple of Python ints (an int is a 1-D shape)."""
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(d) for d in shape)
