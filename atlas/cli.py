"""The ``atlas`` command.

::

    atlas train mlp [--epochs 20] [--device cpu] [--save runs/mlp.npz]
    atlas train lenet|cnn|cnn-bn [--epochs 8] [--batch-size 64]
    atlas train resnet [--depth 20] [--plain] [--epochs 10]
    atlas train vqa [--scenes 10000] [--variant both|image|question] [--baselines] [--save F]
    atlas ask runs/vqa.npz --image-index 5 "what is left of the bag ?"
    atlas train dqn [--seed 0] [--steps 60000] [--episodes N] [--save runs/dqn.npz]
    atlas play runs/dqn.npz [--episodes 100]
    atlas train ae|dae [--code-size 32] [--conv] [--noise mask|gaussian --noise-level 0.3]
    atlas train sdae [--labels 1000] [--seed 0]
    atlas train gan [--steps 3000] [--save runs/ring.npz]
    atlas train dcgan [--epochs 5] [--images N] [--classifier runs/lenet.npz] [--save F]
    atlas generate runs/dcgan.npz [--n 64] [--out grid.png] [--seed 0]
    atlas train detector [--scenes 2000] [--epochs 5] [--save runs/detector.npz]
    atlas detect runs/detector.npz [--scene-index 0] [--method fcn|sliding] [--out det.png]
    atlas explain runs/lenet.npz [--image-index 0] [--out explain.png]
    atlas stylize astronaut hubble [--size 256] [--steps 200] [--out styled.png]
    atlas stylize noise brick --out brick-texture.png        # texture synthesis
    atlas search mlp|lenet [--sampler grid|random|tpe|gp] [--trials 20] [--study NAME]
                 [--storage sqlite:///runs/search.db | postgresql://...] [--pruner median]
    atlas train char-lstm [--text FILE] [--minutes 10 | --steps N] [--save runs/char.npz]
    atlas sample runs/char.npz [--length 500] [--temperature 0.8] [--prime "def "]
    atlas figures [--only NAME ...] [--missing] [--list] [--out figures]
    atlas --help
"""

from __future__ import annotations

import argparse
import sys
import time

from atlas import checks
from atlas.backend import BackendError
from atlas.figures.registry import DEFAULT_OUT


def _argument_type(check, what):
    """An argparse ``type`` that parses a number and checks it with `atlas.checks`; argparse
    turns its ``ArgumentTypeError`` into a usage message and exit status 2."""
    expected = {"integer": "an integer", "number": "a number"}[what]

    def parse(text):
        try:
            value = (int if what == "integer" else float)(text)
            return check(value, "value")
        except (TypeError, ValueError) as error:
            message = str(error).replace("value must be", "must be")
            if "invalid literal" in message or "could not convert" in message:
                message = f"expected {expected}, got {text!r}"
            raise argparse.ArgumentTypeError(message) from None
    parse.__name__ = f"{check.__name__} {what}"
    return parse


positive_int = _argument_type(checks.integer, "integer")
seed_int = _argument_type(lambda v, n: checks.integer(v, n, minimum=0), "integer")
positive_float = _argument_type(checks.positive, "number")
non_negative_float = _argument_type(checks.non_negative, "number")
rate = _argument_type(checks.fraction, "number")

#: Defaults that depend on the model being trained: (epochs, batch size, learning rate).
DEFAULTS = {"mlp": (20, 128, 1e-3), "lenet": (8, 64, 1e-3), "cnn": (8, 64, 1e-3),
            "cnn-bn": (8, 64, 1e-3), "resnet": (10, 128, 0.05), "vqa": (8, 64, 1e-3),
            "char-lstm": (None, 32, 2e-3), "dqn": (None, None, None),  # dqn: DQNConfig's
            "ae": (10, 128, 2e-3), "dae": (10, 128, 2e-3), "sdae": (30, 64, 1e-3),
            "gan": (None, 256, 1e-3), "dcgan": (5, 64, 2e-4), "detector": (5, 64, 1e-3)}

#: The test scenes `atlas ask` can rebuild (scene k is drawn after the k before it).
MAX_ASK_SCENES = 10_000

#: The test scenes `atlas detect` can rebuild.
MAX_DETECT_SCENES = 1_000

#: Errors whose messages already say what is wrong: the CLI prints them without a traceback.
USER_ERRORS = (ValueError, TypeError, OSError, BackendError)


