"""Training steps of the course's networks in atlas and PyTorch on the same CPU, side by
side: the MLP 784-256-10, LeNet-5 and the two-convolution network, one fixed batch of 64,
forward, backward and an SGD-with-momentum update; engines interleaved in blocks, medians,
the ratio atlas / torch.

    python benchmarks/bench_steps.py --threads 1
    python benchmarks/bench_steps.py --threads 2

The LSTM row of the same comparison is `bench_rnn.py` ("LSTM H=256 forward+backward vs
nn.LSTM"); one real epoch of the CNNs is `bench_conv.py`.
"""

import argparse
import os

from common import COUNT, interleaved, report, torch_lenet, torch_or_none, torch_two_conv

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=COUNT, default=2)
parser.add_argument("--repeats", type=COUNT, default=30, help="steps timed per engine")
args = parser.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402

BATCH, LR, MOMENTUM = 64, 0.01, 0.9


def torch_mlp():
    import torch.nn as nn
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def atlas_step(model, x, y):
    from atlas.optimizers import SGD
    model.compile("softmax_cross_entropy", SGD(LR, momentum=MOMENTUM), metrics=())
    return lambda: model.train_step(x, y)


def torch_step(torch, net, x, y):
    optimizer = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    loss = torch.nn.CrossEntropyLoss()
    xt, yt = torch.tensor(x), torch.tensor(y)

    def step():
        optimizer.zero_grad()
        loss(net(xt), yt).backward()
        optimizer.step()
    return step


def main():
    from atlas.models import lenet5, mlp, two_conv_net

    torch = torch_or_none(args.threads)
    rng = np.random.default_rng(0)
    images = rng.random((BATCH, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, BATCH)
    cases = [("MLP 784-256-10 step", mlp((256,), input_shape=(784,)), images.reshape(BATCH, 784),
              torch_mlp),
             ("LeNet-5 step", lenet5(), images, torch_lenet),
             ("two-convolution network step", two_conv_net(), images, torch_two_conv)]
    print(f"{args.threads} thread(s); batch {BATCH}; medians of {args.repeats} steps, "
          f"engines interleaved")
    for label, model, x, build in cases:
        fns = [atlas_step(model, x, labels)]
        if torch is not None:
            torch.manual_seed(0)
            fns.append(torch_step(torch, build(), x, labels))
        times = interleaved(fns, args.repeats)
        report(label, times[0], times[1] if torch is not None else None)


if __name__ == "__main__":
    main()
