"""Autoencoders: the code layer as an encoder, corruption, PCA's baseline, fit(transform=)."""

import numpy as np
import pytest

from atlas.models.autoencoder import (
    Corruption,
    conv_autoencoder,
    dense_autoencoder,
    encoder,
    pca_reconstruction_error,
    reconstruction_error,
)
from atlas.models.sdae import classifier, fine_tune, pretrain
from atlas.nn import Activation, Dense, Input, Model, Sequential
from atlas.optimizers import Adam


def test_shapes_and_the_encoder_shares_the_autoencoders_weights(rng):
    model = dense_autoencoder(3, hidden=(16,))
    assert model.output_shapes == [(784,)]
    conv = conv_autoencoder(5)
    assert conv.output_shapes == [(1, 28, 28)]
    assert encoder(conv).output_shapes == [(5,)]
    x = rng.random((6, 784)).astype(np.float32)
    model.compile("mse", Adam(1e-2), metrics=())
    model.fit(x, x, epochs=2, batch_size=3, progress=False)
    codes = encoder(model).predict(x)
    code_layer = next(layer for layer in model.layers if layer.name == "code")
    hidden = np.maximum(x @ model.layers[0].params["W"] + model.layers[0].params["b"], 0)
    np.testing.assert_allclose(codes, hidden @ code_layer.params["W"] + code_layer.params["b"],
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="no layer named 'code'"):
        encoder(classifier((4,)))


def test_an_autoencoder_learns_to_reconstruct_low_dimensional_data(rng):
    basis = rng.random((2, 784))
    x = (rng.random((512, 2)) @ basis / 2).astype(np.float32)  # a plane in [0, 1]^784
    model = dense_autoencoder(2, hidden=(32,), seed=1)
    model.compile("mse", Adam(3e-3), metrics=())
    before = reconstruction_error(model, x)
    model.fit(x, x, epochs=30, batch_size=64, progress=False)
    assert reconstruction_error(model, x) < before / 20
    # PCA with 2 components reconstructs a plane exactly; with 1 it cannot.
    assert pca_reconstruction_error(x, x, 2) < 1e-10 < pca_reconstruction_error(x, x, 1)


def test_corruption_masks_a_fraction_and_gaussian_noise_stays_in_range(rng):
    x = np.full((200, 784), 0.5, np.float32)
    masked = Corruption("mask", 0.25)(x, rng)
    assert masked.dtype == np.float32 and abs(np.mean(masked == 0) - 0.25) < 0.01
    noisy = Corruption("gaussian", 0.5)(x, rng)
    assert noisy.min() >= 0 and noisy.max() <= 1 and abs(np.std(noisy - x) - 0.4) < 0.05
    for bad in (("mask", 1.0), ("gaussian", 0.0), ("salt", 0.1)):
        with pytest.raises(ValueError):
            Corruption(*bad)


def test_fit_transforms_each_batch_with_fresh_draws_and_checks_the_result(rng):
    model = Sequential([Dense(3)], input_shape=(4,))
    model.compile("mse", Adam(1e-3), metrics=())
    seen = []

    def record(batch, generator):
        seen.append(batch.copy())
        return batch + generator.standard_normal(batch.shape)

    x = rng.random((6, 4)).astype(np.float32)
    model.fit(x, np.zeros((6, 3)), epochs=2, batch_size=2, shuffle=False, transform=record,
              progress=False)
    assert len(seen) == 6 and np.array_equal(seen[0], x[:2])
    with pytest.raises(ValueError, match=r"changed the shape of input 0's batch from \(2, 4\)"):
        model.fit(x, np.zeros((6, 3)), batch_size=2, transform=lambda b, r: b[:, :3],
                  progress=False)
    with pytest.raises(TypeError, match="transform must be a callable, got str"):
        model.fit(x, np.zeros((6, 3)), transform="noise", progress=False)


def test_pretraining_stacks_layers_and_fine_tuning_starts_from_them(rng):
    x = rng.random((64, 784)).astype(np.float32)
    weights, losses = pretrain(x, (8, 4), epochs=1, batch_size=32, progress=False)
    assert [w.shape for w, _ in weights] == [(784, 8), (8, 4)] and len(losses) == 2
    y = rng.integers(0, 10, 64)
    model, _ = fine_tune(x, y, (x, y), weights, (8, 4), epochs=1, lr=1e-12, progress=False)
    first = [layer for layer in model.layers if isinstance(layer, Dense)][0]
    np.testing.assert_allclose(first.params["W"], weights[0][0], atol=1e-6)
    with pytest.raises(ValueError, match="2 pretrained layers for a stack of 1"):
        fine_tune(x, y, (x, y), weights, (8,), epochs=1, progress=False)


def test_a_denoising_autoencoder_trains_on_the_cuda_backend_in_the_simulator_as_on_the_cpu(rng):
    x = rng.random((8, 6))
    results = []
    for device in ("cpu", "cuda"):
        image = Input((6,))
        out = Activation("sigmoid")(Dense(6)(Dense(3, name="code")(image)))
        model = Model(image, out, device=device, dtype="float64", seed=2)
        model.compile("mse", Adam(1e-2), metrics=())
        model.fit(x, x, epochs=2, batch_size=4, transform=Corruption("mask", 0.3),
                  progress=False)
        results.append(encoder(model).predict(x))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-8, atol=1e-10)
