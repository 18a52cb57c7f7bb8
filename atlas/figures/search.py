"""Figures of the hyperparameter-search page: grid, random and TPE search on the same
budget, Bergstra and Bengio's argument for random search, and the importances Optuna
measures."""

from __future__ import annotations

import numpy as np

from atlas.figures import style
from atlas.figures.registry import figure, recipe
from atlas.figures.trained import trained

#: The comparison: the MLP task, every sampler with the same number of trials (the grid's
#: size), several seeds, no pruning (each trial runs its full budget).
SEARCH_RUN = {"trials": recipe(24, 6), "seeds": recipe((0, 1, 2), (0,)),
              "images": recipe(3_000, 200), "epochs": recipe(2, 1),
              "samplers": ("grid", "random", "tpe")}
#: The two-hyperparameter search of Bergstra and Bengio's figure: 9 trials, 3x3 for the grid.
PAIR_RUN = {"trials": 9, "seeds": recipe((0, 1, 2, 3, 4), (0,)), "images": SEARCH_RUN["images"],
            "epochs": SEARCH_RUN["epochs"]}


def pair_task():
    """The MLP with only the learning rate and dropout searched (3 grid values each), the
    rest held fixed."""
    from atlas.search import Hyperparameter, Task

    space = (Hyperparameter("lr", 1e-4, 3e-2, log=True, grid=(3e-4, 3e-3, 3e-2)),
             Hyperparameter("dropout", 0.0, 0.5, grid=(0.0, 0.25, 0.5)))
    return Task("mlp-lr-dropout", space, "mlp", (28, 28), PAIR_RUN["epochs"],
                fixed={"width": 256, "weight_decay": 1e-4, "batch_size": 64})


def _study(task, sampler, seed, run):
    import optuna

    from atlas.search import search

    return search(task, trials=run["trials"], study=f"{sampler}-{seed}",
                  storage=optuna.storages.InMemoryStorage(), sampler=sampler, pruner="none",
                  epochs=run["epochs"], images=run["images"], seed=seed, progress=False)


def search_run():
    """``(model, history)``: the comparison of `SEARCH_RUN` (``history["values"][sampler]``
    is one list of validation accuracies per seed, in trial order; ``history["params"]``
    the same for the hyperparameters), the importances measured on the random-search
    trials of all seeds, and the best MLP found, retrained and tested once."""
    from atlas.search import TASKS, task_data, train_trial

    task = TASKS["mlp"]

    def train():
        history = {"values": {}, "params": {}}
        best, pooled = None, []
        for sampler in SEARCH_RUN["samplers"]:
            studies = [_study(task, sampler, seed, SEARCH_RUN) for seed in SEARCH_RUN["seeds"]]
            history["values"][sampler] = [[t.value for t in s.trials] for s in studies]
            history["params"][sampler] = [[t.params for t in s.trials] for s in studies]
            for s in studies:
                if best is None or s.best_value > best.best_value:
                    best = s
            if sampler == "random":
                pooled = [t for s in studies for t in s.trials]
        history["importances"] = _importances(pooled)
        data = task_data(task, SEARCH_RUN["images"])
        model, _ = train_trial(task, {**task.fixed, **best.best_params}, data,
                               SEARCH_RUN["epochs"])
        history["best_params"] = best.best_params
        history["best_value"] = best.best_value
        history["test_accuracy"] = float(model.evaluate(*data[2])["accuracy"])
        return model, history

    return trained("search-samplers", train, SEARCH_RUN)


def _importances(trials):
    """fANOVA importances (Optuna's default evaluator) of the hyperparameters over
    ``trials``, gathered into one in-memory study."""
    import optuna

    from atlas.search import _quiet_optuna

    with _quiet_optuna():
        study = optuna.create_study(direction="maximize")
        study.add_trials(trials)
        values = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    return {name: float(v) for name, v in values.items()}


