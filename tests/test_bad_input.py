"""Every public entry point either works or refuses a bad input cleanly.

Property-based (Hypothesis): any value for a constructor argument, a `fit` / `evaluate` /
`predict` argument, a file handed to `load`, or a CLI option either works or raises the
documented error (`TypeError` for the wrong kind, `ValueError` for a value out of range, an
`OSError` for a file) with a message that names the argument. Never a crash from deep
inside, never a silent fallback to a default.
"""

from __future__ import annotations

import math
import numbers
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import atlas
from atlas import cli, initializers, optimizers
from atlas.nn import Sequential

#: Anything a user might pass where a number belongs.
ANYTHING = st.one_of(
    st.integers(-10, 40), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.none(), st.text(max_size=4), st.lists(st.integers(-2, 5), max_size=3),
    st.sampled_from([np.int64(3), np.float32(0.5), "10", 2.5, -1, 0, math.nan]))

CLEAN = (TypeError, ValueError)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def is_count(value, minimum=1):
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and value >= minimum)


def is_window(value, minimum=1):
    """A positive int, or a pair of them (kernel sizes, strides)."""
    return is_count(value, minimum) or (isinstance(value, (list, tuple)) and len(value) == 2
                                        and all(is_count(v, minimum) for v in value))


def is_number(value, low=-math.inf, high=math.inf, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    value = float(value)
    return (math.isfinite(value) and (value > low if low_open else value >= low)
            and (value < high if high_open else value <= high))


def refuses_or_works(make, valid, argument):
    """``make()`` works exactly when ``valid``; otherwise it raises TypeError or ValueError
    naming ``argument``."""
    if valid:
        return make()
    with pytest.raises(CLEAN) as error:
        make()
    assert argument in str(error.value), f"the message does not name {argument!r}: {error.value}"
    return None


# Constructors --------------------------------------------------------------------------------
SIZES = {
    "Dense": (lambda v: atlas.Dense(v), "units"),
    "Conv2D": (lambda v: atlas.Conv2D(v, 3), "filters"),
    "Conv2D kernel": (lambda v: atlas.Conv2D(4, v), "kernel_size", is_window),
    "Conv2D stride": (lambda v: atlas.Conv2D(4, 3, stride=v), "stride", is_window),
    "ConvTranspose2D": (lambda v: atlas.ConvTranspose2D(v, 3), "filters"),
    "MaxPool2D": (lambda v: atlas.MaxPool2D(v), "pool_size", is_window),
    "RNN": (lambda v: atlas.RNN(v), "units"),
    "LSTM": (lambda v: atlas.LSTM(v), "units"),
    "GRU": (lambda v: atlas.GRU(v), "units"),
    "Embedding vocabulary": (lambda v: atlas.Embedding(v, 4), "vocabulary"),
    "Embedding dim": (lambda v: atlas.Embedding(10, v), "dim"),
    "MaxPool2D padding": (lambda v: atlas.MaxPool2D(4, padding=v), "padding",
                          lambda v: is_window(v, minimum=0) and max(_pair(v)) <= 2),
    "Input shape": (lambda v: atlas.Input((v, 3)), "shape"),
    "Concatenate axis": (lambda v: atlas.Concatenate(axis=v), "axis",
                         lambda v: is_count(v, minimum=-(1 << 30)) and v != 0),
}


def _pair(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


@pytest.mark.parametrize("name", list(SIZES))
@SETTINGS
@given(value=ANYTHING)
def test_sizes_are_positive_integers(name, value):
    make, argument, valid = (*SIZES[name], is_count)[:3]
    layer = refuses_or_works(lambda: make(value), valid(value), argument)
    if layer is not None and is_count(value):
        assert str(int(value)) in repr(layer)


RATES = {
    "Dropout": (lambda v: atlas.Dropout(v), "rate", {"low": 0, "high": 1, "high_open": True}),
    "BatchNorm momentum": (lambda v: atlas.BatchNorm(momentum=v), "momentum",
                           {"low": 0, "high": 1}),
    "BatchNorm eps": (lambda v: atlas.BatchNorm(eps=v), "eps", {"low": 0, "low_open": True}),
    "Activation alpha": (lambda v: atlas.Activation("elu", v), "alpha", {"none_ok": True}),
    "PReLU": (lambda v: atlas.PReLU(v), "init", {}),
}
for _class in (optimizers.SGD, optimizers.Momentum, optimizers.Nesterov, optimizers.RMSProp,
               optimizers.Adagrad, optimizers.Adadelta, optimizers.Adam, optimizers.AdamW):
    RATES[f"{_class.__name__} lr"] = (lambda v, c=_class: c(lr=v), "lr",
                                      {"low": 0, "low_open": True})
RATES["SGD momentum"] = (lambda v: optimizers.SGD(momentum=v), "momentum",
                         {"low": 0, "high": 1, "high_open": True})
RATES["Adam beta1"] = (lambda v: optimizers.Adam(beta1=v), "beta1",
                       {"low": 0, "high": 1, "high_open": True})
RATES["Adam weight_decay"] = (lambda v: optimizers.Adam(weight_decay=v), "weight_decay",
                              {"low": 0})
RATES["clip_norm"] = (lambda v: optimizers.SGD(clip_norm=v), "clip_norm",
                      {"low": 0, "low_open": True, "none_ok": True})
RATES["StepDecay every"] = (lambda v: optimizers.StepDecay(v), "every",
                            {"low": 0, "low_open": True})
RATES["CosineDecay floor"] = (lambda v: optimizers.CosineDecay(10, v), "floor",
                              {"low": 0, "high": 1})
RATES["Normal std"] = (lambda v: initializers.Normal(std=v), "std", {"low": 0})
RATES["Constant value"] = (lambda v: initializers.Constant(v), "value", {})
RATES["loss_weights"] = (lambda v: Sequential([atlas.Dense(2)], (3,)).compile(
    "mse", optimizers.SGD(0.1), loss_weights=[v]), "loss_weights", {"low": 0})


@pytest.mark.parametrize("name", list(RATES))
@SETTINGS
@given(value=ANYTHING)
def test_rates_are_finite_numbers_in_range(name, value):
    make, argument, interval = RATES[name]
    interval = dict(interval)
    none_ok = interval.pop("none_ok", False)
    valid = (none_ok and value is None) or is_number(value, **interval)
    refuses_or_works(lambda: make(value), valid, argument)


@SETTINGS
@given(value=ANYTHING)
def test_sequential_seed_and_dtype(value):
    refuses_or_works(lambda: Sequential([atlas.Dense(2)], (3,), seed=value),
                     is_count(value, minimum=0), "seed")
    try:
        valid = value is not None and np.dtype(value) in (np.float32, np.float64)
    except (TypeError, ValueError, SyntaxError):  # NumPy's parser of "f4, i4" strings
        valid = False
    refuses_or_works(lambda: Sequential([atlas.Dense(2)], (3,), dtype=value), valid, "dtype")


@pytest.mark.parametrize("dtype", [",", "0\x1b", "f4,", "(2)f4", "float16"])
def test_a_dtype_numpy_cannot_parse_is_named_in_a_value_error(dtype):
    """Strings NumPy reads as record formats raised its parser's SyntaxError or ValueError
    (found by the property test above)."""
    with pytest.raises(ValueError, match=r"dtype must be 'float32' or 'float64', got"):
        Sequential([atlas.Dense(2)], (3,), dtype=dtype)


def test_a_model_of_something_else_than_layers_is_refused():
    with pytest.raises(TypeError, match="every layer must be an atlas Layer"):
        Sequential([atlas.Dense(2), "relu"])
    with pytest.raises(TypeError, match="outputs must be symbolic tensors"):
        atlas.Model(atlas.Input((3,)), "dense")
    with pytest.raises(TypeError, match="an initializer is a name"):
        atlas.Dense(2, weight_init=3)


# fit, evaluate, predict -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    model = Sequential([atlas.Dense(4), atlas.Activation("relu"), atlas.Dense(3)], (5,), seed=0)
    return model.compile("softmax_cross_entropy", optimizers.SGD(0.1))


def data(n=7, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)).astype(np.float32), rng.integers(0, 3, n)


@SETTINGS
@given(epochs=ANYTHING, batch_size=ANYTHING)
def test_fit_counts(model, epochs, batch_size):
    x, y = data()
    valid = is_count(epochs) and is_count(batch_size)
    if valid and epochs > 3:
        epochs = 3
    try:
        history = model.fit(x, y, epochs=epochs, batch_size=batch_size, progress=False)
    except CLEAN as error:
        assert not valid
        assert ("epochs" in str(error) if not is_count(epochs) else "batch_size" in str(error))
    else:
        assert valid and len(history["loss"]) == epochs


@SETTINGS
@given(value=ANYTHING)
def test_evaluate_predict_and_patience(model, value):
    x, y = data()
    refuses_or_works(lambda: model.evaluate(x, y, batch_size=value), is_count(value),
                     "batch_size")
    refuses_or_works(lambda: model.predict(x, batch_size=value), is_count(value), "batch_size")
    refuses_or_works(lambda: model.fit(x, y, epochs=1, patience=value, progress=False),
                     value is None or is_count(value), "patience")


ARRAYS = st.tuples(st.integers(0, 4), st.sampled_from([(5,), (4,), (5, 1), ()]),
                   st.sampled_from(["float32", "float64", "int64", "uint8", "bool"]),
                   st.sampled_from([None, np.nan, np.inf]))


@SETTINGS
@given(spec=ARRAYS, labels=st.integers(0, 5))
def test_inputs_of_any_shape_dtype_or_value(model, spec, labels):
    n, shape, dtype, poison = spec
    x = np.ones((n, *shape), dtype=dtype)
    if poison is not None and x.size and x.dtype.kind == "f":
        x.flat[0] = poison
    y = np.zeros(labels, dtype=np.int64)
    valid = (n >= 1 and shape == (5,) and dtype.startswith("float") and poison is None
             and labels == n)
    try:
        model.fit(x, y, epochs=1, progress=False)
        model.evaluate(x, y)
    except ValueError as error:
        assert not valid, error
        assert any(word in str(error) for word in ("expected", "NaN", "targets", "samples"))
    else:
        assert valid
    if n == 0 and shape == (5,) and dtype.startswith("float"):
        assert model.predict(x).shape == (0, 3)


# Files ---------------------------------------------------------------------------------------
@SETTINGS
@given(content=st.binary(max_size=200) | st.sampled_from([b"PK\x03\x04rest", b"",
                                                           b"\x93NUMPY garbage"]))
def test_loading_anything_that_is_not_a_model(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not .*atlas model file|corrupt") as error:
        atlas.load(path)
    assert "pickle" not in str(error.value)


def test_loading_a_text_file_says_it_is_not_a_model(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\n")
    with pytest.raises(ValueError, match="notes.txt is not an atlas model file"):
        atlas.load(path)
    with pytest.raises(FileNotFoundError, match="no model file at"):
        atlas.load(tmp_path / "absent.npz")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        atlas.load(tmp_path)


def test_saving_onto_a_directory_names_the_target(tmp_path, model):
    with pytest.raises(IsADirectoryError, match=f"cannot save to {tmp_path}: it is a directory"):
        model.save(tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_killed_save_leaves_no_partial_file_behind(tmp_path, model):
    target = tmp_path / "m.npz"
    model.save(target)
    before = target.read_bytes()
    script = ("import os, numpy as np, atlas.io as io\n"
              f"io.atomic_write({str(target)!r}, lambda f: (f.write(b'x' * 1000), "
              "os.kill(os.getpid(), 9)))\n")
    killed = subprocess.run([sys.executable, "-c", script], timeout=120)
    assert killed.returncode == -9
    leftovers = list(tmp_path.glob(".m.npz.*.partial"))
    assert len(leftovers) == 1 and target.read_bytes() == before  # the old file is intact
    model.save(target)  # the next save cleans up after the dead process
    assert not list(tmp_path.glob("*.partial")) and atlas.load(target).count_params() == 39


# The command line ------------------------------------------------------------------------------
CLI_OPTIONS = {
    "--epochs": ("train", "mlp", is_count), "--batch-size": ("train", "mlp", is_count),
    "--hidden": ("train", "mlp", is_count), "--patience": ("train", "mlp", is_count),
    "--steps": ("train", "char-lstm", is_count),
    "--seed": ("train", "mlp", lambda v: is_count(v, minimum=0)),
    "--dropout": ("train", "mlp", lambda v: is_number(v, 0, 1, high_open=True)),
    "--lr": ("train", "mlp", lambda v: is_number(v, 0, low_open=True)),
    "--minutes": ("train", "char-lstm", lambda v: is_number(v, 0, low_open=True)),
    "--weight-decay": ("train", "mlp", lambda v: is_number(v, 0)),
    "--temperature": ("sample", "m.npz", lambda v: is_number(v, 0, low_open=True)),
    "--length": ("sample", "m.npz", is_count),
    "--depth": ("train", "resnet", is_count),
    "--scenes": ("train", "vqa", is_count),
    "--episodes": ("train", "dqn", is_count),
    "--image-index": ("ask", "m.npz", lambda v: is_count(v, minimum=0)),
}


@pytest.mark.parametrize("option", list(CLI_OPTIONS))
@SETTINGS
@given(text=st.sampled_from(["0", "-1", "-5", "1", "3", "2.5", "0.5", "1e-3", "nan", "inf",
                             "ten", "", "1e400", "7"]))
def test_cli_options_parse_or_exit_2_with_a_message(option, text, capsys):
    command, target, valid = CLI_OPTIONS[option]
    parser = cli.build_parser()
    extra = ["is there a bag ?"] if command == "ask" else []  # ask's second positional
    try:
        args = parser.parse_args([command, target, *extra, option, text])
    except SystemExit as exit:
        assert exit.code == 2
        err = capsys.readouterr().err
        assert option in err and "Traceback" not in err
        try:
            number = float(text) if "." in text or "e" in text or "n" in text else int(text)
        except ValueError:
            return
        assert not valid(number)
    else:
        value = getattr(args, option[2:].replace("-", "_"))
        value = value[0] if isinstance(value, list) else value
        assert valid(value), (option, text, value)


def run_cli(*args, env=None):
    """The CLI in a fresh process, as a user would meet it."""
    return subprocess.run([sys.executable, "-m", "atlas.cli", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def test_cli_errors_are_messages_not_tracebacks(tmp_path, model):
    plain = tmp_path / "plain.npz"
    model.save(plain)
    chars = Sequential([atlas.Embedding(3, 2), atlas.LSTM(4, return_sequences=True),
                        atlas.Dense(3)], (5,), metadata={"vocabulary": "abc"})
    chars.save(tmp_path / "chars.npz")
    cases = {
        ("sample", str(tmp_path / "absent.npz")): "no model file at",
        ("sample", str(plain)): "carries no vocabulary",
        ("sample", str(tmp_path / "chars.npz"), "--prime", "xyz"): "not in the vocabulary",
        ("train", "mlp", "--device", "cuda"): "CUDA",
        ("train", "char-lstm", "--text", str(tmp_path / "absent.txt")): "no text file at",
        ("figures", "--only", "no-such-figure"): "no figure named",
    }
    for args, message in cases.items():
        result = run_cli(*args, env={"NUMBA_ENABLE_CUDASIM": "0"})
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)


@pytest.mark.parametrize("total, weight, error, match", [
    (np.zeros(2), 1.0, ValueError, r"one-element float64 array.*shape \(2,\)"),
    (np.zeros(1, np.float32), 1.0, ValueError, "dtype float32"),
    ([0.0], 1.0, ValueError, "got list"),
    (np.zeros(1), "a", TypeError, "weight must be a number"),
    (np.zeros(1), math.nan, ValueError, "weight must be a finite number"),
])
def test_a_loss_total_of_the_wrong_kind_or_a_bad_weight_is_refused(total, weight, error, match):
    from atlas.losses import MSE

    pred, target = np.ones(3, np.float32), np.zeros(3, np.float32)
    with pytest.raises(error, match=match):
        MSE()(pred, target, total=total, weight=weight)


def test_a_loss_total_takes_zero_negative_and_fractional_weights():
    from atlas.losses import MSE

    pred, target = np.ones(3, np.float32), np.zeros(3, np.float32)
    value, _ = MSE()(pred, target)
    for weight in (0, -2, 1.5):
        total = np.zeros(1)
        assert MSE()(pred, target, total=total, weight=weight)[0] is None
        assert total[0] == pytest.approx(weight * value)


def test_an_unknown_cuda_launch_path_is_named_when_the_cuda_backend_loads():
    code = ("import atlas; atlas.Sequential([atlas.Dense(2)], input_shape=(3,), "
            "device='cuda')")
    env = {**os.environ, "ATLAS_CUDA_LAUNCH": "fast", "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode != 0
    assert "ATLAS_CUDA_LAUNCH must be one of atlas, numba" in result.stderr
    assert "got 'fast'" in result.stderr
