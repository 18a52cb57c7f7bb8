import numpy as np
import pytest

import atlas
from atlas.data import xor
from atlas.nn import (
    Activation,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    PReLU,
    Sequential,
)
from atlas.nn.sequential import chained_steps, fused_steps
from atlas.optimizers import SGD, Adam


def small_model(seed=0, device="cpu"):
    return Sequential([Flatten(), Dense(8), BatchNorm(), PReLU(), Dropout(0.1), Dense(3)],
                      input_shape=(2, 2), seed=seed, device=device)


def test_summary_lists_shapes_and_counts():
    text = small_model().summary(print_fn=None)
    assert "dense (Dense)" in text and "(None, 8)" in text and "(None, 3)" in text
    # Dense 4*8+8, BatchNorm 8+8 (+16 running), PReLU 8, Dense 8*3+3
    assert "Total params: 107" in text
    assert "Trainable params: 91" in text and "Non-trainable params: 16" in text


def test_model_gradient_matches_finite_differences(rng):
    from atlas.gradcheck import numerical_gradient, relative_error
    model = Sequential([Dense(5), Activation("tanh"), BatchNorm(), Dense(4, bias_init="normal"),
                        Activation("softmax")], input_shape=(3,), dtype="float64")
    model.compile("mse", SGD(0.1))
    x, t = rng.standard_normal((6, 3)), rng.random((6, 4))

    def loss():
        return model.loss(model.forward(x, training=True), t)[0]

    _, grad = model.loss(model.forward(x, training=True), t)
    model.backward(grad)
    for layer in model.layers:
        for name, param in layer.params.items():
            analytic = layer.grads[name].copy()
            assert relative_error(analytic, numerical_gradient(loss, param)) < 1e-6, name


def test_fit_learns_xor_with_history_and_progress(capsys):
    x, y = xor(400, seed=1)
    model = Sequential([Dense(16), Activation("tanh"), Dense(2)], input_shape=(2,), seed=0)
    model.compile("softmax_cross_entropy", Adam(0.02))
    history = model.fit(x, y, epochs=30, batch_size=32, validation_data=xor(200, seed=2))
    assert history["val_accuracy"][-1] > 0.95
    assert len(history["loss"]) == 30 and history["loss"][-1] < history["loss"][0]
    assert "epoch 30/30" in capsys.readouterr().err


def test_early_stopping_restores_the_best_weights():
    x, y = xor(200, seed=1)
    model = Sequential([Dense(4), Activation("relu"), Dense(2)], input_shape=(2,), seed=0)
    model.compile("softmax_cross_entropy", SGD(5.0))  # far too large: the loss wanders
    history = model.fit(x, y, epochs=40, batch_size=200, patience=2, progress=False,
                        validation_data=(x, y))
    assert history["stopped_epoch"] is not None and history["stopped_epoch"] < 40
    best = min(history["val_loss"])
    assert model.evaluate(x, y)["loss"] == pytest.approx(best, rel=1e-5)


def test_seeded_training_is_reproducible():
    x, y = xor(100, seed=3)
    runs = []
    for _ in range(2):
        model = small_model(seed=5)
        model.compile("softmax_cross_entropy", Adam(0.01))
        model.fit(x.reshape(-1, 2, 1).repeat(2, 2), y, epochs=2, batch_size=16, progress=False)
        runs.append(model.predict(x.reshape(-1, 2, 1).repeat(2, 2)))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_save_and_load_round_trip(tmp_path):
    model = small_model()
    model.compile("softmax_cross_entropy", Adam(0.01))
    x = np.random.default_rng(0).random((50, 2, 2)).astype(np.float32)
    model.fit(x, np.arange(50) % 3, epochs=2, batch_size=10, progress=False)
    path = model.save(tmp_path / "model.npz")
    loaded = atlas.load(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.summary(print_fn=None) == model.summary(print_fn=None)


def test_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    model = small_model()
    path = model.save(tmp_path / "model.npz")
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        small_model(seed=9).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_loading_errors_are_clear(tmp_path):
    path = small_model().save(tmp_path / "model.npz")
    other = Sequential([Dense(3)], input_shape=(4,))
    with pytest.raises(ValueError, match="another architecture"):
        other.load_weights(path)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        atlas.load(truncated)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(2))
    with pytest.raises(ValueError, match="not an atlas model file"):
        atlas.load(plain)
    with pytest.raises(FileNotFoundError, match="no model file"):
        atlas.load(tmp_path / "missing.npz")


def test_bad_inputs_get_value_errors():
    model = Sequential([Dense(2)], input_shape=(3,))
    model.compile("softmax_cross_entropy", SGD(0.1))
    with pytest.raises(ValueError, match=r"expected inputs of shape \(N, 3\), got \(4, 2\)"):
        model.fit(np.zeros((4, 2), np.float32), np.zeros(4, int))
    with pytest.raises(ValueError, match="floating-point inputs, got dtype uint8"):
        model.predict(np.zeros((4, 3), np.uint8))
    bad = np.zeros((4, 3))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        model.evaluate(bad, np.zeros(4, int))
    with pytest.raises(ValueError, match="4 inputs but 3 targets"):
        model.fit(np.zeros((4, 3)), np.zeros(3, int))


def test_cuda_backend_in_simulator_matches_cpu():
    x, y = xor(24, seed=0)
    results = []
    for device in ("cpu", "cuda"):
        model = Sequential([Dense(4), BatchNorm(), Activation("gelu"), Dense(2)],
                           input_shape=(2,), device=device, dtype="float64", seed=0)
        model.compile("softmax_cross_entropy", Adam(0.05))
        model.fit(x, y, epochs=1, batch_size=12, shuffle=False, progress=False)
        results.append(model.predict(x))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6, atol=1e-9)


