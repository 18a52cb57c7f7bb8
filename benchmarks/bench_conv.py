"""Convolution, pooling and CNN training in atlas and, when installed, PyTorch on the same
CPU, side by side: times (best of several runs) and the ratio atlas / torch.

    python benchmarks/bench_conv.py                 # kernels and both epochs
    python benchmarks/bench_conv.py --skip-epochs   # kernels only (about a minute)
    python benchmarks/bench_conv.py --startup       # atlas cold (compiling) vs warm start
    python benchmarks/bench_conv.py --algorithms    # atlas's stride-1 paths side by side

Kernels: conv forward and forward+backward at the four shapes of the issue, max pooling 2x2
on (64, 32, 28, 28). Epochs: one epoch of Fashion-MNIST (60,000 images, batch 64, SGD with
momentum 0.9) for LeNet-5 and for the two-convolution network, with the same architecture
in both engines. Engines alternate in one process; both use --threads BLAS/OpenMP threads.
"""

import argparse
import os
import statistics
import time

from common import COUNT, best, cold_and_warm, report, torch_lenet, torch_or_none, torch_two_conv

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=COUNT, default=2)
parser.add_argument("--repeats", type=COUNT, default=5, help="kernel timings: best of this many")
parser.add_argument("--epoch-repeats", type=COUNT, default=1)
parser.add_argument("--skip-epochs", action="store_true")
parser.add_argument("--startup", action="store_true", help="measure cold and warm start-up")
parser.add_argument("--algorithms", action="store_true",
                    help="time the CPU's stride-1 paths (im2col, direct, Winograd) side by side")
args = parser.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402

# (N, C_in, H, C_out, k, stride, padding)
# (N, C_in, H, C_out, k, stride, padding): the CNNs' layers, then style transfer's batch of
# one image (a batch smaller than the threads, in bands of output rows).
CONV_SHAPES = [(64, 1, 28, 32, 5, 1, 2), (64, 32, 14, 64, 5, 1, 2), (32, 64, 32, 64, 3, 1, 1),
               (32, 3, 32, 16, 3, 2, 1), (1, 3, 256, 32, 11, 1, 5), (1, 3, 256, 32, 5, 1, 2)]
BATCH, LR, MOMENTUM = 64, 0.01, 0.9

STARTUP_SNIPPET = """
import time; t0 = time.perf_counter()
import numpy as np
from atlas.models import two_conv_net
from atlas.optimizers import SGD
m = two_conv_net().compile("softmax_cross_entropy", SGD(0.01, momentum=0.9))
x = np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32)
m.train_step(x, np.arange(64) % 10)
print(f"{time.perf_counter() - t0:.3f}")
"""


# (N, C_in, H, C_out, k, padding) for --algorithms: LeNet-5's two convolutions, the
# two-convolution network's two, thin and wide ones around the rules, VGG-16's first,
# ResNet-20's three stages.
ALGORITHM_SHAPES = [(64, 1, 28, 6, 5, 2), (64, 6, 14, 16, 5, 0), (64, 1, 28, 32, 5, 2),
                    (64, 32, 14, 64, 5, 2), (64, 3, 28, 16, 3, 1), (64, 6, 28, 32, 3, 1),
                    (64, 16, 14, 32, 5, 2), (64, 32, 28, 32, 3, 1), (32, 64, 32, 64, 3, 1),
                    (1, 3, 224, 64, 3, 1), (128, 16, 28, 16, 3, 1), (128, 32, 14, 32, 3, 1),
                    (128, 64, 7, 64, 3, 1)]


def stride_one_paths(shape, rng):
    """Forward+backward (input gradient too) of the CPU convolution at ``shape`` by each
    stride-1 path, serial kernels called directly: ``{name: function}`` (Winograd only for
    square 3x3 and 5x5 kernels)."""
    from atlas.kernels.cpu._conv import direct as direct_path
    from atlas.kernels.cpu._conv import im2col_gemm, winograd
    n, c, h, o, k, p = shape
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    W = rng.standard_normal((o, c, k, k), dtype=np.float32)
    b = np.zeros(o, np.float32)
    size = h + 2 * p - k + 1
    y = np.empty((n, o, size, size), np.float32)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    cols = np.empty(1 << 20, np.float32)
    geometry = ((1, 1), (p, p), (1, 1))

    def im2col():
        im2col_gemm.forward(x, W, b, *geometry, cols, y)
        im2col_gemm.backward(dy, x, W, *geometry, cols, dx, dW, db, True)

    def direct():
        direct_path.forward(x, W, b, (p, p), (1, 1), y)
        direct_path.backward(dy, x, W, (p, p), (1, 1), dx, dW, db, True)

    def minimal_filtering():  # what `conv2d_forward` / `conv2d_backward` run around it
        AT, G, BT = winograd.transforms(k, x.dtype)
        U = winograd.filter_transform(W, G)
        winograd.forward(x, U, b, (p, p), AT, BT, y)
        dU = np.empty_like(U)
        winograd.backward(dy, x, U, (p, p), AT, BT, dx, dU, db, True)
        winograd.filter_transform_adjoint(dU, G, dW)

    paths = {"im2col": im2col, "direct": direct}
    if k in (3, 5):
        paths["winograd"] = minimal_filtering
    return paths


