r"""Deep Q-learning (Mnih et al., 2015) on Gymnasium environments, with the engine's layers.

The action-value function $Q(s, a)$ is the expected discounted return of taking action
$a$ in state $s$ and acting well afterwards. It satisfies the Bellman equation

$$
Q(s, a) = \mathbb{E}\big[\, r + \gamma \max_{a'} Q(s', a') \,\big],
$$

and DQN fits a network $Q_\theta$ to it by regression on its own targets: for a
transition $(s, a, r, s', d)$ from the replay memory,

$$
y = r + \gamma (1 - d)\, Q_{\bar\theta}\big(s', \arg\max_{a'} Q_{\theta}(s', a')\big),
\qquad L = \operatorname{Huber}\big(Q_\theta(s, a) - y\big),
$$

where $\bar\theta$ is a *target network*, a copy of $\theta$ refreshed every
``target_every`` steps so that the target does not move with every update, and the
$\arg\max$ is taken by the online network (Double DQN; with ``double=False`` it is the
target network's own $\max$). The Huber loss keeps the gradient of a large error at
$\pm 1$. Only the taken action's output receives a gradient:
$\partial L / \partial Q_\theta(s, a) = \operatorname{clip}(Q_\theta(s, a) - y, -1, 1) / N$
for a batch of $N$.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from atlas.checks import fraction, integer, positive, real
from atlas.rl.replay import ReplayBuffer

#: The environment the chapter solves, and the mean greedy return that counts as solved.
ENV_ID = "CartPole-v1"
SOLVED = 475.0


@dataclass
class DQNConfig:
    """The hyperparameters of `train_dqn` (the defaults solve ``CartPole-v1``).

    ``steps`` environment steps in all; ``learning_starts`` steps before the first
    update; every ``train_every`` steps, ``gradient_steps`` updates on ``batch_size``
    transitions each; every ``target_every`` updates the target network moves to the online
    one: $\\bar\\theta \\leftarrow \\tau \\theta + (1 - \\tau) \\bar\\theta$ (``tau`` 1: a copy; below 1:
    Polyak averaging); $\\epsilon$ decays linearly from
    ``epsilon_start`` to ``epsilon_end`` over ``epsilon_steps``; Adam's learning rate
    follows a cosine from ``lr`` to 0 over the run, and gradients are clipped to a global
    norm of ``clip_norm`` (both damp the late oscillations DQN is known for); every
    ``eval_every`` steps the greedy policy plays ``eval_episodes`` episodes, and the best
    weights so far are kept (the agent returned is the best one evaluated). The matrix
    products of so small a network run on ``blas_threads`` BLAS threads (one: measured 3x
    faster than two on the 2-core reference machine, where threads wait on each other
    for products of 128 x 128).
    """

    steps: int = 100_000
    hidden: int = 128
    lr: float = 5e-4
    clip_norm: float = 10.0
    gamma: float = 0.99
    batch_size: int = 128
    buffer: int = 50_000
    learning_starts: int = 1_000
    train_every: int = 1
    gradient_steps: int = 1
    target_every: int = 1
    tau: float = 0.005
    epsilon_start: float = 1.0
    epsilon_end: float = 0.02
    epsilon_steps: int = 10_000
    double: bool = True
    eval_every: int = 2_500
    eval_episodes: int = 10
    blas_threads: int = 1

    def __post_init__(self):
        for name in ("steps", "hidden", "batch_size", "buffer", "train_every", "gradient_steps",
                     "target_every", "epsilon_steps", "eval_every", "eval_episodes",
                     "blas_threads"):
            setattr(self, name, integer(getattr(self, name), name, "DQNConfig"))
        self.learning_starts = integer(self.learning_starts, "learning_starts", "DQNConfig",
                                       minimum=0)
        self.lr = positive(self.lr, "lr", "DQNConfig")
        self.clip_norm = positive(self.clip_norm, "clip_norm", "DQNConfig")
        self.tau = real(self.tau, "tau", "DQNConfig", low=0.0, high=1.0, low_open=True)
        self.gamma = fraction(self.gamma, "gamma", "DQNConfig", high_open=False)
        self.epsilon_start = fraction(self.epsilon_start, "epsilon_start", "DQNConfig",
                                      high_open=False)
        self.epsilon_end = fraction(self.epsilon_end, "epsilon_end", "DQNConfig",
                                    high_open=False)


def epsilon(step, config):
    r"""The exploration rate at ``step``: linear from $\epsilon_{start}$ to
    $\epsilon_{end}$ over ``epsilon_steps``, then constant."""
    t = min(step / config.epsilon_steps, 1.0)
    return config.epsilon_start + t * (config.epsilon_end - config.epsilon_start)


def make_env(env_id=ENV_ID):
    """A Gymnasium environment with a discrete action space and a vector observation, or a
    clear error (Gymnasium missing, unknown id, unsupported spaces)."""
    try:
        import gymnasium as gym
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("deep Q-learning needs Gymnasium: pip install 'atlas[rl]'") from error
    try:
        env = gym.make(env_id)
    except gym.error.Error as error:
        raise ValueError(f"unknown Gymnasium environment {env_id!r}: {error}") from None
    if not isinstance(env.action_space, gym.spaces.Discrete) or \
            len(env.observation_space.shape or ()) != 1:
        raise ValueError(f"{env_id} has actions {env.action_space} and observations "
                         f"{env.observation_space}: DQN here needs discrete actions and a "
                         f"vector observation")
    return env


def q_network(observations, actions, hidden=128, seed=0, device="cpu"):
    """The Q-network: two hidden ReLU layers of ``hidden`` units, one output per action."""
    from atlas.nn import Activation, Dense, Sequential

    return Sequential([Dense(hidden, weight_init="he_uniform"), Activation("relu"),
                       Dense(hidden, weight_init="he_uniform"), Activation("relu"),
                       Dense(actions)], input_shape=(observations,), seed=seed, device=device,
                      name="q-network")


def q_values_of(network, observations):
    """$Q(s, \\cdot)$ of a Q-network for a batch of observations, as a NumPy array."""
    x = network.backend.asarray(np.asarray(observations, dtype=np.float32))
    return network.backend.to_numpy(network.forward(x))


class DQNAgent:
    """A Q-network, its target network, the optimizer and the replay memory.

    Parameters
    ----------
    observations, actions : int
        Sizes of the environment's observation vector and action set.
    config : DQNConfig
    seed : int
    """

    def __init__(self, observations, actions, config=None, seed=0, device="cpu"):
        from atlas.losses import Huber
        from atlas.optimizers import Adam, CosineDecay

        self.config = config or DQNConfig()
        self.actions = integer(actions, "actions", "DQNAgent")
        self.q = q_network(observations, actions, self.config.hidden, seed, device)
        self.target = q_network(observations, actions, self.config.hidden, seed, device)
        self.sync_target()
        self.optimizer = Adam(self.config.lr, clip_norm=self.config.clip_norm,
                              schedule=CosineDecay(1.0))
        self.q.compile(Huber(reduction="sum", factor=1.0 / self.config.batch_size),
                       self.optimizer, metrics=())
        self.memory = ReplayBuffer(self.config.buffer, (observations,), seed)
        self.rng = np.random.default_rng(seed)
        self.updates = 0

    def q_values(self, observations, network=None):
        """$Q(s, \\cdot)$ for a batch of observations, as a NumPy array."""
        return q_values_of(network or self.q, observations)

    def act(self, observation, eps=0.0):
        """$\\epsilon$-greedy: a random action with probability ``eps``, else the one with
        the largest Q-value."""
        if eps > 0 and self.rng.random() < eps:
            return int(self.rng.integers(self.actions))
        return int(self.q_values(observation[None])[0].argmax())

    def snapshot(self):
        """A copy of the online network's weights (host arrays)."""
        return self.q._snapshot()

    def restore(self, weights):
        """Put back weights taken by `snapshot`."""
        self.q._restore(weights)

    def sync_target(self):
        """Move the target network to the online one: a copy (``tau`` 1) or the Polyak
        average $\\tau \\theta + (1 - \\tau) \\bar\\theta$."""
        tau = self.config.tau
        for mine, theirs in zip(self.target.layers, self.q.layers):
            for name, value in theirs.params.items():
                new = self.q.backend.to_numpy(value)
                if tau < 1.0:
                    new = tau * new + (1.0 - tau) * self.target.backend.to_numpy(mine.params[name])
                self.target.backend.copy_into(mine.params[name], new)

    def update(self):
        """One gradient step on a mini-batch from the replay memory; returns the loss."""
        c = self.config
        s, a, r, s2, d = self.memory.sample(c.batch_size)
        next_target = self.q_values(s2, self.target)
        rows = np.arange(c.batch_size)
        if c.double:
            best = self.q_values(s2).argmax(axis=1)
            bootstrap = next_target[rows, best]
        else:
            bootstrap = next_target.max(axis=1)
        y = r + c.gamma * (1.0 - d) * bootstrap
        backend = self.q.backend
        pred = self.q.forward(backend.asarray(s), training=True)
        target = backend.to_numpy(pred).copy()
        target[rows, a] = y  # the other actions' targets equal their predictions: no gradient
        value, grad = self.q.loss(pred, target, backend)
        self.q.backward(grad)
        self.optimizer.step(self.q.parameter_groups(), backend)
        self.updates += 1
        return value


