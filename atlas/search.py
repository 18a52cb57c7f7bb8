r"""Hyperparameter search with Optuna: grid, random and Bayesian, on one machine or many.

A *study* is a named set of *trials*, each one set of hyperparameters and the validation
accuracy it reached. A *sampler* proposes the next set:

- ``grid``: every combination of a few values per hyperparameter (`Hyperparameter.grid`);
- ``random``: independent draws from each hyperparameter's range;
- ``tpe``: the Tree-structured Parzen Estimator (Bergstra et al., 2011), which splits the
  trials so far into the best fraction $\gamma$ and the rest, fits a density to each,
  $\ell(x)$ and $g(x)$, and proposes the candidate that maximises $\ell(x) / g(x)$, a
  quantity monotone in the expected improvement;
- ``gp``: a Gaussian process surrogate of accuracy against hyperparameters, with the
  log expected improvement as the acquisition function (Optuna's `GPSampler`, which needs
  PyTorch: the ``bench`` extra).

A *pruner* stops a trial whose per-epoch validation accuracy is hopeless compared with the
trials before it at the same epoch (``median``: below their median; ``hyperband``:
successive halving over several budgets). Trials are kept in a *storage*: a SQLite file by
default, so that a killed search resumes where it stopped (the trial in flight is lost:
its heartbeat stops, and it is marked failed once the grace period has passed), or a
PostgreSQL database shared by several ``atlas search`` processes on any number of
machines, which Optuna coordinates through the database alone.

Every trial trains on the training split and is scored on the held-out validation split;
the test set is used once, by `retrain_best`, for the winning hyperparameters.
"""

from __future__ import annotations

import math
import os
import socket
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from atlas.checks import integer

#: Where a search keeps its trials unless told otherwise (a file next to ``runs/`` models).
DEFAULT_STORAGE = "sqlite:///runs/search.db"
SAMPLERS = ("grid", "random", "tpe", "gp")
PRUNERS = ("median", "hyperband", "none")
#: Seconds between a running trial's heartbeats, and after which a silent one is failed.
HEARTBEAT, GRACE = 10, 30


@dataclass(frozen=True)
class Hyperparameter:
    """One dimension of a search space: a float or integer range (``log`` for a
    log-uniform one) or a list of ``choices``, and the few values the grid sampler tries."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple = ()
    grid: tuple = field(default=())

    def suggest(self, trial):
        """The value of this hyperparameter for ``trial`` (an Optuna trial)."""
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def describe(self):
        """The definition as JSON-ready data (kept with the study, compared on resuming)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Task:
    """A model to tune: its search space, how to build it from a set of hyperparameters,
    the image shape it takes and the epochs each trial trains."""

    name: str
    space: tuple
    builder: str  # "mlp" or "lenet"
    image_shape: tuple
    epochs: int
    fixed: dict = field(default_factory=dict)  # hyperparameters held constant

    def build(self, params, seed=0, device="cpu"):
        from atlas.models.cnn import lenet5
        from atlas.models.mlp import mlp

        if self.builder == "mlp":
            return mlp((params["width"],), dropout=params["dropout"], seed=seed, device=device)
        return lenet5(width=params["width"], dropout=params["dropout"], seed=seed,
                      device=device)

    def grid(self):
        return {h.name: list(h.grid) for h in self.space}

    def suggest(self, trial):
        """All hyperparameters of a model: the fixed ones and ``trial``'s suggestions."""
        return {**self.fixed, **{h.name: h.suggest(trial) for h in self.space}}


def _common(width):
    """The hyperparameters both tasks search, with the task's ``width``."""
    return (Hyperparameter("lr", 1e-4, 3e-2, log=True, grid=(3e-4, 3e-3, 3e-2)),
            width,
            Hyperparameter("dropout", 0.0, 0.5, grid=(0.0, 0.4)),
            Hyperparameter("weight_decay", 1e-6, 1e-2, log=True, grid=(1e-5, 1e-3)),
            Hyperparameter("batch_size", choices=(32, 64, 128, 256), grid=(64,)))


#: The tasks `search` knows: the MLP (one hidden layer of ``width`` units) and LeNet-5
#: (``width`` times its channels), both on Fashion-MNIST.
TASKS = {
    "mlp": Task("mlp", _common(Hyperparameter("width", 32, 1024, log=True, integer=True,
                                              grid=(64, 512))), "mlp", (28, 28), 5),
    "lenet": Task("lenet", _common(Hyperparameter("width", 1, 4, integer=True, grid=(1, 2))),
                  "lenet", (1, 28, 28), 3),
}