def build_parser():
    parser = argparse.ArgumentParser(prog="atlas", description="Deep Learning Atlas: train the "
                                     "course's models with the atlas engine.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model on Fashion-MNIST (and report test "
                           "accuracy) or a character language model on text (and report "
                           "held-out bits per character)")
    train.add_argument("model", choices=list(DEFAULTS),
                       help="which model to train: the MLP, LeNet-5, the two-convolution "
                            "network of the TensorFlow tutorial (cnn-bn: with batch norm), a "
                            "residual network, the visual question answering model, the "
                            "character-level LSTM language model, a deep Q-network, an "
                            "autoencoder (dae: denoising), the stacked denoising autoencoder "
                            "with few labels, a GAN on a ring of Gaussians, DCGAN, the "
                            "window classifier of the detection chapter")
    train.add_argument("--epochs", type=positive_int, default=None,
                       help="default: 20 for the MLP, 8 for the convolutional networks")
    train.add_argument("--batch-size", type=positive_int, default=None,
                       help="default: 128 for the MLP, 64 for the convolutional networks, 32 "
                            "for char-lstm")
    train.add_argument("--hidden", type=positive_int, nargs="+", default=[512, 256],
                       help="MLP hidden layer sizes (default: 512 256)")
    train.add_argument("--dropout", type=rate, default=0.2, help="MLP dropout, in [0, 1)")
    train.add_argument("--depth", type=positive_int, default=20,
                       help="resnet: weighted layers, 6n + 2 (default: 20)")
    train.add_argument("--plain", action="store_true",
                       help="resnet: the plain twin, without shortcuts")
    train.add_argument("--variant", choices=["both", "image", "question"], default="both",
                       help="vqa: read image and question (default), or one of them only")
    train.add_argument("--baselines", action="store_true",
                       help="vqa: also train the image-only and question-only baselines and "
                            "print the three side by side")
    train.add_argument("--scenes", type=positive_int, default=None,
                       help="vqa: training scenes (default: 10000; 3 questions each); "
                            "detector: training scenes whose windows it learns from "
                            "(default: 2000)")
    train.add_argument("--code-size", type=positive_int, default=32,
                       help="ae, dae: units of the code (default: 32)")
    train.add_argument("--conv", action="store_true",
                       help="ae, dae: the convolutional autoencoder (default: dense)")
    train.add_argument("--noise", choices=["mask", "gaussian"], default="mask",
                       help="dae: masking noise (default) or Gaussian noise")
    train.add_argument("--noise-level", type=positive_float, default=0.3,
                       help="dae, sdae: the masked fraction, or the Gaussian noise's standard "
                            "deviation (default: 0.3)")
    train.add_argument("--labels", type=positive_int, default=1_000,
                       help="sdae: labelled training images (default: 1000)")
    train.add_argument("--images", type=positive_int, default=None,
                       help="ae, dae, sdae, dcgan: use only the first N training images")
    train.add_argument("--classifier", default=None,
                       help="dcgan: a Fashion-MNIST classifier saved by atlas train lenet "
                            "--save, whose features give the Frechet distance of the samples")
    train.add_argument("--text", default=None,
                       help="char-lstm: a UTF-8 text file (default: the source of Python's "
                            "standard library, first 4 million characters)")
    train.add_argument("--minutes", type=positive_float, default=None,
                       help="char-lstm: training budget in minutes (default: 10 unless "
                            "--steps is given)")
    train.add_argument("--steps", type=positive_int, default=None,
                       help="char-lstm: number of training steps (reproducible, unlike a "
                            "time budget); dqn: environment steps (default: 100000); gan: "
                            "training steps (default: 3000)")
    train.add_argument("--episodes", type=positive_int, default=None,
                       help="dqn: stop after this many training episodes")
    train.add_argument("--env", default="CartPole-v1",
                       help="dqn: the Gymnasium environment (default: CartPole-v1)")
    train.add_argument("--lr", type=positive_float, default=None,
                       help="Adam learning rate (default: 1e-3; char-lstm 2e-3)")
    train.add_argument("--weight-decay", type=non_negative_float, default=1e-4,
                       help="AdamW weight decay")
    train.add_argument("--patience", type=positive_int, default=None,
                       help="early-stopping patience in epochs")
    train.add_argument("--seed", type=seed_int, default=0)
    train.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    train.add_argument("--save", default=None, help="save the trained model to this .npz file")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    sample = sub.add_parser("sample", help="generate text with a saved character model")
    sample.add_argument("model", help="a .npz file saved by atlas train char-lstm --save")
    sample.add_argument("--length", type=positive_int, default=500)
    sample.add_argument("--temperature", type=positive_float, default=0.8)
    sample.add_argument("--prime", default="\n", help="text to start from")
    sample.add_argument("--seed", type=seed_int, default=0)
    play = sub.add_parser("play", help="evaluate a saved Q-network's greedy policy")
    play.add_argument("model", help="a .npz file saved by atlas train dqn --save")
    play.add_argument("--env", default=None, help="default: the environment it was trained on")
    play.add_argument("--episodes", type=positive_int, default=100)
    generate = sub.add_parser("generate", help="draw samples of a saved GAN generator into an "
                              "image file")
    generate.add_argument("model", help="a .npz file saved by atlas train gan|dcgan --save")
    generate.add_argument("--n", type=positive_int, default=64, help="samples (default: 64)")
    generate.add_argument("--out", default="samples.png",
                          help="a .png, .svg or .pdf file (default: samples.png)")
    generate.add_argument("--seed", type=seed_int, default=0, help="seeds the noise")
    find = sub.add_parser("detect", help="find Fashion-MNIST items in a cluttered test scene "
                          "with a saved window classifier")
    find.add_argument("model", help="a .npz file saved by atlas train detector --save")
    find.add_argument("--scene-index", type=seed_int, default=0,
                      help="which test scene (default: 0)")
    find.add_argument("--method", choices=["fcn", "sliding"], default="fcn",
                      help="one fully convolutional pass per scale (default), or every "
                           "window cropped and classified")
    find.add_argument("--threshold", type=rate, default=0.9,
                      help="smallest item probability kept (default: 0.9)")
    find.add_argument("--out", default=None, help="draw the scene and the boxes into this "
                      ".png, .svg or .pdf")
    find.add_argument("--seed", type=seed_int, default=0, help="the scenes' seed (default: 0)")
    explain = sub.add_parser("explain", help="saliency and occlusion maps of a saved Fashion-MNIST "
                             "classifier for one test image")
    explain.add_argument("model", help="a .npz file saved by atlas train lenet|cnn|mlp --save")
    explain.add_argument("--image-index", type=seed_int, default=0,
                         help="which test image (default: 0)")
    explain.add_argument("--label", type=seed_int, default=None,
                         help="the class to explain (default: the image's true class)")
    explain.add_argument("--out", default="explain.png",
                         help="the maps, as a .png, .svg or .pdf (default: explain.png)")
    stylize = sub.add_parser("stylize", help="style transfer (or, with content 'noise', texture "
                             "synthesis) with random convolutional features")
    stylize.add_argument("content", help="an image file, a sample name (astronaut, cat, "
                         "coffee, rocket, grace-hopper, ...), or noise for a texture")
    stylize.add_argument("style", help="an image file or a sample name (hubble, brick, gravel, "
                         "grass, ...)")
    stylize.add_argument("--out", default="styled.png", help="the result, a .png file")
    stylize.add_argument("--size", type=positive_int, default=256,
                         help="side of the square result in pixels (default: 256)")
    stylize.add_argument("--steps", type=positive_int, default=200,
                         help="L-BFGS iterations (default: 200)")
    stylize.add_argument("--style-weight", type=positive_float, default=1e5,
                         help="weight of the style loss against the content loss (default: 1e5)")
    stylize.add_argument("--seed", type=seed_int, default=0,
                         help="seeds the random filters and the noise")
    stylize.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    search = sub.add_parser("search", help="search hyperparameters of a model on Fashion-MNIST "
                            "with Optuna (validation accuracy; the best retrained and tested "
                            "once)")
    search.add_argument("task", choices=["mlp", "lenet"],
                        help="the MLP (one hidden layer) or LeNet-5")
    search.add_argument("--sampler", choices=["grid", "random", "tpe", "gp"], default="tpe",
                        help="grid, random, TPE (default) or a Gaussian process (needs PyTorch)")
    search.add_argument("--trials", type=positive_int, default=20,
                        help="finished trials the study should have in all, counting earlier "
                             "runs and other workers (default: 20)")
    search.add_argument("--study", default=None,
                        help="the study's name (default: TASK-SAMPLER); workers sharing a "
                             "study give the same name and storage")
    search.add_argument("--storage", default="sqlite:///runs/search.db",
                        help="where the trials are kept: a SQLite file (default "
                             "sqlite:///runs/search.db) or postgresql://user@host:port/db for "
                             "several workers")
    search.add_argument("--pruner", choices=["median", "hyperband", "none"], default="median",
                        help="stop unpromising trials from their per-epoch validation accuracy")
    search.add_argument("--epochs", type=positive_int, default=None,
                        help="epochs per trial (default: 5 for mlp, 3 for lenet)")
    search.add_argument("--images", type=positive_int, default=None,
                        help="train on the first N training images only (a quick search)")
    search.add_argument("--seed", type=seed_int, default=0,
                        help="seeds the sampler and the models (give each worker its own)")
    search.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    search.add_argument("--save", default=None, help="save the retrained best model here")
    search.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    ask = sub.add_parser("ask", help="ask a saved question-answering model about a test scene")
    ask.add_argument("model", help="a .npz file saved by atlas train vqa --save")
    ask.add_argument("question", help='e.g. "what is left of the bag ?"')
    ask.add_argument("--image-index", type=seed_int, default=0,
                     help="which test scene (default: 0)")
    ask.add_argument("--seed", type=seed_int, default=0, help="the scenes' seed (default: 0)")
    figures = sub.add_parser("figures", help="regenerate the textbook's figures into figures/")
    figures.add_argument("--only", nargs="+", metavar="NAME", help="just these figures")
    figures.add_argument("--missing", action="store_true",
                         help="only the figures whose file does not exist yet")
    figures.add_argument("--list", action="store_true", help="list the figures and exit")
    figures.add_argument("--out", default=str(DEFAULT_OUT),
                         help=f"output folder (default: {DEFAULT_OUT}; build/quick-figures "
                              f"with ATLAS_QUICK_FIGURES=1, small training budgets)")
    figures.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv=None):
    """Run the ``atlas`` command; return its exit status (2 for a bad argument or input)."""
    args = build_parser().parse_args(argv)
    command = {"train": train_model, "figures": make_figures, "sample": sample_text,
               "ask": ask_model, "play": play_policy, "generate": generate_samples,
               "search": search_hyperparameters, "detect": detect_items,
               "explain": explain_image, "stylize": stylize_image}
    try:
        return command[args.command](args)
    except USER_ERRORS as error:
        print(f"atlas {args.command}: {error}", file=sys.stderr)
        return 2


