"""Experience replay: a fixed-size memory of transitions, sampled uniformly.

Consecutive transitions of one episode are strongly correlated; a gradient step on them
would chase the latest few seconds of play. Sampling mini-batches uniformly from the last
``capacity`` transitions breaks the correlation and reuses every transition many times
(Mnih et al., 2015).
"""

from __future__ import annotations

import numpy as np

from atlas.checks import integer


class ReplayBuffer:
    """``capacity`` transitions ``(s, a, r, s', done)`` in preallocated arrays; once full,
    each new transition overwrites the oldest.

    Parameters
    ----------
    capacity : int
    observation_shape : tuple of int
    seed : int
        Seeds the sampling.
    """

    def __init__(self, capacity, observation_shape, seed=0):
        self.capacity = integer(capacity, "capacity", "ReplayBuffer")
        shape = tuple(observation_shape)
        self.observations = np.zeros((self.capacity, *shape), dtype=np.float32)
        self.next_observations = np.zeros((self.capacity, *shape), dtype=np.float32)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.dones = np.zeros(self.capacity, dtype=np.float32)
        self.size = 0
        self._next = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.size

    def add(self, observation, action, reward, next_observation, done):
        """Store one transition (``done``: the episode ended there, so nothing follows it
        to bootstrap from; a time limit is not an end)."""
        i = self._next
        self.observations[i] = observation
        self.actions[i] = action
        self.rewards[i] = reward
        self.next_observations[i] = next_observation
        self.dones[i] = float(done)
        self._next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size):
        """``(s, a, r, s', done)`` arrays of ``batch_size`` transitions drawn uniformly (with
        replacement) from those stored."""
        if self.size == 0:
            raise ValueError("the replay buffer is empty: add transitions before sampling")
        idx = self.rng.integers(0, self.size, batch_size)
        return (self.observations[idx], self.actions[idx], self.rewards[idx],
                self.next_observations[idx], self.dones[idx])
