"""The ``atlas`` command.

::

    atlas train mlp [--epochs 20] [--device cpu] [--save runs/mlp.npz]
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
    train = sub.add_parser("train", help="train a model on Fashion-MNIST and report test accuracy")
    train.add_argument("model", choices=["mlp"], help="which model to train")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--hidden", type=int, nargs="+", default=[512, 256],
                       help="hidden layer sizes (default: 512 256)")
    train.add_argument("--dropout", type=float, default=0.2)
    train.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    train.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay")
    train.add_argument("--patience", type=int, default=None, help="early-stopping patience")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    train.add_argument("--save", default=None, help="save the trained model to this .npz file")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args(argv)
    if args.command == "train":
        return train_mlp(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


#: Images of the training file used for training; the rest are held out for validation.
TRAIN_SPLIT = 55_000


def train_mlp(args):
    from atlas.data import load_fashion_mnist
    from atlas.models import mlp
    from atlas.optimizers import AdamW, CosineDecay

    x, y = load_fashion_mnist("train")
    x_test, y_test = load_fashion_mnist("test")
    # The last training images are held out for validation; the test set is used once, at
    # the end. (With fewer images than TRAIN_SPLIT, as in the tests, the last tenth.)
    split = min(TRAIN_SPLIT, len(x) * 9 // 10)
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
    model = mlp(tuple(args.hidden), dropout=args.dropout, device=args.device, seed=args.seed)
    optimizer = AdamW(lr=args.lr, weight_decay=args.weight_decay,
                      schedule=CosineDecay(args.epochs))
    model.compile(loss="softmax_cross_entropy", optimizer=optimizer)
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              validation_data=(x_val, y_val), patience=args.patience,
              progress=not args.no_progress)
    seconds = time.perf_counter() - start
    scores = model.evaluate(x_test, y_test)
    print(f"trained in {seconds:.1f} s; Fashion-MNIST test accuracy "
          f"{scores['accuracy']:.4f} (loss {scores['loss']:.4f})")
    if args.save:
        print(f"saved to {model.save(args.save)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