def evaluate(q, env_id=ENV_ID, episodes=100, seed=10_000, record=False):
    """Greedy returns of ``q`` (a Q-network, or an agent with a ``q_values`` method) on
    ``episodes`` episodes (seeds ``seed``, ``seed + 1``, ...). With ``record``, also the
    observations and Q-values of each step of the first episode:
    ``(returns, {"observations": ..., "q_values": ...})``."""
    episodes = integer(episodes, "episodes", "evaluate")
    with threadpool_limits(1, user_api="blas"):  # products of one row: no use for threads
        return _evaluate(q, env_id, episodes, seed, record)


def _evaluate(q, env_id, episodes, seed, record):
    env = make_env(env_id)
    if hasattr(q, "q_values"):
        q_values = q.q_values
    else:
        _check_network(q, env, env_id)
        q_values = lambda obs: q_values_of(q, obs)  # noqa: E731
    returns, trace = [], {"observations": [], "q_values": []}
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            values = q_values(obs[None])[0]
            if record and k == 0:
                trace["observations"].append(obs.copy())
                trace["q_values"].append(values.copy())
            obs, reward, terminated, truncated, _ = env.step(int(values.argmax()))
            total += reward
            done = terminated or truncated
        returns.append(total)
    env.close()
    if record:
        return returns, {k: np.array(v) for k, v in trace.items()}
    return returns