def train_model(args):
    from atlas.models import cnn
    from atlas.models.mlp import train_fashion_mnist as train_mlp

    if args.model == "char-lstm":
        return train_char_model(args)
    if args.model == "vqa":
        return train_vqa(args)
    if args.model == "dqn":
        return train_dqn(args)
    if args.model in GENERATIVE:
        return GENERATIVE[args.model](args)
    if args.model == "detector":
        return train_detector(args)
    start = time.perf_counter()
    epochs, batch_size, lr = _defaults(args)
    common = {"epochs": epochs, "batch_size": batch_size, "lr": lr,
              "weight_decay": args.weight_decay, "patience": args.patience, "seed": args.seed,
              "device": args.device, "progress": not args.no_progress}
    if args.model == "mlp":
        model, _, scores = train_mlp(hidden=args.hidden, dropout=args.dropout, **common)
    elif args.model == "resnet":
        from atlas.models import resnet

        model, _, scores = resnet.train_fashion_mnist(args.depth, plain=args.plain, **common)
    else:
        model, _, scores = cnn.train_fashion_mnist(args.model, **common)
    seconds = time.perf_counter() - start
    print(f"trained in {seconds:.1f} s; Fashion-MNIST test accuracy "
          f"{scores['accuracy']:.4f} (loss {scores['loss']:.4f})")
    if args.save:
        print(f"saved to {model.save(args.save)}")
    return 0