def algorithms():
    """The stride-1 paths of the CPU convolution side by side, and the one the entry
    points pick (`direct.wins`, then `winograd.wins`): the measurement behind the rules."""
    from atlas.kernels.cpu._conv import direct, winograd
    rng = np.random.default_rng(0)
    print(f"{args.threads} thread(s); forward+backward of the serial kernels, ms, "
          f"best of {args.repeats}")
    for shape in ALGORITHM_SHAPES:
        n, c, h, o, k, _ = shape
        times = {name: best(fn, args.repeats) * 1e3
                 for name, fn in stride_one_paths(shape, rng).items()}
        chosen = ("direct" if direct.wins(o, c * k * k, (1, 1)) else
                  "winograd" if winograd.wins((o, c, k, k), (1, 1), (1, 1)) else "im2col")
        cells = "   ".join(f"{name} {t:8.2f}" for name, t in times.items())
        print(f"  ({n}, {c}, {h}, {h}) -> {o} {k}x{k}: {cells}   rule: {chosen}", flush=True)


def atlas_conv(shape, rng):
    from atlas.nn import Conv2D
    n, c, h, o, k, s, p = shape
    layer = Conv2D(o, k, stride=s, padding=p).build((c, h, h))
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    dy = rng.standard_normal((n, *layer.output_shape), dtype=np.float32)
    return (lambda: layer.forward(x)), (lambda: (layer.forward(x), layer.backward(dy)))


def torch_conv(shape, rng):
    import torch
    n, c, h, o, k, s, p = shape
    conv = torch.nn.Conv2d(c, o, k, stride=s, padding=p)
    x = torch.tensor(rng.standard_normal((n, c, h, h), dtype=np.float32), requires_grad=True)
    dy = torch.tensor(rng.standard_normal(conv(x).shape, dtype=np.float32))

    def forward():
        with torch.no_grad():
            conv(x)

    def both():
        x.grad = None
        conv.zero_grad()
        conv(x).backward(dy)
    return forward, both


def atlas_pool(rng):
    from atlas.nn import MaxPool2D
    layer = MaxPool2D(2).build((32, 28, 28))
    x = rng.standard_normal((64, 32, 28, 28), dtype=np.float32)
    dy = rng.standard_normal((64, 32, 14, 14), dtype=np.float32)
    return (lambda: layer.forward(x)), (lambda: (layer.forward(x), layer.backward(dy)))


def torch_pool(rng):
    import torch
    x = torch.tensor(rng.standard_normal((64, 32, 28, 28), dtype=np.float32),
                     requires_grad=True)
    dy = torch.tensor(rng.standard_normal((64, 32, 14, 14), dtype=np.float32))

    def forward():
        with torch.no_grad():
            torch.nn.functional.max_pool2d(x, 2)

    def both():
        x.grad = None
        torch.nn.functional.max_pool2d(x, 2).backward(dy)
    return forward, both


def atlas_epoch(build, x, y, order):
    from atlas.optimizers import SGD
    model = build().compile("softmax_cross_entropy", SGD(LR, momentum=MOMENTUM))
    start = time.perf_counter()
    for s in range(0, len(order), BATCH):
        idx = order[s:s + BATCH]
        model.train_step(x[idx], y[idx])
    return time.perf_counter() - start


def torch_epoch(build, x, y, order):
    import torch
    torch.manual_seed(0)
    net = build()
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


def startup():
    cold, warm = cold_and_warm(STARTUP_SNIPPET)
    print(f"atlas start-up to the first training step of the two-convolution network: "
          f"cold (compiling) {cold:.2f} s, warm (cache=True) {warm:.2f} s")


def main():
    if args.startup:
        startup()
        return
    if args.algorithms:
        algorithms()
        return
    torch = torch_or_none(args.threads)
    rng = np.random.default_rng(0)
    print(f"{args.threads} thread(s); kernels: best of {args.repeats}")
    cases = [(f"conv {s[:3]}->{s[3]} {s[4]}x{s[4]} s{s[5]} p{s[6]}",
              atlas_conv(s, rng), torch_conv(s, rng) if torch else None) for s in CONV_SHAPES]
    cases.append(("maxpool 2x2 (64, 32, 28, 28)", atlas_pool(rng),
                  torch_pool(rng) if torch else None))
    for label, (a_fwd, a_both), theirs in cases:
        for kind, a, t in (("forward", a_fwd, theirs and theirs[0]),
                           ("forward+backward", a_both, theirs and theirs[1])):
            report(f"{label} {kind}", best(a, args.repeats),
                   best(t, args.repeats) if t else None)
    if args.skip_epochs:
        return
    from atlas.data import load_fashion_mnist
    from atlas.models import lenet5, two_conv_net
    x, y = load_fashion_mnist("train")
    x = x.reshape(len(x), 1, 28, 28)
    order = np.random.default_rng(0).permutation(len(x))
    for label, ours, theirs in (("LeNet-5", lenet5, torch_lenet),
                                ("two-convolution network", two_conv_net, torch_two_conv)):
        small = order[order < 3200]  # warm-up: compilation, allocator, thread pools
        atlas_epoch(ours, x, y, small)
        if torch:
            torch_epoch(theirs, x, y, small)
        a = statistics.median(atlas_epoch(ours, x, y, order) for _ in range(args.epoch_repeats))
        t = (statistics.median(torch_epoch(theirs, x, y, order)
                               for _ in range(args.epoch_repeats)) if torch else None)
        report(f"{label}: one epoch, batch {BATCH}", a, t, unit="s")


if __name__ == "__main__":
    main()
