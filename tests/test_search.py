"""Hyperparameter search: samplers, resuming, refusing a different study, and two workers
sharing one study through a real PostgreSQL server."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from atlas import search
from tests.data.test_idx import make_dataset

ROOT = Path(__file__).resolve().parents[1]
QUICK = {"images": 60, "epochs": 1, "progress": False}


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    make_dataset(tmp_path, n=400)
    monkeypatch.setenv("ATLAS_DATA", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("sampler", search.SAMPLERS)
def test_every_sampler_runs_trials_and_the_grid_keeps_to_its_values(tiny_data, sampler):
    storage = f"sqlite:///{tiny_data / 'runs' / 'search.db'}"
    study = search.search("mlp", trials=3, storage=storage, sampler=sampler, pruner="none",
                          **QUICK)
    assert len(search.finished(study)) == 3 and 0 <= study.best_value <= 1
    grid = search.TASKS["mlp"].grid()
    for trial in study.trials:
        assert set(trial.params) == set(grid)
        if sampler == "grid":
            assert all(trial.params[k] in grid[k] for k in grid)
        assert trial.user_attrs["worker"].endswith(f":{os.getpid()}")


def test_a_search_resumes_and_counts_the_trials_it_already_has(tiny_data):
    storage = f"sqlite:///{tiny_data / 'search.db'}"
    first = search.search("mlp", trials=2, storage=storage, sampler="random", **QUICK)
    values = [t.value for t in first.trials]
    again = search.search("mlp", trials=4, storage=storage, sampler="random", **QUICK)
    assert [t.number for t in again.trials] == [0, 1, 2, 3]
    assert [t.value for t in again.trials[:2]] == values
    assert len(search.search("mlp", trials=3, storage=storage, sampler="random",
                             **QUICK).trials) == 4  # already has more: runs nothing


def test_a_killed_search_loses_at_most_the_trial_in_flight(tiny_data):
    db = tiny_data / "killed.db"
    command = [sys.executable, "-m", "atlas.cli", "search", "mlp", "--storage", f"sqlite:///{db}",
               "--trials", "40", "--images", "300", "--epochs", "2", "--no-progress"]
    worker = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and len(_finished(db)) < 2:
        time.sleep(0.2)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    before = _finished(db)
    assert len(before) >= 2
    study = search.search("mlp", trials=len(before) + 2, storage=f"sqlite:///{db}",
                          images=300, epochs=2, progress=False)
    after = {t.number: t.value for t in search.finished(study)}
    assert len(after) == len(before) + 2
    assert all(after[n] == v for n, v in before.items())  # nothing finished was lost
    in_flight = [t for t in study.trials if t.state.name in ("RUNNING", "FAIL")]
    assert len(in_flight) <= 1


def _finished(db):
    """``{number: value}`` of the finished trials in the SQLite file ``db`` (read without
    Optuna, so the polling does not take its locks)."""
    import sqlite3

    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
            rows = connection.execute(
                "select t.number, v.value from trials t left join trial_values v "
                "on v.trial_id = t.trial_id where t.state in ('COMPLETE', 'PRUNED')").fetchall()
    except sqlite3.OperationalError:  # the tables are not created yet
        return {}
    return dict(rows)


def test_bad_tasks_samplers_storages_and_other_studies_are_refused(tiny_data):
    storage = f"sqlite:///{tiny_data / 'search.db'}"
    with pytest.raises(ValueError, match="unknown search task 'vgg'"):
        search.search("vgg", storage=storage)
    with pytest.raises(ValueError, match="unknown sampler 'cmaes'"):
        search.search("mlp", sampler="cmaes", storage=storage)
    with pytest.raises(ValueError, match="unknown pruner 'wilcoxon'"):
        search.search("mlp", pruner="wilcoxon", storage=storage)
    with pytest.raises(ValueError, match="cannot open the study storage 'postgresql://nobody@"
                                         "127.0.0.1:1/none'.*refused"):
        search.search("mlp", storage="postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(ValueError, match="cannot open the study storage 'nonsense://'"):
        search.search("mlp", storage="nonsense://")
    study = search.search("mlp", trials=2, study="s", storage=storage, **QUICK)
    stored = [(t.number, t.value, t.params) for t in study.trials]
    for other in ({"task": "lenet"}, {"task": "mlp", "epochs": 2}):
        with pytest.raises(ValueError, match="study 's' was created for task mlp .*1 epochs on "
                                             "60 training images; this search is"):
            search.search(other.pop("task"), trials=3, study="s", storage=storage,
                          images=60, **{"epochs": 1, **other})
    again = search.open_study("mlp", study="s", storage=storage, epochs=1, images=60)
    assert [(t.number, t.value, t.params) for t in again.trials] == stored


def test_atlas_search_prints_the_best_trials_and_tests_the_winner_once(tiny_data, capsys):
    from atlas import cli

    saved = tiny_data / "best.npz"
    assert cli.main(["search", "lenet", "--trials", "2", "--images", "60", "--epochs", "1",
                     "--storage", f"sqlite:///{tiny_data / 's.db'}", "--no-progress",
                     "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "study 'lenet-tpe'" in out and "| trial | validation accuracy |" in out
    assert "test accuracy" in out and saved.exists()
    assert cli.main(["search", "mlp", "--storage", "postgresql://x@127.0.0.1:1/y"]) == 2
    assert "cannot open the study storage" in capsys.readouterr().err


@pytest.fixture
def postgres():
    """A PostgreSQL server of its own (scripts/local-postgres) on a free local port, in a
    temporary folder the postgres user can enter; stopped and deleted afterwards."""
    import socket

    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.fail("Debian's postgresql package is not installed: make postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="atlas-postgres-"))
    folder.chmod(0o755)
    script = ROOT / "scripts" / "local-postgres"
    url = subprocess.run([script, "start", folder / "pg", str(port)], check=True,
                         capture_output=True, text=True, timeout=120).stdout.strip()
    try:
        yield url
    finally:
        subprocess.run([script, "stop", folder / "pg"], check=False, timeout=120)
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_two_workers_share_one_study_through_postgresql(tiny_data, postgres):
    trials = 10
    command = [sys.executable, "-m", "atlas.cli", "search", "mlp", "--storage", postgres,
               "--study", "shared", "--trials", str(trials), "--images", "400", "--epochs", "3",
               "--sampler", "random", "--pruner", "none", "--no-progress"]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    workers = [subprocess.Popen([*command, "--seed", str(seed)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for seed in (1, 2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    study = search.open_study("mlp", study="shared", storage=postgres, sampler="random",
                              epochs=3, images=400)
    done = search.finished(study)
    numbers = sorted(t.number for t in study.trials)
    assert numbers == list(range(len(numbers)))  # every trial recorded once
    assert trials <= len(done) <= trials + 1  # a worker may finish one past the budget
    assert len({t.user_attrs["worker"] for t in done}) == 2  # both did some of the work
    assert study.best_value == max(t.value for t in done)
    assert np.isclose(study.best_trial.value, max(t.value for t in done))


def test_a_table_another_worker_created_first_counts_as_a_lost_race_and_nothing_else_does():
    """Workers opening an empty PostgreSQL database together: the losers see a duplicate
    table (or type, or row) and retry; any other database error is reported."""
    import sqlalchemy.exc

    from atlas.search import _lost_creation_race

    class Driver(Exception):
        def __init__(self, sqlstate):
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    def wrapped(kind, sqlstate):
        return kind("CREATE TABLE studies", {}, Driver(sqlstate))

    for code in ("42P07", "42710", "23505"):
        assert _lost_creation_race(wrapped(sqlalchemy.exc.ProgrammingError, code))
    assert _lost_creation_race(wrapped(sqlalchemy.exc.IntegrityError, None))  # SQLite's
    assert not _lost_creation_race(wrapped(sqlalchemy.exc.OperationalError, "08006"))
    assert not _lost_creation_race(wrapped(sqlalchemy.exc.ProgrammingError, "42P01"))
