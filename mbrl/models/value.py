"""A learned state value for the end of a planning horizon (POLO, Lowrey et al. 2019; LOOP,
Sikchi et al. 2021).

A planner that scores H-step sequences by their return cannot tell apart states whose futures
differ only after the horizon. On alive-bonus tasks (InvertedPendulum) every surviving sequence
scores the same and the cart drifts into the end of its rail. ``StateValue`` estimates the
discounted return of the data-collecting policy from a state. Passed as
``Problem.terminal_value`` it adds ``gamma^H V(s_H)`` to each sequence's score.

``fit_state_value`` regresses ``V`` on TD(lambda) returns of the buffer's episodes (reference
000 eqs. 23-52), recomputing the targets from the current ``V`` every round. It does not
bootstrap after a termination, and after a truncation it bootstraps from ``V`` of the final
observation; the targets are clamped to the range any discounted return of the observed rewards
can take (:func:`discounted_return_bounds`).

With ``ensemble_size > 1`` the value is an ensemble of independently initialised MLPs, and the
planner sees ``mean - pessimism * std`` over the members. Away from the data the members
disagree, so a pessimistic value stops the planner from steering into states where one MLP's
extrapolation happens to promise a high return (on InvertedPendulum: an unvisited end of the
rail).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from mbrl.data.buffer import ReplayBuffer
from mbrl.data.mirror import with_mirror_image
from mbrl.models import training
from mbrl.nn import EnsembleMLP, Normalizer, ObservationInput
from mbrl.returns import lambda_returns


class StateValue(nn.Module):
    """``V(obs [B, S]) -> [B]``: an ensemble of ``ensemble_size`` MLPs on normalised
    observations, scored as ``mean - pessimism * std`` over the members. The output is rescaled
    to the statistics of the returns it was last fitted to (PopArt, van Hasselt et al. 2016), so
    that returns in the hundreds are learned as fast as returns near one. The ``ignored_obs_dims``
    (a task's reward-only dims) are not among its inputs."""

    def __init__(self, obs_dim: int, hidden_size: int = 64, num_layers: int = 2,
                 ensemble_size: int = 1, pessimism: float = 0.0,
                 ignored_obs_dims: tuple[int, ...] = ()) -> None:
        super().__init__()
        if ensemble_size < 1 or pessimism < 0:
            raise ValueError(f"StateValue needs ensemble_size >= 1 and pessimism >= 0, got "
                             f"{ensemble_size} and {pessimism}")
        if pessimism and ensemble_size == 1:
            raise ValueError("pessimism needs ensemble_size >= 2: one member has no spread")
        self.obs_dim, self.ensemble_size, self.pessimism = obs_dim, ensemble_size, pessimism
        self.obs_input = ObservationInput(obs_dim, ignored_obs_dims)
        self.normalizer = Normalizer(self.obs_input.dim)
        self.return_normalizer = Normalizer(1)
        self.net = EnsembleMLP(ensemble_size,
                               [self.obs_input.dim] + [hidden_size] * num_layers + [1], "silu")

    @property
    def members(self) -> int:
        return self.ensemble_size

    def forward(self, obs: Tensor) -> Tensor:
        values = self.member_values(obs)
        return values.mean(0) - self.pessimism * values.std(0, correction=0)

    def mean_value(self, obs: Tensor) -> Tensor:
        """The members' mean value, ``[B]`` (what the TD(lambda) targets bootstrap from)."""
        return self.member_values(obs).mean(0)

    def member_values(self, obs: Tensor) -> Tensor:
        """Every member's value, ``[E, B]``."""
        return self.return_normalizer.denormalize(self.normalized(obs)).squeeze(-1)

    def normalized(self, obs: Tensor) -> Tensor:
        """Every member's value in normalised return units, ``[E, B, 1]``."""
        if obs.ndim != 2 or obs.shape[-1] != self.obs_dim:
            raise ValueError(f"obs must be [B, {self.obs_dim}], got {tuple(obs.shape)}")
        return self.net(self.normalizer.normalize(self.obs_input(obs)))

    def training_loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Every member's squared error against ``batch["target"] [b, 1]`` (normalised return
        units) at ``batch["obs"] [b, S]``, averaged."""
        return (self.normalized(batch["obs"]) - batch["target"]).square().mean()

    @torch.no_grad()
    def reinitialize(self, generator: torch.Generator) -> None:
        """Forget everything learned: fresh weights drawn from ``generator`` and identity
        normalisers, as if just constructed."""
        self.net.reset_parameters(generator)
        self.normalizer.reset()
        self.return_normalizer.reset()

    @torch.no_grad()
    def rescale_returns(self, returns: Tensor) -> None:
        """Refit the return statistics to ``returns [N]`` and rescale the output layer so that
        every value ``V(obs)`` stays exactly what it was."""
        weight, bias = self.net.weights[-1], self.net.biases[-1]
        old_mean, old_std = self.return_normalizer.mean.clone(), self.return_normalizer.std.clone()
        self.return_normalizer.fit(returns[:, None])
        new_mean, new_std = self.return_normalizer.mean, self.return_normalizer.std
        weight.mul_(old_std / new_std)
        bias.copy_((old_std * bias + old_mean - new_mean) / new_std)


def discounted_return_bounds(rewards: Tensor, discount: float) -> tuple[float, float]:
    """The range ``[min(0, r_min), max(0, r_max)] / (1 - discount)`` that every discounted return
    (finished or not) of rewards within ``[r_min, r_max]`` of ``rewards [N]`` lies in; unbounded
    for ``discount = 1``.

    Clamping TD(lambda) targets to it keeps the fit from feeding on itself: an unfinished
    episode at the end of the data bootstraps from ``V`` of its last observation, and on a few
    dozen transitions refitted again and again (MPC refits while data is scarce) that estimate
    ran away: replaying an InvertedPendulum run's refits, ``V`` at the reset state reached
    -120,000 for returns that lie in [0, 100], and that run's planner steered into the end of
    the rail."""
    if discount >= 1.0:
        return -math.inf, math.inf
    low, high = float(rewards.min()), float(rewards.max())
    return min(0.0, low) / (1.0 - discount), max(0.0, high) / (1.0 - discount)


def fit_state_value(value: StateValue, buffer: ReplayBuffer, optimizer: torch.optim.Optimizer,
                    rng: np.random.Generator, discount: float = 0.99, lam: float = 0.95,
                    rounds: int = 5, epochs_per_round: int = 5, batch_size: int = 256,
                    min_updates_per_epoch: int = 20,
                    mirror: tuple[Tensor, Tensor] | None = None) -> float:
    """Fit ``value`` to TD(lambda) returns of the buffer's transitions (stored oldest first,
    episode after episode). Each round recomputes the targets with the current ``value``,
    rescales its output to their statistics and then runs ``epochs_per_round`` passes of MSE
    regression in normalised return units; on small data an epoch repeats the pass until it
    has made ``min_updates_per_epoch`` updates. The targets bootstrap from the members' mean
    and every member regresses them (the members differ by their initialisation); they are
    clamped to :func:`discounted_return_bounds` of the buffer's rewards. Returns the
    final mean squared error of the members' mean against the last targets, in return units.
    With ``mirror = (obs_sign, act_sign)`` the buffer is followed by its mirror image
    (:func:`mbrl.data.mirror.with_mirror_image`)."""
    if len(buffer) < 1:
        raise ValueError("fit_state_value needs a non-empty buffer")
    if rounds < 1 or epochs_per_round < 1:
        raise ValueError(f"rounds and epochs_per_round must be >= 1, got {rounds} and "
                         f"{epochs_per_round}")
    data = buffer.get().to_torch()
    if mirror is not None:
        data = with_mirror_image(data, *mirror)
    obs, next_obs = data["obs"], data["next_obs"]
    column = {name: data[name][:, None] for name in ("rew", "terminated", "truncated")}
    value.normalizer.fit(value.obs_input(obs))
    bounds = discounted_return_bounds(data["rew"], discount)
    plan = training.shuffled_passes(len(obs), batch_size, min_updates_per_epoch)
    for _ in range(rounds):
        with torch.no_grad():
            targets = lambda_returns(column["rew"], value.mean_value(obs)[:, None],
                                     value.mean_value(next_obs)[:, None],
                                     column["terminated"], column["truncated"], discount,
                                     lam)[:, 0].clamp(*bounds)
        value.rescale_returns(targets)
        training.fit(value, optimizer,
                     {"obs": obs, "target": value.return_normalizer.normalize(targets[:, None])},
                     plan, rng, max_epochs=epochs_per_round)
    with torch.no_grad():
        return float((value.mean_value(obs) - targets).square().mean())