def train_char_model(args):
    from atlas.data import python_stdlib_files, read_text
    from atlas.models import char_lm

    _, batch_size, lr = _defaults(args)
    minutes = args.minutes if args.minutes is not None or args.steps is not None else 10.0
    text = read_text(args.text) if args.text else python_stdlib_files()
    source = args.text or "the Python standard library's source"
    budget = " and ".join(b for b in (f"{minutes:g} minutes" if minutes else "",
                                      f"{args.steps} steps" if args.steps else "") if b)
    size = len(text) if isinstance(text, str) else sum(map(len, text))
    print(f"training on {size:,} characters of {source} for at most {budget}")
    model, history = char_lm.train_char_lm(
        text, minutes=minutes, max_steps=args.steps, lr=lr, batch_size=batch_size,
        seed=args.seed, device=args.device, progress=not args.no_progress)
    model.summary()
    print(f"{history['step'][-1]} steps in {history['seconds'][-1]:.0f} s; bits per character "
          f"on held-out documents {history['heldout_bpc'][-1]:.3f}, on training windows "
          f"{history['train_bpc'][-1]:.3f}")
    print("sample (temperature 0.8):")
    print(char_lm.sample(model, 300, temperature=0.8, seed=args.seed))
    if args.save:
        print(f"saved to {model.save(args.save)}")
    return 0


