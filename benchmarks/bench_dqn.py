"""DQN on CartPole-v1: the engine against the same agent in PyTorch, same loop.

    python benchmarks/bench_dqn.py                 # seeds 0 and 1, 2 threads
    python benchmarks/bench_dqn.py --seeds 0 1 2 3 4 --threads 1

Both agents run in `atlas.rl.train_dqn`'s loop with the default `DQNConfig` (the same
network, replay memory, schedule, Huber loss, Double DQN targets, Adam with its cosine
schedule and gradient clipping): only the Q-network and its update differ. For each seed
and engine it prints the environment steps per second of training, the wall time until a
greedy evaluation (10 episodes, every 2,500 steps) first reached a mean return of 475,
and the mean greedy return of the kept agent over 100 evaluation episodes.
"""

import argparse
import math
import os

from common import COUNT, at_least, torch_or_none

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=COUNT, default=2)
parser.add_argument("--seeds", type=at_least(0), nargs="+", default=[0, 1])
args = parser.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402

from atlas.rl import SOLVED, DQNConfig, ReplayBuffer, evaluate, train_dqn  # noqa: E402


class TorchAgent:
    """`atlas.rl.DQNAgent`'s interface, in PyTorch: the same network, target, loss, update."""

    def __init__(self, torch, observations, actions, config, seed):
        self.torch, self.config, self.actions = torch, config, actions
        torch.manual_seed(seed)
        nn = torch.nn

        def net():
            return nn.Sequential(nn.Linear(observations, config.hidden), nn.ReLU(),
                                 nn.Linear(config.hidden, config.hidden), nn.ReLU(),
                                 nn.Linear(config.hidden, actions))
        self.q, self.target = net(), net()
        self.target.load_state_dict(self.q.state_dict())
        self.adam = torch.optim.Adam(self.q.parameters(), lr=config.lr)
        self.optimizer = self  # train_dqn sets optimizer.progress (0 -> 1) before each update
        self.progress = 0.0
        self.memory = ReplayBuffer(config.buffer, (observations,), seed)
        self.rng = np.random.default_rng(seed)

    def q_values(self, observations, network=None):
        with self.torch.no_grad():
            x = self.torch.as_tensor(np.asarray(observations, dtype=np.float32))
            return (network or self.q)(x).numpy()

    def act(self, observation, eps=0.0):
        if eps > 0 and self.rng.random() < eps:
            return int(self.rng.integers(self.actions))
        return int(self.q_values(observation[None])[0].argmax())

    def sync_target(self):
        tau = self.config.tau
        with self.torch.no_grad():
            for mine, theirs in zip(self.target.parameters(), self.q.parameters()):
                mine.mul_(1.0 - tau).add_(theirs, alpha=tau)

    def snapshot(self):
        return {k: v.clone() for k, v in self.q.state_dict().items()}

    def restore(self, weights):
        self.q.load_state_dict(weights)

    def update(self):
        torch, c = self.torch, self.config
        s, a, r, s2, d = self.memory.sample(c.batch_size)
        rows = np.arange(c.batch_size)
        best = self.q_values(s2).argmax(axis=1)
        y = r + c.gamma * (1.0 - d) * self.q_values(s2, self.target)[rows, best]
        for group in self.adam.param_groups:  # atlas's CosineDecay(1.0), floor 0
            group["lr"] = c.lr * 0.5 * (1 + math.cos(math.pi * min(self.progress, 1.0)))
        pred = self.q(torch.as_tensor(s))[torch.as_tensor(rows), torch.as_tensor(a)]
        loss = torch.nn.functional.huber_loss(pred, torch.as_tensor(y, dtype=torch.float32))
        self.adam.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.q.parameters(), c.clip_norm)
        self.adam.step()
        return float(loss.detach())


def time_to_solve(history):
    solved = [t for t, r in zip(history["eval_seconds"], history["eval_return"]) if r >= SOLVED]
    return f"{solved[0]:6.1f} s" if solved else "  never"


def main():
    torch = torch_or_none(args.threads)
    engines = ["atlas"] + (["torch"] if torch is not None else [])
    print(f"{args.threads} thread(s); DQNConfig defaults ({DQNConfig().steps:,} steps)")
    for seed in args.seeds:
        for engine in engines:
            agent = None
            if engine == "torch":
                agent = TorchAgent(torch, 4, 2, DQNConfig(), seed)
            agent, history = train_dqn(DQNConfig(), seed=seed, progress=False, agent=agent)
            returns = evaluate(agent, episodes=100)
            print(f"  seed {seed} {engine:5s}  {history['steps_per_second']:6.0f} steps/s   "
                  f"solved (10-episode evaluation) after {time_to_solve(history)}   "
                  f"100-episode mean return {np.mean(returns):6.1f}   "
                  f"total {history['seconds']:6.1f} s", flush=True)


if __name__ == "__main__":
    main()
