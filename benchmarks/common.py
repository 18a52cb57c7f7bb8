"""What the benchmark scripts share: their counting arguments, interleaved timing, the report
line, start-up times."""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def at_least(minimum):
    """An argparse ``type``: a whole number no smaller than ``minimum``, so that a bad
    ``--threads`` or ``--repeats`` stops at the command line, with a message that names the
    argument, rather than in a traceback from deep inside an engine."""

    def whole_number(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected a whole number of at least {minimum}, got {value}")
        return value

    return whole_number


#: Threads, repeats, sizes, steps: at least one.
COUNT = at_least(1)


def best(fn, repeats):
    """Best of ``repeats`` timed calls after one warm-up call (seconds)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved(fns, repeats, rounds=3):
    """Median time of each function, the engines taking turns in blocks (A A A B B B A A A
    ...), so that a slow moment of a shared machine hits every engine alike.

    Blocks rather than single calls: each engine has its own thread pool (OpenBLAS,
    PyTorch's OpenMP) that spins for a while after a call, and calls alternating one by one
    on 2 cores measured both engines 2-5x slower than either alone. The first call of each
    block, which pays for the switch, is not counted.
    """
    times = [[] for _ in fns]
    per_block = max(1, repeats // rounds)
    for _ in range(rounds):
        for fn, record in zip(fns, times):
            fn()
            for _ in range(per_block):
                start = time.perf_counter()
                fn()
                record.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def report(label, atlas_time, torch_time, unit="ms", width=42):
    """One line: atlas's time, torch's and the ratio atlas / torch."""
    scale = 1e3 if unit == "ms" else 1.0
    line = f"  {label:{width}s} atlas {atlas_time * scale:9.2f} {unit}"
    if torch_time is not None:
        line += (f"   torch {torch_time * scale:9.2f} {unit}   "
                 f"atlas/torch {atlas_time / torch_time:5.2f}")
    print(line, flush=True)


def torch_or_none(threads):
    """PyTorch set to ``threads`` threads, or None (with a note) where it is not installed."""
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed (pip install 'atlas[bench]'): timing atlas alone")
        return None
    torch.set_num_threads(threads)
    return torch


def cold_and_warm(snippet):
    """Seconds a fresh process takes to run ``snippet`` (which prints its own time) with an
    empty Numba cache (cold: compiling) and again with the cache it left (warm)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        return [float(subprocess.run([sys.executable, "-c", snippet], env=env,
                                     capture_output=True, text=True, check=True).stdout)
                for _ in range(2)]


# The CNNs of atlas.models.cnn, built in PyTorch ------------------------------------------------
def torch_lenet():
    import torch.nn as nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
                         nn.Linear(84, 10))


def torch_two_conv():
    import torch.nn as nn
    return nn.Sequential(nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Dropout(0.4),
                         nn.Linear(1024, 10))
