"""Recurrent layers and character-model training in atlas and, when installed, PyTorch on
the same CPU, side by side: median times (engines interleaved) and the ratio atlas / torch.

    python benchmarks/bench_rnn.py              # layers, then training tokens per second
    python benchmarks/bench_rnn.py --startup    # atlas cold (compiling) vs warm start

Layers: batch 32, sequence 50, input 65, hidden 128 and 256, forward and forward+backward
of a whole sequence for RNN, LSTM and GRU, against ``torch.nn.LSTM`` (GRU, RNN) and against
a Python loop over ``torch.nn.LSTMCell`` (GRUCell, RNNCell). Training: the character model
(embedding 64, two LSTM layers of 256, dense read-out over 96 characters, Adam with
clipping), batch 32 of 100 characters, in tokens per second.
"""

import argparse
import os

from common import COUNT, cold_and_warm, interleaved, report, torch_or_none

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=COUNT, default=2)
parser.add_argument("--repeats", type=COUNT, default=15, help="timings: median of this many")
parser.add_argument("--train-steps", type=COUNT, default=20)
parser.add_argument("--startup", action="store_true", help="measure cold and warm start-up")
args = parser.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402

N, T, F = 32, 50, 65
VOCAB, SEQ, EMBED, HIDDEN = 96, 100, 64, 256

STARTUP_SNIPPET = """
import time; t0 = time.perf_counter()
import numpy as np
from atlas.models.char_lm import char_lstm
from atlas.optimizers import Adam
m = char_lstm(96).compile("softmax_cross_entropy", Adam(2e-3, clip_norm=5.0), metrics=())
tokens = np.random.default_rng(0).integers(0, 96, (32, 101))
m.train_step(tokens[:, :-1], tokens[:, 1:])
print(f"{time.perf_counter() - t0:.3f}")
"""


def atlas_layer(cell, hidden, x, dy):
    import atlas
    layer = {"rnn": atlas.RNN, "lstm": atlas.LSTM, "gru": atlas.GRU}[cell](
        hidden, return_sequences=True).build((T, F))
    return (lambda: layer.forward(x)), (lambda: (layer.forward(x), layer.backward(dy)))


def torch_layer(cell, hidden, x, dy):
    import torch
    net = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        F, hidden, batch_first=True)
    xt, dyt = torch.tensor(x, requires_grad=True), torch.tensor(dy)

    def forward():
        with torch.no_grad():
            net(xt)

    def both():
        out, _ = net(xt)
        out.backward(dyt)

    return forward, both


def torch_cell_loop(cell, hidden, x, dy):
    import torch
    step = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[cell](
        F, hidden)
    xt, dyt = torch.tensor(x, requires_grad=True), torch.tensor(dy)

    def run():
        h = torch.zeros(N, hidden)
        state = (h, torch.zeros(N, hidden)) if cell == "lstm" else h
        outs = []
        for t in range(T):
            state = step(xt[:, t], state)
            outs.append(state[0] if cell == "lstm" else state)
        return torch.stack(outs, dim=1)

    def forward():
        with torch.no_grad():
            run()

    def both():
        run().backward(dyt)

    return forward, both


def atlas_trainer(tokens):
    from atlas.models.char_lm import char_lstm
    from atlas.optimizers import Adam
    model = char_lstm(VOCAB, seq_len=SEQ, embedding=EMBED, hidden=HIDDEN)
    model.compile("softmax_cross_entropy", Adam(2e-3, clip_norm=5.0), metrics=())
    return lambda: model.train_step(tokens[:, :-1], tokens[:, 1:])


def torch_trainer(tokens):
    import torch

    class CharLSTM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, EMBED)
            self.lstm = torch.nn.LSTM(EMBED, HIDDEN, num_layers=2, batch_first=True)
            self.out = torch.nn.Linear(HIDDEN, VOCAB)

        def forward(self, x):
            return self.out(self.lstm(self.embed(x))[0])

    model = CharLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = torch.tensor(tokens[:, :-1]), torch.tensor(tokens[:, 1:])

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    return step


def main():
    if args.startup:
        cold, warm = cold_and_warm(STARTUP_SNIPPET)
        print(f"atlas start-up to the first training step of the character LSTM: "
              f"cold (compiling) {cold:.2f} s, warm (cache=True) {warm:.2f} s")
        return
    torch = torch_or_none(args.threads)
    rng = np.random.default_rng(0)
    print(f"{args.threads} thread(s); batch {N}, sequence {T}, input {F}; median of "
          f"{args.repeats}, engines interleaved")
    for hidden in (128, 256):
        x = rng.standard_normal((N, T, F), dtype=np.float32)
        dy = rng.standard_normal((N, T, hidden), dtype=np.float32)
        for cell in ("rnn", "lstm", "gru"):
            ours = atlas_layer(cell, hidden, x, dy)
            theirs = torch_layer(cell, hidden, x, dy) if torch else None
            loop = torch_cell_loop(cell, hidden, x, dy) if torch else None
            for i, kind in enumerate(("forward", "forward+backward")):
                label = f"{cell.upper()} H={hidden} {kind}"
                if torch is None:
                    report(label, interleaved([ours[i]], args.repeats)[0], None)
                    continue
                a, t, c = interleaved([ours[i], theirs[i], loop[i]], args.repeats)
                report(label + " vs nn." + cell.upper(), a, t, width=46)
                report(label + " vs a Python loop of cells", a, c, width=46)
    tokens = rng.integers(0, VOCAB, (N, SEQ + 1))
    fns = [atlas_trainer(tokens)] + ([torch_trainer(tokens)] if torch else [])
    times = interleaved(fns, args.train_steps)
    per_step = N * SEQ
    line = f"  char LSTM training (2x{HIDDEN}, batch {N}x{SEQ}): atlas {per_step / times[0]:,.0f}"
    if torch:
        line += (f" tokens/s   torch {per_step / times[1]:,.0f} tokens/s   "
                 f"atlas/torch time {times[0] / times[1]:.2f}")
    print(line)


if __name__ == "__main__":
    main()
