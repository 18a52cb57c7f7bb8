import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from atlas.gradcheck import check_layer
from atlas.kernels import cpu
from atlas.kernels.scalar import ACTIVATION_CODES
from atlas.nn import Activation, PReLU

from .twins import assert_twins_agree

_erf = np.vectorize(math.erf)

REFERENCE = {
    "identity": lambda x, a: x,
    "sigmoid": lambda x, a: 1 / (1 + np.exp(-x)),
    "tanh": lambda x, a: np.tanh(x),
    "relu": lambda x, a: np.maximum(x, 0),
    "leaky_relu": lambda x, a: np.where(x > 0, x, a * x),
    "elu": lambda x, a: np.where(x > 0, x, a * np.expm1(x)),
    "swish": lambda x, a: x / (1 + np.exp(-a * x)),
    "softplus": lambda x, a: np.log1p(np.exp(x)),
    "gelu": lambda x, a: 0.5 * x * (1 + _erf(x / np.sqrt(2))),
}
ALPHA = {"leaky_relu": 0.1, "elu": 1.3, "swish": 1.7}


@pytest.mark.parametrize("function", sorted(REFERENCE))
def test_activation_matches_reference(function, rng):
    x = rng.standard_normal(37) * 3
    a = ALPHA.get(function, 0.0)
    y = np.empty_like(x)
    cpu.activation_forward(x, ACTIVATION_CODES[function], a, y)
    np.testing.assert_allclose(y, REFERENCE[function](x, a), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("function", [*sorted(REFERENCE), "softmax"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 3, 5)])
def test_activation_gradcheck(function, shape, rng):
    layer = Activation(function, ALPHA.get(function)).build(shape[1:], dtype="float64")
    x = rng.standard_normal(shape) * 2
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kinks of ReLU-like functions
    errors = check_layer(layer, x)
    assert errors["x"] < 1e-7, errors


def test_sigmoid_and_softplus_are_stable_at_extremes():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    y = np.empty_like(x)
    cpu.activation_forward(x, ACTIVATION_CODES["sigmoid"], 0.0, y)
    assert np.all(np.isfinite(y)) and y[0] == 0.0 and y[-1] == 1.0
    cpu.activation_forward(x, ACTIVATION_CODES["softplus"], 0.0, y)
    np.testing.assert_allclose(y, [0.0, np.exp(-50.0), np.log(2.0), 50.0, 1000.0], rtol=1e-12)


def test_nan_propagates_through_relu():
    x = np.array([np.nan, -1.0, 1.0])
    y = np.empty_like(x)
    cpu.activation_forward(x, ACTIVATION_CODES["relu"], 0.0, y)
    assert np.isnan(y[0]) and y[1] == 0 and y[2] == 1


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 9)),
              elements=st.floats(-500, 500)))
def test_softmax_rows_are_distributions(x):
    y = np.empty_like(x)
    cpu.softmax_forward(x, y)
    assert np.all(y >= 0) and np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 3), (4, 5), (2, 3, 4, 3)])
def test_prelu_gradcheck_per_channel(shape, rng):
    layer = PReLU(init=0.3).build(shape[1:], dtype="float64", rng=rng)
    x = rng.standard_normal(shape)
    x[np.abs(x) < 1e-3] = 0.5
    errors = check_layer(layer, x)
    assert max(errors.values()) < 1e-7, errors
    assert layer.params["alpha"].shape == (shape[1],)


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="unknown activation 'relu6'"):
        Activation("relu6")


@pytest.mark.parametrize("function", sorted(ACTIVATION_CODES))
def test_activation_cuda_twins(function, rng):
    code, a = ACTIVATION_CODES[function], ALPHA.get(function, 0.0)
    x = rng.standard_normal(40)
    y = np.empty_like(x)
    cpu.activation_forward(x, code, a, y)
    assert_twins_agree("activation_forward", x, code, a, np.empty_like(x))
    assert_twins_agree("activation_backward", x, y, rng.standard_normal(40), code, a,
                       np.empty_like(x))


def test_softmax_and_prelu_cuda_twins(rng):
    x = rng.standard_normal((5, 7))
    y = np.empty_like(x)
    cpu.softmax_forward(x, y)
    assert_twins_agree("softmax_forward", x, np.empty_like(x))
    assert_twins_agree("softmax_backward", y, rng.standard_normal((5, 7)), np.empty_like(x))
    x3 = rng.standard_normal((3, 4, 5))
    alpha = rng.uniform(0, 0.5, 4)
    assert_twins_agree("prelu_forward", x3, alpha, np.empty_like(x3))
    assert_twins_agree("prelu_backward", x3, alpha, rng.standard_normal((3, 4, 5)),
                       np.empty_like(x3), np.empty(4))
