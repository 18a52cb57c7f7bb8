"""Recurrent layers, Embedding and time-distributed Dense: gradient checks (final and initial
states included), stateful runs, stacking, saving, and clear errors on bad input."""

import numpy as np
import pytest

import atlas
from atlas.gradcheck import check_layer, numerical_gradient, relative_error

CELLS = [atlas.RNN, atlas.LSTM, atlas.GRU]


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 5, 2)])
def test_layers_pass_the_gradient_check(cls, return_sequences, shape, rng):
    n, steps, f = shape
    layer = cls(4, return_sequences=return_sequences).build((steps, f), dtype="float64", rng=rng)
    errors = check_layer(layer, rng.standard_normal(shape))
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("cls", CELLS)
def test_gradients_reach_the_initial_states_and_arrive_at_the_final_ones(cls, rng):
    """Functional use: return_state, a given initial state, a loss on the final states."""
    layer = cls(3, return_sequences=True, return_state=True).build((4, 2), dtype="float64",
                                                                  rng=rng)
    x = rng.standard_normal((2, 4, 2))
    initial = [rng.standard_normal((2, 3)) for _ in range(layer.states)]
    weights = [rng.standard_normal((2, 4, 3))] + [rng.standard_normal((2, 3))
                                                  for _ in range(layer.states)]

    def loss():
        layer.initial_state = tuple(initial)
        outputs = layer.forward(x)
        return float(sum(np.sum(o * w) for o, w in zip(outputs, weights)))

    loss()
    dx = layer.backward(tuple(weights))
    assert relative_error(dx, numerical_gradient(loss, x)) < 1e-7
    for state, grad in zip(initial, layer.initial_state_grad):
        assert relative_error(grad, numerical_gradient(loss, state)) < 1e-7


@pytest.mark.parametrize("cls", CELLS)
def test_stateful_layer_continues_where_it_stopped(cls, rng):
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    whole = cls(5, return_sequences=True).build((6, 3), rng=np.random.default_rng(0))
    pieces = cls(5, return_sequences=True, stateful=True).build((3, 3),
                                                                 rng=np.random.default_rng(0))
    expected = whole.forward(x)
    got = np.concatenate([pieces.forward(x[:, :3].copy()), pieces.forward(x[:, 3:].copy())],
                         axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    pieces.reset_states()
    np.testing.assert_allclose(pieces.forward(x[:, :3].copy()), expected[:, :3], rtol=1e-6)


def test_time_distributed_dense_passes_the_gradient_check(rng):
    layer = atlas.Dense(3).build((5, 4), dtype="float64", rng=rng)
    assert layer.output_shape == (5, 3)
    assert max(check_layer(layer, rng.standard_normal((2, 5, 4))).values()) < 1e-7


def test_stacked_language_model_trains_summarises_and_reloads(tmp_path, rng):
    tokens = rng.integers(0, 6, (40, 7))
    targets = np.roll(tokens, -1, axis=1)
    model = atlas.Sequential([atlas.Embedding(6, 4), atlas.LSTM(8, return_sequences=True),
                              atlas.GRU(8, return_sequences=True), atlas.Dense(6)],
                             input_shape=(7,), metadata={"note": "test"})
    text = model.summary(print_fn=lambda s: None)
    assert "(None, 7, 8)" in text and "(None, 7, 6)" in text
    model.compile("softmax_cross_entropy", atlas.optimizers.Adam(1e-2, clip_norm=1.0))
    history = model.fit(tokens, targets, epochs=3, batch_size=8, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    assert 0.0 <= history["accuracy"][-1] <= 1.0
    per_token = np.mean(model.predict(tokens).argmax(axis=-1) == targets)  # accuracy per token
    assert model.evaluate(tokens, targets)["accuracy"] == pytest.approx(per_token)
    again = atlas.load(model.save(tmp_path / "lm.npz"))
    assert again.metadata == {"note": "test"}
    np.testing.assert_array_equal(again.predict(tokens), model.predict(tokens))


def test_bad_inputs_get_clear_errors(rng):
    lstm = atlas.LSTM(4).build((5, 3))
    with pytest.raises(ValueError, match="expected 3 features per step, got 2"):
        lstm.forward(np.zeros((2, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"expects sequences \(N, T, features\)"):
        lstm.forward(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="expects sequences"):
        atlas.GRU(4).build((28, 28, 1))
    embedding = atlas.Embedding(10, 4).build((5,))
    with pytest.raises(ValueError, match=r"must lie in \[0, 10\).*got values in \[0, 12\]"):
        embedding.forward(np.array([[0, 1, 2, 3, 12]]))
    with pytest.raises(ValueError, match="integer tokens"):
        embedding.forward(np.zeros((1, 5), np.float32))
    model = atlas.Sequential([atlas.Embedding(10, 4), atlas.RNN(3)], input_shape=(5,))
    with pytest.raises(ValueError, match="expected integer tokens"):
        model.predict(np.zeros((2, 5), np.float32))


def test_embedding_gradient_adds_repeated_tokens(rng):
    layer = atlas.Embedding(4, 3).build((5,), dtype="float64", rng=rng)
    tokens = np.array([[1, 1, 3, 0, 1]])
    layer.forward(tokens)
    dy = rng.standard_normal((1, 5, 3))
    layer.backward(dy)
    expected = np.zeros((4, 3))
    np.add.at(expected, tokens[0], dy[0])
    np.testing.assert_allclose(layer.grads["table"], expected)


def test_language_model_on_the_cuda_backend_in_simulator_matches_cpu(rng):
    tokens = rng.integers(0, 5, (4, 3))
    targets = np.roll(tokens, -1, axis=1)
    results = []
    for device in ("cpu", "cuda"):
        lstm = atlas.LSTM(3, return_sequences=True, return_state=False)
        model = atlas.Sequential([atlas.Embedding(5, 2), lstm, atlas.GRU(3), atlas.Dense(5)],
                                 input_shape=(3,), device=device, dtype="float64", seed=0)
        model.compile("softmax_cross_entropy", atlas.optimizers.Adam(0.05, clip_norm=1.0))
        model.fit(tokens, targets[:, -1], epochs=1, batch_size=4, shuffle=False,
                  progress=False)
        results.append(model.predict(tokens))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6, atol=1e-9)
