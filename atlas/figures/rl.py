"""Figures of the deep Q-learning page: returns while training over several seeds, and the
trained agent's Q-values, pole angle and cart position along one episode."""

from __future__ import annotations

import numpy as np

from atlas.figures import style
from atlas.figures.registry import figure, recipe
from atlas.figures.trained import trained
from atlas.rl.dqn import DQNConfig

#: The seeds the page trains, each with the default settings (quick: a short run).
DQN_SEEDS = recipe((0, 1, 2), (0, 1))
DQN_STEPS = recipe(None, 1_500)  # None: DQNConfig's default


def dqn_run(seed):
    """``(q_network, history)`` of the DQN trained on CartPole-v1 with ``seed``; the history
    also holds the greedy returns of 100 evaluation episodes (``test_returns``)."""
    from atlas.rl import evaluate, train_dqn

    def train():
        config = DQNConfig() if DQN_STEPS is None else DQNConfig(steps=DQN_STEPS,
                                                                 eval_every=1_000)
        agent, history = train_dqn(config, seed=seed, progress=False)
        history["test_returns"] = evaluate(agent.q, episodes=100)
        return agent.q, history

    from dataclasses import asdict

    config = asdict(DQNConfig()) if DQN_STEPS is None else {"steps": DQN_STEPS}
    return trained(f"dqn-cartpole-seed{seed}", train, config)


@figure("dqn-returns", "The return of every training episode of DQN on CartPole-v1 against "
        "the environment steps so far, for several seeds (thin), their median and "
        "interquartile range (thick, shaded), and the greedy evaluations (dots).", trains=True)
def dqn_returns():
    fig, ax = style.subplots(width=7.5, height=3.4)
    runs = [dqn_run(seed)[1] for seed in DQN_SEEDS]
    horizon = max(run["episode_end"][-1] for run in runs)
    grid = np.linspace(0, horizon, 60)
    curves = []
    for color, (seed, run) in zip(style.COLORS, zip(DQN_SEEDS, runs)):
        ends, returns = np.array(run["episode_end"]), np.array(run["episode_return"])
        ax.plot(ends, returns, color=color, alpha=0.25, linewidth=0.8)
        ax.plot(run["eval_step"], run["eval_return"], "o", color=color, markersize=3,
                label=f"seed {seed}, greedy evaluations")
        curves.append(np.interp(grid, ends, returns))
    curves = np.array(curves)
    ax.plot(grid, np.median(curves, axis=0), color="black", linewidth=1.5, label="median")
    ax.fill_between(grid, *np.percentile(curves, [25, 75], axis=0), color="0.6", alpha=0.3)
    ax.axhline(475, color="0.4", linestyle=":", linewidth=1)
    ax.set(xlabel="environment steps", ylabel="episode return", ylim=(0, 520))
    ax.legend(loc="upper left")
    return fig


@figure("dqn-episode", "One greedy episode of the trained agent (seed 0): the Q-values of "
        "its two actions at every step (top), the pole's angle and the cart's position "
        "(bottom).", trains=True)
def dqn_episode():
    from atlas.rl import evaluate

    q, _ = dqn_run(DQN_SEEDS[0])
    _, trace = evaluate(q, episodes=1, record=True)
    steps = np.arange(len(trace["q_values"]))
    fig, (top, bottom) = style.subplots(2, 1, width=7.5, height=4.6, sharex=True)
    top.plot(steps, trace["q_values"][:, 0], label="Q(s, push left)")
    top.plot(steps, trace["q_values"][:, 1], label="Q(s, push right)")
    top.set_ylabel("Q-value")
    top.legend()
    bottom.plot(steps, np.degrees(trace["observations"][:, 2]), label="pole angle (degrees)")
    bottom.plot(steps, trace["observations"][:, 0] * 10, label="cart position (x 10)")
    bottom.axhline(12, color="0.5", linestyle=":", linewidth=1)
    bottom.axhline(-12, color="0.5", linestyle=":", linewidth=1)
    bottom.set(xlabel="step", ylabel="degrees / units")
    bottom.legend()
    return fig
