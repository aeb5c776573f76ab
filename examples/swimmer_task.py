"""Swimmer-v5 as a task of your own (the library does not register it): load it into any
command with ``--import examples.swimmer_task``.

    python -m experiments.run_mbrl --import examples.swimmer_task task=Swimmer-v5
"""

import torch

from mbrl.envs import register_task

SWIMMER_DT = 0.04  # 4 frames of 0.01 s


def swimmer_reward(obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    """Forward velocity of the front tip (x is ``obs[:, 0]`` with the positions kept) less
    1e-4 |a|^2, as Swimmer-v5 pays."""
    return (next_obs[:, 0] - obs[:, 0]) / SWIMMER_DT - 1e-4 * act.square().sum(-1)


# obs[0:2], the front tip's x and y, are kept for the reward; the networks leave them out
SWIMMER = register_task("Swimmer-v5", "Swimmer-v5", swimmer_reward, overwrite=True,
                        env_kwargs={"exclude_current_positions_from_observation": False},
                        reward_only_dims=(0, 1))
