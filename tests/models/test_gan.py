"""GANs: the generator's gradient through the discriminator, learning, and the measures."""

import numpy as np
import pytest
import scipy.linalg

from atlas.data import ring_centres
from atlas.gradcheck import relative_error
from atlas.models.gan import (
    GAN,
    dcgan_discriminator,
    dcgan_generator,
    frechet_distance,
    mlp_discriminator,
    mlp_generator,
    modes_covered,
    penultimate_features,
    sample,
)
from atlas.nn import Activation, Conv2D, ConvTranspose2D, Dense, Flatten, Reshape, Sequential, load


def test_the_generator_gradient_through_the_discriminator_is_exact(rng):
    G = Sequential([Dense(18), Reshape((2, 3, 3)), Activation("tanh"),
                    ConvTranspose2D(1, 4, stride=2, padding=1)], input_shape=(3,),
                   dtype="float64", seed=1)
    D = Sequential([Conv2D(2, 3, stride=2, padding=1), Activation("leaky_relu", 0.2), Flatten(),
                    Dense(1)], input_shape=(1, 6, 6), dtype="float64", seed=2)
    gan = GAN(G, D)
    z, ones = rng.standard_normal((5, 3)), np.ones((5, 1))

    def g_loss():
        return gan.loss(D.forward(G.forward(z, training=True), training=True), ones)[0]

    _, grad = gan.loss(D.forward(G.forward(z, training=True), training=True), ones)
    G.backward(D.backward(grad))
    for key, param, analytic in G.trainable_parameters():
        numeric = np.zeros_like(param)
        for i in np.ndindex(param.shape):
            saved = param[i]
            param[i] = saved + 1e-6
            up = g_loss()
            param[i] = saved - 1e-6
            numeric[i] = (up - g_loss()) / 2e-6
            param[i] = saved
        assert relative_error(analytic, numeric) < 1e-7, key


def test_a_gan_learns_a_one_dimensional_gaussian(rng):
    gan = GAN(mlp_generator(1, 16, 1, seed=0), mlp_discriminator(1, 16, seed=1), lr=2e-3, seed=0)
    data = (3.0 + 0.5 * rng.standard_normal((256 * 8, 1))).astype(np.float32)
    before = gan.sample(2000)
    history = gan.fit(data, epochs=40, batch_size=256, progress=False)
    after = gan.sample(2000)
    assert abs(before.mean() - 3.0) > 2.0
    assert abs(after.mean() - 3.0) < 0.3 and 0.3 < after.std() < 0.8
    assert len(history["d_loss"]) == 40 and len(history["step_g_loss"]) == 40 * 8
    assert 0.3 < history["d_real"][-1] < 0.8  # near the equilibrium's 1/2, not won by D


def test_dcgan_shapes_and_a_saved_generator_samples_the_same(tmp_path):
    G, D = dcgan_generator(16), dcgan_discriminator()
    assert G.output_shapes == [(1, 28, 28)] and D.output_shapes == [(1,)]
    gan = GAN(G, D, seed=3)
    real = np.random.default_rng(0).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32)
    d_loss, g_loss, d_real, d_fake = gan.train_step(real)
    assert np.isfinite([d_loss, g_loss]).all() and 0 < d_real < 1 and 0 < d_fake < 1
    G.save(tmp_path / "g.npz")
    images = sample(load(tmp_path / "g.npz"), 3, seed=7)
    np.testing.assert_array_equal(images, gan.sample(3, seed=7))
    assert images.min() >= -1 and images.max() <= 1


def test_bad_wiring_and_bad_data_get_clear_errors():
    with pytest.raises(ValueError, match=r"makes samples of shape \(2,\) but the discriminator "
                                         r"takes \(1, 28, 28\)"):
        GAN(mlp_generator(), dcgan_discriminator())
    gan = GAN(mlp_generator(), mlp_discriminator())
    with pytest.raises(ValueError, match=r"expected samples of shape \(N, 2\), got \(5, 3\)"):
        gan.fit(np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        gan.fit(np.full((64, 2), np.nan, np.float32))
    with pytest.raises(ValueError, match="no full batch"):
        gan.fit(np.zeros((5, 2), np.float32), batch_size=64)


def test_frechet_distance_matches_the_matrix_square_root_formula(rng):
    a = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))
    b = rng.standard_normal((400, 6)) @ rng.standard_normal((6, 6)) + 0.5
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = (np.sum((a.mean(0) - b.mean(0)) ** 2)
                + np.trace(ca + cb - 2 * np.real(scipy.linalg.sqrtm(ca @ cb))))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    assert abs(frechet_distance(a, a)) < 1e-8
    # One dimension: (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2.
    x = rng.standard_normal((10_000, 1))
    expected = (x.mean() + 1) ** 2 + np.var(x, ddof=1)
    assert frechet_distance(x, 2 * x + 1) == pytest.approx(expected, rel=1e-9)


def test_modes_covered_counts_modes_and_high_quality_samples(rng):
    centres = ring_centres()
    near = centres[rng.integers(0, 5, 900)] + 0.02 * rng.standard_normal((900, 2))
    far = rng.uniform(-0.5, 0.5, (100, 2))
    covered, quality = modes_covered(np.concatenate([near, far]), centres, 0.02)
    assert covered == 5 and quality == pytest.approx(near_fraction(near, centres), abs=0.01)


def near_fraction(points, centres):
    distances = np.linalg.norm(points[:, None] - centres[None], axis=2).min(axis=1)
    return np.count_nonzero(distances <= 0.06) / 1000


def test_penultimate_features_are_the_input_of_the_last_layer(rng):
    model = Sequential([Dense(5), Activation("tanh"), Dense(3)], input_shape=(4,))
    x = rng.standard_normal((7, 4)).astype(np.float32)
    features = penultimate_features(model, x, batch_size=3)
    np.testing.assert_allclose(features, np.tanh(x @ model.layers[0].params["W"]
                                                 + model.layers[0].params["b"]), rtol=1e-5)


def test_gan_steps_on_the_cuda_backend_in_the_simulator_match_the_cpu():
    """The whole GAN step (concatenation on the device, the input gradient handed from D to
    G, both optimisers) on small convolutional networks, on both backends."""
    real = np.random.default_rng(0).uniform(-1, 1, (2, 1, 6, 6))
    results = []
    for device in ("cpu", "cuda"):
        G = Sequential([Dense(18), Reshape((2, 3, 3)), Activation("relu"),
                        ConvTranspose2D(1, 4, stride=2, padding=1), Activation("tanh")],
                       input_shape=(2,), dtype="float64", seed=1, device=device)
        D = Sequential([Conv2D(2, 3, stride=2, padding=1), Activation("leaky_relu", 0.2),
                        Flatten(), Dense(1)], input_shape=(1, 6, 6), dtype="float64", seed=2,
                       device=device)
        gan = GAN(G, D, lr=0.01, seed=5)
        losses = [gan.train_step(real)]
        results.append((np.array(losses), gan.sample(4, seed=1)))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-9)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-9, atol=1e-12)
