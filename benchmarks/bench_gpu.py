"""The CUDA backend against PyTorch on the same GPU, and what a training step costs in
launches, device allocations and host round trips.

    python benchmarks/bench_gpu.py                     # on a machine with an NVIDIA GPU
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/bench_gpu.py --counts --tiny
                                                       # counts only, in the simulator
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/bench_gpu.py --counts --tiny --dry
                                                       # the same in seconds, kernels not run
    python benchmarks/bench_gpu.py --products          # the matrix products alone, for
                                                       # several tilings of the blocked kernel
    python benchmarks/bench_gpu.py --convolutions      # each convolution of the models, both
                                                       # ways, against cuDNN
    python benchmarks/bench_gpu.py --launch            # what one kernel launch costs the host
    python benchmarks/bench_gpu.py --profile           # GPU time of each kernel of a step
    python benchmarks/bench_gpu.py --host-profile      # where a step's host time goes
    python benchmarks/bench_gpu.py --startup           # a new process to its first step:
                                                       # compiling, and with the disk cache

Timings: median of ``--repeats`` steps after warm-up, data already on the device, float32;
PyTorch with TF32 off. A step is run as ``fit`` runs it: the loss is added into a total on
the device, not read back (PyTorch's step does not read its loss either). Counts: one
steady-state step (after two warm-up steps) of each model family, counted by wrapping the
engine's kernel launch and numba-cuda's ``device_array``, ``to_device`` and
``copy_to_host``; they do not depend on the GPU, so the simulator gives the same numbers
on small shapes (``--tiny``). ``ATLAS_CUDA_LAUNCH=numba`` times the steps with every
launch through numba-cuda's dispatcher. `benchmarks/gpu_session.sh` runs all of it.
"""

import argparse
import os
import statistics
import time

from common import COUNT, cold_and_warm

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=COUNT, default=20, help="steps timed (>= 1)")
parser.add_argument("--counts", action="store_true", help="only count launches, allocations "
                    "and host copies per step (works in the CUDA simulator)")
parser.add_argument("--products", action="store_true", help="time the matrix products of the "
                    "issue's table (and the dense layer's backward shapes) for several tilings")
parser.add_argument("--convolutions", action="store_true", help="GPU time of each "
                    "convolution of LeNet-5 and the two-convolution network, forward and "
                    "backward (implicit-GEMM products), against PyTorch's (cuDNN)")
parser.add_argument("--launch", action="store_true", help="host time of one kernel launch, "
                    "through numba-cuda's dispatcher and through the compiled kernel's own launch")
parser.add_argument("--profile", action="store_true", help="GPU time of each kernel in a "
                    "training step (CUDA events around every launch, the GPU held busy first so "
                    "that the launches queue up and the events time the kernels alone)")
parser.add_argument("--host-profile", action="store_true", help="where a training step's "
                    "host time goes (cProfile of ten steps per family, by own time)")
parser.add_argument("--startup", action="store_true", help="seconds from a new process to "
                    "the end of its first training step (every kernel compiled), per family, "
                    "with ATLAS_CUDA_CACHE=0 and with ATLAS_CUDA_CACHE=1 (cold, then warm)")
parser.add_argument("--first-step", action="store_true", help="one training step of the "
                    "one family given with --families, nothing printed (what --startup times "
                    "in a new process)")
parser.add_argument("--tiny", action="store_true", help="small shapes (for the simulator)")
parser.add_argument("--dry", action="store_true", help="with --counts: record the launches "
                    "without running the kernels (the counts do not depend on the values; "
                    "seconds instead of many minutes in the simulator), list them by kernel, and time "
                    "the host's Python alone")
parser.add_argument("--families", nargs="+", choices=["mlp", "lenet", "cnn", "lstm"],
                    default=["mlp", "lenet", "cnn", "lstm"], help="which models (default: all; "
                    "the convolutional ones take many minutes in the simulator)")
args = parser.parse_args()
if args.dry and not args.counts:
    parser.error("--dry records the launches of --counts: give --counts too")
if args.first_step and len(args.families) != 1:
    parser.error(f"--first-step runs one family: give one with --families, got "
                 f"{len(args.families)}")

import numpy as np  # noqa: E402


