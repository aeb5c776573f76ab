"""Mirror-image data augmentation for tasks with a reflection symmetry.

If negating some observation and action components maps every transition of a task to another
valid transition with the same reward and termination (the cart-pole family: the mirror image
of a cart moving right with the pole leaning right is one moving left with the pole leaning
left), each real transition also teaches the model and the value about its mirror image: twice
the data, and both ends of a rail learnt from a crash into either.
"""

from __future__ import annotations

import torch
from torch import Tensor


def with_mirror_image(data: dict[str, Tensor], obs_sign: Tensor, act_sign: Tensor
                      ) -> dict[str, Tensor]:
    """``data`` (transitions ``obs [N, S]``, ``act [N, A]``, ``next_obs [N, S]`` and any other
    ``[N, ...]`` columns, oldest first) followed by its mirror image: ``[2N, ...]``, where the
    mirror multiplies observations by ``obs_sign [S]`` and actions by ``act_sign [A]`` and
    keeps the other columns. Each half's last transition is marked ``truncated`` when it did
    not end its episode, so that the data's unfinished last episode is cut where the data
    ends rather than joined to the first episode of the other half."""
    mirrored = dict(data)
    mirrored["obs"], mirrored["next_obs"] = data["obs"] * obs_sign, data["next_obs"] * obs_sign
    mirrored["act"] = data["act"] * act_sign
    both = {name: torch.cat([data[name], mirrored[name]]) for name in data}
    if "truncated" in both and len(data["obs"]):
        half = len(data["obs"])
        ends = torch.tensor([half - 1, 2 * half - 1])
        both["truncated"] = both["truncated"].clone()
        both["truncated"][ends] |= ~both["terminated"][ends]
    return both
