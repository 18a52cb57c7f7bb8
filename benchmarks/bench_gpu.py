"""The CUDA backend against PyTorch on the same GPU, and what a training step costs in
launches, device allocations and host round trips.

    python benchmarks/bench_gpu.py                     # on a machine with an NVIDIA GPU
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/bench_gpu.py --counts --tiny
                                                       # counts only, in the simulator

Timings: median of ``--repeats`` steps after warm-up, data already on the device, float32;
PyTorch with TF32 off. Counts: one steady-state step (after two warm-up steps) of each
model family, counted by wrapping numba-cuda's kernel launch, ``device_array``,
``to_device`` and ``copy_to_host``; they do not depend on the GPU, so the simulator gives
the same numbers on small shapes (``--tiny``).
"""

import argparse
import os
import statistics
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=20)
parser.add_argument("--counts", action="store_true", help="only count launches, allocations "
                    "and host copies per step (works in the CUDA simulator)")
parser.add_argument("--tiny", action="store_true", help="small shapes (for the simulator)")
parser.add_argument("--families", nargs="+", choices=["mlp", "lenet", "cnn", "lstm"],
                    default=["mlp", "lenet", "cnn", "lstm"], help="which models (default: all; "
                    "the convolutional ones take many minutes in the simulator)")
args = parser.parse_args()

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

    def step():
        model.train_step(xb, yb)
    return step


def count_steps(tiny):
    from atlas.kernels.cuda.counters import device_work

    print("per steady-state training step: kernel launches, device allocations "
          "(device_array / to_device), copies to the host")
    for label, model, x, y in models(tiny):
        step = step_of(model, x, y)
        step()
        step()
        with device_work() as counts:
            step()
        print(f"  {label:28s} launches {counts['launches']:4d}   allocations "
              f"{counts['allocations']:3d} / {counts['to_device']:3d}   to host "
              f"{counts['to_host']:3d}", flush=True)


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


def main():
    if args.counts or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        count_steps(args.tiny)
    else:
        time_steps(args.tiny)
        count_steps(args.tiny)


if __name__ == "__main__":
    main()
