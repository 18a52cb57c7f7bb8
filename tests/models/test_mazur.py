"""The classic step-by-step backpropagation example, reproduced by the engine."""

import pytest

from atlas.models import mazur


def test_first_forward_pass_is_the_published_one():
    values = mazur.forward_pass(mazur.build())
    assert values["net_h"][0] == pytest.approx(0.3775, abs=1e-12)
    assert values["out_h"][0] == pytest.approx(0.593269992, abs=1e-9)
    assert values["out_h"][1] == pytest.approx(0.596884378, abs=1e-9)
    assert values["out_o"][0] == pytest.approx(mazur.PUBLISHED["out_o1"], abs=1e-8)
    assert values["out_o"][1] == pytest.approx(mazur.PUBLISHED["out_o2"], abs=1e-9)
    assert values["error"] == pytest.approx(mazur.PUBLISHED["error"], abs=1e-9)


def test_weights_after_one_update_are_the_published_ones():
    model, errors = mazur.train(1)
    weights = mazur.weights(model)
    for name in ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"):
        # to the published figures' own precision (8 or 9 decimals): half a unit in the last
        digits = len(str(mazur.PUBLISHED[name]).split(".")[1])
        assert weights[name] == pytest.approx(mazur.PUBLISHED[name], abs=0.5 * 10**-digits), name
    assert mazur.backward_pass(mazur.build())["w5"] == pytest.approx(0.082167041, abs=1e-9)


def test_errors_after_1_and_10000_updates():
    """What the method gives, pinned; the post's own figures differ slightly (see the module)."""
    _, errors = mazur.train(10_000)
    assert errors[1] == pytest.approx(0.2910277737, abs=1e-9)
    assert errors[1] == pytest.approx(0.291027924, abs=2e-7)  # the post's figure
    assert errors[-1] == pytest.approx(3.5101878e-05, rel=1e-6)
    assert errors[-1] == pytest.approx(0.0000351085, rel=3e-4)  # the post's figure
    assert errors[-1] < errors[1] < errors[0]
