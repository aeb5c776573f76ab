"""Transition storage, stepping environments and data collection."""

from mbrl.data.buffer import Batch, ReplayBuffer
from mbrl.data.collect import CollectResult, collect
from mbrl.data.stepping import BatchedEnv, EnvStepper, EpisodeStats, Step

__all__ = ["Batch", "BatchedEnv", "CollectResult", "EnvStepper", "EpisodeStats", "ReplayBuffer",
           "Step", "collect"]