def _check_network(q, env, env_id):
    observations, actions = env.observation_space.shape[0], int(env.action_space.n)
    if q.input_shape != (observations,) or q.output_shape != (actions,):
        raise ValueError(f"the network maps {q.input_shape} to {q.output_shape}, but {env_id} "
                         f"has observations of shape ({observations},) and {actions} actions")


def train_dqn(config=None, *, env_id=ENV_ID, seed=0, episodes=None, device="cpu",
              progress=True, agent=None):
    """Train a DQN agent on ``env_id`` for ``config.steps`` environment steps (or until
    ``episodes`` episodes have ended). Returns ``(agent, history)``; ``agent.q`` holds the
    best weights found by the periodic greedy evaluations. ``agent`` replaces the engine's
    `DQNAgent` by another with the same methods (the PyTorch benchmark's).

    ``history``: ``episode_return`` and ``episode_end`` (the step each episode ended at),
    ``eval_step`` and ``eval_return`` (mean greedy return), ``loss`` (mean per 1,000 steps),
    ``seconds``, ``steps_per_second`` and the ``config``.
    """
    config = config or DQNConfig()
    if episodes is not None:
        episodes = integer(episodes, "episodes", "train_dqn")
    with threadpool_limits(config.blas_threads, user_api="blas"):
        return _train(config, env_id, seed, episodes, device, progress, agent)


def _train(config, env_id, seed, episodes, device, progress, agent):
    env = make_env(env_id)
    observations, actions = env.observation_space.shape[0], int(env.action_space.n)
    agent = agent or DQNAgent(observations, actions, config, seed, device)
    env.action_space.seed(seed)
    history = {"episode_return": [], "episode_end": [], "eval_step": [], "eval_return": [],
               "loss": [], "config": asdict(config)}
    best, best_weights = -np.inf, None
    obs, _ = env.reset(seed=seed)
    total, losses, updates = 0.0, [], 0
    start = time.perf_counter()
    bar = tqdm(total=config.steps, desc=f"dqn {env_id}", unit="step", disable=not progress,
               dynamic_ncols=True, mininterval=0.5)
    for step in range(1, config.steps + 1):
        action = agent.act(obs, epsilon(step, config))
        next_obs, reward, terminated, truncated, _ = env.step(action)
        agent.memory.add(obs, action, reward, next_obs, terminated)
        obs, total = next_obs, total + reward
        if terminated or truncated:
            history["episode_return"].append(total)
            history["episode_end"].append(step)
            recent = np.mean(history["episode_return"][-20:])
            bar.set_postfix({"return (last 20)": f"{recent:.0f}",
                             "best eval": f"{best:.0f}" if best_weights else "-"},
                            refresh=False)
            obs, total = env.reset()[0], 0.0
            if episodes is not None and len(history["episode_return"]) >= episodes:
                break
        if step > config.learning_starts and step % config.train_every == 0:
            agent.optimizer.progress = step / config.steps  # the schedule's "epochs": 0 -> 1
            for _ in range(config.gradient_steps):
                losses.append(agent.update())
                updates += 1
                if updates % config.target_every == 0:
                    agent.sync_target()
        if step % 1_000 == 0 and losses:
            history["loss"].append(float(np.mean(losses)))
            losses = []
        if step % config.eval_every == 0:
            score = float(np.mean(evaluate(agent, env_id, config.eval_episodes,
                                           seed=1_000 + step)))
            history["eval_step"].append(step)
            history["eval_return"].append(score)
            history.setdefault("eval_seconds", []).append(time.perf_counter() - start)
            if score > best:
                best, best_weights = score, agent.snapshot()
        bar.update(1)
    bar.close()
    env.close()
    if best_weights is not None:
        agent.restore(best_weights)
    history["seconds"] = time.perf_counter() - start
    history["steps_per_second"] = step / history["seconds"]
    if hasattr(agent.q, "metadata"):
        agent.q.metadata.update({"env_id": env_id, "kind": "dqn"})
    return agent, history