def train_vqa(args):
    from atlas.data.scenes import QUESTION_KINDS, make_vqa
    from atlas.models import vqa
    from atlas.textbook import markdown_table

    epochs, batch_size, lr = _defaults(args)
    start = time.perf_counter()
    scenes = 10_000 if args.scenes is None else args.scenes
    data = (make_vqa("train", scenes, seed=args.seed),
            make_vqa("validation", 1_000, seed=args.seed))
    test = make_vqa("test", 2_000, seed=args.seed)
    print(f"{len(data[0]):,} training questions about {scenes:,} scenes; "
          f"{len(test):,} test questions about 2,000 scenes")
    variants = vqa.VARIANTS if args.baselines else (args.variant,)
    rows, kept = [], None
    for variant in variants:
        model, _ = vqa.train(variant, epochs=epochs, batch_size=batch_size, lr=lr,
                             seed=args.seed, device=args.device,
                             progress=not args.no_progress, data=data)
        scores = vqa.accuracy_by_kind(model, test)
        rows.append((variant, *(f"{scores[k]:.3f}" for k in ("all", *QUESTION_KINDS))))
        if variant == args.variant:
            kept = model
    print(f"trained in {time.perf_counter() - start:.1f} s; test accuracy:")
    print(markdown_table(("reads", "all", *QUESTION_KINDS), rows), end="")
    if args.save:
        print(f"saved the {args.variant} model to {kept.save(args.save)}")
    return 0


def train_dqn(args):
    import numpy as np

    from atlas.rl import SOLVED, DQNConfig, evaluate
    from atlas.rl import train_dqn as train

    given = {"batch_size": args.batch_size, "lr": args.lr, "steps": args.steps}
    config = DQNConfig(**{k: v for k, v in given.items() if v is not None})
    agent, history = train(config, env_id=args.env, seed=args.seed, episodes=args.episodes,
                           device=args.device, progress=not args.no_progress)
    print(f"{len(history['episode_return'])} training episodes, "
          f"{history['episode_end'][-1] if history['episode_end'] else 0:,} steps in "
          f"{history['seconds']:.1f} s ({history['steps_per_second']:.0f} steps/s); best "
          f"greedy evaluation {max(history['eval_return'], default=float('nan')):.1f}")
    if args.save:
        print(f"saved to {agent.q.save(args.save)}")
    returns = evaluate(agent.q, args.env, episodes=100)
    verdict = "solved" if args.env == "CartPole-v1" and np.mean(returns) >= SOLVED else ""
    print(f"greedy policy over 100 episodes: mean return {np.mean(returns):.1f} "
          f"(min {min(returns):.0f}, max {max(returns):.0f}) {verdict}".rstrip())
    return 0


def train_autoencoder(args):
    from atlas.models import autoencoder

    epochs, batch_size, lr = _defaults(args)
    noise = (autoencoder.Corruption(args.noise, args.noise_level) if args.model == "dae"
             else None)
    kind = "conv" if args.conv else "dense"
    model, _, error = autoencoder.train(kind, args.code_size, corruption=noise, epochs=epochs,
                                        batch_size=batch_size, lr=lr, images=args.images,
                                        seed=args.seed, device=args.device,
                                        progress=not args.no_progress)
    (x, _), _, (x_test, _) = autoencoder.fashion_mnist_pixels()
    x = x if args.images is None else x[:args.images]
    pca = autoencoder.pca_reconstruction_error(x, x_test, args.code_size)
    print(f"test reconstruction error (MSE per pixel): {error:.5f}; PCA with "
          f"{args.code_size} components: {pca:.5f}")
    if args.save:
        print(f"saved to {model.save(args.save)}")
    return 0


