"""Input gradients, saliency, occlusion, top images and class models."""

import numpy as np
import pytest

from atlas import cli, explain
from atlas.gradcheck import numerical_gradient, relative_error
from atlas.nn import Activation, Conv2D, Dense, Flatten, MaxPool2D, Sequential
from tests.data.test_idx import make_dataset


def small_cnn(seed=0):
    return Sequential([Conv2D(3, 3, padding=1), Activation("tanh"), MaxPool2D(2), Flatten(),
                       Dense(4)], input_shape=(1, 6, 6), dtype="float64", seed=seed)


def test_the_input_gradient_is_the_gradient_of_the_class_logit(rng):
    model = small_cnn()
    x = rng.standard_normal((2, 1, 6, 6))
    grad = explain.input_gradient(model, x, [1, 3])
    for k, label in enumerate((1, 3)):
        numeric = numerical_gradient(lambda: float(model.predict(x[k:k + 1])[0, label]),
                                     x[k:k + 1])
        assert relative_error(grad[k:k + 1], numeric) < 1e-8
    assert not model.input_grad  # asked for once, then switched off again
    assert explain.saliency(model, x[0], 1).shape == (6, 6)
    with pytest.raises(ValueError, match=r"expected one image of shape \(1, 6, 6\), got \(6, 6\)"):
        explain.saliency(model, x[0, 0], 1)


def test_occlusion_finds_the_only_pixels_the_model_reads():
    model = Sequential([Flatten(), Dense(2)], input_shape=(1, 8, 8), dtype="float64")
    W = np.zeros((64, 2))
    W[np.ravel_multi_index(([4, 4, 5, 5], [2, 3, 2, 3]), (8, 8)), 0] = 5.0
    model.layers[1].params["W"][...] = W
    image = np.ones((1, 8, 8))
    drop, base = explain.occlusion(model, image, 0, patch=2, stride=2, fill=0.0)
    assert drop.shape == (4, 4) and base > 0.99
    assert np.unravel_index(drop.argmax(), drop.shape) == (2, 1)
    assert drop.max() == pytest.approx(base - 0.5)  # both logits 0: p = 1/2
    assert np.count_nonzero(drop > 1e-9) == 1


def test_top_images_and_class_models(rng):
    model = small_cnn(seed=2)
    images = rng.standard_normal((20, 1, 6, 6))
    order, strength = explain.top_images(model, images, 1, 2, k=5)
    assert len(order) == 5 and np.all(np.diff(strength) <= 0)
    response = explain.activations(model, images, 1)[:, 2].reshape(20, -1).max(axis=1)
    assert strength[0] == response.max() and order[0] == response.argmax()
    image, scores = explain.class_model(model, 3, steps=60, lr=0.05)
    assert image.shape == (1, 6, 6) and scores[-1] > scores[0] + 1.0


def test_atlas_explain_writes_the_maps(tmp_path, monkeypatch, capsys):
    make_dataset(tmp_path, n=300)
    monkeypatch.setenv("ATLAS_DATA", str(tmp_path))
    saved = tmp_path / "lenet.npz"
    assert cli.main(["train", "lenet", "--epochs", "1", "--no-progress", "--save",
                     str(saved)]) == 0
    assert cli.main(["explain", str(saved), "--image-index", "2", "--out",
                     str(tmp_path / "maps.png")]) == 0
    assert "covering a 6x6 patch lowers it" in capsys.readouterr().out
    assert (tmp_path / "maps.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["explain", str(saved), "--image-index", "3"]) == 2  # 3 test images
    assert cli.main(["explain", str(saved), "--out", str(tmp_path / "maps.gif")]) == 2
    assert "ending in .png" in capsys.readouterr().err
