"""The arena: a training step's temporary arrays are handed out again to the next step of
the same shapes, so that a steady-state step allocates nothing and computes exactly what
freshly allocated arrays would."""

import numpy as np
import pytest

from atlas import arena
from atlas.arena import Arena
from atlas.nn import (
    LSTM,
    Activation,
    Add,
    BatchNorm,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPool2D,
    Model,
    Multiply,
    Sequential,
)
from atlas.optimizers import SGD, Adam


def test_a_step_gets_the_arrays_of_the_previous_step_in_the_same_order():
    a = Arena()
    with a.step("k"):
        first = [a.take((3, 2), np.float32, np.empty), a.take(5, np.int64, np.empty)]
    with a.step("k"):
        again = [a.take((3, 2), np.float32, np.empty), a.take(5, np.int64, np.empty)]
    assert all(x is y for x, y in zip(first, again))
    assert first[0] is not first[1] and a.allocations == 2


def test_a_different_shape_or_dtype_at_a_position_allocates_and_keys_keep_their_own_arrays():
    a = Arena()
    with a.step("k"):
        x = a.take((3, 2), np.float32, np.empty)
    with a.step("k"):
        y = a.take((3, 3), np.float32, np.empty)
        z = a.take((3, 3), np.float64, np.empty)
    assert y is not x and y.shape == (3, 3) and z.dtype == np.float64
    with a.step("other"):
        w = a.take((3, 3), np.float32, np.empty)
    with a.step("k"):
        assert a.take((3, 3), np.float32, np.empty) is y
    assert w is not y and a.allocations == 4


def test_outside_a_step_take_allocates_and_a_nested_step_of_the_same_arena_joins():
    assert arena.take((2,), np.float32, np.empty) is not arena.take((2,), np.float32, np.empty)
    a = Arena()
    with a.step("outer"):
        first = a.take(4, np.float32, np.empty)
        with a.step("inner"):  # joins: the position goes on
            second = a.take(4, np.float32, np.empty)
    assert first is not second
    with a.step("outer"):
        assert a.take(4, np.float32, np.empty) is first
        assert a.take(4, np.float32, np.empty) is second


def test_an_exception_inside_a_step_leaves_no_step_running():
    a = Arena()
    with pytest.raises(RuntimeError), a.step("k"):
        raise RuntimeError("boom")
    assert arena._active is None


# Whole models: train steps through the arena against the same steps with fresh arrays --------
def _mlp():
    return Sequential([Dense(16), BatchNorm(), Activation("relu"), Dropout(0.3), Dense(4)],
                      input_shape=(7,), dtype="float64")


def _cnn():
    return Sequential([Conv2D(3, 3, padding=1), BatchNorm(), Activation("relu"), MaxPool2D(2),
                       Conv2D(4, 3, stride=2), Flatten(), Dense(4)], input_shape=(2, 9, 9),
                      dtype="float64")


def _lstm():
    return Sequential([LSTM(6, return_sequences=True), LSTM(5), Dense(4)], input_shape=(4, 3),
                      dtype="float64")


def _graph():
    a, b = Input((5,)), Input((5,))
    shared = Dense(6)
    ha, hb = shared(a), shared(b)
    merged = Concatenate()([Add()([ha, hb]), Multiply()([ha, hb])])
    return Model([a, b], Dense(4)(Activation("tanh")(merged)), dtype="float64")


def _fresh_step(model, x, y):
    """What `train_step` does, with no arena: every array freshly allocated."""
    out = model.forward(model.backend.asarray(x) if not isinstance(x, list) else x,
                        training=True)
    value, grad = model.compute_loss(out, y)
    model.backward(grad)
    model.optimizer.step(model.trainable_parameters(), model.backend)
    return value


@pytest.mark.parametrize("build, shape", [(_mlp, (6, 7)), (_cnn, (3, 2, 9, 9)),
                                          (_lstm, (5, 4, 3)), (_graph, None)])
def test_train_steps_through_the_arena_match_fresh_arrays_exactly(build, shape, rng):
    x = ([rng.standard_normal((6, 5)), rng.standard_normal((6, 5))] if shape is None
         else rng.standard_normal(shape))
    rows = 6 if shape is None else shape[0]
    y = rng.integers(0, 4, rows)
    models = [build().compile("softmax_cross_entropy", Adam(0.01), metrics=()),
              build().compile("softmax_cross_entropy", Adam(0.01), metrics=())]
    for step in range(4):  # steady state from the second step; the third changes shape
        xs = [a[:rows - (step == 2)] for a in x] if shape is None else x[:rows - (step == 2)]
        ys = y[:rows - (step == 2)]
        value, _ = models[0].train_step(xs, ys)
        assert value == _fresh_step(models[1], xs, ys)
    for a, b in zip(models[0].layers, models[1].layers):
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=f"{a.name}.{k}")
    assert models[0]._arena.allocations > 0


