r"""Optimizers: they update parameters in place from their gradients.

Every optimizer takes a learning rate ``lr``, an optional ``weight_decay`` (L2; decoupled in
`AdamW`), an optional ``clip_norm`` (the gradients are rescaled together when their
global norm $\sqrt{\sum_p \|g_p\|^2}$ exceeds it) and an optional ``schedule`` that
scales ``lr`` by the training progress in epochs (see `StepDecay`,
`CosineDecay`).

``step(params)`` takes ``(key, param, grad)`` triples (a model's ``parameter_groups()``
gives them: one spanning all its parameters, packed in one array, when none is frozen);
the optimizer keeps its state arrays (velocity, moments) per key.
"""

from __future__ import annotations

import math

import numpy as np

from atlas.backend import flat, get_backend
from atlas.checks import fraction, non_negative, positive


class StepDecay:
    r"""Multiply the learning rate by ``gamma`` every ``every`` epochs:
    $\eta_e = \eta\,\gamma^{\lfloor e / \text{every} \rfloor}$."""

    def __init__(self, every: float, gamma: float = 0.1):
        self.every = positive(every, "every", "StepDecay")
        self.gamma = positive(gamma, "gamma", "StepDecay")

    def __call__(self, progress):
        return self.gamma ** math.floor(progress / self.every)

    def get_config(self):
        return {"name": "StepDecay", "every": self.every, "gamma": self.gamma}


class CosineDecay:
    r"""Cosine annealing from $\eta$ to $\eta \cdot$ ``floor`` over ``epochs``:
    $\eta_e = \eta\,(f + (1 - f)\,\tfrac12 (1 + \cos(\pi e / E)))$."""

    def __init__(self, epochs: float, floor: float = 0.0):
        self.epochs = positive(epochs, "epochs", "CosineDecay")
        self.floor = fraction(floor, "floor", "CosineDecay", high_open=False)

    def __call__(self, progress):
        t = min(progress / self.epochs, 1.0)
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    def get_config(self):
        return {"name": "CosineDecay", "epochs": self.epochs, "floor": self.floor}


