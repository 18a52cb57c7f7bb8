"""Deep Q-learning: the replay memory, the schedule, the temporal-difference update, a short
deterministic training run on CartPole, and clear errors."""

import numpy as np
import pytest

from atlas.rl import DQNAgent, DQNConfig, ReplayBuffer, epsilon, evaluate, make_env, train_dqn
from atlas.rl.dqn import q_network

SMALL = dict(steps=400, hidden=16, learning_starts=100, buffer=1_000, epsilon_steps=200,
             target_every=50, eval_every=200, eval_episodes=2, batch_size=16)


def test_replay_buffer_keeps_the_last_capacity_transitions_and_samples_them():
    memory = ReplayBuffer(5, (2,), seed=0)
    with pytest.raises(ValueError, match="empty"):
        memory.sample(3)
    for t in range(8):
        memory.add(np.full(2, t), t % 2, float(t), np.full(2, t + 1), t == 7)
    assert len(memory) == 5
    s, a, r, s2, d = memory.sample(200)
    assert set(r.tolist()) == {3.0, 4.0, 5.0, 6.0, 7.0}  # the oldest three were overwritten
    assert np.all(s2[:, 0] == s[:, 0] + 1) and np.all(a == r.astype(int) % 2)
    assert np.all(d == (r == 7.0))
    again = ReplayBuffer(5, (2,), seed=0)
    for t in range(8):
        again.add(np.full(2, t), t % 2, float(t), np.full(2, t + 1), t == 7)
    assert np.array_equal(again.sample(200)[2], r)


def test_epsilon_decays_linearly_then_stays():
    config = DQNConfig(epsilon_start=1.0, epsilon_end=0.1, epsilon_steps=100)
    assert epsilon(0, config) == 1.0 and epsilon(50, config) == pytest.approx(0.55)
    assert epsilon(100, config) == pytest.approx(0.1) == epsilon(10_000, config)


def test_an_update_regresses_the_taken_action_on_the_double_dqn_target():
    config = DQNConfig(hidden=8, batch_size=4, lr=1e-3)
    agent = DQNAgent(3, 2, config, seed=0)
    rng = np.random.default_rng(1)
    for _ in range(4):
        agent.memory.add(rng.standard_normal(3), rng.integers(2), 1.0, rng.standard_normal(3),
                         rng.random() < 0.5)
    memory_rng = agent.memory.rng.bit_generator.state
    s, a, r, s2, d = agent.memory.sample(4)
    agent.memory.rng.bit_generator.state = memory_rng  # the update draws the same batch
    best = agent.q_values(s2).argmax(axis=1)
    y = r + config.gamma * (1 - d) * agent.q_values(s2, agent.target)[np.arange(4), best]
    q = agent.q_values(s)[np.arange(4), a]
    error = q - y
    huber = np.where(np.abs(error) <= 1, 0.5 * error ** 2, np.abs(error) - 0.5)
    before = {k: v.copy() for k, v in agent.q.layers[-1].params.items()}
    assert agent.update() == pytest.approx(huber.mean(), rel=1e-5)
    # the bias gradient of the output layer is clip(error) / N at the taken actions only
    expected = np.zeros(2)
    np.add.at(expected, a, np.clip(error, -1, 1) / 4)
    np.testing.assert_allclose(agent.q.layers[-1].grads["b"], expected, rtol=1e-4, atol=1e-7)
    assert not np.array_equal(before["W"], agent.q.layers[-1].params["W"])


def test_a_short_run_is_deterministic_and_records_its_history():
    runs = [train_dqn(DQNConfig(**SMALL), seed=3, progress=False) for _ in range(2)]
    (agent, history), (_, again) = runs
    assert history["episode_return"] == again["episode_return"]
    assert history["eval_return"] == again["eval_return"] and history["eval_step"] == [200, 400]
    assert sum(history["episode_return"]) <= 400 and history["steps_per_second"] > 0
    returns = evaluate(agent.q, episodes=3)
    assert len(returns) == 3 and all(1 <= r <= 500 for r in returns)
    _, trace = evaluate(agent.q, episodes=1, record=True)
    assert trace["q_values"].shape[1] == 2 and trace["observations"].shape[1] == 4


def test_clear_errors_for_bad_environments_networks_and_counts():
    with pytest.raises(ValueError, match="unknown Gymnasium environment 'NoSuchEnv-v0'"):
        make_env("NoSuchEnv-v0")
    with pytest.raises(ValueError, match="needs discrete actions"):
        make_env("Pendulum-v1")
    with pytest.raises(ValueError, match=r"has observations of shape \(4,\) and 2 actions"):
        evaluate(q_network(3, 2), episodes=1)
    with pytest.raises(ValueError, match="episodes must be >= 1"):
        train_dqn(DQNConfig(**SMALL), episodes=-1, progress=False)
    with pytest.raises(ValueError, match="gamma must be a finite number in"):
        DQNConfig(gamma=1.5)
