r"""Texture synthesis and style transfer (Gatys, Ecker and Bethge, 2015, 2016) with random,
untrained convolutional filters (Ustyuzhaninov et al., 2016).

A network's feature maps $F^k \in \mathbb R^{C_k \times M}$ ($C_k$ channels, $M$ pixels)
describe an image in two ways. The maps themselves keep *where* things are: the **content**.
Their correlations, the Gram matrices

$$
G^k = \frac{1}{M} F^k F^{k\top} \in \mathbb R^{C_k \times C_k},
$$

average over positions and keep only which features occur together: the **style**, or
texture. Synthesis optimises the pixels $x$ of a new image:

$$
L(x) = \alpha \sum_k \frac{\lVert F^k(x) - F^k(c) \rVert^2}{C_k M}
     + \beta \sum_k \frac{\lVert G^k(x) - G^k(s) \rVert^2}{C_k^2},
$$

with the gradients, for one layer, $\partial / \partial F$ of the two terms
$2 (F - P) / (C M)$ and $4 (G - A) F / (M C^2)$ ($P$, $A$ the content's maps and the style's
Gram matrix), handed to the network's backward pass to get $\partial L / \partial x$.
Without a content term ($\alpha = 0$, a noise start) it is texture synthesis.

Gatys et al. use VGG-19 trained on ImageNet. The engine has no pretrained weights and
fetches nothing, so the features here are one layer of random filters at several sizes
(3 to 11 pixels, zero-mean, plus 1x1 filters for colour), ReLU: Ustyuzhaninov et al.
showed that such shallow random networks already synthesise convincing textures. What
they cannot do is recognise objects: the content term keeps edges and colours, not "a
face".
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from atlas.checks import integer, non_negative, positive
from atlas.kernels.cpu.threads import numpy_blas_on_one_thread

#: The filter sizes of the random feature network, and filters per size. The 1x1 filters
#: see colour; the others, shifted to mean zero, see structure at their scale.
KERNELS = (1, 3, 5, 7, 11)
FILTERS = 32

#: Images that ship inside installed packages (scikit-image's data and matplotlib's sample
#: photograph), usable by name wherever an image is asked for.
SAMPLES = {
    "astronaut": ("skimage", "astronaut"), "cat": ("skimage", "chelsea"),
    "coffee": ("skimage", "coffee"), "hubble": ("skimage", "hubble_deep_field"),
    "brick": ("skimage", "brick"), "gravel": ("skimage", "gravel"),
    "grass": ("skimage", "grass"), "rocket": ("skimage", "rocket"),
    "grace-hopper": ("matplotlib", "grace_hopper.jpg"),
}


# Images -----------------------------------------------------------------------------------------
def load_image(spec, size):
    """An RGB image ``(3, size, size)`` in [0, 1]: a name from `SAMPLES` or an image file
    (PNG or JPEG), cropped to its central square and resized. A missing file, a file that
    is not an image, or an image with other than 1, 3 or 4 (opaque) channels is a
    ValueError that says which."""
    size = integer(size, "size", "load_image", minimum=16)
    pixels = _sample(*SAMPLES[spec]) if spec in SAMPLES else _read_file(Path(spec))
    return _square(_as_rgb(pixels, spec), size)


def _sample(package, name):
    if package == "skimage":
        try:
            import skimage.data
        except ImportError:
            raise ValueError("the sample images come from scikit-image: pip install "
                             "'atlas[vision]' (or give an image file)") from None
        return getattr(skimage.data, name)()
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data(name) as f:
        return _read_file(Path(f.name))


def _read_file(path):
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise ValueError(f"{path}: no such image file (or give one of the sample names: "
                         f"{', '.join(SAMPLES)})")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not an image file")
    try:
        with Image.open(path) as image:
            image.load()
            return np.asarray(image)
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path} is not an image that can be read (PNG or JPEG expected): "
                         f"{error}") from None


def _as_rgb(pixels, spec):
    pixels = np.asarray(pixels)
    if pixels.dtype == np.uint8:
        pixels = pixels / 255.0
    elif pixels.dtype == np.uint16:
        pixels = pixels / 65535.0
    pixels = pixels.astype(np.float64)
    if pixels.ndim == 2:
        return np.repeat(pixels[None], 3, axis=0)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        if np.any(pixels[..., 3] < 1.0):
            raise ValueError(f"{spec} has 4 channels with transparency; expected an RGB or "
                             f"grayscale image (flatten the alpha channel first)")
        pixels = pixels[..., :3]
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        channels = pixels.shape[2] if pixels.ndim == 3 else f"{pixels.ndim} axes"
        raise ValueError(f"{spec} has {channels} channels; expected an RGB image (3 channels) "
                         f"or a grayscale one")
    return np.moveaxis(pixels, 2, 0)


def _square(image, size):
    from scipy.ndimage import zoom

    _, height, width = image.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    crop = image[:, top:top + side, left:left + side]
    scaled = zoom(crop, (1, size / side, size / side), order=1)[:, :size, :size]
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)


def save_image(image, path):
    """Write ``image (3, H, W)`` in [0, 1] as a PNG, atomically; returns the path."""
    import io

    from PIL import Image

    from atlas.io import atomic_write

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"cannot write {path}: give a file name ending in .png")
    pixels = (np.clip(np.moveaxis(np.asarray(image), 0, 2), 0, 1) * 255 + 0.5).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return atomic_write(path, lambda f: f.write(buffer.getvalue()))


# Features and losses ------------------------------------------------------------------------------
def random_features(size, *, kernels=KERNELS, filters=FILTERS, seed=0, device="cpu",
                    dtype="float32"):
    """One layer of random convolutions at several sizes over ``(3, size, size)`` images,
    "same" padding, no bias, each filter's weights drawn from $\\mathcal N(0, 1/\\text{fan-in})$
    and, for sizes above 1, shifted to mean zero (a flat patch gives 0), then ReLU: a
    graph with one output per filter size."""
    from atlas.nn import Activation, Conv2D, Input, Model

    image = Input((3, size, size), name="image")
    outputs = [Activation("relu")(Conv2D(filters, k, padding="same", use_bias=False)(image))
               for k in kernels]
    model = Model(image, outputs, device=device, dtype=dtype, seed=seed, name="random-features")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if "W" in layer.params:
            shape = tuple(layer.params["W"].shape)
            W = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
            if shape[-1] > 1:  # structure filters: blind to a flat patch's level
                W -= W.mean(axis=(1, 2, 3), keepdims=True)
            model.backend.copy_into(layer.params["W"], W.astype(model.dtype))
    return model


def gram(F):
    """$G = F F^\\top / M$ of feature maps ``F (C, H, W)``."""
    flat = F.reshape(F.shape[0], -1)
    return flat @ flat.T / flat.shape[1]


class Objective:
    """The loss $L(x)$ and its gradient for a content image (or None: texture synthesis)
    and a style image, through the feature network ``model``; an image's pixels are
    centred (minus 0.5) before they enter it."""

    def __init__(self, model, style, content=None, *, content_weight=1.0, style_weight=1e3):
        self.model = model
        self.content_weight = non_negative(content_weight, "content_weight", "Objective")
        self.style_weight = positive(style_weight, "style_weight", "Objective")
        self.targets = [gram(f) for f in self._features(style)]
        self.content = None if content is None else self._features(content)
        self.model.require_input_grad()

    def _features(self, image):
        backend = self.model.backend
        x = backend.asarray(np.asarray(image, self.model.dtype)[None] - 0.5)
        return [backend.to_numpy(f)[0].astype(np.float64) for f in self.model.forward(x)]

    def __call__(self, image):
        """``(loss, gradient, (content loss, style loss))`` at ``image (3, H, W)``."""
        backend, dtype = self.model.backend, self.model.dtype
        x = backend.asarray(np.asarray(image, dtype)[None] - 0.5)
        maps = [backend.to_numpy(f)[0].astype(np.float64) for f in self.model.forward(x)]
        content_loss = style_loss = 0.0
        grads = []
        # NumPy's products on one thread: its idle BLAS threads would otherwise spin
        # through the backward pass below (see `numpy_blas_on_one_thread`).
        with numpy_blas_on_one_thread():
            for k, F in enumerate(maps):
                channels, m = F.shape[0], F[0].size
                flat = F.reshape(channels, m)
                difference = gram(F) - self.targets[k]
                style_loss += np.sum(difference ** 2) / channels ** 2
                grad = self.style_weight * 4.0 * (difference @ flat) / (m * channels ** 2)
                if self.content is not None:
                    delta = flat - self.content[k].reshape(channels, m)
                    content_loss += np.sum(delta ** 2) / (channels * m)
                    grad += self.content_weight * 2.0 * delta / (channels * m)
                grads.append(backend.asarray(grad.reshape(1, *F.shape).astype(dtype)))
        dx = backend.to_numpy(self.model.backward(grads))[0].astype(np.float64)
        loss = self.content_weight * content_loss + self.style_weight * style_loss
        return loss, dx, (content_loss, style_loss)


def synthesize(style, content=None, *, size=128, steps=200, content_weight=1.0,
               style_weight=1e3, seed=0, device="cpu", start=None, progress=False):
    """Texture synthesis (``content`` None: from noise around the style's mean colour) or
    style transfer (from the content image), by L-BFGS (SciPy's, pixels kept in [0, 1]) on
    `Objective`. ``style`` and ``content`` are images ``(3, size, size)`` or names/paths for
    `load_image`. Returns ``(image, history)``: per evaluation the total, content and style
    losses, and the seconds per evaluation."""
    from scipy.optimize import minimize

    steps = integer(steps, "steps", "synthesize")
    style = load_image(style, size) if isinstance(style, (str, Path)) else style
    if isinstance(content, (str, Path)):
        content = load_image(content, size)
    model = random_features(style.shape[-1], seed=seed, device=device)
    objective = Objective(model, style, content, content_weight=content_weight,
                          style_weight=style_weight)
    rng = np.random.default_rng(seed)
    if start is None:  # the content image, or noise around the style's mean colour
        mean = style.mean(axis=(1, 2), keepdims=True)
        start = content if content is not None else np.clip(
            mean + rng.uniform(-0.1, 0.1, style.shape), 0.0, 1.0)
    history = {"loss": [], "content_loss": [], "style_loss": []}
    began = time.perf_counter()

    def evaluate(flat):
        loss, grad, (c, s) = objective(flat.reshape(style.shape))
        history["loss"].append(float(loss))
        history["content_loss"].append(float(c))
        history["style_loss"].append(float(s))
        if progress and len(history["loss"]) % 20 == 0:
            print(f"  evaluation {len(history['loss'])}: loss {loss:.4g}", flush=True)
        return loss, grad.ravel()

    result = minimize(evaluate, np.asarray(start, np.float64).ravel(), jac=True,
                      method="L-BFGS-B", bounds=[(0.0, 1.0)] * style.size,
                      options={"maxiter": steps, "maxfun": steps * 2, "ftol": 0.0,
                               "gtol": 0.0})
    history["seconds_per_evaluation"] = (time.perf_counter() - began) / len(history["loss"])
    return result.x.reshape(style.shape).astype(np.float32), history