class Optimizer:
    """Base class. Subclasses name their per-parameter state arrays in ``state_names`` and
    implement `update`."""

    state_names: tuple[str, ...] = ()

    def __init__(self, lr, weight_decay=0.0, clip_norm=None, schedule=None):
        owner = type(self).__name__
        self.lr = positive(lr, "lr (the learning rate)", owner)
        self.weight_decay = non_negative(weight_decay, "weight_decay", owner)
        self.clip_norm = None if clip_norm is None else positive(clip_norm, "clip_norm", owner)
        if schedule is not None and not callable(schedule):
            raise TypeError(f"{owner}: schedule must be a callable of the progress in epochs "
                            f"(StepDecay, CosineDecay), got {schedule!r}")
        self.schedule = schedule
        self.progress = 0.0  # epochs done, fractional; set by Sequential.fit
        self.iterations = 0
        self.state: dict = {}
        self._norm_squared = None  # the last clipped step's squared norm, on the device
        self._backend = None

    @property
    def last_grad_norm(self):
        """The global gradient norm of the last step, before clipping (None without
        ``clip_norm``). Read from the device when asked, not at every step."""
        if self._norm_squared is None:
            return None
        return math.sqrt(float(self._backend.to_numpy(self._norm_squared)[0]))

    @property
    def current_lr(self):
        return self.lr * (self.schedule(self.progress) if self.schedule else 1.0)

    def step(self, params, backend="cpu"):
        """Update every ``(key, param, grad)`` in place."""
        backend = get_backend(backend)
        params = list(params)
        if self.clip_norm is not None:
            self._clip(params, backend)
        self.iterations += 1
        lr = self.current_lr
        for key, param, grad in params:
            state = self.state.get(key)
            if state is None or (state and state[0].size != param.size):
                self.state[key] = [backend.zeros(param.size, param.dtype)
                                   for _ in self.state_names]
            self.update(backend.kernels, flat(param), flat(grad), self.state[key], lr)

    def _clip(self, params, backend):
        """Rescale the gradients together when their global norm exceeds ``clip_norm``; the
        norm stays on the device (no read-back, no synchronisation)."""
        k = backend.kernels
        total = backend.scratch(1, np.float64, zero=True)
        for _, _, g in params:
            k.squared_norm(flat(g), total)
        for _, _, g in params:
            k.clip_to_norm(flat(g), total, self.clip_norm)
        self._norm_squared, self._backend = total, backend

    def update(self, kernels, param, grad, state, lr):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr})"


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    $$
    v \leftarrow \mu v + g, \qquad \theta \leftarrow \theta - \eta v
    $$
    """

    state_names = ("velocity",)

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(lr, **kwargs)
        self.momentum = fraction(momentum, "momentum", type(self).__name__)
        if nesterov and self.momentum == 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.nesterov = bool(nesterov)

    def update(self, kernels, param, grad, state, lr):
        kernels.sgd_step(param, grad, state[0], lr, self.momentum, self.nesterov,
                         self.weight_decay)


class Momentum(SGD):
    """SGD with classical momentum (default 0.9)."""

    def __init__(self, lr=0.01, momentum=0.9, **kwargs):
        super().__init__(lr, momentum=momentum, **kwargs)


class Nesterov(SGD):
    """SGD with Nesterov momentum (default 0.9): the gradient is taken at the look-ahead point."""

    def __init__(self, lr=0.01, momentum=0.9, **kwargs):
        super().__init__(lr, momentum=momentum, nesterov=True, **kwargs)


class RMSProp(Optimizer):
    """Divide the step by a running root-mean-square of recent gradients (Hinton, 2012)."""

    state_names = ("square_avg",)

    def __init__(self, lr=0.001, rho=0.9, eps=1e-8, **kwargs):
        super().__init__(lr, **kwargs)
        self.rho = fraction(rho, "rho", "RMSProp")
        self.eps = positive(eps, "eps", "RMSProp")

    def update(self, kernels, param, grad, state, lr):
        kernels.rmsprop_step(param, grad, state[0], lr, self.rho, self.eps, self.weight_decay)


class Adagrad(Optimizer):
    """Per-parameter steps that shrink with the accumulated squared gradients (Duchi et al.)."""

    state_names = ("sum_sq",)

    def __init__(self, lr=0.01, eps=1e-10, **kwargs):
        super().__init__(lr, **kwargs)
        self.eps = positive(eps, "eps", "Adagrad")

    def update(self, kernels, param, grad, state, lr):
        kernels.adagrad_step(param, grad, state[0], lr, self.eps, self.weight_decay)


class Adadelta(Optimizer):
    """Adagrad with windowed accumulators and unit-correct steps (Zeiler, 2012)."""

    state_names = ("square_avg", "delta_avg")

    def __init__(self, lr=1.0, rho=0.9, eps=1e-6, **kwargs):
        super().__init__(lr, **kwargs)
        self.rho = fraction(rho, "rho", "Adadelta")
        self.eps = positive(eps, "eps", "Adadelta")

    def update(self, kernels, param, grad, state, lr):
        kernels.adadelta_step(param, grad, state[0], state[1], lr, self.rho, self.eps,
                              self.weight_decay)


class Adam(Optimizer):
    """Adaptive moments with bias correction (Kingma & Ba, 2015)."""

    state_names = ("m", "v")
    decoupled = False

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, **kwargs):
        super().__init__(lr, **kwargs)
        owner = type(self).__name__
        self.beta1 = fraction(beta1, "beta1", owner)
        self.beta2 = fraction(beta2, "beta2", owner)
        self.eps = positive(eps, "eps", owner)

    def update(self, kernels, param, grad, state, lr):
        kernels.adam_step(param, grad, state[0], state[1], lr, self.beta1, self.beta2, self.eps,
                          self.weight_decay, self.decoupled, self.iterations)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), default 0.01."""

    decoupled = True

    def __init__(self, lr=0.001, weight_decay=0.01, **kwargs):
        super().__init__(lr, weight_decay=weight_decay, **kwargs)
