"""The ``atlas`` command.

::

    atlas train mlp [--epochs 20] [--device cpu] [--save runs/mlp.npz]
    atlas train lenet|cnn|cnn-bn [--epochs 8] [--batch-size 64]
    atlas train char-lstm [--text FILE] [--minutes 10] [--save runs/char.npz]
    atlas sample runs/char.npz [--length 500] [--temperature 0.8] [--prime "def "]
    atlas figures [--only NAME ...] [--missing] [--list] [--out figures]
    atlas --help
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(prog="atlas", description="Deep Learning Atlas: train the "
                                     "course's models with the atlas engine.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model on Fashion-MNIST (and report test "
                           "accuracy) or a character language model on text (and report "
                           "held-out bits per character)")
    train.add_argument("model", choices=["mlp", "lenet", "cnn", "cnn-bn", "char-lstm"],
                       help="which model to train: the MLP, LeNet-5, the two-convolution "
                            "network of the TensorFlow tutorial (cnn-bn: with batch norm), "
                            "the character-level LSTM language model")
    train.add_argument("--epochs", type=int, default=None,
                       help="default: 20 for the MLP, 8 for the convolutional networks")
    train.add_argument("--batch-size", type=int, default=None,
                       help="default: 128 for the MLP, 64 for the convolutional networks")
    train.add_argument("--hidden", type=int, nargs="+", default=[512, 256],
                       help="MLP hidden layer sizes (default: 512 256)")
    train.add_argument("--dropout", type=float, default=0.2, help="MLP dropout")
    train.add_argument("--text", default=None,
                       help="char-lstm: a UTF-8 text file (default: the source of Python's "
                            "standard library, first 4 million characters)")
    train.add_argument("--minutes", type=float, default=10.0,
                       help="char-lstm: training budget in minutes (default: 10)")
    train.add_argument("--lr", type=float, default=None,
                       help="Adam learning rate (default: 1e-3; char-lstm 2e-3)")
    train.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay")
    train.add_argument("--patience", type=int, default=None, help="early-stopping patience")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    train.add_argument("--save", default=None, help="save the trained model to this .npz file")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    sample = sub.add_parser("sample", help="generate text with a saved character model")
    sample.add_argument("model", help="a .npz file saved by atlas train char-lstm --save")
    sample.add_argument("--length", type=int, default=500)
    sample.add_argument("--temperature", type=float, default=0.8)
    sample.add_argument("--prime", default="\n", help="text to start from")
    sample.add_argument("--seed", type=int, default=0)
    figures = sub.add_parser("figures", help="regenerate the textbook's figures into figures/")
    figures.add_argument("--only", nargs="+", metavar="NAME", help="just these figures")
    figures.add_argument("--missing", action="store_true",
                         help="only the figures whose file does not exist yet")
    figures.add_argument("--list", action="store_true", help="list the figures and exit")
    figures.add_argument("--out", default="figures", help="output folder (default: figures)")
    figures.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.command == "train":
        return train_model(args)
    if args.command == "figures":
        return make_figures(args)
    if args.command == "sample":
        return sample_text(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


def train_model(args):
    from atlas.models import cnn
    from atlas.models.mlp import train_fashion_mnist as train_mlp

    if args.model == "char-lstm":
        return train_char_model(args)
    start = time.perf_counter()
    common = {"lr": args.lr or 1e-3, "weight_decay": args.weight_decay, "patience": args.patience,
              "seed": args.seed, "device": args.device, "progress": not args.no_progress}
    if args.model == "mlp":
        model, _, scores = train_mlp(
            hidden=args.hidden, dropout=args.dropout, epochs=args.epochs or 20,
            batch_size=args.batch_size or 128, **common)
    else:
        model, _, scores = cnn.train_fashion_mnist(
            args.model, epochs=args.epochs or 8, batch_size=args.batch_size or 64, **common)
    seconds = time.perf_counter() - start
    print(f"trained in {seconds:.1f} s; Fashion-MNIST test accuracy "
          f"{scores['accuracy']:.4f} (loss {scores['loss']:.4f})")
    if args.save:
        print(f"saved to {model.save(args.save)}")
    return 0


def train_char_model(args):
    from atlas.data import python_stdlib_source, read_text
    from atlas.models import char_lm

    text = read_text(args.text) if args.text else python_stdlib_source()
    source = args.text or "the Python standard library's source"
    print(f"training on {len(text):,} characters of {source} for {args.minutes:g} minutes")
    model, history = char_lm.train_char_lm(
        text, minutes=args.minutes, lr=args.lr or 2e-3, batch_size=args.batch_size or 32,
        seed=args.seed, device=args.device, progress=not args.no_progress)
    model.summary()
    print(f"{history['step'][-1]} steps in {history['seconds'][-1]:.0f} s; held-out bits per "
          f"character {history['heldout_bpc'][-1]:.3f}")
    print("sample (temperature 0.8):")
    print(char_lm.sample(model, 300, temperature=0.8, seed=args.seed))
    if args.save:
        print(f"saved to {model.save(args.save)}")
    return 0


def sample_text(args):
    from atlas.models import char_lm
    from atlas.nn import load

    model = load(args.model)
    print(char_lm.sample(model, args.length, prime=args.prime, temperature=args.temperature,
                         seed=args.seed))
    return 0


def make_figures(args):
    from pathlib import Path

    from tqdm import tqdm

    from atlas.figures import render, select

    try:
        specs = select(args.only)
    except KeyError as error:
        print(f"atlas figures: {error.args[0]}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if args.list:
        for spec in specs:
            note = "  (trains a model)" if spec.trains else ""
            print(f"{spec.name:20s} {spec.caption}{note}")
        return 0
    if args.missing:
        specs = [spec for spec in specs if not (out / spec.filename()).exists()]
    start = time.perf_counter()
    bar = tqdm(specs, desc="figures", unit="fig", disable=args.no_progress or not specs)
    for spec in bar:
        bar.set_postfix_str(spec.name)
        render(spec, out)
    print(f"wrote {len(specs)} figure(s) to {out}/ in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