def train_sdae(args):
    from atlas.models import sdae

    epochs, _, _ = _defaults(args)
    results, model = sdae.compare(args.labels, seeds=(args.seed,), fine_tune_epochs=epochs,
                                  images=args.images, noise=args.noise_level,
                                  device=args.device, progress=not args.no_progress)
    print(f"test accuracy with {args.labels:,} labels: pretrained "
          f"{results['pretrained'][0]:.4f}, from scratch {results['scratch'][0]:.4f}")
    if args.save:
        print(f"saved the pretrained classifier to {model.save(args.save)}")
    return 0


def train_gan(args):
    from atlas.data import ring_centres
    from atlas.models import gan

    _, batch_size, lr = _defaults(args)
    steps = 3_000 if args.steps is None else args.steps
    model, history = gan.train_ring(steps, batch_size, lr=lr, seed=args.seed, device=args.device,
                                    progress=not args.no_progress)
    covered, quality = gan.modes_covered(model.sample(2_000, seed=args.seed), ring_centres(),
                                         0.02)
    print(f"{covered} of 8 modes covered; {100 * quality:.1f}% of samples within 3 standard "
          f"deviations of a mode; D(real) {history['d_real'][-1]:.2f}, "
          f"D(fake) {history['d_fake'][-1]:.2f}")
    if args.save:
        print(f"saved the generator to {model.generator.save(args.save)}")
    return 0


def train_dcgan(args):
    from atlas.models import gan

    epochs, batch_size, lr = _defaults(args)
    classifier = None
    if args.classifier:  # loaded first: a bad file fails before the training, not after
        from atlas.nn import load

        classifier = load(args.classifier)
    model, history = gan.train_dcgan(epochs, batch_size, images=args.images, lr=lr,
                                     seed=args.seed, device=args.device,
                                     progress=not args.no_progress)
    print(f"{epochs} epochs in {sum(history['seconds']):.1f} s; last epoch: D loss "
          f"{history['d_loss'][-1]:.3f}, G loss {history['g_loss'][-1]:.3f}")
    if classifier is not None:
        distance, floor = gan.fashion_mnist_fid(model.generator, classifier)
        print(f"Frechet distance to the test images in {args.classifier}'s features: "
              f"{distance:.2f} (between two halves of the test set: {floor:.2f})")
    if args.save:
        print(f"saved the generator to {model.generator.save(args.save)}")
    return 0


#: ``atlas train`` for the unsupervised chapter's models.
GENERATIVE = {"ae": train_autoencoder, "dae": train_autoencoder, "sdae": train_sdae,
              "gan": train_gan, "dcgan": train_dcgan}


def generate_samples(args):
    from atlas.models.gan import write_samples
    from atlas.nn import load

    model = load(args.model)
    if "generates" not in model.metadata:
        raise ValueError(f"{args.model} holds {model.name!r}, which is not a generator: give a "
                         f"file saved by atlas train gan --save or atlas train dcgan --save")
    path = write_samples(model, args.out, args.n, args.seed)
    print(f"wrote {args.n} samples to {path}")
    return 0


def train_detector(args):
    from atlas import detect
    from atlas.data.clutter import make_scenes
    from atlas.textbook import markdown_table

    epochs, batch_size, lr = _defaults(args)
    scenes = 2_000 if args.scenes is None else args.scenes
    model, history = detect.train(scenes, epochs, batch_size=batch_size, lr=lr, seed=args.seed,
                                  device=args.device, progress=not args.no_progress)
    print(f"{history['windows']:,} training windows from {scenes:,} scenes; window accuracy "
          f"on held-out scenes {history['val_accuracy'][-1]:.4f}")
    rows = detect.precision_recall(detect.Scanner(model), make_scenes("test", 200))
    print("on 200 test scenes (a box is right with IoU >= 0.5 and the right class):")
    print(markdown_table(("threshold", "precision", "recall", "recall, location only"),
                         [(f"{t:g}", f"{p:.3f}", f"{r:.3f}", f"{l:.3f}")
                          for t, p, r, l in rows]), end="")
    if args.save:
        print(f"saved to {model.save(args.save)}")
    return 0