def test_a_layer_and_the_element_wise_activation_after_it_run_as_one_step():
    """`fused_steps`: a dense or convolution layer takes the element-wise activation that
    follows it; softmax, an activation after another kind of layer, and a second
    activation in a row stay steps of their own."""
    layers = [Conv2D(2, 3), Activation("tanh"), AvgPool2D(2), Activation("relu"), Flatten(),
              Dense(4), Activation("relu"), Activation("sigmoid"), Dense(3),
              Activation("softmax")]
    steps = [(layer.kind, None if act is None else act.function)
             for layer, act in fused_steps(layers)]
    assert steps == [("Conv2D", "tanh"), ("AvgPool2D", None), ("Activation(relu)", None),
                     ("Flatten", None), ("Dense", "relu"), ("Activation(sigmoid)", None),
                     ("Dense", None), ("Activation(softmax)", None)]


def test_an_element_wise_activation_before_a_layer_that_chains_it_runs_in_its_backward():
    """`chained_steps` (backward, the last layer first): a dense, convolution, pooling or
    dropout layer takes the element-wise activation right before it; softmax, an
    activation before another kind of layer (`Flatten`, another activation) and the
    first of two activations in a row stay steps of their own."""
    layers = [Conv2D(2, 3), Activation("tanh"), AvgPool2D(2), Activation("relu"),
              MaxPool2D(1), Activation("elu"), Flatten(), Activation("sigmoid"),
              Activation("gelu"), Dropout(0.2), Activation("softmax"), Dense(3)]
    steps = [(layer.kind, None if act is None else act.function)
             for layer, act in chained_steps(layers)]
    assert steps == [("Dense", None), ("Activation(softmax)", None), ("Dropout", "gelu"),
                     ("Activation(sigmoid)", None), ("Flatten", None),
                     ("Activation(elu)", None), ("MaxPool2D", "relu"), ("AvgPool2D", "tanh"),
                     ("Conv2D", None)]


def _layers_one_by_one(model, x, dy):
    """Forward and backward through ``model``'s layers one at a time (no step fused)."""
    for layer in model.layers:
        x = layer.forward(x, True)
    out = x
    for layer in reversed(model.layers):
        dy = layer.backward(dy)
    return out, dy


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_fused_steps_give_what_the_layers_one_by_one_give(device, rng):
    """Forward and backward through a model whose dense, convolution and transposed
    convolution layers apply the activation after them, and whose dense, convolution,
    pooling and dropout layers write their input gradient through the activation before
    them, equal the layers run one at a time, on the CPU exactly (the same kernels in
    turn) and in the CUDA simulator (one kernel for both layers) to rounding."""
    def build():
        return Sequential([Conv2D(3, 3, padding=1), Activation("tanh"),
                           ConvTranspose2D(2, 2, stride=2), Activation("elu", alpha=0.5),
                           MaxPool2D(2), Activation("swish", alpha=1.5),
                           Conv2D(2, 3, padding=1), Activation("sigmoid"),
                           AvgPool2D(2, stride=1), Activation("leaky_relu", alpha=0.2),
                           Dropout(0.3), Flatten(), Dense(5), Activation("softplus"),
                           Dense(2)],
                          input_shape=(1, 4, 5), dtype="float64", seed=3, device=device)
    x = rng.standard_normal((2, 1, 4, 5))
    dy = rng.standard_normal((2, 2))
    fused, plain = build().require_input_grad(), build().require_input_grad()
    assert sum(act is not None for _, act in fused._steps) == 4
    assert [act.function for _, act in fused._backward_steps if act is not None] == \
        ["softplus", "leaky_relu", "sigmoid", "swish", "elu", "tanh"]
    b = fused.backend
    out = b.to_numpy(fused.forward(b.asarray(x), training=True))
    dx = b.to_numpy(fused.backward(b.asarray(dy)))
    plain_out, plain_dx = _layers_one_by_one(plain, plain.backend.asarray(x),
                                             plain.backend.asarray(dy))
    tolerance = {"rtol": 0, "atol": 0} if device == "cpu" else {"rtol": 1e-12, "atol": 1e-12}
    np.testing.assert_allclose(out, b.to_numpy(plain_out), **tolerance)
    np.testing.assert_allclose(dx, b.to_numpy(plain_dx), **tolerance)
    for a, c in zip(fused.layers, plain.layers):
        for name in a.grads:
            np.testing.assert_allclose(b.to_numpy(a.grads[name]), b.to_numpy(c.grads[name]),
                                       err_msg=f"{a.name}.{name}", **tolerance)


def test_asking_for_an_unknown_device_is_an_error():
    with pytest.raises(ValueError, match="device must be one of"):
        Sequential([Dense(2)], input_shape=(3,), device="tpu")


def test_fit_calls_on_epoch_after_every_epoch_and_lets_it_stop_training(rng):
    model = Sequential([Dense(2)], input_shape=(3,))
    model.compile("mse", Adam(1e-2), metrics=())
    x, y = rng.standard_normal((8, 3)).astype(np.float32), np.zeros((8, 2), np.float32)
    seen = []
    model.fit(x, y, epochs=3, batch_size=4, progress=False,
              on_epoch=lambda epoch, history: seen.append((epoch, len(history["loss"]))))
    assert seen == [(0, 1), (1, 2), (2, 3)]

    class Stop(Exception):
        pass

    def stop(epoch, history):
        if epoch == 1:
            raise Stop
    with pytest.raises(Stop):
        model.fit(x, y, epochs=5, batch_size=4, progress=False, on_epoch=stop)
    with pytest.raises(TypeError, match="on_epoch must be a callable, got int"):
        model.fit(x, y, on_epoch=3, progress=False)