def get_task(name):
    if name not in TASKS:
        raise ValueError(f"unknown search task {name!r}; choose one of {sorted(TASKS)}")
    return TASKS[name]


# The parts of a study ------------------------------------------------------------------------
def make_sampler(name, task, seed=0):
    """The Optuna sampler called ``name`` (one of `SAMPLERS`), seeded."""
    import optuna

    if name == "grid":
        return optuna.samplers.GridSampler(task.grid(), seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
    if name == "gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ValueError("the gp sampler is Optuna's GPSampler, which needs PyTorch: "
                             "pip install 'atlas[bench]'") from None
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=5)
    raise ValueError(f"unknown sampler {name!r}; choose one of {SAMPLERS}")


def make_pruner(name, epochs):
    """The Optuna pruner called ``name`` (one of `PRUNERS`) for trials of ``epochs``."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs,
                                              reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {name!r}; choose one of {PRUNERS}")


def make_storage(url):
    """Optuna's storage for ``url``: a SQLite file (its folder is created) or a server
    database such as ``postgresql://user@host:5432/name``, with heartbeats so that the
    trial of a killed worker is failed instead of staying "running" for ever. A storage
    that cannot be reached is a ValueError that names it."""
    import optuna
    import sqlalchemy.exc

    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(5):
        try:
            with _quiet_optuna():
                return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT,
                                                  grace_period=GRACE)
        except sqlalchemy.exc.SQLAlchemyError as error:
            if not _lost_creation_race(error):
                raise ValueError(f"cannot open the study storage {url!r}: "
                                 f"{_first_line(error)}") from None
            # Workers started together on an empty database race to create Optuna's
            # tables; the losers find them made by the winner on the next try.
            time.sleep(0.5 * (attempt + 1))
        except (ImportError, ValueError) as error:
            raise ValueError(f"cannot open the study storage {url!r}: "
                             f"{_first_line(error)}") from None
    raise ValueError(f"cannot open the study storage {url!r}: its tables could not be created "
                     f"(another worker kept creating them)")


#: SQLSTATE codes of a table, type or row that another worker created first: unique
#: violation, duplicate table, duplicate object (PostgreSQL; seen in CI, 2026-11-30, as
#: ``psycopg.errors.DuplicateTable`` when two workers opened an empty database at once).
_CREATED_BY_ANOTHER = {"23505", "42P07", "42710"}


def _lost_creation_race(error):
    """Whether ``error`` (from SQLAlchemy) says another worker created the tables first."""
    import sqlalchemy.exc

    if isinstance(error, sqlalchemy.exc.IntegrityError):
        return True
    return getattr(getattr(error, "orig", None), "sqlstate", None) in _CREATED_BY_ANOTHER


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def signature(task, epochs, images):
    """What a study's trials depend on: the task, its search space, the epochs and the
    training images. Kept with the study; a search that differs is refused."""
    return {"task": task.name, "space": [h.describe() for h in task.space],
            "fixed": task.fixed, "epochs": epochs, "images": images}


def open_study(task, *, study=None, storage=DEFAULT_STORAGE, sampler="tpe", pruner="median",
               epochs=None, images=None, seed=0):
    """Create the study, or load it to resume or to join other workers. A study created by
    another task, search space, epoch count or number of images is refused with a
    ValueError before anything is written to it."""
    import optuna

    task = get_task(task) if isinstance(task, str) else task
    epochs = task.epochs if epochs is None else integer(epochs, "epochs", "search")
    name = study or f"{task.name}-{sampler}"
    wanted = signature(task, epochs, images)
    storage = make_storage(storage) if isinstance(storage, str) else storage
    with _quiet_optuna():
        result = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                     sampler=make_sampler(sampler, task, seed),
                                     pruner=make_pruner(pruner, epochs), load_if_exists=True)
    existing = result.user_attrs.get("atlas")
    if existing is None:
        result.set_user_attr("atlas", wanted)
    elif existing != wanted:
        raise ValueError(f"study {name!r} was created for {_describe(existing)}; this search "
                         f"is {_describe(wanted)}. Give another --study name, or the same "
                         f"task and settings")
    return result


def _describe(sig):
    names = ", ".join(h["name"] for h in sig["space"])
    return (f"task {sig['task']} ({names}), {sig['epochs']} epochs on "
            f"{'all' if sig['images'] is None else sig['images']} training images")


def _quiet_optuna():
    """Optuna's per-trial log lines and experimental warnings off (the progress bar and
    the final table say it)."""
    import contextlib

    import optuna

    @contextlib.contextmanager
    def quiet():
        level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                yield
            finally:
                optuna.logging.set_verbosity(level)
    return quiet()


# Running -------------------------------------------------------------------------------------------
def task_data(task, images=None):
    """``(train, validation, test)`` pairs of Fashion-MNIST in the task's image shape, the
    training split cut to its first ``images``."""
    from atlas.models.mlp import fashion_mnist_splits

    splits = [(x.reshape(len(x), *task.image_shape), y) for x, y in fashion_mnist_splits()]
    if images is not None:
        x, y = splits[0]
        splits[0] = (x[:images], y[:images])
    return splits


def train_trial(task, params, data, epochs, *, seed=0, device="cpu", on_epoch=None):
    """Train the task's model with ``params`` (AdamW, cosine schedule) on ``data[0]``,
    validating on ``data[1]`` after every epoch. Returns ``(model, history)``."""
    from atlas.optimizers import AdamW, CosineDecay

    model = task.build(params, seed=seed, device=device)
    model.compile("softmax_cross_entropy",
                  AdamW(params["lr"], weight_decay=params["weight_decay"],
                        schedule=CosineDecay(epochs)))
    (x, y), validation = data[0], data[1]
    history = model.fit(x, y, epochs=epochs, batch_size=params["batch_size"],
                        validation_data=validation, on_epoch=on_epoch, progress=False)
    return model, history


def objective(task, data, epochs, *, seed=0, device="cpu"):
    """Optuna's objective for ``task``: the validation accuracy of the last epoch, reported
    after every epoch so that the pruner can stop the trial early."""
    import optuna

    worker = f"{socket.gethostname()}:{os.getpid()}"

    def run(trial):
        params = task.suggest(trial)
        trial.set_user_attr("worker", worker)

        def report(epoch, history):
            trial.report(history["val_accuracy"][-1], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        _, history = train_trial(task, params, data, epochs, seed=seed, device=device,
                                 on_epoch=report)
        return history["val_accuracy"][-1]
    return run


def finished(study):
    """The trials that ended (complete or pruned): what counts towards a budget."""
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def search(task, *, trials=20, study=None, storage=DEFAULT_STORAGE, sampler="tpe",
           pruner="median", epochs=None, images=None, seed=0, device="cpu", progress=True):
    """Run (or resume, or join) a study until it has ``trials`` finished trials in all,
    counting those of earlier runs and of other workers. Returns the Optuna study."""
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    task = get_task(task) if isinstance(task, str) else task
    trials = integer(trials, "trials", "search")
    images = None if images is None else integer(images, "images", "search")
    epochs = task.epochs if epochs is None else integer(epochs, "epochs", "search")
    result = open_study(task, study=study, storage=storage, sampler=sampler, pruner=pruner,
                        epochs=epochs, images=images, seed=seed)
    remaining = trials - len(finished(result))
    if remaining > 0:
        data = task_data(task, images)
        stop = MaxTrialsCallback(trials, states=(TrialState.COMPLETE, TrialState.PRUNED))
        with _quiet_optuna():
            result.optimize(objective(task, data, epochs, seed=seed, device=device),
                            n_trials=remaining, callbacks=[stop], show_progress_bar=progress)
    return result


def best_rows(study, k=5):
    """The ``k`` best complete trials as table rows: number, validation accuracy and the
    hyperparameters."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    done.sort(key=lambda t: -t.value)
    return [(str(t.number), f"{t.value:.4f}", *(_format(t.params[n]) for n in sorted(t.params)))
            for t in done[:k]]


def _format(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def retrain_best(study, *, seed=0, device="cpu"):
    """Train the task's model once more with the study's best hyperparameters (same epochs
    and training images) and evaluate it, once, on the test set. Returns
    ``(model, test_scores)``."""
    sig = study.user_attrs["atlas"]
    task = get_task(sig["task"])
    data = task_data(task, sig["images"])
    model, _ = train_trial(task, {**task.fixed, **study.best_params}, data, sig["epochs"],
                           seed=seed, device=device)
    return model, model.evaluate(*data[2])


def best_so_far(values):
    """The running maximum of ``values`` (NaN for a pruned trial counts as no value)."""
    values = np.asarray(values, dtype=np.float64)
    return np.fmax.accumulate(np.where(np.isnan(values), -math.inf, values))