def pair_run():
    """``(model, history)`` of the two-hyperparameter comparison: per sampler and seed, the
    trials' learning rates, dropouts and validation accuracies; the importances of the two
    on the random trials; the model is the best found, retrained."""
    from atlas.search import task_data, train_trial

    task = pair_task()

    def train():
        history, best, pooled = {}, None, []
        for sampler in ("grid", "random"):
            runs = []
            for seed in PAIR_RUN["seeds"]:
                study = _study(task, sampler, seed, PAIR_RUN)
                runs.append({"lr": [t.params["lr"] for t in study.trials],
                             "dropout": [t.params["dropout"] for t in study.trials],
                             "value": [t.value for t in study.trials]})
                if best is None or study.best_value > best.best_value:
                    best = study
                if sampler == "random":
                    pooled += study.trials
            history[sampler] = runs
        history["importances"] = _importances(pooled)
        model, _ = train_trial(task, {**task.fixed, **best.best_params},
                               task_data(task, PAIR_RUN["images"]), PAIR_RUN["epochs"])
        return model, history

    return trained("search-pair", train, PAIR_RUN)


@figure("search-samplers", "Best validation accuracy so far against the number of trials, "
        "for grid, random and TPE search on the same MLP task and budget: each seed (thin) "
        "and the median over seeds (thick).", trains=True)
def search_samplers():
    from atlas.search import best_so_far

    _, history = search_run()
    fig, ax = style.subplots(width=7.0, height=3.4)
    for color, sampler in zip(style.COLORS, SEARCH_RUN["samplers"]):
        curves = np.array([best_so_far(v) for v in history["values"][sampler]])
        trials = np.arange(1, curves.shape[1] + 1)
        for curve in curves:
            ax.plot(trials, 100 * curve, color=color, alpha=0.3, linewidth=0.8)
        ax.plot(trials, 100 * np.median(curves, axis=0), color=color, linewidth=2,
                label=sampler)
    ax.set(xlabel="trials", ylabel="best validation accuracy so far (%)")
    low = min(min(best_so_far(v)[len(v) // 4] for v in values)
              for values in history["values"].values())
    ax.set_ylim(100 * low - 2, None)
    ax.legend()
    return fig


@figure("search-grid-vs-random", "Nine trials over the learning rate (which matters) and "
        "dropout (which matters less): a 3x3 grid tries three learning rates, random search "
        "nine. Each dot is a trial (one seed); the curves below are the validation accuracy "
        "against the learning rate alone.", trains=True)
def search_grid_vs_random():
    _, history = pair_run()
    fig, axes = style.subplots(2, 2, width=8.0, height=5.0, sharex=True,
                               gridspec_kw={"height_ratios": [2, 1]})
    shown = [100 * np.array(history[s][0]["value"]) for s in ("grid", "random")]
    low, high = min(v.min() for v in shown), max(v.max() for v in shown)
    for column, sampler in enumerate(("grid", "random")):
        run = history[sampler][0]
        top, bottom = axes[0, column], axes[1, column]
        points = top.scatter(run["lr"], run["dropout"], c=shown[column], vmin=low, vmax=high,
                             cmap="viridis", s=60, edgecolor="black", linewidth=0.5)
        top.set(xscale="log", title=f"{sampler}: {len(set(run['lr']))} learning rates",
                ylabel="dropout", ylim=(-0.05, 0.55))
        bottom.plot(run["lr"], 100 * np.array(run["value"]), "o", color=style.COLORS[column])
        bottom.set(xscale="log", xlabel="learning rate", ylabel="val. accuracy (%)")
    fig.colorbar(points, ax=axes[0, :], label="validation accuracy (%)")
    return fig


@figure("search-importance", "How much of the variation in validation accuracy each "
        "hyperparameter explains, measured by Optuna's fANOVA evaluator on the random-search "
        "trials of the MLP task.", trains=True)
def search_importance():
    _, history = search_run()
    importances = history["importances"]
    names = sorted(importances, key=importances.get)
    fig, ax = style.subplots(width=6.0, height=2.8)
    ax.barh(names, [importances[n] for n in names], color=style.COLORS[0])
    ax.set(xlabel="importance (share of the variance)", xlim=(0, 1))
    return fig
