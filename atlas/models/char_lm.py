r"""Character-level recurrent models: the course's "hello" RNN, an LSTM language model
trained on real text, sampling with a temperature, and the vanishing-gradient experiment.

The language model reads ``T`` characters and predicts, at every step, the next one; its
loss is the mean negative log-likelihood per character, and $\text{bits per character} =
\text{loss} / \ln 2$.
"""

from __future__ import annotations

import math
import time

import numpy as np
from tqdm.auto import tqdm

from atlas.checks import fraction, integer, optional_integer, positive
from atlas.data.text import CharVocabulary
from atlas.nn import GRU, LSTM, RNN, Dense, Embedding, Sequential
from atlas.optimizers import Adam

HELLO = "hello"


# The "hello" example ---------------------------------------------------------------------------
def hello_data():
    """One-hot inputs for "hell" ``(1, 4, 4)`` and the labels of "ello" ``(1, 4)`` over the
    vocabulary {e, h, l, o}, and the vocabulary."""
    vocab = CharVocabulary(HELLO)
    tokens = vocab.encode(HELLO)
    x = np.eye(len(vocab), dtype=np.float32)[tokens[:-1]][None]
    return x, tokens[1:][None], vocab


def train_hello(hidden=3, steps=300, lr=0.05, seed=0):
    """Train a vanilla RNN (``hidden`` units) with a dense read-out on "hell" -> "ello".

    The second "l" must be followed by "o" and the first by "l": only the hidden state
    tells them apart. Returns the model, the loss of every step and the predicted string.
    """
    x, y, vocab = hello_data()
    model = Sequential([RNN(hidden, return_sequences=True), Dense(len(vocab))],
                       input_shape=x.shape[1:], seed=seed, name="hello-rnn")
    model.compile("softmax_cross_entropy", Adam(lr))
    losses = [model.train_step(x, y)[0] for _ in range(steps)]
    predicted = vocab.decode(model.predict(x)[0].argmax(axis=-1))
    return model, losses, predicted


# The character language model ------------------------------------------------------------------
def char_lstm(vocabulary: int, *, seq_len=100, embedding=64, hidden=256, layers=2,
              cell="lstm", seed=0, device="cpu"):
    """Embedding -> ``layers`` stacked recurrent layers -> a dense layer over the vocabulary
    at every step (the time-distributed read-out)."""
    cells = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
    stack = [cells[cell](hidden, return_sequences=True) for _ in range(layers)]
    return Sequential([Embedding(vocabulary, embedding), *stack, Dense(vocabulary)],
                      input_shape=(seq_len,), seed=seed, device=device, name=f"char-{cell}")


def windows(tokens, seq_len):
    """Non-overlapping windows: inputs ``tokens[k:k+T]`` and targets shifted by one."""
    n = (len(tokens) - 1) // seq_len
    if n < 1:
        raise ValueError(f"the text has {len(tokens)} characters; windows of {seq_len} need "
                         f"at least {seq_len + 1}")
    x = tokens[:n * seq_len].reshape(n, seq_len)
    y = tokens[1:n * seq_len + 1].reshape(n, seq_len)
    return x, y


def bits_per_char(model, x, y, batch_size=256):
    """Mean negative log2-likelihood of the targets, per character."""
    return model.evaluate(x, y, batch_size=batch_size)["loss"] / math.log(2)


#: A single text is cut into documents of this many characters before some are held out.
DOCUMENT_CHARS = 10_000


