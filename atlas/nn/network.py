"""What every model shares: compiling, the training loop, evaluation, prediction, checking
the data, saving and loading weights.

`Network` is the base of `atlas.nn.Sequential` (a stack of layers) and `atlas.nn.Model`
(any acyclic graph of layers, with one or several inputs and outputs). A subclass says
how values flow, and nothing else:

- ``layers``: every layer once, in the order they first compute;
- ``inputs_spec``: per input, its per-sample shape and the layer that reads it as integer
  tokens (an `Embedding`; None for floating-point inputs);
- ``forward(x, training)`` and ``backward(dy)``, where ``x`` is one array or a list (one
  per input) and ``dy`` one array or a list (one per output);
- ``output_shapes``, ``get_config`` / ``from_config``, and ``summary_rows``.

One training loop serves both: a sequential model is a graph whose nodes form a chain.
"""

from __future__ import annotations

import math
import time

import numpy as np
from tqdm.auto import tqdm

from atlas.arena import Arena
from atlas.backend import flat, get_backend
from atlas.checks import integer, non_negative, optional_integer, real
from atlas.losses import get_loss
from atlas.nn.layer import float_dtype
from atlas.nn.packing import PackedParameters
from atlas.nn.serialization import architecture, describe, read_model_file, save_model


class Network:
    """Base class of `Sequential` and `Model` (see the module docstring).

    Parameters
    ----------
    device : {"cpu", "cuda"}
    dtype : str
        Floating type of parameters and activations ("float32"; "float64" for checks).
    seed : int
        Seeds the initial weights, dropout masks and the shuffling in `fit`.
    name : str
    metadata : dict, optional
        JSON-serialisable facts that travel with the saved model (a language model's
        vocabulary, say).
    """

    def __init__(self, *, device="cpu", dtype="float32", seed=0, name="model", metadata=None):
        self.name = str(name)
        self.metadata = dict(metadata or {})
        self.backend = get_backend(device)
        self.dtype = float_dtype(dtype)
        self.seed = integer(seed, "seed", self.name, minimum=0)
        self.rng = np.random.default_rng(self.seed)
        self.loss = None
        self.losses = None
        self.optimizer = None
        self.metrics = ()
        self._arena = Arena()
        self._packed = None  # PackedParameters once a step has packed them; False: given up

    # What a subclass provides ------------------------------------------------------------------
    layers: list
    inputs_spec: list  # [(per-sample shape, token layer or None), ...]

    @property
    def output_shapes(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x, training=False):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dy):  # pragma: no cover - abstract
        raise NotImplementedError

    def summary_rows(self):  # pragma: no cover - abstract
        raise NotImplementedError

    __call__ = forward

    @property
    def multi_input(self):
        return len(self.inputs_spec) > 1

    @property
    def multi_output(self):
        return len(self.output_shapes) > 1

    # Parameters ----------------------------------------------------------------------------------
    def trainable_parameters(self):
        """``(key, param, grad)`` for every parameter that is not frozen."""
        for i, layer in enumerate(self.layers):
            for name, param in layer.params.items():
                if name not in layer.frozen:
                    yield f"{i}.{name}", param, layer.grads[name]

    def parameter_groups(self):
        """What an optimizer's ``step`` takes: ``(key, values, grads)`` triples. When every
        parameter is trainable they are packed in one array (`atlas.nn.packing`, done by
        the first call) and this is one triple spanning them all, updated with one kernel
        launch; with a frozen parameter, one triple a trainable parameter
        (`trainable_parameters`). The optimizer keeps its state (moments, velocity) under
        the key, so freezing parameters during training starts it afresh, as a Keras
        model compiled again does."""
        packed = self._packed
        if packed is False or any(layer.frozen for layer in self.layers) or \
                not any(layer.params for layer in self.layers):
            return list(self.trainable_parameters())
        if packed is None:
            packed = self._packed = PackedParameters(self.layers, self.backend, self.dtype)
        elif not packed.intact():  # a layer built again, or packed by a network sharing it
            self._packed = False
            return list(self.trainable_parameters())
        return [(packed.key, packed.values, packed.grads)]

    def count_params(self, trainable=True):
        return sum(layer.count_params(trainable) for layer in self.layers)

    # Training ------------------------------------------------------------------------------------
    def compile(self, loss, optimizer, metrics=("accuracy",), loss_weights=None):
        """Choose the loss (a name or `Loss`; for several outputs, a list of them, one per
        output) and the optimizer. With several outputs the training loss is
        $\\sum_k w_k L_k$ (``loss_weights``, default all 1)."""
        self._require_built()
        outputs = len(self.output_shapes)
        losses = list(loss) if isinstance(loss, (list, tuple)) else [loss] * outputs
        if len(losses) != outputs:
            raise ValueError(f"{self.name} has {outputs} outputs but {len(losses)} losses")
        self.losses = [get_loss(item) for item in losses]
        self.loss = self.losses[0]
        weights = [1.0] * outputs if loss_weights is None else list(loss_weights)
        if len(weights) != outputs:
            raise ValueError(f"{self.name} has {outputs} outputs but {len(weights)} loss_weights")
        self.loss_weights = [non_negative(w, "loss_weights", self.name) for w in weights]
        self.optimizer = optimizer
        single = outputs == 1 and self.loss.classification
        self.metrics = tuple(m for m in metrics if m == "accuracy" and single)
        return self

    def compute_loss(self, out, y, loss_total=None, weight=1.0):
        """``(value, grad)`` of the compiled loss for outputs ``out`` and targets ``y`` (a
        list of each for several outputs); the gradient is what `backward` takes. With
        ``loss_total`` (a one-element float64 device array) the value, times ``weight``, is
        added into it on the device instead, and ``value`` is None (see `atlas.losses.Loss`)."""
        if not self.multi_output:
            return self.loss(out, y, self.backend, loss_total, weight)
        if loss_total is not None:
            weight = real(weight, "weight", "compute_loss")
        total, grads = 0.0, []
        for loss, loss_weight, o, t in zip(self.losses, self.loss_weights, out, y):
            value, grad = loss(o, t, self.backend, loss_total, weight * loss_weight)
            if loss_weight != 1.0:
                self.backend.kernels.scale(flat(grad), loss_weight)
            if loss_total is None:
                total += loss_weight * value
            grads.append(grad)
        return (None if loss_total is not None else total), grads

    def train_step(self, x, y, loss_total=None, weight=1.0):
        """One forward, backward and update on a batch (on the device, or on the host);
        returns ``(loss, output)``.

        The step's temporary arrays (activations, gradients, the output) come from the
        network's `atlas.arena.Arena`: a step whose batch has the shapes of an earlier one
        reuses that step's arrays and allocates nothing. So ``output`` is valid until the
        next `train_step`; copy it (``backend.to_numpy``) to keep it. With ``loss_total``
        the loss is added into it, times ``weight``, where the model runs, and ``loss`` is
        None: a CUDA step then copies nothing back to the host (`fit` reads its running
        total once per progress-bar refresh).
        """
        with self._arena.step(_signature(x)):
            x = ([self.backend.upload(a) for a in x] if self.multi_input
                 else self.backend.upload(x))
            out = self.forward(x, training=True)
            value, grad = self.compute_loss(out, y, loss_total, weight)
            self.backward(grad)
            self.optimizer.step(self.parameter_groups(), self.backend)
        return value, out

    def fit(self, x, y, *, epochs=1, batch_size=32, validation_data=None, shuffle=True,
            patience=None, restore_best=True, transform=None, on_epoch=None, progress=True):
        """Train on ``(x, y)`` with mini-batches; return the history.

        Parameters
        ----------
        x, y : ndarray, or lists of them
            Inputs ``(N, *input_shape)`` (floating point and finite, or integer tokens for
            an `Embedding`), one array per input; targets, one per output.
        epochs, batch_size : int
        validation_data : tuple (x_val, y_val), optional
            Evaluated after every epoch (``val_loss``, ``val_accuracy``).
        shuffle : bool
            Reshuffle every epoch, with the model's seeded generator.
        patience : int, optional
            Early stopping: stop when the monitored loss (``val_loss`` if there is
            validation data, else ``loss``) has not improved for ``patience`` epochs; with
            ``restore_best`` the weights of the best epoch are put back.
        transform : callable, optional
            ``transform(x_batch, rng) -> x_batch``, applied to every training batch's inputs
            on the host before they go to the device, with the model's seeded generator: a
            fresh draw per batch of data augmentation or input corruption (a denoising
            autoencoder's noise). It must keep the batch's shape.
        on_epoch : callable, optional
            ``on_epoch(epoch, history)`` after every epoch (``epoch`` counts from 0, the
            history holds that epoch's numbers): to report progress to a hyperparameter
            search, say. An exception it raises (a pruned trial) ends `fit` and propagates.
        progress : bool
            Show a progress bar per epoch with the running loss and accuracy.

        Returns
        -------
        dict
            Lists per epoch: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``lr``,
            ``seconds``, and ``stopped_epoch`` (None if all epochs ran).
        """
        self._require_compiled()
        for name, value in (("transform", transform), ("on_epoch", on_epoch)):
            if value is not None and not callable(value):
                raise TypeError(f"fit: {name} must be a callable, got {type(value).__name__}")
        epochs = integer(epochs, "epochs", "fit")
        batch_size = integer(batch_size, "batch_size", "fit")
        patience = optional_integer(patience, "patience", "fit")
        x, y = self._check_data(x, y)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("fit: validation_data must be a pair (x_val, y_val), got "
                                f"{type(validation_data).__name__}")
            vx, vy = self._check_data(*validation_data)
            validation_data = (vx if self.multi_input else vx[0], vy)
        n = len(x[0])
        steps = math.ceil(n / batch_size)
        history = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr",
                                   "seconds")}
        history["stopped_epoch"] = None
        monitor = "val_loss" if validation_data is not None else "loss"
        best, best_state, waited = math.inf, None, 0
        for epoch in range(epochs):
            start = time.perf_counter()
            order = self.rng.permutation(n) if shuffle else np.arange(n)
            losses, seen = _Total(self.backend), 0
            hits = _Hits(self.backend) if self.metrics else None
            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                       disable=not progress, leave=True, dynamic_ncols=True)
            for step in range(steps):
                idx = order[step * batch_size:(step + 1) * batch_size]
                self.optimizer.progress = epoch + step / steps
                with self._arena.step(_signature(x, len(idx))):
                    xb, yb = self._batch(x, idx, transform), _take(y, idx)
                    _, out = self.train_step(xb, yb, losses.total, len(idx))
                    if hits is not None:
                        hits.add(out, yb)
                seen += len(idx)
                if progress and (step % 20 == 0 or step == steps - 1):
                    postfix = {"loss": f"{losses.value() / seen:.4f}"}
                    if hits is not None:
                        postfix["acc"] = f"{hits.count() / seen:.4f}"
                    bar.set_postfix(postfix, refresh=False)
                bar.update(1)
            history["loss"].append(losses.value() / seen)
            history["accuracy"].append(hits.count() / seen if hits is not None else None)
            history["lr"].append(self.optimizer.current_lr)
            if validation_data is not None:
                scores = self.evaluate(*validation_data)
                history["val_loss"].append(scores["loss"])
                history["val_accuracy"].append(scores.get("accuracy"))
                postfix = {"loss": f"{history['loss'][-1]:.4f}",
                           "val_loss": f"{scores['loss']:.4f}"}
                if "accuracy" in scores:
                    postfix["val_acc"] = f"{scores['accuracy']:.4f}"
                bar.set_postfix(postfix)
            bar.close()
            history["seconds"].append(time.perf_counter() - start)
            if on_epoch is not None:
                on_epoch(epoch, history)
            if patience is not None:
                current = history[monitor][-1]
                if current < best:
                    best, waited = current, 0
                    best_state = self._snapshot() if restore_best else None
                else:
                    waited += 1
                    if waited >= patience:
                        history["stopped_epoch"] = epoch + 1
                        break
        if best_state is not None and history["stopped_epoch"] is not None:
            self._restore(best_state)
        return history

    def evaluate(self, x, y, batch_size=1024):
        """Mean loss (and accuracy, for classification) over ``(x, y)``, in inference mode."""
        self._require_compiled()
        batch_size = integer(batch_size, "batch_size", "evaluate")
        x, y = self._check_data(x, y)
        n = len(x[0])
        losses = _Total(self.backend)
        hits = _Hits(self.backend) if self.metrics else None
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(start + batch_size, n))
            yb = _take(y, idx)
            out = self.forward(self._batch(x, idx), training=False)
            self.compute_loss(out, yb, losses.total, len(idx))
            if hits is not None:
                hits.add(out, yb)
        scores = {"loss": losses.value() / n}
        if hits is not None:
            scores["accuracy"] = hits.count() / n
        return scores

    def predict(self, x, batch_size=1024):
        """Outputs for ``x`` (inference mode) as NumPy arrays: one array, or a list of them
        for a model with several outputs."""
        batch_size = integer(batch_size, "batch_size", "predict")
        x, _ = self._check_data(x, None, allow_empty=True)
        n = len(x[0])
        parts = [[] for _ in self.output_shapes]
        for start in range(0, n, batch_size):
            out = self.forward(self._batch(x, np.arange(start, min(start + batch_size, n))))
            for part, o in zip(parts, out if self.multi_output else [out]):
                part.append(self.backend.to_numpy(o))
        result = [np.concatenate(p) if p else np.empty((0, *shape), self.dtype)
                  for p, shape in zip(parts, self.output_shapes)]
        return result if self.multi_output else result[0]

    def _batch(self, x, idx, transform=None):
        """The rows ``idx`` of every input, on the device: one array or a list; passed
        through ``transform`` on the host first (see `fit`)."""
        arrays = [a[idx] for a in x]
        if transform is not None:
            changed = transform(arrays if self.multi_input else arrays[0], self.rng)
            changed = list(changed) if self.multi_input else [changed]
            for k, (before, after) in enumerate(zip(arrays, changed)):
                if np.shape(after) != before.shape:
                    raise ValueError(f"fit: transform changed the shape of input {k}'s batch "
                                     f"from {before.shape} to {np.shape(after)}")
            arrays = [np.asarray(a, dtype=b.dtype) for a, b in zip(changed, arrays)]
        arrays = [self.backend.upload(a) for a in arrays]
        return arrays if self.multi_input else arrays[0]

    # Checking --------------------------------------------------------------------------------------
    def _require_built(self):
        if not self.inputs_spec:
            raise RuntimeError("the model is not built: pass input_shape= or call build()")

    def _require_compiled(self):
        self._require_built()
        if self.loss is None or self.optimizer is None:
            raise RuntimeError("call compile(loss=..., optimizer=...) before fit or evaluate")

    def _check_data(self, x, y, allow_empty=False):
        """``(xs, y)``: the inputs as a list of checked host arrays (one per input) and the
        targets (an array, or a list for several outputs), or a ValueError that says what
        was expected."""
        self._require_built()
        xs = self._as_list(x, len(self.inputs_spec), "inputs")
        xs = [self._check_input(a, shape, tokens, allow_empty, k)
              for k, (a, (shape, tokens)) in enumerate(zip(xs, self.inputs_spec))]
        n = xs[0].shape[0]
        for k, a in enumerate(xs[1:], 1):
            if a.shape[0] != n:
                raise ValueError(f"input {k} has {a.shape[0]} samples but input 0 has {n}")
        if y is None:
            return xs, None
        ys = self._as_list(y, len(self.output_shapes), "targets")
        checked = []
        for t in ys:
            t = np.asarray(t)
            if t.ndim == 0 or t.shape[0] != n:
                count = t.shape[0] if t.ndim else "scalar"
                raise ValueError(f"got {n} inputs but {count} targets")
            if t.dtype.kind == "f" and not np.all(np.isfinite(t)):
                raise ValueError("targets contain NaN or infinite values")
            checked.append(t)
        return xs, checked if self.multi_output else checked[0]

    def _as_list(self, value, count, what):
        if count == 1:
            return [value]
        if not isinstance(value, (list, tuple)) or len(value) != count:
            got = f"a list of {len(value)}" if isinstance(value, (list, tuple)) else "one array"
            raise ValueError(f"{self.name} has {count} {'inputs' if what == 'inputs' else 'outputs'}: "
                             f"expected a list of {count} {what}, got {got}")
        return list(value)

    def _check_input(self, x, shape, tokens, allow_empty, k):
        x = np.asarray(x)
        which = f"input {k} " if self.multi_input else ""
        expected = f"(N, {', '.join(map(str, shape))})"
        if x.shape[1:] != tuple(shape):
            raise ValueError(f"expected {which}inputs of shape {expected}, got {x.shape}")
        if x.shape[0] == 0 and not allow_empty:
            raise ValueError(f"expected {which}inputs of shape {expected} with N >= 1, got no "
                             f"samples")
        if tokens is not None:
            if x.dtype.kind not in "iu":
                raise ValueError(f"expected integer tokens for {tokens.kind}, got dtype "
                                 f"{x.dtype}")
            x = np.ascontiguousarray(x, dtype=np.int64)
            tokens.check_input(x)  # the vocabulary's range, on the host
            return x
        if x.dtype.kind != "f":
            raise ValueError(f"expected floating-point {which}inputs, got dtype {x.dtype} "
                             f"(scale integer images to [0, 1] first, e.g. x / 255)")
        x = np.ascontiguousarray(x, dtype=self.dtype)
        bad = np.count_nonzero(~np.isfinite(x))
        if bad:
            raise ValueError(f"{which}inputs contain {bad} NaN or infinite values")
        return x

    # Describing --------------------------------------------------------------------------------------
    def summary(self, print_fn=print):
        """Print (and return) a table of layers, output shapes and parameter counts.

        ``print_fn`` receives the text (``print`` by default); with None the text is only
        returned, e.g. ``print(model.summary(print_fn=None))`` on a page whose ``print``
        is captured.
        """
        self._require_built()
        header, rows = self.summary_rows()
        widths = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(header)]
        line = "=" * sum(widths)
        fmt = "".join(f"{{:<{w}}}" for w in widths)
        trainable, other = self.count_params(), self.count_params(False)
        inputs = ", ".join(str((None, *shape)) for shape, _ in self.inputs_spec)
        text = "\n".join([
            f'Model: "{self.name}"  (input {inputs}, {self.backend.name}, {self.dtype})',
            fmt.format(*header), line,
            *(fmt.format(*r).rstrip() for r in rows), line,
            f"Total params: {trainable + other:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {other:,}",
        ])
        if print_fn is not None:
            print_fn(text)
        return text

    # Saving --------------------------------------------------------------------------------------------
    def save(self, path):
        """Save config and weights to ``path`` (one ``.npz`` file, written atomically)."""
        return save_model(self, path)

    def load_weights(self, path):
        """Load weights saved from a model of the same architecture (else a ValueError)."""
        config, arrays = read_model_file(path)
        if architecture(config) != architecture(self.get_config()):
            raise ValueError(f"{path} holds a model of another architecture:\n"
                             f"  file:  {describe(config)}\n"
                             f"  model: {describe(self.get_config())}")
        for i, layer in enumerate(self.layers):
            for store in (layer.params, layer.buffers):
                for name, value in store.items():
                    saved = arrays[f"{i}.{name}"]
                    if saved.shape != tuple(value.shape):
                        raise ValueError(f"{path}: {layer.name}.{name} has shape {saved.shape}, "
                                         f"expected {tuple(value.shape)}")
                    self.backend.copy_into(value, saved)
        return self

    def _snapshot(self):
        return [{k: self.backend.to_numpy(v).copy() for s in (l.params, l.buffers)
                 for k, v in s.items()} for l in self.layers]

    def _restore(self, snapshot):
        for layer, saved in zip(self.layers, snapshot):
            for store in (layer.params, layer.buffers):
                for k, v in store.items():
                    self.backend.copy_into(v, saved[k])


