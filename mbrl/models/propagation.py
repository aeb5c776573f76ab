"""Propagating particles through a probabilistic ensemble (reference 003 §5.3.3; PETS, Chua et al.
2018).

``EnsembleDynamics`` is a ``planners.Problem`` dynamics: ``(states [B, S], actions [B, A]) ->
next_states [B, S]`` with rows laid out candidate-major over ``num_particles`` particles (row
``r`` is particle ``r % P``). Modes:

- ``"ts_inf"``: each particle keeps one elite member for the whole trajectory (particle
  ``p`` uses elite ``p % K``; every candidate gets the same layout, so candidates are compared
  under the same model draws);
- ``"ts1"``: every row draws a random elite member at every step;
- ``"expectation"``: the mean of the elites' predictions;
- ``"random_model"``: one random elite for all rows at each step.

With ``sample=True`` each prediction is a draw from the member's Gaussian, else its mean.
``stacked_rows``: see ``STACKED_ROWS`` (0 steps the members one by one; the two ways differ in
the last bit of the activations).
All randomness comes from ``generator``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from mbrl.models.ensemble import ProbabilisticEnsemble

MODES = ("ts_inf", "ts1", "expectation", "random_model")
# TS-infinity steps the members together (one batched matmul per layer) up to this many rows per
# member, and member by member above it, where the loop measured faster
# (``python -m experiments.benchmarks.ensemble_layout``)
STACKED_ROWS = 1024


class EnsembleDynamics:
    """A batched dynamics function over an ensemble's elite members."""

    def __init__(self, ensemble: ProbabilisticEnsemble, num_particles: int,
                 mode: str = "ts_inf", sample: bool = True,
                 generator: torch.Generator | None = None, stacked_rows: int = STACKED_ROWS
                 ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if num_particles < 1:
            raise ValueError(f"num_particles must be >= 1, got {num_particles}")
        self.ensemble, self.num_particles, self.mode, self.sample = (
            ensemble, int(num_particles), mode, sample)
        self.generator = generator if generator is not None else torch.Generator()
        self.stacked_rows = int(stacked_rows)

    def __call__(self, states: Tensor, actions: Tensor) -> Tensor:
        if states.shape[0] % self.num_particles:
            raise ValueError(f"{states.shape[0]} rows are not a whole number of candidates of "
                             f"{self.num_particles} particles")
        elites = self.ensemble.elites
        draw = self.generator if self.sample else None
        with torch.no_grad():
            if self.mode == "expectation":
                means = [self.ensemble.sample_next(int(m), states, actions, None) for m in elites]
                return torch.stack(means).mean(dim=0)
            if self.mode == "random_model":
                member = elites[torch.randint(len(elites), (1,), generator=self.generator)]
                return self.ensemble.sample_next(int(member), states, actions, draw)
            if self.mode == "ts_inf":
                return self._fixed_members(states, actions, elites.tolist(), draw)
            choice = torch.randint(len(elites), (states.shape[0],), generator=self.generator)
            next_states = torch.empty_like(states)
            for index, member in enumerate(elites.tolist()):
                mine = choice == index
                if mine.any():
                    next_states[mine] = self.ensemble.sample_next(member, states[mine],
                                                                  actions[mine], draw)
            return next_states

    def _fixed_members(self, states: Tensor, actions: Tensor, elites: list[int],
                       draw: torch.Generator | None) -> Tensor:
        """TS-infinity: particle ``p`` of every candidate through elite ``p % K``. Where every
        used elite gets the same number of rows (P a multiple of K, or P <= K) and at most
        ``stacked_rows`` of them, the members run together (``sample_next_members``); else one
        member at a time on strided views of the ``[N, P, .]`` layout. Both make the same
        draws and agree up to the last bit of the activations."""
        particles, count = self.num_particles, len(elites)
        used = min(particles, count)
        rows_per_member = states.shape[0] // used
        if particles % used == 0 and rows_per_member <= self.stacked_rows:
            return self._stacked_members(states, actions, tuple(elites[:used]), draw)
        grid = (-1, particles)
        states_3d = states.reshape(*grid, states.shape[-1])
        actions_3d = actions.reshape(*grid, actions.shape[-1])
        next_states = torch.empty_like(states_3d)
        for index, member in enumerate(elites[:particles]):
            mine_states = states_3d[:, index::count]
            shape = mine_states.shape
            next_states[:, index::count] = self.ensemble.sample_next(
                member, mine_states.reshape(-1, shape[-1]),
                actions_3d[:, index::count].reshape(-1, actions.shape[-1]), draw).reshape(shape)
        return next_states.reshape(states.shape)

    def _stacked_members(self, states: Tensor, actions: Tensor, members: tuple[int, ...],
                         draw: torch.Generator | None) -> Tensor:
        """Rows ``[N * P, .]`` regrouped member-major ``[M, N * P / M, .]`` (particle ``p`` to
        member ``p % M``), stepped in one stacked call, and laid out candidate-major again."""
        used, groups = len(members), self.num_particles // len(members)

        def member_major(x: Tensor) -> Tensor:  # [N * P, D] -> [M, N * groups, D]
            return x.reshape(-1, groups, used, x.shape[-1]).permute(2, 0, 1, 3).reshape(
                used, -1, x.shape[-1])

        out = self.ensemble.sample_next_members(members, member_major(states),
                                                member_major(actions), draw)
        return out.reshape(used, -1, groups, states.shape[-1]).permute(1, 2, 0, 3).reshape(
            states.shape)