def test_fit_reuses_the_arrays_of_its_steps(rng):
    model = _mlp().compile("softmax_cross_entropy", SGD(0.1), metrics=("accuracy",))
    x, y = rng.standard_normal((40, 7)), rng.integers(0, 4, 40)
    model.fit(x, y, epochs=1, batch_size=16, progress=False)  # steps of 16, 16 and 8 rows
    allocated = model._arena.allocations
    model.fit(x, y, epochs=2, batch_size=16, progress=False)
    assert model._arena.allocations == allocated


# On the CUDA backend, in the simulator: a steady-state step allocates nothing ----------------
def _on_cuda(build, rng):
    """``(model, x, y)``: a small model of each family on the CUDA backend."""
    families = {
        "mlp": (lambda: Sequential([Dense(8), Activation("relu"), Dropout(0.2), Dense(3)],
                                   input_shape=(12,), device="cuda"), (4, 12)),
        "cnn": (lambda: Sequential([Conv2D(2, 3, padding=1), BatchNorm(), Activation("relu"),
                                    MaxPool2D(2), Flatten(), Dense(3)], input_shape=(1, 6, 6),
                                   device="cuda"), (2, 1, 6, 6)),
        "lstm": (lambda: Sequential([LSTM(4), Dense(3)], input_shape=(3, 5), device="cuda"),
                 (2, 3, 5)),
    }
    make, shape = families[build]
    model = make().compile("softmax_cross_entropy", Adam(0.01, clip_norm=1.0), metrics=())
    x = rng.standard_normal(shape).astype(np.float32)
    return model, x, rng.integers(0, 3, shape[0])


#: Kernel launches of one training step of each family above (read off the counts; a
#: change that adds launches shows here; the MLP's ReLU runs in its dense layer's launch
#: forward and in the dropout's backward, the CNN's in the pooling's backward).
LAUNCHES = {"mlp": 13, "cnn": 17, "lstm": 21}


@pytest.mark.parametrize("family", sorted(LAUNCHES))
def test_a_steady_state_cuda_step_allocates_nothing_and_reads_back_one_value(family, rng):
    from atlas.kernels.cuda.counters import device_work

    model, x, y = _on_cuda(family, rng)
    with device_work() as first:
        model.train_step(x, y)
    with device_work() as steady:
        model.train_step(x, y)
    assert first["allocations"] > 0  # the counters see the first step's allocations
    assert steady["allocations"] == 0 and steady["to_device"] == 0, steady
    assert steady["to_host"] == 1, steady  # the loss value; clipping reads nothing back
    assert first["views"] > 0 and steady["views"] == 0, (first, steady)  # made once, kept
    assert steady["launches"] <= LAUNCHES[family], steady
    # What comes from the host: the batch and its labels (a dropout layer's random numbers
    # are drawn on the device).
    assert steady["from_host"] == 2, steady


def test_a_cuda_fit_keeps_its_loss_and_accuracy_on_the_device(rng):
    """fit's running loss and count of correct predictions stay on the device: no step
    reads anything back, and each total is read once per epoch (without a progress bar)."""
    from atlas.kernels.cuda.counters import device_work

    model, x, y = _on_cuda("mlp", rng)
    model.compile("softmax_cross_entropy", Adam(0.01), metrics=("accuracy",))
    x, y = np.repeat(x, 3, axis=0), np.repeat(y, 3)  # 3 batches of 4
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, progress=False)
    with device_work() as counts:
        history = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, progress=False)
    assert counts["to_host"] == 2, counts  # the epoch's loss and its count, once each
    assert counts["to_device"] <= 2, counts  # the two running totals, zeroed
    assert counts["allocations"] <= 2, counts  # (and the first labels' array)
    assert 0.0 <= history["accuracy"][0] <= 1.0
    expected = np.mean(model.predict(x).argmax(axis=1) == y)
    assert model.evaluate(x, y)["accuracy"] == pytest.approx(expected)


def test_a_cuda_step_adding_its_loss_into_a_device_total_reads_back_nothing(rng):
    """``train_step(x, y, loss_total, weight)``: the loss goes into the device total, times
    the weight, and the step copies nothing to the host; the total is the loss the step
    would have returned."""
    from atlas.kernels.cuda.counters import device_work

    model, x, y = _on_cuda("lstm", rng)  # no dropout: the twin's steps are the same
    twin, _, _ = _on_cuda("lstm", rng)
    twin._restore(model._snapshot())
    total = model.backend.zeros((1,), np.float64)
    model.train_step(x, y, total, 4.0)
    with device_work() as steady:
        value, _ = model.train_step(x, y, total, 4.0)
    assert value is None
    assert steady["to_host"] == 0 and steady["allocations"] == 0, steady
    first, _ = twin.train_step(x, y)
    second, _ = twin.train_step(x, y)
    assert float(total.copy_to_host()[0]) == pytest.approx(4.0 * (first + second), rel=1e-6)
