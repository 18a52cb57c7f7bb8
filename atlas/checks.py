"""Checking arguments: one place that says what a size, a rate or a count must be.

Every public constructor and method checks its numbers with these helpers, so that a bad
value is refused where it is given, with a message naming the argument, what was expected
and what came: a `TypeError` when the kind is wrong (a string, a float where a count
belongs, a bool), a `ValueError` when the value is out of range (a negative size, a NaN).
Nothing is silently rounded or replaced by a default.

>>> integer(3, "units", "Dense")
3
>>> integer(2.5, "units", "Dense")
Traceback (most recent call last):
    ...
TypeError: Dense: units must be an integer, got 2.5 (float)
"""

from __future__ import annotations

import math
import numbers


def _who(owner, name):
    return f"{owner}: {name}" if owner else name


def integer(value, name, owner=None, *, minimum=1):
    """``value`` as an ``int``, if it is an integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{_who(owner, name)} must be an integer, got {value!r} "
                        f"({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{_who(owner, name)} must be >= {minimum}, got {value}")
    return int(value)


def optional_integer(value, name, owner=None, *, minimum=1):
    """None, or `integer`."""
    return None if value is None else integer(value, name, owner, minimum=minimum)


def real(value, name, owner=None, *, low=None, high=None, low_open=False, high_open=False):
    """``value`` as a finite ``float`` in the interval given by ``low`` and ``high``
    (closed ends unless ``low_open`` / ``high_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{_who(owner, name)} must be a number, got {value!r} "
                        f"({type(value).__name__})")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        raise ValueError(f"{_who(owner, name)} must be a finite number"
                         f"{_interval(low, high, low_open, high_open)}, got {value!r}")
    return value


def _interval(low, high, low_open, high_open):
    """`` in [0, 1)``, `` > 0``, `` <= 5`` or nothing, as the bounds say."""
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def positive(value, name, owner=None):
    """A finite float > 0 (learning rates, epsilons, temperatures)."""
    return real(value, name, owner, low=0.0, low_open=True)


def non_negative(value, name, owner=None):
    """A finite float >= 0 (weight decay, penalties)."""
    return real(value, name, owner, low=0.0)


def fraction(value, name, owner=None, *, high_open=True):
    """A float in [0, 1) (dropout rates, momenta); [0, 1] with ``high_open=False``."""
    return real(value, name, owner, low=0.0, high=1.0, high_open=high_open)