def detect_items(args):
    from atlas import detect
    from atlas.data import FASHION_MNIST
    from atlas.data.clutter import make_scenes
    from atlas.nn import load

    model = load(args.model)
    if model.inputs_spec[0][0] != (1, detect.WINDOW, detect.WINDOW) or \
            model.output_shapes[0] != (detect.CLASSES,):
        raise ValueError(f"{args.model} holds {model.name!r}, which is not a window classifier "
                         f"(1x28x28 windows, 11 classes): give a file saved by atlas train "
                         f"detector --save")
    if args.scene_index >= MAX_DETECT_SCENES:
        raise ValueError(f"--scene-index must be below {MAX_DETECT_SCENES:,} (atlas detect "
                         f"rebuilds the test scenes up to that one), got {args.scene_index:,}")
    scenes = make_scenes("test", args.scene_index + 1, seed=args.seed)
    image, truth = scenes.images[-1, 0], scenes.boxes[-1]
    start = time.perf_counter()
    found = detect.detect(detect.Scanner(model, args.method), image, threshold=args.threshold)
    seconds = time.perf_counter() - start
    names = FASHION_MNIST.classes
    print(f"test scene {args.scene_index}: {len(truth)} items, {len(found)} found "
          f"({args.method}, {1e3 * seconds:.0f} ms)")
    for label, score, top, left, size in found:
        print(f"  {names[label]:12s} {score:.3f} at row {top}, column {left}, size {size}")
    print("truth: " + "; ".join(f"{names[l]} at row {t}, column {c}, size {s}"
                                for l, t, c, s in truth))
    if args.out:
        print(f"drew the scene to {detect.draw(image, found, truth, args.out)}")
    return 0


def explain_image(args):
    import numpy as np

    from atlas import explain
    from atlas.data import FASHION_MNIST, load_fashion_mnist
    from atlas.figures.registry import figure_path
    from atlas.nn import load

    figure_path(args.out)  # a bad file name fails before the work
    model = load(args.model)
    x, y = load_fashion_mnist("test")
    if args.image_index >= len(x):
        raise ValueError(f"--image-index must be below {len(x):,}, got {args.image_index:,}")
    shape = model.inputs_spec[0][0]
    if tuple(shape[-2:]) != (28, 28) or int(np.prod(shape)) != 28 * 28 or \
            model.output_shapes[0] != (10,):
        raise ValueError(f"{args.model} holds {model.name!r}, which takes {shape} and gives "
                         f"{model.output_shapes[0]}: not a Fashion-MNIST classifier (28x28 "
                         f"images, 10 classes)")
    if args.label is not None and args.label >= 10:
        raise ValueError(f"--label must be a class from 0 to 9, got {args.label}")
    image = x[args.image_index].reshape(shape)
    label = int(y[args.image_index]) if args.label is None else args.label
    grad = explain.saliency(model, image, label).reshape(28, 28)
    drop, base = explain.occlusion(model, image, label)
    names = FASHION_MNIST.classes
    predicted = int(model.predict(image[None]).argmax())
    print(f"test image {args.image_index}: {names[int(y[args.image_index])]}; the model says "
          f"{names[predicted]}; p({names[label]}) = {base:.3f}; covering a 6x6 patch lowers it "
          f"by up to {drop.max():.3f}")
    path = _write_maps(image.reshape(28, 28), grad, drop, names[label], base, args.out)
    print(f"wrote {path}")
    return 0


def _write_maps(image, grad, drop, name, probability, out):
    from atlas.figures import style
    from atlas.figures.registry import figure_path, write_figure

    out = figure_path(out)
    with style.context():
        fig, axes = style.subplots(1, 3, width=7.5, height=2.8)
        for ax, data, title, kwargs in (
                (axes[0], image, f"{name}: p = {probability:.2f}", {"cmap": "gray_r"}),
                (axes[1], grad, "saliency |dS/dx|", {"cmap": "magma"}),
                (axes[2], drop, "occlusion: drop in p", {"cmap": "RdBu_r", "vmin": -1,
                                                         "vmax": 1})):
            ax.imshow(data, **kwargs)
            ax.set(title=title, xticks=[], yticks=[])
            ax.grid(False)
        return write_figure(fig, out)


