"""A stack of layers trained end to end: `Sequential`."""

from __future__ import annotations

import math
import time

import numpy as np
from tqdm.auto import tqdm

from atlas.backend import get_backend
from atlas.checks import integer, optional_integer
from atlas.losses import get_loss
from atlas.nn.layer import LAYERS, Layer, float_dtype
from atlas.nn.serialization import (
    architecture,
    describe,
    read_model_file,
    save_model,
)


class Sequential:
    """Layers applied one after the other.

    Parameters
    ----------
    layers : list of Layer
    input_shape : tuple of int, optional
        Per-sample input shape (no batch axis). Given here, the model is built at once;
        otherwise call `build`.
    device : {"cpu", "cuda"}
    dtype : str
        Floating type of parameters and activations ("float32"; "float64" for checks).
    seed : int
        Seeds the initial weights, dropout masks and the shuffling in `fit`.
    metadata : dict, optional
        JSON-serialisable facts that travel with the saved model (a language model's
        vocabulary, say).

    Examples
    --------
    >>> from atlas.nn import Sequential, Dense, Activation
    >>> model = Sequential([Dense(4), Activation("relu"), Dense(2)], input_shape=(3,))
    >>> model.count_params()
    26
    """

    def __init__(self, layers, input_shape=None, *, device="cpu", dtype="float32", seed=0,
                 name="sequential", metadata=None):
        self.layers = list(layers)
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"{name}: every layer must be an atlas Layer, got {layer!r}")
        self.metadata = dict(metadata or {})
        self.backend = get_backend(device)
        self.dtype = float_dtype(dtype)
        self.seed = integer(seed, "seed", name, minimum=0)
        self.name = name
        self.rng = np.random.default_rng(self.seed)
        self.input_shape = None
        self.loss = None
        self.optimizer = None
        _name_layers(self.layers)
        if input_shape is not None:
            self.build(input_shape)

    # Building ------------------------------------------------------------------------------
    def build(self, input_shape):
        """Build every layer for per-sample inputs of ``input_shape``."""
        shape = tuple(int(d) for d in input_shape)
        self.input_shape = shape
        upstream_learns = False
        for layer in self.layers:
            layer.build(shape, self.backend, self.rng, self.dtype)
            layer.needs_input_grad = upstream_learns
            upstream_learns = upstream_learns or bool(layer.params)
            shape = layer.output_shape
        return self

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.layers else self.input_shape

    def _require_built(self):
        if self.input_shape is None:
            raise RuntimeError("the model is not built: pass input_shape= or call build()")

    def trainable_parameters(self):
        """``(key, param, grad)`` for every parameter that is not frozen."""
        for i, layer in enumerate(self.layers):
            for name, param in layer.params.items():
                if name not in layer.frozen:
                    yield f"{i}.{name}", param, layer.grads[name]

    def count_params(self, trainable=True):
        return sum(layer.count_params(trainable) for layer in self.layers)

    # Computing -----------------------------------------------------------------------------
    def forward(self, x, training=False):
        """Output of the model for a batch ``x`` already on the device."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, dy):
        """Backpropagate ``dy`` (gradient w.r.t. the output); fills every layer's ``grads``.

        Stops at the first layer whose input needs no gradient (returns None there).
        """
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
            if not layer.needs_input_grad:
                return None
        return dy

    __call__ = forward

    def compile(self, loss, optimizer, metrics=("accuracy",)):
        """Choose the loss (name or `Loss`) and the optimizer."""
        self.loss = get_loss(loss)
        self.optimizer = optimizer
        self.metrics = tuple(m for m in metrics if m == "accuracy" and self.loss.classification)
        return self

    def train_step(self, x, y):
        """One forward, backward and update on a batch on the device; ``(loss, output)``."""
        out = self.forward(x, training=True)
        value, grad = self.loss(out, y, self.backend)
        self.backward(grad)
        self.optimizer.step(self.trainable_parameters(), self.backend)
        return value, out

    def fit(self, x, y, *, epochs=1, batch_size=32, validation_data=None, shuffle=True,
            patience=None, restore_best=True, progress=True):
        """Train on ``(x, y)`` with mini-batches; return the history.

        Parameters
        ----------
        x, y : ndarray
            Inputs ``(N, *input_shape)`` (floating point, finite) and targets.
        epochs, batch_size : int
        validation_data : tuple (x_val, y_val), optional
            Evaluated after every epoch (``val_loss``, ``val_accuracy``).
        shuffle : bool
            Reshuffle every epoch, with the model's seeded generator.
        patience : int, optional
            Early stopping: stop when the monitored loss (``val_loss`` if there is
            validation data, else ``loss``) has not improved for ``patience`` epochs; with
            ``restore_best`` the weights of the best epoch are put back.
        progress : bool
            Show a progress bar per epoch with the running loss and accuracy.

        Returns
        -------
        dict
            Lists per epoch: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``lr``,
            ``seconds``, and ``stopped_epoch`` (None if all epochs ran).
        """
        self._require_compiled()
        epochs = integer(epochs, "epochs", "fit")
        batch_size = integer(batch_size, "batch_size", "fit")
        patience = optional_integer(patience, "patience", "fit")
        x, y = self._check_data(x, y)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("fit: validation_data must be a pair (x_val, y_val), got "
                                f"{type(validation_data).__name__}")
            validation_data = self._check_data(*validation_data)
        n = x.shape[0]
        steps = math.ceil(n / batch_size)
        history = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr",
                                   "seconds")}
        history["stopped_epoch"] = None
        monitor = "val_loss" if validation_data is not None else "loss"
        best, best_state, waited = math.inf, None, 0
        for epoch in range(epochs):
            start = time.perf_counter()
            order = self.rng.permutation(n) if shuffle else np.arange(n)
            total_loss, correct, seen = 0.0, 0, 0
            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                       disable=not progress, leave=True, dynamic_ncols=True)
            for step in range(steps):
                idx = order[step * batch_size:(step + 1) * batch_size]
                self.optimizer.progress = epoch + step / steps
                xb = self.backend.asarray(x[idx])
                value, out = self.train_step(xb, y[idx])
                total_loss += value * len(idx)
                seen += len(idx)
                if self.metrics:
                    correct += _count_correct(self.backend.to_numpy(out), y[idx])
                if progress and (step % 20 == 0 or step == steps - 1):
                    postfix = {"loss": f"{total_loss / seen:.4f}"}
                    if self.metrics:
                        postfix["acc"] = f"{correct / seen:.4f}"
                    bar.set_postfix(postfix, refresh=False)
                bar.update(1)
            history["loss"].append(total_loss / seen)
            history["accuracy"].append(correct / seen if self.metrics else None)
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
        total, correct = 0.0, 0
        for start in range(0, x.shape[0], batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            out = self.forward(self.backend.asarray(xb), training=False)
            value, _ = self.loss(out, yb, self.backend)
            total += value * xb.shape[0]
            if self.metrics:
                correct += _count_correct(self.backend.to_numpy(out), yb)
        scores = {"loss": total / x.shape[0]}
        if self.metrics:
            scores["accuracy"] = correct / x.shape[0]
        return scores

    def predict(self, x, batch_size=1024):
        """Outputs for ``x`` (inference mode) as a NumPy array."""
        batch_size = integer(batch_size, "batch_size", "predict")
        x, _ = self._check_data(x, None, allow_empty=True)
        outs = [self.backend.to_numpy(self.forward(self.backend.asarray(x[s:s + batch_size])))
                for s in range(0, x.shape[0], batch_size)]
        return np.concatenate(outs) if outs else np.empty((0, *self.output_shape), self.dtype)

    # Checking --------------------------------------------------------------------------------
    def _require_compiled(self):
        self._require_built()
        if self.loss is None or self.optimizer is None:
            raise RuntimeError("call compile(loss=..., optimizer=...) before fit or evaluate")

    def _check_data(self, x, y, allow_empty=False):
        self._require_built()
        x = np.asarray(x)
        expected = f"(N, {', '.join(map(str, self.input_shape))})"
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"expected inputs of shape {expected}, got {x.shape}")
        if x.shape[0] == 0 and not allow_empty:
            raise ValueError(f"expected inputs of shape {expected} with N >= 1, got no samples")
        if getattr(self.layers[0], "takes_indices", False):
            if x.dtype.kind not in "iu":
                raise ValueError(f"expected integer tokens for {self.layers[0].kind}, got "
                                 f"dtype {x.dtype}")
            x = np.ascontiguousarray(x, dtype=np.int64)
            self.layers[0].check_input(x)
        elif x.dtype.kind != "f":
            raise ValueError(f"expected floating-point inputs, got dtype {x.dtype} "
                             f"(scale integer images to [0, 1] first, e.g. x / 255)")
        else:
            x = np.ascontiguousarray(x, dtype=self.dtype)
            bad = np.count_nonzero(~np.isfinite(x))
            if bad:
                raise ValueError(f"inputs contain {bad} NaN or infinite values")
        if y is not None:
            y = np.asarray(y)
            if y.ndim == 0 or y.shape[0] != x.shape[0]:
                count = y.shape[0] if y.ndim else "scalar"
                raise ValueError(f"got {x.shape[0]} inputs but {count} targets")
            if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
                raise ValueError("targets contain NaN or infinite values")
        return x, y

    # Describing ------------------------------------------------------------------------------
    def summary(self, print_fn=print):
        """Print (and return) a table of layers, output shapes and parameter counts.

        ``print_fn`` receives the text (``print`` by default); with None the text is only
        returned, e.g. ``print(model.summary(print_fn=None))`` on a page whose ``print``
        is captured.
        """
        self._require_built()
        rows = [(f"{layer.name} ({layer.kind})", str((None, *layer.output_shape)),
                 f"{layer.count_params() + layer.count_params(False):,}")
                for layer in self.layers]
        widths = [max(len(h), *(len(r[i]) for r in rows)) + 2
                  for i, h in enumerate(("Layer (type)", "Output Shape", "Param #"))]
        line = "=" * sum(widths)
        fmt = "".join(f"{{:<{w}}}" for w in widths)
        trainable, other = self.count_params(), self.count_params(False)
        text = "\n".join([
            f'Model: "{self.name}"  (input {(None, *self.input_shape)}, '
            f"{self.backend.name}, {self.dtype})",
            fmt.format("Layer (type)", "Output Shape", "Param #"), line,
            *(fmt.format(*r) for r in rows), line,
            f"Total params: {trainable + other:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {other:,}",
        ])
        if print_fn is not None:
            print_fn(text)
        return text

    def get_config(self):
        self._require_built()
        return {"name": self.name, "input_shape": list(self.input_shape),
                "dtype": str(self.dtype), "seed": self.seed, "metadata": self.metadata,
                "layers": [{"class": type(layer).__name__, "config": layer.get_config(),
                            "frozen": sorted(layer.frozen)} for layer in self.layers]}

    @classmethod
    def from_config(cls, config, device="cpu"):
        layers = []
        for spec in config["layers"]:
            if spec["class"] not in LAYERS:
                raise ValueError(f"unknown layer class {spec['class']!r} in model config")
            layer = LAYERS[spec["class"]](**spec["config"])
            layers.append(layer)
        model = cls(layers, config["input_shape"], device=device, dtype=config["dtype"],
                    seed=config.get("seed", 0), name=config.get("name", "sequential"),
                    metadata=config.get("metadata"))
        for layer, spec in zip(model.layers, config["layers"]):
            if spec.get("frozen"):
                layer.freeze(*spec["frozen"])
        return model

    # Saving ------------------------------------------------------------------------------------
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


def load(path, device="cpu"):
    """Rebuild a saved model (architecture and weights) from ``path``."""
    config, _ = read_model_file(path)
    return Sequential.from_config(config, device=device).load_weights(path)


def _count_correct(out, y):
    """Number of correctly classified samples; with sequence labels ``(N, T)`` each sample
    counts the fraction of its steps predicted correctly (so accuracy is per token)."""
    labels = y if y.ndim == out.ndim - 1 else y.argmax(axis=-1)
    hits = np.count_nonzero(out.argmax(axis=-1) == labels)
    per_sample = labels.size // max(labels.shape[0], 1)
    return hits if per_sample == 1 else hits / per_sample


def _name_layers(layers):
    """Give unnamed layers Keras-style names: dense, dense_1, activation, ..."""
    counts: dict[str, int] = {}
    for layer in layers:
        if layer.name is None:
            base = type(layer).__name__.lower()
            n = counts.get(base, 0)
            counts[base] = n + 1
            layer.name = base if n == 0 else f"{base}_{n}"
