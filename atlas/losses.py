r"""Loss functions. Calling a loss returns ``(value, grad)``: the scalar loss and its gradient
with respect to the prediction, an array of the prediction's shape on its device.

>>> import numpy as np
>>> from atlas.losses import MSE
>>> value, grad = MSE(reduction="sum", factor=0.5)(np.array([0.75, 0.77]), np.array([0.01, 0.99]))
>>> round(value, 6)
0.298029
"""

from __future__ import annotations

import numpy as np

from atlas.backend import flat, get_backend
from atlas.checks import real


class Loss:
    """Base class: ``loss(pred, target, backend="cpu") -> (value, dpred)``.

    With ``total`` (a one-element float64 array on the backend's device) the value is not
    returned but added, times ``weight``, into ``total[0]`` where it was computed: on a GPU
    it is then never copied back, and a training loop reads its running total once per
    progress-bar refresh instead of once per step (``(None, dpred)`` is returned).
    """

    #: Whether the loss expects class labels (and accuracy makes sense).
    classification = False

    def __call__(self, pred, target, backend="cpu", total=None, weight=1.0):
        backend = get_backend(backend)
        _check_float(pred, "prediction")
        if isinstance(target, (list, tuple)):
            target = np.asarray(target)
        target = self.prepare_target(pred, target)
        grad = backend.scratch(pred.shape, pred.dtype)
        value = self.compute(backend.kernels, pred, backend.upload(target), grad)
        if total is not None:
            backend.add_scaled(total, value, _total_weight(total, weight, type(self).__name__))
            return None, grad
        return float(value), grad

    def prepare_target(self, pred, target):
        """Validate the target against the prediction; return it as the kernel wants it."""
        if tuple(target.shape) != tuple(pred.shape):
            raise ValueError(f"{type(self).__name__}: target shape {tuple(target.shape)} "
                             f"does not match prediction shape {tuple(pred.shape)}")
        return _as_dtype(target, pred.dtype)

    def compute(self, kernels, pred, target, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self):
        return {"name": type(self).__name__, **vars(self)}


def _total_weight(total, weight, owner):
    """Check a running ``total`` (one float64 element) and the ``weight`` of what is added
    into it; return the weight as a float."""
    if tuple(getattr(total, "shape", ())) != (1,) or np.dtype(total.dtype) != np.float64:
        got = (f"shape {tuple(total.shape)}, dtype {np.dtype(total.dtype)}"
               if hasattr(total, "shape") else type(total).__name__)
        raise ValueError(f"{owner}: total must be a one-element float64 array on the "
                         f"backend's device, got {got}")
    return real(weight, "weight", owner)


def _check_float(array, what):
    if np.dtype(array.dtype).kind != "f":
        raise ValueError(f"{what} must be a floating-point array, got dtype {array.dtype}")


def _as_dtype(array, dtype):
    if isinstance(array, np.ndarray):
        return np.ascontiguousarray(array, dtype=dtype)
    return array


class SoftmaxCrossEntropy(Loss):
    r"""Softmax and cross-entropy fused, averaged over the batch.

    ``pred`` are logits ``(N, K)``; ``target`` is either integer labels ``(N,)`` in
    ``[0, K)`` or distributions ``(N, K)`` (one-hot or soft). The gradient is
    $(\operatorname{softmax}(z) - t) / N$.

    Sequences: logits ``(N, T, K)`` with labels ``(N, T)`` (a time-distributed classifier,
    such as a language model's next-token prediction) are averaged over all ``N T``
    positions; the loss is then the mean negative log-likelihood per token, in nats.
    """

    classification = True

    def __call__(self, pred, target, backend="cpu", total=None, weight=1.0):
        if len(pred.shape) == 3:
            n, t, k = pred.shape
            target = np.asarray(target) if isinstance(target, (list, tuple)) else target
            if tuple(target.shape) != (n, t):
                raise ValueError(f"SoftmaxCrossEntropy: sequence logits {tuple(pred.shape)} "
                                 f"need labels of shape {(n, t)}, got {tuple(target.shape)}")
            value, grad = super().__call__(pred.reshape(n * t, k), target.reshape(n * t),
                                           backend, total, weight)
            return value, grad.reshape(n, t, k)
        return super().__call__(pred, target, backend, total, weight)

    def prepare_target(self, pred, target):
        n, k = pred.shape
        if target.ndim == 1:
            if np.dtype(target.dtype).kind not in "iu":
                raise ValueError(f"class labels must be integers, got dtype {target.dtype}")
            if target.shape[0] != n:
                raise ValueError(f"SoftmaxCrossEntropy: {target.shape[0]} labels for {n} rows "
                                 f"of logits")
            host = np.asarray(target) if isinstance(target, np.ndarray) else None
            if host is not None and host.size and (host.min() < 0 or host.max() >= k):
                raise ValueError(f"class labels must lie in [0, {k}), got values in "
                                 f"[{host.min()}, {host.max()}]")
            return _as_dtype(target, np.int64)
        return super().prepare_target(pred, target)

    def compute(self, kernels, pred, target, grad):
        if target.ndim == 1:
            return kernels.softmax_cross_entropy(pred, target, grad)
        return kernels.softmax_cross_entropy_soft(pred, target, grad)


