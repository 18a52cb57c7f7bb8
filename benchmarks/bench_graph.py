"""Graph models against PyTorch on the same CPU: the residual network and the question-
answering model, the same architectures, training steps interleaved in one process.

    python benchmarks/bench_graph.py                  # ResNet-20 and VQA steps, 2 threads
    python benchmarks/bench_graph.py --threads 1
    python benchmarks/bench_graph.py --epoch          # also one real epoch of each

A training step is forward, backward and an SGD-with-momentum update on one fixed batch
(ResNet-20: 128 Fashion-MNIST-sized images; VQA: 64 scenes with their questions). The
epoch figures are the median step times times the steps of an epoch (55,000 images; the
questions about 10,000 scenes), and with ``--epoch`` a timed pass over shuffled data too.
"""

import argparse
import math
import os
import time

from common import COUNT, interleaved, report, torch_or_none

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=COUNT, default=2)
parser.add_argument("--repeats", type=COUNT, default=9)
parser.add_argument("--epoch", action="store_true", help="also time one real epoch of each")
args = parser.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402

LR, MOMENTUM = 0.05, 0.9


def atlas_step(model, x, y):
    from atlas.optimizers import SGD
    model.compile("softmax_cross_entropy", SGD(LR, momentum=MOMENTUM))
    return lambda: model.train_step(x, y)


def torch_step(torch, model, x, y):
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss = torch.nn.CrossEntropyLoss()
    xs = [torch.tensor(a) for a in (x if isinstance(x, list) else [x])]
    target = torch.tensor(y)

    def step():
        optimizer.zero_grad()
        loss(model(*xs), target).backward()
        optimizer.step()
    return step


def torch_resnet(torch, depth=20, widths=(16, 32, 64)):
    """The same network as `atlas.models.resnet.resnet`: conv-bn (no bias), identity or
    1x1-projection shortcuts, global average pooling, a dense read-out."""
    nn = torch.nn

    def conv_bn(c_in, c_out, stride=1, kernel=3):
        return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                             nn.BatchNorm2d(c_out))

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.f = nn.Sequential(conv_bn(c_in, c_out, stride), nn.ReLU(),
                                   conv_bn(c_out, c_out))
            same = stride == 1 and c_in == c_out
            self.s = nn.Identity() if same else conv_bn(c_in, c_out, stride, 1)

        def forward(self, x):
            return torch.relu(self.f(x) + self.s(x))

    blocks, c_in = [], widths[0]
    for stage, c_out in enumerate(widths):
        for b in range((depth - 2) // 6):
            blocks.append(Block(c_in, c_out, 2 if stage > 0 and b == 0 else 1))
            c_in = c_out
    return nn.Sequential(conv_bn(1, widths[0]), nn.ReLU(), *blocks,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[-1], 10))


def torch_vqa(torch, vocabulary, answers):
    """The same network as `atlas.models.vqa.vqa_model("both")`."""
    nn = torch.nn

    class VQA(nn.Module):
        def __init__(self):
            super().__init__()
            layers, c_in = [], 1
            for filters, size in ((16, 5), (32, 3), (32, 3)):
                layers += [nn.Conv2d(c_in, filters, size, padding=size // 2), nn.ReLU(),
                           nn.MaxPool2d(2)]
                c_in = filters
            self.cnn = nn.Sequential(*layers, nn.Flatten(), nn.Linear(32 * 7 * 7, 128),
                                     nn.ReLU())
            self.embed = nn.Embedding(vocabulary, 32)
            self.lstm = nn.LSTM(32, 64, batch_first=True)
            self.head = nn.Sequential(nn.Linear(192, 128), nn.ReLU(), nn.Linear(128, answers))

        def forward(self, image, question):
            _, (h, _) = self.lstm(self.embed(question))
            return self.head(torch.cat([self.cnn(image), h[0]], dim=1))
    return VQA()


def main():
    from atlas.data.scenes import ANSWERS, VOCABULARY
    from atlas.models.resnet import resnet
    from atlas.models.vqa import vqa_model

    torch = torch_or_none(args.threads)
    rng = np.random.default_rng(0)
    images = rng.random((128, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, 128)
    scenes = rng.random((64, 1, 56, 56), dtype=np.float32)
    questions = rng.integers(0, len(VOCABULARY), (64, 8))
    answers = rng.integers(0, len(ANSWERS), 64)
    cases = [("ResNet-20 training step, batch 128", resnet(20), images, labels,
              55_000 / 128, lambda: torch_resnet(torch)),
             ("VQA training step, batch 64", vqa_model("both"), [scenes, questions], answers,
              29_000 / 64, lambda: torch_vqa(torch, len(VOCABULARY), len(ANSWERS)))]
    print(f"{args.threads} thread(s); medians of {args.repeats} steps, engines interleaved")
    for label, model, x, y, steps, build_torch in cases:
        fns = [atlas_step(model, x, y)]
        if torch is not None:
            fns.append(torch_step(torch, build_torch(), x, y))
        times = interleaved(fns, args.repeats)
        report(label, times[0], times[1] if torch is not None else None)
        epoch = [t * steps for t in times]
        report("  one epoch (from the median step)", epoch[0],
               epoch[1] if torch is not None else None, unit="s")
        if args.epoch:
            real_epoch(model, x, y, steps, torch, build_torch)


def real_epoch(model, x, y, steps, torch, build_torch):
    """``steps`` training steps on the fixed batch, timed end to end, engine after engine."""
    steps = math.ceil(steps)
    fns = [atlas_step(model, x, y)]
    if torch is not None:
        fns.append(torch_step(torch, build_torch(), x, y))
    times = []
    for fn in fns:
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        times.append(time.perf_counter() - start)
    report("  one real epoch", times[0], times[1] if torch is not None else None, unit="s")


if __name__ == "__main__":
    main()