def documents_of(text, seq_len):
    """``text`` as a list of documents: a list of strings is taken as it is; one string is
    cut into pieces of `DOCUMENT_CHARS` characters (fewer for a short text, so that there
    are at least 20 pieces of at least ``seq_len + 1`` characters where it is long enough)."""
    if isinstance(text, str):
        size = max(seq_len + 1, min(DOCUMENT_CHARS, len(text) // 20))
        return [text[i:i + size] for i in range(0, len(text), size)]
    documents = list(text)
    if not all(isinstance(d, str) for d in documents):
        raise TypeError("text must be a string or a list of strings (documents)")
    return [d for d in documents if d]


def split_documents(documents, held_out, rng):
    """``(train, held)``: whole documents drawn at random (with ``rng``) into the held-out
    part until it holds at least the fraction ``held_out`` of the characters; at least one
    document stays on each side."""
    if len(documents) < 2:
        raise ValueError(f"the text must hold at least two documents to hold one out, got "
                         f"{len(documents)}")
    total = sum(map(len, documents))
    held, size = set(), 0
    for i in rng.permutation(len(documents)):
        if size >= held_out * total or len(held) == len(documents) - 1:
            break
        held.add(int(i))
        size += len(documents[i])
    train = [d for i, d in enumerate(documents) if i not in held]
    return train, [documents[i] for i in sorted(held)]


def train_char_lm(text, *, minutes=None, max_steps=None, seq_len=100, batch_size=32, lr=2e-3,
                  clip_norm=5.0, held_out=0.05, hidden=256, layers=2, embedding=64,
                  cell="lstm", eval_every=200, samples_every=None, seed=0, device="cpu",
                  progress=True):
    r"""Train a character language model on ``text`` for ``max_steps`` steps or a budget of
    ``minutes`` (whichever ends first; at least one must be given).

    ``text`` is one string or a list of documents (the files of a corpus, as
    `atlas.data.python_stdlib_files` gives them). Whole documents, drawn at random with the
    seed, are held out until they hold the fraction ``held_out`` of the characters (see
    `split_documents`); they are never trained on. Every ``eval_every`` steps and at the end
    the bits per character are measured on the held-out windows and on as many training
    windows drawn at random (in inference mode, so the two are comparable). Adam with
    gradient clipping by global norm (``clip_norm``), random windows of ``seq_len``
    characters. With ``max_steps`` and no ``minutes`` the run is the same on every machine.

    Returns
    -------
    model : Sequential
        With the vocabulary in ``model.metadata["vocabulary"]`` (saved with the model).
    history : dict
        ``step``, ``seconds``, ``train_bpc`` and ``heldout_bpc`` at every evaluation,
        ``running_bpc`` (mean training loss since the last evaluation, dropout-free but
        measured while the weights moved); ``samples`` (step, text) if ``samples_every``.
    """
    if minutes is None and max_steps is None:
        raise ValueError("train_char_lm needs minutes= or max_steps= (or both)")
    if minutes is not None:
        minutes = positive(minutes, "minutes", "train_char_lm")
    max_steps = optional_integer(max_steps, "max_steps", "train_char_lm")
    eval_every = integer(eval_every, "eval_every", "train_char_lm")
    batch_size = integer(batch_size, "batch_size", "train_char_lm")
    held_out = fraction(held_out, "held_out", "train_char_lm")
    rng = np.random.default_rng(seed)
    documents = documents_of(text, seq_len)
    vocab = CharVocabulary("".join(documents))
    train_docs, held_docs = split_documents(documents, held_out, rng)
    x_train, y_train = windows(vocab.encode("".join(train_docs)), seq_len)
    x_test, y_test = windows(vocab.encode("".join(held_docs)), seq_len)
    probe = rng.choice(len(x_train), min(len(x_train), len(x_test)), replace=False)
    model = char_lstm(len(vocab), seq_len=seq_len, embedding=embedding, hidden=hidden,
                      layers=layers, cell=cell, seed=seed, device=device)
    model.metadata["vocabulary"] = vocab.chars
    model.compile("softmax_cross_entropy", Adam(lr, clip_norm=clip_norm), metrics=())
    history = {"step": [], "seconds": [], "train_bpc": [], "heldout_bpc": [], "running_bpc": [],
               "samples": []}
    budget = math.inf if minutes is None else minutes * 60.0
    start = time.perf_counter()
    bar = tqdm(total=max_steps, desc="char-lm", unit="batch", disable=not progress,
               dynamic_ncols=True)
    step, running, counted = 0, 0.0, 0
    while True:
        elapsed = time.perf_counter() - start
        done = elapsed >= budget or (max_steps is not None and step >= max_steps)
        if step and (step % eval_every == 0 or done):
            held = bits_per_char(model, x_test, y_test)
            history["step"].append(step)
            history["seconds"].append(elapsed)
            history["train_bpc"].append(bits_per_char(model, x_train[probe], y_train[probe]))
            history["heldout_bpc"].append(held)
            history["running_bpc"].append(running / max(counted, 1) / math.log(2))
            running, counted = 0.0, 0
            bar.set_postfix({"held-out bpc": f"{held:.3f}"})
        if samples_every and step % samples_every == 0:
            history["samples"].append((step, sample(model, 200, temperature=0.8, seed=step)))
        if done:
            break
        idx = rng.integers(0, len(x_train), batch_size)
        value, _ = model.train_step(model.backend.asarray(x_train[idx]), y_train[idx])
        running, counted = running + value, counted + 1
        step += 1
        if step % 10 == 0:
            bar.set_postfix({"bpc": f"{running / counted / math.log(2):.3f}"}, refresh=False)
        bar.update(1)
    bar.close()
    return model, history


def vocabulary_of(model) -> CharVocabulary:
    """The `CharVocabulary` a character model was trained with (from its metadata)."""
    chars = model.metadata.get("vocabulary")
    if not chars:
        raise ValueError(f"model {model.name!r} carries no vocabulary: it is not a character "
                         f"language model trained by atlas")
    return CharVocabulary(chars)


def stepper(model):
    """A copy of ``model`` that reads one character per call and keeps its recurrent states
    between calls (``stateful``), sharing nothing with the original."""
    config = model.get_config()
    config["input_shape"] = [1]
    for spec in config["layers"]:
        if "stateful" in spec["config"]:
            spec["config"]["stateful"] = True
    copy = Sequential.from_config(config, device=model.backend.name)
    for mine, theirs in zip(copy.layers, model.layers):
        for name, value in theirs.params.items():
            copy.backend.copy_into(mine.params[name], model.backend.to_numpy(value))
    return copy


def sample(model, length=500, *, prime="\n", temperature=1.0, seed=0):
    r"""Generate ``length`` characters after ``prime``.

    Each next character is drawn from $\operatorname{softmax}(z / \tau)$ with
    temperature $\tau$: below 1 the model plays safe and repeats its likeliest
    patterns, above 1 it takes risks.
    """
    temperature = positive(temperature, "temperature", "sample")
    length = integer(length, "length", "sample", minimum=0)
    vocab = vocabulary_of(model)
    step = stepper(model)
    rng = np.random.default_rng(seed)
    tokens = vocab.encode(prime) if prime else vocab.encode(vocab.chars[0])
    logits = None
    for t in tokens:
        logits = step.predict(np.array([[t]]))[0, -1]
    out = []
    for _ in range(length):
        z = logits.astype(np.float64) / temperature
        p = np.exp(z - z.max())
        t = int(rng.choice(len(p), p=p / p.sum()))
        out.append(vocab.chars[t])
        logits = step.predict(np.array([[t]]))[0, -1]
    return "".join(out)


# Vanishing gradients ----------------------------------------------------------------------------
def vanishing_gradients(steps=60, features=8, hidden=64, batch=16, seed=0):
    r"""How much the last output still depends on each earlier input.

    For a vanilla RNN, a GRU and an LSTM at PyTorch's default initialisation, and an
    LSTM whose forget gate starts open (bias 1), the mean over a batch of random sequences
    of $\lVert \partial (u^\top h_T) / \partial x_t \rVert$, $u$ a random unit vector,
    for $t = 1..T$. Returns ``{"step": ..., "rnn": ..., "gru": ..., "lstm": ...,
    "lstm_forget_bias": ...}`` (float64 arrays, ready for a figure).
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, features))
    u = rng.standard_normal((batch, hidden))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    result = {"step": np.arange(1, steps + 1)}
    layers = {"rnn": RNN(hidden), "gru": GRU(hidden), "lstm": LSTM(hidden),
              "lstm_forget_bias": LSTM(hidden, forget_bias=1.0)}
    for name, layer in layers.items():
        layer.build((steps, features), rng=np.random.default_rng(seed), dtype="float64")
        layer.forward(x)
        dx = layer.backward(u)
        result[name] = np.linalg.norm(dx, axis=2).mean(axis=0)
    return result
