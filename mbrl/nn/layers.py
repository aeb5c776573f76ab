"""The MLP builder and the stacked MLP every network of the toolkit is made of.

``EnsembleMLP`` holds ``E`` independent MLPs as one ``[E, in, out]`` weight per layer, so a
whole ensemble (PETS members, SAC's twin critics, PPO's policy and value networks, a value
ensemble) runs with one batched matmul per layer, or one member alone on a view of its
weights. Which of the two is faster depends on the batch (``experiments/benchmarks/
ensemble_layout.py``): on 2 CPU cores training 5 members at batch 256 took 0.85x the time of
a per-member loop with ``baddbmm``, while planning at 500-2000 rows per member ran in 0.3-0.6x
the time as a loop of per-member matmuls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU,
                                           "elu": nn.ELU}


def _check_sizes(sizes: Sequence[int], activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if len(sizes) < 2 or any(int(s) != s or s < 1 for s in sizes):
        raise ValueError(f"layer sizes must be >= 2 positive integers, got {list(sizes)}")


def mlp(sizes: Sequence[int], activation: str = "tanh",
        output_gain: float | None = None) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between them.

    PyTorch's default initialisation, or with ``output_gain`` an orthogonal one (gain sqrt(2)
    for hidden layers, ``output_gain`` for the last, zero biases), the usual choice for PPO/A2C.
    """
    _check_sizes(sizes, activation)
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(pairwise(sizes)):
        linear = nn.Linear(fan_in, fan_out)
        last = index == len(sizes) - 2
        if output_gain is not None:
            nn.init.orthogonal_(linear.weight, output_gain if last else math.sqrt(2))
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class EnsembleMLP(nn.Module):
    """``E`` independent MLPs of one shape with stacked weights (``weights[l] [E, in, out]``,
    ``biases[l] [E, 1, out]``) and ``activation`` between the layers:
    ``forward(x [E, B, in] or [B, in]) -> [E, B, out]`` runs every member on its own rows with
    one batched matmul per layer; ``member(e, x [B, in]) -> [B, out]`` runs one member alone on
    a view of its weights.

    Initialised like ``nn.Linear`` (uniform in +-1/sqrt(in), one ``[E, in, out]`` draw per
    layer), or with ``like_mlp=True`` exactly as ``E`` separate ``mlp(sizes, activation,
    output_gains[e])`` networks would be, member by member.
    """

    def __init__(self, members: int, sizes: Sequence[int], activation: str = "silu",
                 like_mlp: bool = False, output_gains: Sequence[float | None] | None = None
                 ) -> None:
        super().__init__()
        _check_sizes(sizes, activation)
        if int(members) != members or members < 1:
            raise ValueError(f"members must be a positive integer, got {members!r}")
        if output_gains is not None and (not like_mlp or len(output_gains) != members):
            raise ValueError(f"output_gains need like_mlp=True and one gain per member "
                             f"({members}), got {output_gains}")
        self.members, self.sizes = int(members), tuple(int(s) for s in sizes)
        if like_mlp:
            gains = output_gains if output_gains is not None else (None,) * members
            nets = [[m for m in mlp(sizes, activation, gain) if isinstance(m, nn.Linear)]
                    for gain in gains]
            weights = [torch.stack([net[i].weight.detach().T for net in nets])
                       for i in range(len(sizes) - 1)]
            biases = [torch.stack([net[i].bias.detach()[None] for net in nets])
                      for i in range(len(sizes) - 1)]
        else:
            weights = [torch.empty(members, a, b) for a, b in pairwise(sizes)]
            biases = [torch.empty(members, 1, b) for b in sizes[1:]]
        self.weights = nn.ParameterList(weights)
        self.biases = nn.ParameterList(biases)
        if not like_mlp:
            self.reset_parameters()
        self.activation = ACTIVATIONS[activation]()
        self._stack_cache: tuple | None = None  # (members, versions, weights, biases)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Fresh weights and biases, layer by layer, from ``U(-1/sqrt(in), 1/sqrt(in))`` (the
        initialisation of ``nn.Linear``; torch's global generator when ``generator`` is None)."""
        for weight, bias in zip(self.weights, self.biases, strict=True):
            bound = 1.0 / math.sqrt(weight.shape[1])
            weight.uniform_(-bound, bound, generator=generator)
            bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        h = x.expand(self.members, *x.shape) if x.ndim == 2 else x
        last = len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(bias, h, weight)
            if index < last:
                h = self.activation(h)
        return h

    def forward_members(self, members: tuple[int, ...], x: Tensor) -> Tensor:
        """Members ``members`` (in that order), each on its own batch: ``x [M, B, in] ->
        [M, B, out]``, one ``baddbmm`` per layer. Equals ``member(members[i], x[i])`` up to the
        last bit of the activations; faster than that loop when batches are small (see
        ``mbrl.models.ensemble``)."""
        last = len(self.weights) - 1
        for layer, (weight, bias) in enumerate(zip(*self._stacked(members), strict=True)):
            x = torch.baddbmm(bias, x, weight)
            if layer < last:
                x = self.activation(x)
        return x

    def _stacked(self, members: tuple[int, ...]) -> tuple[list[Tensor], list[Tensor]]:
        """Weights ``[M, in, out]`` and biases ``[M, 1, out]`` of ``members``: the parameters
        themselves for every member in order, else stacked copies kept until a parameter
        changes (its version counter moves on every in-place update)."""
        if members == tuple(range(self.members)):
            return list(self.weights), list(self.biases)
        versions = tuple(p._version for p in self.parameters())
        if self._stack_cache is None or self._stack_cache[:2] != (members, versions):
            index = torch.tensor(members)
            with torch.no_grad():
                weights = [w.index_select(0, index) for w in self.weights]
                biases = [b.index_select(0, index) for b in self.biases]
            self._stack_cache = (members, versions, weights, biases)
        return self._stack_cache[2], self._stack_cache[3]

    def member(self, index: int, x: Tensor) -> Tensor:
        last = len(self.weights) - 1
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.addmm(bias[index, 0], x, weight[index])
            if layer < last:
                x = self.activation(x)
        return x

    def member_state(self, index: int) -> dict[str, Tensor]:
        """A copy of member ``index``'s weights and biases."""
        return {name: p[index].detach().clone() for name, p in self.named_parameters()}

    def load_member_state(self, index: int, state: dict[str, Tensor]) -> None:
        """Overwrite member ``index``'s weights and biases with a :meth:`member_state` copy."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                p[index].copy_(state[name])
