"""Style transfer: the loss's gradient, Gram matrices, images in and out, both backends."""

import numpy as np
import pytest
from PIL import Image

from atlas import cli
from atlas import style_transfer as st


def small(device="cpu", seed=0):
    return st.random_features(10, kernels=(1, 3), filters=3, seed=seed, device=device,
                              dtype="float64")


def test_the_gradient_of_content_plus_style_loss_is_exact(rng):
    style, content, x = (rng.random((3, 10, 10)) for _ in range(3))
    objective = st.Objective(small(), style, content, content_weight=0.7, style_weight=50.0)
    _, grad, _ = objective(x)
    for index in [tuple(i) for i in rng.integers(0, 10, (8, 3)) % [3, 10, 10]]:
        saved = x[index]
        x[index] = saved + 1e-6
        up = objective(x)[0]
        x[index] = saved - 1e-6
        numeric = (up - objective(x)[0]) / 2e-6
        x[index] = saved
        assert grad[index] == pytest.approx(numeric, rel=1e-5, abs=1e-10)


def test_gram_matrices_and_the_random_filters(rng):
    F = rng.standard_normal((4, 5, 6))
    G = st.gram(F)
    np.testing.assert_allclose(G, np.einsum("cij,dij->cd", F, F) / 30)
    model = small()
    W = [layer for layer in model.layers if "W" in layer.params][1].params["W"]  # 3x3: flat-blind
    np.testing.assert_allclose(W.sum(axis=(1, 2, 3)), 0, atol=1e-12)
    flat = np.full((1, 3, 10, 10), 0.3)
    maps = model.predict(flat - 0.5)
    assert np.abs(maps[1][:, :, 2:-2, 2:-2]).max() < 1e-12 and maps[0].max() > 1e-3  # 1x1: colour


def test_texture_synthesis_lowers_the_style_loss():
    image, history = st.synthesize("brick", size=24, steps=15)
    assert image.shape == (3, 24, 24) and 0 <= image.min() <= image.max() <= 1
    assert history["style_loss"][-1] < 0.2 * history["style_loss"][0]
    assert all(c == 0 for c in history["content_loss"])


def test_images_are_read_squared_and_refused_with_reasons(tmp_path):
    assert st.load_image("cat", 20).shape == (3, 20, 20)
    assert st.load_image("grace-hopper", 16).shape == (3, 16, 16)
    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((30, 50), 128, np.uint8)).save(gray)
    image = st.load_image(gray, 20)
    assert image.shape == (3, 20, 20) and np.allclose(image, 128 / 255, atol=1e-6)
    opaque = tmp_path / "opaque.png"
    Image.fromarray(np.full((20, 20, 4), 255, np.uint8)).save(opaque)
    assert st.load_image(opaque, 16).shape == (3, 16, 16)
    clear = tmp_path / "clear.png"
    Image.fromarray(np.zeros((20, 20, 4), np.uint8)).save(clear)
    (tmp_path / "notes.png").write_text("not an image")
    for spec, message in ((tmp_path / "absent.png", "no such image file"),
                          (tmp_path / "notes.png", "is not an image that can be read"),
                          (clear, "4 channels with transparency"), (tmp_path, "is a directory")):
        with pytest.raises(ValueError, match=message):
            st.load_image(spec, 16)
    with pytest.raises(ValueError, match="ending in .png"):
        st.save_image(image, tmp_path / "out.jpg")
    saved = st.save_image(image, tmp_path / "out.png")
    assert np.asarray(Image.open(saved)).shape == (20, 20, 3)


def test_the_objective_on_the_cuda_backend_in_the_simulator_matches_the_cpu(rng):
    style, content, x = (rng.random((3, 10, 10)) for _ in range(3))
    results = [st.Objective(small(device), style, content)(x) for device in ("cpu", "cuda")]
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-9)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-8, atol=1e-14)


def test_atlas_stylize(tmp_path, capsys):
    out = tmp_path / "styled.png"
    assert cli.main(["stylize", "astronaut", "gravel", "--size", "24", "--steps", "3", "--out",
                     str(out)]) == 0
    assert "style transfer at 24x24" in capsys.readouterr().out and out.exists()
    assert cli.main(["stylize", "noise", "brick", "--size", "24", "--steps", "2", "--out",
                     str(tmp_path / "t.png")]) == 0
    assert cli.main(["stylize", "astronaut", str(tmp_path / "none.png")]) == 2
    assert "no such image file" in capsys.readouterr().err