def models(tiny):
    """``(label, model, x, y)`` per family, on the CUDA backend."""
    from atlas.models.cnn import lenet5, two_conv_net
    from atlas.models.mlp import mlp
    from atlas.nn import LSTM, Dense, Sequential

    rng = np.random.default_rng(0)
    batch, hidden, steps = (4, 8, 3) if tiny else (64, 256, 50)
    images = rng.random((batch, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, batch)
    sequences = rng.random((batch // 2 or 1, steps, 65), dtype=np.float32)
    lstm = Sequential([LSTM(hidden, return_sequences=True), Dense(65)], input_shape=(steps, 65),
                      device="cuda")
    width = (32,) if tiny else (256,)
    convolutional = tiny_two_conv() if tiny else two_conv_net(device="cuda")
    families = {"mlp": (f"MLP 784-{width[0]}-10", mlp(width, device="cuda"), images[:, 0],
                        labels),
                "lenet": ("LeNet-5", lenet5(device="cuda"), images, labels),
                "cnn": ("two-convolution network" + (" (4, 8 filters)" if tiny else ""),
                        convolutional, images, labels),
                "lstm": (f"LSTM H{hidden} T{steps}", lstm, sequences,
                         rng.random(sequences.shape, dtype=np.float32))}
    return [families[name] for name in args.families]


def tiny_two_conv():
    """The two-convolution network's layers with 4 and 8 filters and a dense layer of 16:
    the same launches per layer, at a size the simulator can run."""
    from atlas.nn import Activation, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Sequential

    layers = [Conv2D(4, 5, padding="same"), Activation("relu"), MaxPool2D(2),
              Conv2D(8, 5, padding="same"), Activation("relu"), MaxPool2D(2), Flatten(),
              Dense(16), Activation("relu"), Dropout(0.4), Dense(10)]
    return Sequential(layers, input_shape=(1, 28, 28), device="cuda")


def step_of(model, x, y):
    from atlas.optimizers import Adam

    regression = y.dtype.kind == "f"
    model.compile("mse" if regression else "softmax_cross_entropy", Adam(1e-3), metrics=())
    xb, yb = model.backend.asarray(x), y
    losses = model.backend.zeros((1,), np.float64)

    def step():  # as fit runs it: the loss added up on the device, not read back
        model.train_step(xb, yb, losses, len(x))
    return step


#: Steps timed by ``--counts --dry`` for the host's Python alone.
HOST_STEPS = 100


def count_steps(tiny, dry=False):
    from collections import Counter

    from atlas.kernels.cuda import launcher
    from atlas.kernels.cuda.counters import device_work

    by_kernel = Counter()
    if dry:  # every launch recorded by name, none run
        launcher.Kernel._launch = lambda kernel, config, *arguments: \
            by_kernel.update([kernel.__name__])
    print("per steady-state training step: kernel launches, device allocations "
          "(device_array / to_device), copies to the host, copies from the host into device "
          "arrays, device-array views made")
    for label, model, x, y in models(tiny):
        step = step_of(model, x, y)
        step()
        step()
        by_kernel.clear()
        with device_work() as counts:
            step()
        print(f"  {label:28s} launches {counts['launches']:4d}   allocations "
              f"{counts['allocations']:3d} / {counts['to_device']:3d}   to host "
              f"{counts['to_host']:3d}   from host {counts['from_host']:3d}   views "
              f"{counts['views']:3d}", flush=True)
        if dry:
            print("    " + ", ".join(f"{name} {n}" for name, n in by_kernel.most_common()))
            start = time.perf_counter()
            for _ in range(HOST_STEPS):
                step()
            host = (time.perf_counter() - start) / HOST_STEPS
            print(f"    host Python {1e6 * host:.0f} us a step with the kernels not run (mean of "
                  f"{HOST_STEPS} steps; the simulator's arrays, not numba-cuda's)", flush=True)


def torch_model(torch, label, tiny):
    """The same architecture in PyTorch, on the GPU."""
    nn = torch.nn
    if label.startswith("MLP"):
        width = int(label.split("-")[1])
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.ReLU(), nn.Linear(width, 10))
    elif label == "LeNet-5":
        net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
                            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                            nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
                            nn.Linear(84, 10))
    elif label.startswith("two-convolution"):
        net = nn.Sequential(nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Dropout(0.4),
                            nn.Linear(1024, 10))
    else:
        hidden = int(label.split()[1][1:])

        class Recurrent(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(65, hidden, batch_first=True)
                self.out = nn.Linear(hidden, 65)

            def forward(self, x):
                return self.out(self.lstm(x)[0])
        net = Recurrent()
    return net.cuda()


def torch_step(torch, label, x, y, tiny):
    net = torch_model(torch, label, tiny)
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    loss = torch.nn.MSELoss() if y.dtype.kind == "f" else torch.nn.CrossEntropyLoss()
    xb, yb = torch.tensor(x).cuda(), torch.tensor(y).cuda()

    def step():
        optimizer.zero_grad()
        loss(net(xb), yb).backward()
        optimizer.step()
    return step


def median_time(step, synchronize):
    for _ in range(3):
        step()
    synchronize()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_steps(tiny):
    from numba import cuda

    try:
        import torch
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False
    print(f"medians of {args.repeats} steps; PyTorch {'CUDA' if has_torch else 'not available'}")
    for label, model, x, y in models(tiny):
        ours = median_time(step_of(model, x, y), cuda.synchronize)
        line = f"  {label:28s} atlas {1e3 * ours:8.2f} ms"
        if has_torch:
            theirs = median_time(torch_step(torch, label, x, y, tiny), torch.cuda.synchronize)
            line += f"   torch {1e3 * theirs:8.2f} ms   atlas/torch {ours / theirs:5.2f}"
        print(line, flush=True)


#: Tilings ``(bm, bn, bk, tm, tn)`` of the register-blocked product tried by ``--products``.
TILINGS = [(64, 64, 16, 4, 4), (64, 64, 8, 4, 4), (128, 64, 8, 8, 4), (128, 128, 8, 8, 8),
           (128, 128, 16, 8, 8)]
#: ``(m, k, n, trans_a, trans_b, label)``: c (m, n) = op(a) (m, k) op(b) (k, n).
PRODUCTS = [(4096, 4096, 4096, False, False, "4096^3"),
            (64, 3136, 1024, False, False, "dense forward x W"),
            (3136, 64, 1024, True, False, "dense dW = x^T dy"),
            (64, 1024, 3136, False, True, "dense dx = dy W^T")]


def event_median(run, repeats):
    """Median milliseconds of ``run()`` between two CUDA events, after two warm-up calls."""
    from numba import cuda

    run()
    run()
    times = []
    for _ in range(repeats):
        start, end = cuda.event(), cuda.event()
        start.record()
        run()
        end.record()
        end.synchronize()
        times.append(cuda.event_elapsed_time(start, end))
    return statistics.median(times)


def time_products():
    from atlas.kernels.cuda import gemm

    try:
        import torch
        torch.backends.cuda.matmul.allow_tf32 = False
        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False
    rng = np.random.default_rng(0)
    ends = gemm.MATRIX_OUT.store, gemm.MATRIX_OUT.activation(gemm.NO_ACTIVATION)
    kernels = {t: gemm._make_blocked(np.float32, gemm.MATRIX, gemm.MATRIX, *ends, t)
               for t in TILINGS}
    print("matrix products, float32, medians of CUDA-event times; error = |c - c64| / |c64| "
          "against the float64 product")
    for product in PRODUCTS:
        time_product(*product, rng, kernels, torch if has_torch else None)


def time_product(m, k, n, trans_a, trans_b, label, rng, kernels, torch):
    """One row group of ``--products``: the shipped product, each tiling, cuBLAS."""
    from numba import cuda

    from atlas.kernels.cuda import gemm
    from atlas.kernels.cuda.launch import blocks, fill, no_values
    from atlas.kernels.cuda.reduce import counters

    a = rng.uniform(-1, 1, (k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, k) if trans_b else (k, n)).astype(np.float32)
    exact = (a.astype(np.float64).T if trans_a else a.astype(np.float64)) @ \
        (b.astype(np.float64).T if trans_b else b.astype(np.float64))
    da, db = cuda.to_device(a), cuda.to_device(b)
    c = cuda.device_array((m, n), np.float32)
    flops = 2.0 * m * n * k
    repeats = 10 if flops > 1e10 else args.repeats
    # No bias, no activation (no y, alpha 0.0), the sum not cut (no partial sums).
    no_bias, no_y, no_partial = (no_values(np.float32, ndim) for ndim in (1, 2, 3))
    rows = [("atlas matmul (split-K)", lambda: gemm.matmul(da, db, c, trans_a, trans_b))]
    for tiling, kernel in kernels.items():
        bm, bn, bk, tm, tn = tiling
        grid = ((n + bn - 1) // bn, (m + bm - 1) // bm)
        threads = (bm // tm) * (bn // tn)
        rows.append((f"blocked {bm}x{bn}x{bk} / {tm}x{tn}",
                     lambda kernel=kernel, grid=grid, threads=threads:
                     kernel[grid, threads](da, db, c, no_bias, no_y, 0.0, gemm.NO_GEOMETRY,
                                           trans_a, not trans_b, m, n, k, k, no_partial,
                                           counters(grid[0] * grid[1]))))
    print(f"  {label} ({m}x{k}x{n})", flush=True)
    for name, run in rows:
        fill[blocks(m * n), 256](c.reshape(m * n), np.nan)  # every output must be written
        ms = event_median(run, repeats)
        got = c.copy_to_host()
        error = np.linalg.norm(got - exact) / np.linalg.norm(exact)
        print(f"    {name:30s} {1e3 * ms:9.1f} us  {flops / ms / 1e9:6.2f} TFLOP/s  "
              f"error {error:.1e}", flush=True)
    if torch is not None:
        ta, tb = torch.tensor(a).cuda(), torch.tensor(b).cuda()
        ta, tb = (ta.t() if trans_a else ta), (tb.t() if trans_b else tb)
        ms = event_median(lambda: torch.matmul(ta, tb), repeats)
        print(f"    {'torch (cuBLAS, TF32 off)':30s} {1e3 * ms:9.1f} us  "
              f"{flops / ms / 1e9:6.2f} TFLOP/s", flush=True)


#: ``(label, batch, c_in, size, c_out, k, padding)``: the convolutions of the models' table.
CONVOLUTIONS = [("LeNet-5 conv1", 64, 1, 28, 6, 5, 2), ("LeNet-5 conv2", 64, 6, 14, 16, 5, 0),
                ("two-conv conv1", 64, 1, 28, 32, 5, 2),
                ("two-conv conv2", 64, 32, 14, 64, 5, 2)]


def time_convolutions():
    """GPU time (CUDA events) of each convolution's forward and backward, atlas and cuDNN,
    with the largest difference between the two engines' results."""
    try:
        import torch
        torch.backends.cudnn.allow_tf32 = False
        torch = torch if torch.cuda.is_available() else None
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print("convolutions, float32, stride 1: medians of CUDA-event times (us)")
    for convolution in CONVOLUTIONS:
        time_convolution(*convolution, rng, torch)


def time_convolution(label, batch, c_in, size, c_out, k, pad, rng, torch):
    """One row of ``--convolutions``."""
    from numba import cuda

    from atlas.kernels import cuda as kernels

    out = size + 2 * pad - k + 1
    x = rng.uniform(-1, 1, (batch, c_in, size, size)).astype(np.float32)
    W = rng.uniform(-1, 1, (c_out, c_in, k, k)).astype(np.float32)
    b = rng.uniform(-1, 1, c_out).astype(np.float32)
    dy = rng.uniform(-1, 1, (batch, c_out, out, out)).astype(np.float32)
    dx_, dy_, x_, W_, b_ = (cuda.to_device(a) for a in (x, dy, x, W, b))
    y_ = cuda.device_array(dy.shape, np.float32)
    dW_, db_ = cuda.device_array(W.shape, np.float32), cuda.device_array(c_out, np.float32)
    geometry = ((1, 1), (pad, pad), (1, 1))
    no_cols = cuda.device_array(0, np.float32)
    forward = event_median(lambda: kernels.conv2d_forward(x_, W_, b_, *geometry, no_cols, y_),
                           args.repeats)
    backward = event_median(lambda: kernels.conv2d_backward(
        dy_, x_, W_, *geometry, no_cols, dx_, dW_, db_, True), args.repeats)
    row = f"  {label:16s} {batch}x{c_in}x{size}x{size} -> {c_out}, {k}x{k}: atlas " \
          f"forward {1e3 * forward:8.1f}  backward {1e3 * backward:8.1f}"
    if torch is not None:
        tx = torch.tensor(x, device="cuda", requires_grad=True)
        tW = torch.tensor(W, device="cuda", requires_grad=True)
        tb = torch.tensor(b, device="cuda", requires_grad=True)
        tdy = torch.tensor(dy, device="cuda")
        conv = torch.nn.functional.conv2d
        t_forward = event_median(lambda: conv(tx, tW, tb, padding=pad), args.repeats)
        ty = conv(tx, tW, tb, padding=pad)
        t_backward = event_median(lambda: torch.autograd.grad(
            ty, (tx, tW, tb), tdy, retain_graph=True), args.repeats)
        gx, gW, _ = torch.autograd.grad(ty, (tx, tW, tb), tdy, retain_graph=True)
        error = max(np.abs(y_.copy_to_host() - ty.detach().cpu().numpy()).max(),
                    np.abs(dW_.copy_to_host() - gW.cpu().numpy()).max(),
                    np.abs(dx_.copy_to_host() - gx.cpu().numpy()).max())
        row += f" | cuDNN forward {1e3 * t_forward:8.1f}  backward {1e3 * t_backward:8.1f}" \
               f" | largest difference {error:.1e}"
    print(row, flush=True)


def time_launches(count=3000):
    """Host microseconds per launch of a small kernel, by the paths numba-cuda offers."""
    from numba import cuda

    from atlas.kernels.cuda.launch import fill
    from atlas.kernels.cuda.merge import _add

    a, b, c = (cuda.device_array(1000, np.float32) for _ in range(3))
    fill[4, 256](a, 0.0)
    _add[4, 256](a, b, c)
    cuda.synchronize()

    def per_launch(run):
        run()
        cuda.synchronize()
        start = time.perf_counter()
        for _ in range(count):
            run()
        host = time.perf_counter() - start
        cuda.synchronize()
        return 1e6 * host / count, 1e6 * (time.perf_counter() - start) / count

    rows = [("fill[4, 256](a, 0.0)", fill, (a, 0.0)),
            ("_add[4, 256](a, b, c)", _add, (a, b, c))]
    print(f"host time per launch, {count} launches (us; with the final synchronisation)")
    for name, kernel, kernel_args in rows:
        for path, launcher in (("numba-cuda's dispatcher", kernel.dispatcher),
                               ("the engine's Kernel", kernel)):
            host, total = per_launch(lambda launcher=launcher, kernel_args=kernel_args:
                                     launcher[4, 256](*kernel_args))
            print(f"  {path:24s} {name:26s} {host:6.1f} ({total:6.1f})", flush=True)
    try:
        import torch
        x = torch.zeros(1000, device="cuda")
        host, total = per_launch(lambda: x.fill_(0.0))
        print(f"  {'PyTorch':24s} {'x.fill_(0.0)':26s} {host:6.1f} ({total:6.1f})")
    except (ImportError, RuntimeError):
        pass


def profile_steps(tiny, steps=5):
    """Per family: the kernels of a training step by GPU time, with the step's wall time."""
    from collections import defaultdict

    from numba import cuda

    from atlas.kernels.cuda.launcher import Kernel

    @cuda.jit
    def hold(microseconds):  # keeps the GPU busy while the host queues a step's launches
        for _ in range(microseconds):
            cuda.nanosleep(1000)

    original = Kernel._launch
    records = []

    def timed(self, launch_config, *launch_args):
        start, end = cuda.event(), cuda.event()
        start.record()
        original(self, launch_config, *launch_args)
        end.record()
        records.append((self.dispatcher.py_func.__name__, start, end))

    for label, model, x, y in models(tiny):
        step = step_of(model, x, y)
        step()
        step()
        hold[1, 1](10)
        cuda.synchronize()
        wall = time.perf_counter()
        for _ in range(steps):
            step()
        cuda.synchronize()
        wall = (time.perf_counter() - wall) / steps
        records.clear()
        hold[1, 1](60_000)
        Kernel._launch = timed
        try:
            for _ in range(steps):
                step()
        finally:
            Kernel._launch = original
        cuda.synchronize()
        totals, counts = defaultdict(float), defaultdict(int)
        for name, start, end in records:
            totals[name] += cuda.event_elapsed_time(start, end) / steps
            counts[name] += 1
        busy = sum(totals.values())
        print(f"  {label}: step {1e3 * wall:.2f} ms wall, kernels {1e3 * busy:.0f} us of GPU time "
              f"in {sum(counts.values()) // steps} launches", flush=True)
        for name in sorted(totals, key=totals.get, reverse=True)[:12]:
            print(f"    {name:34s} {1e3 * totals[name]:8.1f} us  x{counts[name] // steps}")


def profile_launch(count=3000):
    """Where the host time of a launch goes (cProfile, by own time)."""
    import cProfile
    import pstats

    from numba import cuda

    from atlas.kernels.cuda.merge import _add

    a, b, c = (cuda.device_array(1000, np.float32) for _ in range(3))
    _add[4, 256](a, b, c)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(count):
        _add[4, 256](a, b, c)
    profile.disable()
    cuda.synchronize()
    pstats.Stats(profile).sort_stats("tottime").print_stats(18)


def host_profile_steps(tiny, steps=10):
    import cProfile
    import pstats

    from numba import cuda

    for label, model, x, y in models(tiny):
        step = step_of(model, x, y)
        step()
        step()
        cuda.synchronize()
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(steps):
            step()
        cuda.synchronize()
        profile.disable()
        print(f"=== {label}: {steps} steps", flush=True)
        pstats.Stats(profile).sort_stats("tottime").print_stats(22)


#: What ``--startup`` runs in a new process for one family: this script with ``--first-step``
#: (the same models as the rest of it), timed from the process's first line.
STARTUP_SNIPPET = """
import time; t0 = time.perf_counter()
import runpy, sys
sys.argv = [{script!r}, "--first-step", "--families", {family!r}] + {tiny!r}
runpy.run_path({script!r}, run_name="__main__")
print(f"{{time.perf_counter() - t0:.3f}}")
"""


def first_step():
    """``--first-step``: one training step of the one family asked for, waited for (what
    ``--startup`` times in a new process); prints nothing."""
    from numba import cuda

    label, model, x, y = models(args.tiny)[0]
    step_of(model, x, y)()
    cuda.synchronize()


def time_startup():
    """Seconds from a new process to the end of its first training step, per family: every
    kernel it needs compiled (numba-cuda compiles on first launch), then the same with the
    compiled kernels kept on disk (``ATLAS_CUDA_CACHE=1``: cold fills the cache, warm reads
    it)."""
    import subprocess


    def both(snippet, cache):
        """``cold, again`` with ``ATLAS_CUDA_CACHE=cache``, or why the process failed."""
        os.environ["ATLAS_CUDA_CACHE"] = cache
        try:
            return "{:6.2f}, {:6.2f}".format(*cold_and_warm(snippet))
        except subprocess.CalledProcessError as error:
            lines = error.stderr.strip().splitlines() or ["no message"]
            return f"failed ({lines[-1]})"

    print("start-up to the end of the first training step, new process (s): cold, then "
          "again with the same NUMBA_CACHE_DIR")
    for family in args.families:
        snippet = STARTUP_SNIPPET.format(script=os.path.abspath(__file__), family=family,
                                         tiny=["--tiny"] if args.tiny else [])
        print(f"  {family:6s} no disk cache {both(snippet, '0')}   "
              f"ATLAS_CUDA_CACHE=1 {both(snippet, '1')}", flush=True)


def main():
    if args.first_step:
        first_step()
        return
    if args.startup:
        time_startup()
        return
    if args.host_profile:
        host_profile_steps(args.tiny)
        return
    if args.profile:
        profile_steps(args.tiny)
        return
    if args.launch:
        time_launches()
        profile_launch()
        return
    if args.products:
        time_products()
        return
    if args.convolutions:
        time_convolutions()
        return
    if args.counts or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        count_steps(args.tiny, args.dry)
    else:
        time_steps(args.tiny)
        count_steps(args.tiny)


if __name__ == "__main__":
    main()
