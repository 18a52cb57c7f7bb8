"""One epoch of the 784-256-10 ReLU MLP on Fashion-MNIST (batch 64, SGD momentum 0.9), in atlas
and, when installed, in PyTorch on the same CPU; times and their ratio.

    python benchmarks/bench_mlp.py                # interleaved epochs, medians, ratio
    python benchmarks/bench_mlp.py --startup      # atlas cold (compiling) vs warm (cached) start

The engines alternate (atlas, torch, atlas, torch, ...) in one process so that both see the
same machine; the BLAS thread count is set by --threads for both (OpenBLAS reads it at import,
so the script sets it before importing anything).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import COUNT

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=COUNT, default=2)
parser.add_argument("--repeats", type=COUNT, default=3)
parser.add_argument("--startup", action="store_true", help="measure cold and warm start-up")
args = parser.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402

BATCH, LR, MOMENTUM = 64, 0.01, 0.9

STARTUP_SNIPPET = """
import time; t0 = time.perf_counter()
import numpy as np
from atlas.models import mlp
from atlas.optimizers import SGD
m = mlp((256,)).compile("softmax_cross_entropy", SGD(0.01, momentum=0.9))
x = np.random.default_rng(0).random((64, 28, 28), dtype=np.float32)
m.train_step(x, np.arange(64) % 10)
print(f"{time.perf_counter() - t0:.3f}")
"""


def startup():
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        times = [float(subprocess.run([sys.executable, "-c", STARTUP_SNIPPET], env=env,
                                      capture_output=True, text=True, check=True).stdout)
                 for _ in range(2)]
    print(f"atlas start-up to the first training step: cold (compiling) {times[0]:.2f} s, "
          f"warm (cache=True) {times[1]:.2f} s")


def atlas_epoch(x, y, order):
    from atlas.models import mlp
    from atlas.optimizers import SGD
    model = mlp((256,), seed=0).compile("softmax_cross_entropy", SGD(LR, momentum=MOMENTUM))
    start = time.perf_counter()
    for s in range(0, len(order), BATCH):
        idx = order[s:s + BATCH]
        model.train_step(x[idx], y[idx])
    return time.perf_counter() - start


def torch_epoch(x, y, order):
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 10))
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    X, Y, order = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(order)
    start = time.perf_counter()
    for s in range(0, len(order), BATCH):
        idx = order[s:s + BATCH]
        loss = loss_fn(net(X[idx]), Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main():
    if args.startup:
        startup()
        return
    from atlas.data import load_fashion_mnist
    x, y = load_fashion_mnist("train")
    order = np.random.default_rng(0).permutation(len(x))
    engines = {"atlas": atlas_epoch}
    try:
        import torch
        torch.set_num_threads(args.threads)
        engines["torch"] = torch_epoch
    except ImportError:
        print("PyTorch is not installed (pip install 'atlas[bench]'): timing atlas alone")
    for run in engines.values():  # warm-up: compilation, allocator, thread pools
        run(x[:6400], y[:6400], order[order < 6400])
    times = {name: [] for name in engines}
    for _ in range(args.repeats):
        for name, run in engines.items():
            times[name].append(run(x, y, order))
    print(f"MLP 784-256-10, one epoch of {len(x)} images, batch {BATCH}, "
          f"{args.threads} thread(s), median of {args.repeats}:")
    for name, ts in times.items():
        print(f"  {name:6s} {statistics.median(ts):6.3f} s   (runs: "
              f"{', '.join(f'{t:.3f}' for t in ts)})")
    if "torch" in times:
        ratio = statistics.median(times["atlas"]) / statistics.median(times["torch"])
        print(f"  atlas / torch = {ratio:.2f}")


if __name__ == "__main__":
    main()
