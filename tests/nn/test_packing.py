"""A network's parameters packed in one array: the layers compute in it, the optimizer
updates it whole, and the result is the per-parameter update's."""

import numpy as np
import pytest

from atlas.nn import Activation, Dense, Input, Model, Sequential
from atlas.nn.packing import ALIGN
from atlas.optimizers import SGD, Adam, AdamW


def _mlp(seed=0):
    return Sequential([Dense(5), Activation("tanh"), Dense(3)], input_shape=(4,),
                      dtype="float64", seed=seed)


def _data(rng, n=6):
    return rng.standard_normal((n, 4)), rng.integers(0, 3, n)


def _per_parameter_step(model, x, y):
    """A training step whose optimizer gets one triple a parameter (no packing)."""
    out = model.forward(x, training=True)
    _, grad = model.compute_loss(out, y)
    model.backward(grad)
    model.optimizer.step(model.trainable_parameters(), model.backend)


@pytest.mark.parametrize("optimizer", [lambda: Adam(0.05, weight_decay=0.01, clip_norm=0.5),
                                       lambda: AdamW(0.05), lambda: SGD(0.1, momentum=0.9)])
def test_a_packed_step_updates_exactly_as_one_update_a_parameter(optimizer, rng):
    x, y = _data(rng)
    packed, plain = _mlp(), _mlp()
    packed.compile("softmax_cross_entropy", optimizer())
    plain.compile("softmax_cross_entropy", optimizer())
    for _ in range(4):
        packed.train_step(x, y)
        _per_parameter_step(plain, x, y)
    assert packed._packed and packed._packed.intact()
    assert plain._packed is None  # never asked for its groups
    for mine, theirs in zip(packed.layers, plain.layers):
        for name in mine.params:
            np.testing.assert_allclose(mine.params[name], theirs.params[name], rtol=0,
                                       atol=1e-12, err_msg=name)


def test_every_parameter_and_gradient_is_a_view_of_the_packed_arrays_at_an_aligned_start(rng):
    model = _mlp().compile("softmax_cross_entropy", Adam(0.01))
    before = {(i, k): v.copy() for i, layer in enumerate(model.layers)
              for k, v in layer.params.items()}
    [(key, values, grads)] = model.parameter_groups()
    assert values.shape == grads.shape == (5 * ALIGN,)  # W 20 (two 16s), b 5, W 15, b 3
    for i, layer in enumerate(model.layers):
        for name, param in layer.params.items():
            assert np.shares_memory(param, values) and np.shares_memory(layer.grads[name], grads)
            offset = (param.__array_interface__["data"][0] -
                      values.__array_interface__["data"][0]) // param.itemsize
            assert offset % ALIGN == 0
            np.testing.assert_array_equal(param, before[(i, name)])  # the values moved in
    x, y = _data(rng)
    model.train_step(x, y)
    assert model.optimizer.state.keys() == {key}
    gaps = np.ones(values.size, bool)
    for layer in model.layers:
        for param in layer.params.values():
            start = (param.__array_interface__["data"][0] -
                     values.__array_interface__["data"][0]) // param.itemsize
            gaps[start:start + param.size] = False
    assert not values[gaps].any() and not grads[gaps].any()  # the padding stays zero


def test_a_frozen_parameter_is_updated_alone_per_parameter_and_stays_fixed(rng):
    model = _mlp().compile("softmax_cross_entropy", Adam(0.05))
    model.layers[0].freeze("W")
    W = model.layers[0].params["W"].copy()
    groups = model.parameter_groups()
    assert [key for key, _, _ in groups] == ["0.b", "2.W", "2.b"]
    x, y = _data(rng)
    model.train_step(x, y)
    np.testing.assert_array_equal(model.layers[0].params["W"], W)
    assert model._packed is None  # nothing was packed


def test_layers_shared_with_a_network_that_packed_them_later_are_still_trained(rng):
    """Two models share a layer: the second to train packs it into its own array, so the
    first one's packing no longer holds; it goes back to one update a parameter, and its
    steps still move the shared layer and its own."""
    shared, head = Dense(5, name="shared"), Dense(3, name="head")
    a_in = Input((4,))
    first = Model(a_in, head(Activation("tanh")(shared(a_in))), dtype="float64")
    b_in = Input((4,))
    second = Model(b_in, Dense(3)(shared(b_in)), dtype="float64")
    first.compile("softmax_cross_entropy", Adam(0.05))
    second.compile("softmax_cross_entropy", Adam(0.05))
    x, y = _data(rng)
    first.train_step(x, y)
    second.train_step(x, y)
    assert second._packed.intact() and not first._packed.intact()
    W_shared, W_head = shared.params["W"].copy(), head.params["W"].copy()
    first.train_step(x, y)
    assert first._packed is False  # given up: one update a parameter from now on
    assert not np.allclose(shared.params["W"], W_shared)
    assert not np.allclose(head.params["W"], W_head)
    assert np.shares_memory(shared.params["W"], second._packed.values)


def test_a_sequential_model_built_again_packs_its_new_parameters(rng):
    model = _mlp().compile("softmax_cross_entropy", Adam(0.05))
    x, y = _data(rng)
    model.train_step(x, y)
    old = model._packed
    model.build((4,))
    model.train_step(x, y)
    assert model._packed is not old and model._packed.intact()
    assert np.shares_memory(model.layers[0].params["W"], model._packed.values)
