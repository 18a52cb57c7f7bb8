r"""What a trained classifier looks at: gradients with respect to the input, occlusion,
the images that most excite a unit, and images made to excite a class.

All of them use one fact: a model's backward pass, asked for the gradient with respect to
its input (`require_input_grad`), gives $\partial S / \partial x$ for any scalar $S$ of
its outputs. With $S = S_c$, the logit of class $c$, starting the backward pass from the
one-hot gradient $e_c$:

- the **saliency map** (Simonyan, Vedaldi and Zisserman, 2014) is
  $\max_{channels} |\partial S_c / \partial x|$: the pixels whose change moves the score most;
- **class model visualisation** (same paper) climbs the gradient from a blank image,
  $x \leftarrow \arg\max_x S_c(x) - \lambda \lVert x \rVert^2$, to show what the network
  takes to be a class;
- **occlusion sensitivity** (Zeiler and Fergus, 2014) needs no gradient: grey out a
  patch, slide it, and record how much the probability of the true class drops.
"""

from __future__ import annotations

import numpy as np

from atlas.checks import integer, positive


def _check_classifier(model, image):
    shape = model.inputs_spec[0][0]
    image = np.asarray(image, dtype=model.dtype)
    if image.shape != tuple(shape):
        raise ValueError(f"expected one image of shape {tuple(shape)}, got {image.shape}")
    return image


def input_gradient(model, images, classes):
    """$\\partial S_c / \\partial x$ for a batch ``images (N, *shape)`` and one class per
    image: the backward pass of the logits' one-hot gradient."""
    backend = model.backend
    images = np.ascontiguousarray(images, dtype=model.dtype)
    model.require_input_grad()
    try:
        logits = model.forward(backend.asarray(images), training=False)
        seed = np.zeros(logits.shape, model.dtype)
        seed[np.arange(len(images)), np.asarray(classes)] = 1.0
        grad = model.backward(backend.asarray(seed))
    finally:
        model.require_input_grad(False)
    return backend.to_numpy(grad)


def saliency(model, image, label):
    """The saliency map of ``image`` for class ``label``: the absolute input gradient, its
    largest value over the channels for an image ``(C, H, W)``."""
    image = _check_classifier(model, image)
    grad = np.abs(input_gradient(model, image[None], [label])[0])
    return grad.max(axis=0) if grad.ndim == 3 else grad


def occlusion(model, image, label, *, patch=6, stride=2, fill=None):
    """How much the probability of ``label`` drops when a ``patch`` x ``patch`` square of
    ``fill`` (the image's mean by default, a grey) covers each position, ``stride`` apart:
    a map ``(rows, cols)`` of drops, and the unoccluded probability."""
    image = _check_classifier(model, image)
    patch = integer(patch, "patch", "occlusion")
    stride = integer(stride, "stride", "occlusion")
    height, width = image.shape[-2:]
    fill = float(image.mean()) if fill is None else float(fill)
    tops = range(0, height - patch + 1, stride)
    lefts = range(0, width - patch + 1, stride)
    batch = np.repeat(image[None], len(tops) * len(lefts), axis=0)
    for k, (top, left) in enumerate((t, l) for t in tops for l in lefts):
        batch[k, ..., top:top + patch, left:left + patch] = fill
    base = probabilities(model.predict(image[None]))[0, label]
    occluded = probabilities(model.predict(batch, batch_size=512))[:, label]
    return (base - occluded).reshape(len(tops), len(lefts)), float(base)


def probabilities(logits, axis=-1):
    """Softmax of ``logits`` along ``axis``, in float64, on the host."""
    logits = np.asarray(logits, dtype=np.float64)
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def activations(model, images, layer, batch_size=500):
    """The outputs of ``model.layers[layer]`` (a `Sequential`) for ``images``, in
    inference mode."""
    images = np.ascontiguousarray(images, dtype=model.dtype)
    backend, parts = model.backend, []
    for start in range(0, len(images), batch_size):
        h = backend.asarray(images[start:start + batch_size])
        for current in model.layers[:layer + 1]:
            h = current.forward(h, training=False)
        parts.append(backend.to_numpy(h))
    return np.concatenate(parts)


def top_images(model, images, layer, unit, k=6):
    """Indices of the ``k`` images whose strongest response of channel (or unit) ``unit``
    of layer ``layer`` is largest, best first, and those responses."""
    out = activations(model, images, layer)
    strength = out[:, unit].reshape(len(out), -1).max(axis=1)
    order = np.argsort(-strength, kind="stable")[:k]
    return order, strength[order]


def class_model(model, label, *, steps=200, lr=0.05, l2=0.01, seed=0):
    r"""An image that the model scores highly as ``label``: Adam (the engine's) on
    $-S_c(x) + \lambda \lVert x \rVert^2$ from a faint random start. Returns the image and
    the logit $S_c$ after every step."""
    from atlas.optimizers import Adam

    steps = integer(steps, "steps", "class_model")
    l2 = positive(l2, "l2", "class_model")
    shape = model.inputs_spec[0][0]
    x = (0.01 * np.random.default_rng(seed).standard_normal((1, *shape))).astype(model.dtype)
    optimizer, scores = Adam(lr), []
    for _ in range(steps):
        grad = -input_gradient(model, x, [label]) + 2.0 * l2 * x
        optimizer.step([("x", x, grad.astype(model.dtype))])
        scores.append(float(model.predict(x)[0, label]))
    return x[0], scores
