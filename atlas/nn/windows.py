"""Geometry shared by the layers that slide a window over images (convolution, pooling)."""

from __future__ import annotations

import numbers
from collections.abc import Iterable

from atlas.checks import integer


def pair(value, what, minimum=1):
    """``(a, b)`` from an int or a pair of ints, all >= ``minimum`` (``what`` names it in
    errors)."""
    expected = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    values = (value, value) if isinstance(value, numbers.Integral) else value
    if isinstance(values, str) or not isinstance(values, Iterable) or len(tuple(values)) != 2:
        raise TypeError(f"{what} must be {expected} or a pair of them, got {value!r}")
    try:
        return tuple(integer(v, what, minimum=minimum) for v in values)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{what} must be {expected} or a pair of them, got {value!r}") \
            from None


def image_shape(layer, input_shape):
    """``(C, H, W)`` of a per-sample image shape, or a clear error naming ``layer``."""
    if len(input_shape) != 3:
        raise ValueError(f"{layer} expects images (N, C, H, W), got per-sample shape "
                         f"{tuple(input_shape)} (inputs of {len(input_shape) + 1} dimensions)")
    return tuple(input_shape)


def resolve_padding(padding, size, kernel, stride, dilation):
    """``(before, total)`` zero padding along one axis.

    ``padding`` is an int (that many zeros on both sides), ``"valid"`` (none) or ``"same"``
    (TensorFlow's rule: output ``ceil(size / stride)``, the odd zero at the end).
    """
    if padding == "valid":
        return 0, 0
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
        return total // 2, total
    if isinstance(padding, int) and padding >= 0:
        return padding, 2 * padding
    raise ValueError(f"padding must be an int >= 0, a pair of them, 'same' or 'valid'; "
                     f"got {padding!r}")


def padding_pairs(padding):
    """Per-axis padding specs, checked: an int or ``"same"``/``"valid"`` applies to both."""
    pads = (padding, padding) if isinstance(padding, (str, int)) else tuple(padding)
    if len(pads) != 2 or not all(p in ("same", "valid") or (isinstance(p, int) and p >= 0)
                                 for p in pads):
        raise ValueError(f"padding must be an int >= 0, a pair of them, 'same' or 'valid'; "
                         f"got {padding!r}")
    return pads


def output_length(layer, axis, size, kernel, stride, total_padding, dilation=1):
    """Output length of a sliding window along one axis, or a clear error if the (dilated)
    kernel does not fit in the padded input."""
    span = dilation * (kernel - 1) + 1
    padded = size + total_padding
    if span > padded:
        raise ValueError(f"{layer}: the {axis} of the kernel ({span}, dilation included) is "
                         f"larger than the padded input ({size} + {total_padding} padding = "
                         f"{padded})")
    return (padded - span) // stride + 1