def stylize_image(args):
    from pathlib import Path

    from atlas import style_transfer

    if Path(args.out).suffix.lower() != ".png":  # before minutes of work, not after
        raise ValueError(f"cannot write {args.out}: give a file name ending in .png")
    if args.size < 16:
        raise ValueError(f"--size must be at least 16 pixels, got {args.size}")
    content = None if args.content == "noise" else style_transfer.load_image(args.content,
                                                                           args.size)
    style = style_transfer.load_image(args.style, args.size)
    start = time.perf_counter()
    image, history = style_transfer.synthesize(style, content, size=args.size,
                                               steps=args.steps, style_weight=args.style_weight,
                                               seed=args.seed, device=args.device)
    what = "texture" if content is None else "style transfer"
    print(f"{what} at {args.size}x{args.size}: {len(history['loss'])} evaluations in "
          f"{time.perf_counter() - start:.1f} s ({1e3 * history['seconds_per_evaluation']:.0f} ms "
          f"each); style loss {history['style_loss'][0]:.3g} -> {history['style_loss'][-1]:.3g}"
          + ("" if content is None else f", content loss {history['content_loss'][-1]:.3g}"))
    print(f"wrote {style_transfer.save_image(image, args.out)}")
    return 0


def search_hyperparameters(args):
    from atlas import search
    from atlas.textbook import markdown_table

    start = time.perf_counter()
    study = search.search(args.task, trials=args.trials, study=args.study,
                          storage=args.storage, sampler=args.sampler, pruner=args.pruner,
                          epochs=args.epochs, images=args.images, seed=args.seed,
                          device=args.device, progress=not args.no_progress)
    done = search.finished(study)
    pruned = sum(t.state.name == "PRUNED" for t in done)
    print(f"study {study.study_name!r} in {args.storage}: {len(done)} finished trials "
          f"({len(done) - pruned} complete, {pruned} pruned), {time.perf_counter() - start:.1f} s "
          f"in this run")
    rows = search.best_rows(study)
    if not rows:
        raise ValueError(f"study {study.study_name!r} has no complete trial yet")
    names = sorted(study.best_params)
    print(markdown_table(("trial", "validation accuracy", *names), rows), end="")
    model, scores = search.retrain_best(study, seed=args.seed, device=args.device)
    print(f"best hyperparameters retrained: test accuracy {scores['accuracy']:.4f} "
          f"(the test set's only use)")
    if args.save:
        print(f"saved to {model.save(args.save)}")
    return 0


def play_policy(args):
    import numpy as np

    from atlas.nn import load
    from atlas.rl import evaluate

    model = load(args.model)
    env_id = args.env or model.metadata.get("env_id")
    if env_id is None:
        raise ValueError(f"{args.model} does not say which environment it plays (no env_id "
                         f"in its metadata): pass --env")
    returns = evaluate(model, env_id, episodes=args.episodes)
    print(f"{env_id}, greedy policy over {args.episodes} episodes: mean return "
          f"{np.mean(returns):.1f} (min {min(returns):.0f}, max {max(returns):.0f})")
    return 0


def ask_model(args):
    from atlas.data.scenes import CLASS_WORDS, scene
    from atlas.models import vqa
    from atlas.nn import load

    if args.image_index >= MAX_ASK_SCENES:
        raise ValueError(f"--image-index must be below {MAX_ASK_SCENES:,} (atlas ask rebuilds the "
                         f"test scenes up to that one), got {args.image_index:,}")
    model = load(args.model)
    cells, image = scene("test", args.image_index, seed=args.seed)
    layout = " / ".join(", ".join(CLASS_WORDS[c] if c >= 0 else "-" for c in row)
                        for row in cells)
    top = vqa.answer(model, image, args.question)
    print(f"test scene {args.image_index} (rows: {layout})")
    print(f"{args.question} -> {top[0][0]}")
    for word, p in top:
        print(f"  {word:10s} {p:.3f}")
    return 0


def _defaults(args):
    """``(epochs, batch_size, lr)``: what was given, else the model's defaults."""
    given = (args.epochs, args.batch_size, args.lr)
    return tuple(d if g is None else g for g, d in zip(given, DEFAULTS[args.model]))


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
        raise ValueError(error.args[0]) from None
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
