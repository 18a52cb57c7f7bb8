"""Style transfer against PyTorch on the same CPU: one evaluation of the loss and its
gradient with respect to the pixels (the random-feature network forward, the Gram and
content losses, the backward pass to the image), which is what each L-BFGS step costs.

    python benchmarks/bench_style.py                  # 256x256, 2 threads
    python benchmarks/bench_style.py --size 128 --threads 1
    python benchmarks/bench_style.py --piece-alone    # also: as before stop 27 (see below)

With ``--piece-alone`` atlas also runs with a piece of work alone (here every convolution:
a batch of one image) kept on one BLAS thread, as `atlas.kernels.cpu.threads.run` did
before stop 27, interleaved with the rest.
"""

import argparse
import os

from common import COUNT, interleaved, report, torch_or_none

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=COUNT, default=2)
parser.add_argument("--repeats", type=COUNT, default=6)
parser.add_argument("--size", type=COUNT, default=256)
parser.add_argument("--piece-alone", action="store_true",
                    help="also time atlas with a piece alone on one BLAS thread (before stop 27)")
args = parser.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402


def torch_objective(torch, model, style, content, style_weight):
    """The same loss as `atlas.style_transfer.Objective`, with the same filters, by autograd."""
    convs = [torch.nn.Conv2d(3, layer.params["W"].shape[0], layer.params["W"].shape[-1],
                             padding="same", bias=False)
             for layer in model.layers if "W" in layer.params]
    with torch.no_grad():
        for conv, layer in zip(convs, [l for l in model.layers if "W" in l.params]):
            conv.weight.copy_(torch.tensor(np.asarray(layer.params["W"])))

    def features(image):
        return [torch.relu(conv(image - 0.5))[0].flatten(1) for conv in convs]

    def gram(f):
        return f @ f.T / f.shape[1]

    with torch.no_grad():
        targets = [gram(f) for f in features(torch.tensor(style[None]))]
        contents = features(torch.tensor(content[None]))

    def evaluate(x):
        image = torch.tensor(x[None], requires_grad=True)
        loss = 0.0
        for f, target, p in zip(features(image), targets, contents):
            channels, m = f.shape
            loss = loss + style_weight * ((gram(f) - target) ** 2).sum() / channels ** 2
            loss = loss + ((f - p) ** 2).sum() / (channels * m)
        loss.backward()
        return float(loss), image.grad.numpy()
    return evaluate


def on_one_blas_thread(fn):
    """``fn`` with `threads.run` as it was before stop 27: a piece alone runs on the calling
    thread with BLAS on one thread (now it takes BLAS's threads)."""
    from atlas.kernels.cpu import threads

    def old_run(function, arguments):
        if len(arguments) == 1:
            return function(*arguments[0])
        return current(function, arguments)

    def timed():
        threads.run = old_run
        try:
            return fn()
        finally:
            threads.run = current

    current = threads.run
    return timed


def main():
    from atlas.style_transfer import Objective, load_image, random_features

    torch = torch_or_none(args.threads)
    size, weight = args.size, 1e5
    style, content = load_image("gravel", size), load_image("cat", size)
    model = random_features(size)
    objective = Objective(model, style, content, style_weight=weight)
    x = content.copy()
    fns = [lambda: objective(x)]
    if torch is not None:
        reference = torch_objective(torch, model, style, content, weight)
        ours, theirs = objective(x), reference(x)
        print(f"loss: atlas {ours[0]:.6g}, torch {theirs[0]:.6g}; gradient relative difference "
              f"{np.linalg.norm(ours[1] - theirs[1]) / np.linalg.norm(theirs[1]):.1e}")
        fns.append(lambda: reference(x))
    if args.piece_alone:
        fns.append(on_one_blas_thread(fns[0]))
    print(f"{args.threads} thread(s); medians of {args.repeats}, engines interleaved")
    times = interleaved(fns, args.repeats, rounds=2)
    report(f"style loss + gradient, {size}x{size}", times[0],
           times[1] if torch is not None else None)
    if args.piece_alone:
        report("  a piece alone on one BLAS thread", times[-1],
               times[1] if torch is not None else None)


if __name__ == "__main__":
    main()
