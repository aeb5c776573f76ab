"""Transition storage and data collection."""

from mbrl.data.buffer import Batch, ReplayBuffer
from mbrl.data.collect import CollectResult, RandomPolicy, collect

__all__ = ["Batch", "CollectResult", "RandomPolicy", "ReplayBuffer", "collect"]
