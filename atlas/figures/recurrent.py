"""Figures of the recurrent pages: the "hello" RNN, vanishing gradients, the LSTM's gates
over time and a character language model's samples as it trains."""

from __future__ import annotations

import textwrap

import numpy as np

from atlas.figures import style
from atlas.figures.registry import figure, recipe
from atlas.figures.trained import trained

#: The small character LSTM the figures train (on the standard library's source).
#: A fixed number of steps (not a time budget), so that the figures are the same on every
#: machine.
CHAR_RUN = {"max_steps": recipe(3000, 150), "batch_size": 32, "hidden": 128, "layers": 1,
            "seq_len": 64, "eval_every": recipe(100, 50), "samples_every": recipe(300, 50)}
#: What its gates are shown reading.
GATE_TEXT = "def area(self):\n    return self.width * self.height\n"


def char_run():
    """``(model, history)`` of the character LSTM of the figures (trained once, cached)."""
    from atlas.data import python_stdlib_files
    from atlas.models.char_lm import train_char_lm

    def train():
        return train_char_lm(python_stdlib_files(1_000_000), progress=False, **CHAR_RUN)

    return trained("char-lstm", train, CHAR_RUN)


@figure("hello-rnn", "The \"hello\" RNN (3 hidden units) trained on \"hell\" -> \"ello\": the "
        "loss per step (left) and, after training, the probability it gives each next "
        "character at each position (right).")
def hello_rnn():
    from atlas.models.char_lm import hello_data, train_hello

    model, losses, _ = train_hello()
    x, _, vocab = hello_data()
    logits = model.predict(x)[0]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    fig, (left, right) = style.subplots(1, 2, width=7.5, height=2.9)
    left.plot(losses)
    left.set_xlabel("training step")
    left.set_ylabel("cross-entropy")
    left.set_yscale("log")
    image = right.imshow(p.T, cmap="Blues", vmin=0, vmax=1)
    right.set_xticks(range(4), [f"after '{c}'" for c in "hell"])
    right.set_yticks(range(len(vocab)), list(vocab.chars))
    right.set_ylabel("next character")
    right.grid(False)
    fig.colorbar(image, ax=right, fraction=0.05)
    return fig


@figure("vanishing-gradients", "How much the last output depends on each earlier input: "
        "the gradient norm of u.h_T with respect to x_t, at initialisation, for 60 steps "
        "(mean of 16 random sequences, log scale).")
def vanishing():
    from atlas.models.char_lm import vanishing_gradients

    v = vanishing_gradients()
    fig, ax = style.subplots(width=6.5, height=3.4)
    labels = {"rnn": "vanilla RNN", "gru": "GRU", "lstm": "LSTM",
              "lstm_forget_bias": "LSTM, forget-gate bias 1"}
    for key, label in labels.items():
        ax.plot(v["step"], v[key], label=label)
    ax.set_yscale("log")
    ax.set_xlabel("input step t (the output is read at t = 60)")
    ax.set_ylabel("gradient norm")
    ax.legend()
    return fig


@figure("lstm-gates", "The gates of the character LSTM (trained on the standard "
        "library) while it reads two lines of code: forget, input and output gates of 32 of "
        "its units (rows) at each character (columns).", trains=True)
def lstm_gates():
    from atlas.models.char_lm import stepper, vocabulary_of

    model, _ = char_run()
    vocab = vocabulary_of(model)
    tokens = vocab.encode(GATE_TEXT)[None]
    reader = stepper(model)
    lstm = reader.layers[1]
    gates = {"f": [], "i": [], "o": []}
    for t in range(tokens.shape[1]):
        reader.predict(tokens[:, t:t + 1])
        values = lstm.gate_values()
        for name in gates:
            gates[name].append(values[name][0, 0, :32])
    fig, axes = style.subplots(3, 1, width=7.5, height=5.4, sharex=True)
    names = {"f": "forget gate f", "i": "input gate i", "o": "output gate o"}
    for ax, (key, label) in zip(axes, names.items()):
        ax.imshow(np.array(gates[key]).T, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_ylabel(label, fontsize=8)
        ax.set_yticks([])
        ax.grid(False)
    shown = [c if c.strip() else {"\n": "⏎", " ": "·"}[c] for c in GATE_TEXT]
    axes[-1].set_xticks(range(len(shown)), shown, fontsize=6, family="monospace")
    return fig


@figure("char-samples", "The character LSTM while it trains on the standard library's "
        "source: bits per character on held-out files and on training windows (left) and "
        "samples at temperature 0.8 taken along the way (right).", trains=True)
def char_samples():
    _, history = char_run()
    fig, (left, right) = style.subplots(1, 2, width=8.0, height=4.2,
                                        gridspec_kw={"width_ratios": [1, 1.6]})
    left.plot(history["step"], history["heldout_bpc"], label="held-out")
    left.plot(history["step"], history["train_bpc"], label="training windows")
    left.set_xlabel(f"training step (batch of {CHAR_RUN['batch_size']} x "
                    f"{CHAR_RUN['seq_len']} characters)")
    left.set_ylabel("bits per character")
    left.legend()
    right.axis("off")
    lines = []
    for step, text in history["samples"][:4]:
        snippet = text[:120].replace("\n", "⏎")
        lines.append(f"step {step}:")
        lines.extend(textwrap.wrap(snippet, 52, replace_whitespace=False, drop_whitespace=False))
        lines.append("")
    right.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=7.5)
    return fig
