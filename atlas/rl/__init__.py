"""Deep reinforcement learning on the engine's layers: experience replay and deep
Q-learning over Gymnasium environments (``pip install 'atlas[rl]'``)."""

from atlas.rl.dqn import (
    ENV_ID,
    SOLVED,
    DQNAgent,
    DQNConfig,
    epsilon,
    evaluate,
    make_env,
    q_network,
    train_dqn,
)
from atlas.rl.replay import ReplayBuffer

__all__ = ["DQNAgent", "DQNConfig", "ENV_ID", "ReplayBuffer", "SOLVED", "epsilon", "evaluate",
           "make_env", "q_network", "train_dqn"]