def _signature(x, rows=None):
    """What identifies a step's arrays: the shapes and dtypes of its inputs (one array or
    a list), with ``rows`` samples each when given."""
    arrays = x if isinstance(x, (list, tuple)) else [x]
    return tuple((rows if rows is not None else a.shape[0], *a.shape[1:], str(a.dtype))
                 for a in arrays)


def _take(y, idx):
    """Rows ``idx`` of the targets (an array or a list of arrays)."""
    return [t[idx] for t in y] if isinstance(y, list) else y[idx]


class _Total:
    """A running sum kept where the model runs (a one-element float64 array): the losses
    add into it on the device, and only `value` copies it to the host (on a GPU, a
    synchronisation: once per progress-bar refresh, not per step)."""

    def __init__(self, backend):
        self.backend = backend
        self.total = backend.zeros((1,), np.float64)

    def value(self):
        return float(self.backend.to_numpy(self.total)[0])


class _Hits(_Total):
    """A running count of correctly classified samples, kept where the model runs: each
    batch adds to it with the backend's ``count_correct`` kernel, and only `count` copies it
    to the host. With sequence labels ``(N, T)`` each sample counts the fraction of its
    steps predicted correctly (so accuracy is per token)."""

    def __init__(self, backend):
        super().__init__(backend)
        self.steps_per_sample = 1

    def add(self, out, y):
        """Add the correct predictions of outputs ``out`` for the targets ``y`` (host: class
        labels, or one-hot rows)."""
        labels = y if y.ndim == out.ndim - 1 else y.argmax(axis=-1)
        self.steps_per_sample = labels.size // max(labels.shape[0], 1)
        scores = out.reshape(labels.size, out.shape[out.ndim - 1])
        labels = self.backend.upload(labels.reshape(-1), np.int64)
        self.backend.kernels.count_correct(scores, labels, self.total)

    def count(self):
        """The number of correct samples so far (read from the device)."""
        return self.value() / self.steps_per_sample


def name_layers(layers):
    """Give unnamed layers Keras-style names: dense, dense_1, activation, ..."""
    counts: dict[str, int] = {}
    for layer in layers:
        if layer.name is None:
            base = type(layer).__name__.lower()
            n = counts.get(base, 0)
            counts[base] = n + 1
            layer.name = base if n == 0 else f"{base}_{n}"