class _Elementwise(Loss):
    """A loss that sums a term per element, then scales: ``factor * mean`` or ``factor * sum``."""

    def __init__(self, reduction="mean", factor=1.0):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self.factor = float(factor)

    def scale(self, pred):
        return self.factor / pred.size if self.reduction == "mean" else self.factor


class MSE(_Elementwise):
    r"""Squared error $c \cdot \operatorname{reduce}_i (y_i - t_i)^2$.

    The default is the mean; ``MSE(reduction="sum", factor=0.5)`` is the
    $\tfrac12\sum$ of the classic backpropagation example.
    """

    def compute(self, kernels, pred, target, grad):
        return kernels.squared_error(flat(pred), flat(target), self.scale(pred), flat(grad))


class L1(_Elementwise):
    r"""Absolute error $c \cdot \operatorname{reduce}_i |y_i - t_i|$."""

    def compute(self, kernels, pred, target, grad):
        return kernels.absolute_error(flat(pred), flat(target), self.scale(pred), flat(grad))


class Huber(_Elementwise):
    r"""Huber loss: squared within ``delta`` of the target, linear beyond it."""

    def __init__(self, delta=1.0, reduction="mean", factor=1.0):
        super().__init__(reduction, factor)
        self.delta = float(delta)

    def compute(self, kernels, pred, target, grad):
        return kernels.huber(flat(pred), flat(target), self.delta, self.scale(pred), flat(grad))


class BinaryCrossEntropy(_Elementwise):
    r"""Binary cross-entropy. With ``from_logits=True`` (the stable choice) ``pred`` are
    logits and the sigmoid is fused in; otherwise ``pred`` are probabilities in (0, 1)."""

    def __init__(self, from_logits=True, reduction="mean", factor=1.0):
        super().__init__(reduction, factor)
        self.from_logits = bool(from_logits)

    def compute(self, kernels, pred, target, grad):
        fn = kernels.sigmoid_binary_cross_entropy if self.from_logits else kernels.binary_cross_entropy
        return fn(flat(pred), flat(target), self.scale(pred), flat(grad))


class _Divergence(Loss):
    """Divergence of a predicted distribution from the target's, summed over elements and
    divided by the batch size (PyTorch's ``batchmean``)."""

    def scale(self, pred):
        return 1.0 / pred.shape[0]


class KLDivergence(_Divergence):
    r"""$\mathrm{KL}(t \,\|\, q) = \sum t \log(t / q)$ per sample, q the prediction."""

    def compute(self, kernels, pred, target, grad):
        return kernels.kl_divergence(flat(target), flat(pred), self.scale(pred), flat(grad))


class JSDivergence(_Divergence):
    r"""Jensen-Shannon divergence $\tfrac12 \mathrm{KL}(t\|m) + \tfrac12 \mathrm{KL}(q\|m)$,
    $m = (t + q)/2$, per sample."""

    def compute(self, kernels, pred, target, grad):
        return kernels.js_divergence(flat(target), flat(pred), self.scale(pred), flat(grad))


_REGISTRY = {
    "softmax_cross_entropy": SoftmaxCrossEntropy, "cross_entropy": SoftmaxCrossEntropy,
    "binary_cross_entropy": BinaryCrossEntropy, "mse": MSE, "l1": L1, "huber": Huber,
    "kl_divergence": KLDivergence, "js_divergence": JSDivergence,
}
_REGISTRY.update({cls.__name__: cls for cls in set(_REGISTRY.values())})


def get_loss(spec) -> Loss:
    """A `Loss` from a name ("mse"), a config dict or an instance."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, dict):
        spec = dict(spec)
        name = spec.pop("name")
    else:
        name = spec
    if name not in _REGISTRY:
        names = sorted(k for k in _REGISTRY if k.islower())
        raise ValueError(f"unknown loss {name!r}; expected one of {names}")
    return _REGISTRY[name](**(spec if isinstance(spec, dict) else {}))
