"""What a network takes of an observation: all of it but a task's reward-only dims."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class ObservationInput(nn.Module):
    """``obs [..., S] -> [..., S - len(ignored)]``: the observation without the dims
    ``ignored`` (:attr:`mbrl.envs.tasks.TaskSpec.reward_only_dims`, such as the root x position
    of the locomotion tasks, which the reward needs and the networks must not see). Holds no
    state, so checkpoints are the same with it."""

    def __init__(self, obs_dim: int, ignored: Sequence[int] = ()) -> None:
        super().__init__()
        self.ignored = tuple(sorted({int(d) for d in ignored}))
        if any(not 0 <= d < obs_dim for d in self.ignored):
            raise ValueError(f"ignored observation dims {self.ignored} must lie in "
                             f"[0, {obs_dim})")
        if len(self.ignored) == obs_dim:
            raise ValueError(f"ignoring all {obs_dim} observation dims leaves no input")
        self.dim = obs_dim - len(self.ignored)
        kept = [d for d in range(obs_dim) if d not in self.ignored]
        self.register_buffer("kept", torch.tensor(kept, dtype=torch.long), persistent=False)

    def forward(self, obs: Tensor) -> Tensor:
        return obs.index_select(-1, self.kept) if self.ignored else obs
