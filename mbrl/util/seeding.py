"""Explicit, derivable randomness: same seed + same config => same numbers."""

from __future__ import annotations

import numpy as np
import torch


def derive_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed determined by ``seed`` and ``keys`` (e.g. episode index, purpose)."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(2, np.uint64)[0] >> 1)


def numpy_generator(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, *keys))


def torch_generator(seed: int, *keys: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(derive_seed(seed, *keys))
    return generator


def seed_torch(seed: int) -> None:
    """Seed torch's global generator (used only by parameter initialisation)."""
    torch.manual_seed(derive_seed(seed, 0))
