r"""Recurrent layers over batch-first sequences ``(N, T, F)``: `RNN`, `LSTM`, `GRU`.

Each layer runs its whole sequence in one kernel call (`recurrent`), forward and
backpropagation through time. Parameters follow the dense convention $y = x W$:
``W_x (F, G)``, ``W_h (H, G)``, ``b_x, b_h (G,)`` with ``G = H, 4H, 3H`` stacked in
PyTorch's gate order (LSTM ``i, f, g, o``; GRU ``r, z, n``), so ``W_x`` is PyTorch's
``weight_ih_l0`` transposed.
"""

from __future__ import annotations

import math

import numpy as np

from atlas.backend import flat
from atlas.checks import integer, real
from atlas.initializers import Uniform, get_initializer
from atlas.nn.layer import Layer
from atlas.views import part


class Recurrent(Layer):
    r"""What the three recurrent layers share: parameters, states, shapes and the cache.

    Parameters
    ----------
    units : int
        Size $H$ of the hidden state.
    return_sequences : bool
        Output every step's hidden state ``(N, T, H)`` (to stack another recurrent layer or
        a time-distributed `Dense`) instead of the last one ``(N, H)``.
    return_state : bool
        ``forward`` returns ``(output, h_T)`` (LSTM: ``(output, h_T, c_T)``), and
        ``backward`` accepts a tuple of the same form: gradients may arrive at the final
        states. For use outside `Sequential`.
    stateful : bool
        Each call starts from the final states of the previous call (a long text read in
        consecutive pieces, or sampling one step at a time); `reset_states` zeroes them.
    weight_init, bias_init : str, dict, Initializer or None
        None (the default) draws every weight and bias from
        $U(-1/\sqrt{H}, 1/\sqrt{H})$, as PyTorch does.

    Attributes
    ----------
    initial_state : tuple of arrays or None
        States the next call starts from (zeros when None); assign to set them.
    initial_state_grad : tuple of arrays
        After ``backward``: the gradients with respect to the initial states.
    """

    #: Stacked pre-activations per hidden unit (1, 4 or 3) and number of state arrays.
    width = 1
    states = 1

    def __init__(self, units: int, *, return_sequences=False, return_state=False,
                 stateful=False, weight_init=None, bias_init=None, name=None):
        super().__init__(name)
        self.units = integer(units, "units", type(self).__name__)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.stateful = bool(stateful)
        limit = 1.0 / math.sqrt(self.units)
        default = Uniform(-limit, limit)
        self.weight_init = default if weight_init is None else get_initializer(weight_init)
        self.bias_init = default if bias_init is None else get_initializer(bias_init)
        self.initial_state = None
        self.initial_state_grad = None
        self._workspace = {}

    # Shapes and parameters ---------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{self.kind} expects sequences (N, T, features), got per-sample "
                             f"shape {input_shape}")
        steps = input_shape[0]
        return (steps, self.units) if self.return_sequences else (self.units,)

    def init_params(self, input_shape, rng):
        g = self.width * self.units
        return {"W_x": self.weight_init((input_shape[1], g), rng, self.dtype),
                "W_h": self.weight_init((self.units, g), rng, self.dtype),
                "b_x": self.bias_init((g,), rng, self.dtype),
                "b_h": self.bias_init((g,), rng, self.dtype)}

    def build(self, input_shape, backend="cpu", rng=None, dtype="float32"):
        self._workspace = {}  # the previous build's arrays: another device or type
        return super().build(input_shape, backend, rng, dtype)

    def reset_states(self):
        """Start the next call from zero states."""
        self.initial_state = None

    def _buffer(self, name, shape):
        """A reusable device array for the cache (fresh when the shape changes)."""
        array = self._workspace.get(name)
        if array is None or tuple(array.shape) != tuple(shape):
            array = self.backend.empty(shape, self.dtype)
            self._workspace[name] = array
        return array

    def _zeros(self, shape):
        """An array of zeros that the kernels only read (the initial states, the gradients
        that reach no output): made and zeroed once per shape, not in every step (on a GPU,
        a launch saved each time)."""
        key = ("zeros", tuple(shape))
        array = self._workspace.get(key)
        if array is None:
            array = self._workspace[key] = self.backend.zeros(shape, self.dtype)
        return array

    def _initial_states(self, n):
        if self.initial_state is None:
            return (self._zeros((n, self.units)),) * self.states
        states = tuple(self.initial_state)
        expected = (n, self.units)
        for s in states:
            if tuple(s.shape) != expected:
                raise ValueError(f"{self.kind}: initial state of shape {tuple(s.shape)} does "
                                 f"not match the batch, expected {expected}; call "
                                 f"reset_states() when the batch size changes")
        return tuple(self.backend.asarray(s, self.dtype) for s in states)

    def check_input(self, x):
        shape = tuple(x.shape)
        if len(shape) != 3:
            raise ValueError(f"{self.kind} expects sequences (N, T, features), got an array "
                             f"of shape {shape}")
        if shape[2] != self.input_shape[1]:
            raise ValueError(f"{self.kind} expected {self.input_shape[1]} features per step, "
                             f"got {shape[2]} (input of shape {shape})")
        if np.dtype(x.dtype) != self.dtype:
            raise ValueError(f"{self.kind} expected dtype {self.dtype}, got {np.dtype(x.dtype)}")

    # Computing -----------------------------------------------------------------------------
    def forward(self, x, training=True):
        """Run the sequence; cache for backward. Any length ``T >= 1`` is accepted."""
        self.check_input(x)
        n, steps, f = x.shape
        if steps < 1:
            raise ValueError(f"{self.kind} needs sequences of at least one step, got {x.shape}")
        h = self.units
        # The states live for the step (the outputs and final states are views of them),
        # or beyond it when a stateful layer carries them to the next call; the other
        # time-major arrays are workspaces reused from call to call.
        states = self.backend.empty if self.stateful else self.backend.scratch
        c = self._cache = {
            name: states(shape, self.dtype) if name in ("hs", "cs")
            else self._buffer(name, shape)
            for name, shape in self.cache_shapes(n, steps, f).items()}
        y = self.backend.scratch((n, steps, h), self.dtype)
        initial = self._initial_states(n)
        self.run_forward(x, initial, c, y)
        final = self.final_states()
        if self.stateful:
            self.initial_state = final
        out = y if self.return_sequences else final[0]
        return (out, *final) if self.return_state else out

    def backward(self, dy):
        """BPTT. ``dy`` is the gradient of the output, or with ``return_state`` the tuple
        ``(d output, d h_T[, d c_T])``."""
        c = self._cache
        steps, n, f = c["xs"].shape
        h = self.units
        grads_final = [None] * self.states
        if self.return_state:
            dy, *grads_final = dy
        if self.return_sequences:
            dseq = self.backend.asarray(dy, self.dtype)
        else:  # the output is h_T: its gradient arrives at the final state
            dseq = self._zeros((n, steps, h))
            grads_final[0] = dy if grads_final[0] is None else _add(self.backend, grads_final[0],
                                                                    dy)
        grads_final = [self._zeros((n, h)) if g is None else self.backend.asarray(g, self.dtype)
                       for g in grads_final]
        dx = self.backend.scratch((n, steps, f), self.dtype)
        dinitial = tuple(self.backend.scratch((n, h), self.dtype) for _ in range(self.states))
        self.run_backward(dseq, grads_final, c, dx, dinitial)
        self.initial_state_grad = dinitial
        return dx if self.needs_input_grad else None

    def cache_shapes(self, n, steps, f):
        """Shapes of the time-major arrays the kernels cache: inputs, gates, states."""
        h = self.units
        shapes = {"xs": (steps, n, f), "gates": (steps, n, self.width * h),
                  "hs": (steps + 1, n, h)}
        if self.states == 2:
            shapes["cs"] = (steps + 1, n, h)
        return shapes

    def final_states(self):
        """The final states of the last forward call: ``(h_T,)`` or, for the LSTM,
        ``(h_T, c_T)`` (views into the cache)."""
        return tuple(part(self._cache[k], -1) for k in ("hs", "cs")[:self.states])

    def gate_values(self):
        """The activated gates of the last forward call, as host copies ``(N, T, H)`` by
        name: LSTM ``i, f, g, o``; GRU ``r, z, n``."""
        gates = np.swapaxes(self.backend.to_numpy(self._cache["gates"]), 0, 1).copy()
        h = self.units
        return {name: gates[:, :, k * h:(k + 1) * h] for k, name in enumerate(self.gate_names)}

    def run_forward(self, x, initial, cache, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def run_backward(self, dseq, grads_final, cache, dx, dinitial):  # pragma: no cover
        raise NotImplementedError

    def _param_grads(self):
        p, g = self.params, self.grads
        return p["W_x"], p["W_h"], g["W_x"], g["W_h"], g["b_x"], g["b_h"]

    # Describing ----------------------------------------------------------------------------
    def get_config(self):
        return {"units": self.units, "return_sequences": self.return_sequences,
                "return_state": self.return_state, "stateful": self.stateful,
                "weight_init": self.weight_init.get_config(),
                "bias_init": self.bias_init.get_config(), "name": self.name}


def _add(backend, a, b):
    """``a + b`` in a new array on the device (either may come from the host)."""
    a, b = backend.asarray(a), backend.asarray(b)
    total = backend.scratch(tuple(a.shape), a.dtype)
    backend.kernels.add(flat(a), flat(b), flat(total))
    return total


class RNN(Recurrent):
    r"""Elman RNN: $h_t = \tanh(x_t W_x + b_x + h_{t-1} W_h + b_h)$."""

    width, states = 1, 1
    gate_names = ()

    def gate_values(self):
        """An RNN has no gates: its hidden states ``h (N, T, H)`` of the last call."""
        return {"h": np.swapaxes(self.backend.to_numpy(self._cache["hs"])[1:], 0, 1).copy()}

    def run_forward(self, x, initial, c, y):
        p = self.params
        self.backend.kernels.rnn_forward(x, initial[0], p["W_x"], p["W_h"], p["b_x"],
                                         p["b_h"], c["xs"], c["gates"], c["hs"], y)

    def run_backward(self, dseq, grads_final, c, dx, dinitial):
        W_x, W_h, dW_x, dW_h, db_x, db_h = self._param_grads()
        dgates = self._buffer("dgates", c["gates"].shape)
        self.backend.kernels.rnn_backward(dseq, grads_final[0], c["xs"], c["hs"], W_x, W_h,
                                          dgates, dx, dinitial[0], dW_x, dW_h, db_x, db_h,
                                          self.needs_input_grad)


class LSTM(Recurrent):
    r"""Long short-term memory: gates $i, f, o = \sigma(\cdot)$, candidate
    $g = \tanh(\cdot)$, cell $c_t = f c_{t-1} + i g$, output $h_t = o \tanh c_t$.

    ``forget_bias`` (e.g. 1.0, as Jozefowicz et al. 2015 and Keras's ``unit_forget_bias``)
    starts the forget gate's bias there instead of at a random value, so that the cell
    remembers from the first step; None keeps PyTorch's initialisation.
    """

    width, states = 4, 2
    gate_names = ("i", "f", "g", "o")

    def __init__(self, units: int, *, forget_bias=None, **kwargs):
        super().__init__(units, **kwargs)
        self.forget_bias = None if forget_bias is None else real(forget_bias, "forget_bias",
                                                                   "LSTM")

    def init_params(self, input_shape, rng):
        params = super().init_params(input_shape, rng)
        if self.forget_bias is not None:  # f = sigma(1) = 0.73 at the start: memory flows
            h = self.units
            params["b_x"][h:2 * h] = self.forget_bias
            params["b_h"][h:2 * h] = 0.0
        return params

    def get_config(self):
        return {**super().get_config(), "forget_bias": self.forget_bias}

    def run_forward(self, x, initial, c, y):
        p = self.params
        self.backend.kernels.lstm_forward(x, initial[0], initial[1], p["W_x"], p["W_h"],
                                          p["b_x"], p["b_h"], c["xs"], c["gates"], c["hs"],
                                          c["cs"], y)

    def run_backward(self, dseq, grads_final, c, dx, dinitial):
        W_x, W_h, dW_x, dW_h, db_x, db_h = self._param_grads()
        dgates = self._buffer("dgates", c["gates"].shape)
        self.backend.kernels.lstm_backward(dseq, grads_final[0], grads_final[1], c["xs"],
                                           c["gates"], c["hs"], c["cs"], W_x, W_h, dgates,
                                           dx, dinitial[0], dinitial[1], dW_x, dW_h, db_x,
                                           db_h, self.needs_input_grad)


class GRU(Recurrent):
    r"""Gated recurrent unit (PyTorch's form): reset $r$ and update $z$ gates, candidate
    $n = \tanh(x W_x^n + b_x^n + r \odot (h W_h^n + b_h^n))$, $h_t = (1-z) n + z h_{t-1}$."""

    width, states = 3, 1
    gate_names = ("r", "z", "n")

    def cache_shapes(self, n, steps, f):
        # and the hidden projections of the candidate, which the reset gate's gradient needs
        return {**super().cache_shapes(n, steps, f), "hn": (steps, n, self.units)}

    def run_forward(self, x, initial, c, y):
        p = self.params
        self.backend.kernels.gru_forward(x, initial[0], p["W_x"], p["W_h"], p["b_x"],
                                         p["b_h"], c["xs"], c["gates"], c["hn"], c["hs"], y)

    def run_backward(self, dseq, grads_final, c, dx, dinitial):
        W_x, W_h, dW_x, dW_h, db_x, db_h = self._param_grads()
        dgates = self._buffer("dgates", c["gates"].shape)
        dhgates = self._buffer("dhgates", c["gates"].shape)
        self.backend.kernels.gru_backward(dseq, grads_final[0], c["xs"], c["gates"], c["hn"],
                                          c["hs"], W_x, W_h, dgates, dhgates, dx, dinitial[0],
                                          dW_x, dW_h, db_x, db_h, self.needs_input_grad)
