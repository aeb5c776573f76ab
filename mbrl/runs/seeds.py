"""Seeds by named purpose: every random choice of a run draws from a generator derived from
the run seed and keys that say what it is for (an ``IntEnum`` member or a name) and when (an
episode, a step), never from positions in a list of generators."""

from __future__ import annotations

import zlib

import numpy as np
import torch

from mbrl.util.seeding import derive_seed

Key = int | str


def _key(key: Key) -> int:
    """An integer key; a name is hashed (CRC-32, stable across runs and machines)."""
    if isinstance(key, str):
        return zlib.crc32(key.encode())
    if int(key) != key or key < 0:
        raise ValueError(f"seed keys must be names or non-negative integers, got {key!r}")
    return int(key)


class Seeds:
    """Generators derived from ``seed`` and ``keys``: ``numpy("rollouts", step)``,
    ``torch(Purpose.PLANNER, episode)``; the same keys give the same numbers."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def derive(self, *keys: Key) -> int:
        return derive_seed(self.seed, *map(_key, keys))

    def numpy(self, *keys: Key) -> np.random.Generator:
        return np.random.default_rng(self.derive(*keys))

    def torch(self, *keys: Key) -> torch.Generator:
        generator = torch.Generator()
        generator.manual_seed(self.derive(*keys))
        return generator
