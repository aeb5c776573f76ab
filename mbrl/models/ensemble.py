"""Probabilistic ensembles of dynamics models (reference 003 §5.3.2-5.3.3; PETS, Chua et al.
2018).

E members, each an MLP with a Gaussian head predicting the mean and log-variance of the
normalised state change from normalised ``[obs, act]``. The log-variance is soft-bounded
between learned ``min_logvar`` and ``max_logvar`` (shared by the members); training minimises
the Gaussian negative log-likelihood plus ``0.01 (sum max_logvar - sum min_logvar)`` and a
per-layer weight decay, on a bootstrap resample of the data per member (eq. 5.3.3).
``probabilistic=False`` gives a deterministic ensemble trained by MSE.

Member weights are stored stacked (``[E, in, out]`` per layer). Training runs all members at
once with one ``baddbmm`` per layer: a forward-backward step at batch 256 took 0.85x the time of
a per-member loop, and with 5x fewer parameter tensors for the optimiser a whole epoch went from
13k to 18k transitions/s (``python -m experiments.benchmarks.ensemble_layout``, 5 members of
4 x 200 SiLU on 2 CPU cores). Planning (TS-infinity, ``EnsembleDynamics``) steps the elites
together the same way where each has at most ``stacked_rows`` rows (the real-time iCEM on
InvertedPendulum: 38.6 ms per action against 82.7 ms member by member, HalfCheetah: 55.5 against
110.4; ``python -m experiments.benchmarks.pets_real_time``), and member by member on views of
each member's weights above that, where the loop measured faster (at 500-2000 rows per member
``baddbmm`` took 1.6-3x the loop's time in ``ensemble_layout``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mbrl.models.base import DynamicsModel, TrainingScheme
from mbrl.models.propagation import EnsembleDynamics
from mbrl.nn import EnsembleMLP, Normalizer, ObservationInput

PETS_WEIGHT_DECAYS = (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4)


def default_weight_decays(num_layers: int) -> tuple[float, ...]:
    """PETS's per-layer decays for 4 hidden layers; otherwise the same range, spread evenly
    over the ``num_layers + 1`` linear layers."""
    if num_layers == len(PETS_WEIGHT_DECAYS) - 1:
        return PETS_WEIGHT_DECAYS
    return tuple(float(d) for d in torch.linspace(PETS_WEIGHT_DECAYS[0], PETS_WEIGHT_DECAYS[-1],
                                                  num_layers + 1))


class ProbabilisticEnsemble(DynamicsModel):
    """``E`` Gaussian MLP members over normalised deltas of an ``obs_dim`` state.

    Trained on a bootstrap resample per member, keeping each member's weights from its best
    validation epoch (an improvement must exceed 1%), then the ``num_elites`` best members are
    the elites; planned through with :class:`~mbrl.models.propagation.EnsembleDynamics`."""

    training_scheme = TrainingScheme(member_streams=True, bootstrap=True,
                                     improvement_threshold=0.01)

    def __init__(self, obs_dim: int, act_dim: int, ensemble_size: int = 5,
                 hidden_size: int = 200, num_layers: int = 4, probabilistic: bool = True,
                 weight_decays: tuple[float, ...] | None = None, num_elites: int | None = None,
                 task: str = "", ignored_obs_dims: tuple[int, ...] = ()) -> None:
        super().__init__()
        if ensemble_size < 1:
            raise ValueError(f"ensemble_size must be >= 1, got {ensemble_size}")
        num_elites = ensemble_size if num_elites is None else num_elites
        if not 1 <= num_elites <= ensemble_size:
            raise ValueError(f"num_elites must be in [1, {ensemble_size}], got {num_elites}")
        self.obs_dim, self.act_dim, self.probabilistic = obs_dim, act_dim, probabilistic
        self.ensemble_size, self.hidden_size, self.num_layers, self.task = (
            ensemble_size, hidden_size, num_layers, task)
        self.obs_input = ObservationInput(obs_dim, ignored_obs_dims)
        self.input_normalizer = Normalizer(self.obs_input.dim + act_dim)
        self.delta_normalizer = Normalizer(obs_dim)
        widths = [self.obs_input.dim + act_dim] + [hidden_size] * num_layers
        widths.append(obs_dim * (2 if probabilistic else 1))
        self.net = EnsembleMLP(ensemble_size, widths, "silu")
        decays = weight_decays if weight_decays is not None else default_weight_decays(num_layers)
        if len(decays) != num_layers + 1:
            raise ValueError(f"weight_decays needs {num_layers + 1} values (one per linear "
                             f"layer), got {len(decays)}")
        self.weight_decays = tuple(float(d) for d in decays)
        self.max_logvar = nn.Parameter(torch.full((obs_dim,), 0.5))
        self.min_logvar = nn.Parameter(torch.full((obs_dim,), -10.0))
        self.register_buffer("elites", torch.arange(num_elites))

    @property
    def members(self) -> int:
        return self.ensemble_size

    def forward(self, obs: Tensor, act: Tensor) -> tuple[Tensor, Tensor]:
        """Every member on its own batch: ``obs [E, B, S]``, ``act [E, B, A]`` -> normalised-delta
        mean and bounded log-variance ``[E, B, S]``."""
        return self._gaussian(self.net(self.input_normalizer.normalize(self.model_input(obs, act))))

    def member_forward(self, member: int, obs: Tensor, act: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised-delta mean and bounded log-variance ``[B, S]`` of one member (log-variance
        ``0`` for a deterministic ensemble)."""
        x = self.input_normalizer.normalize(self.model_input(obs, act))
        return self._gaussian(self.net.member(member, x))

    def _gaussian(self, out: Tensor) -> tuple[Tensor, Tensor]:
        """Split the last layer's output ``[..., S or 2S]`` into the mean and the soft-bounded
        log-variance."""
        mean = out[..., :self.obs_dim]
        if not self.probabilistic:
            return mean, torch.zeros_like(mean)
        logvar = self.max_logvar - F.softplus(self.max_logvar - out[..., self.obs_dim:])
        return mean, self.min_logvar + F.softplus(logvar - self.min_logvar)

    def loss(self, obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
        """Training loss on one batch per member (``[E, B, .]``), summed over the members: each
        member's Gaussian NLL (or MSE) of the normalised delta plus the log-variance bound
        regulariser, plus the weight decay of every member's layers."""
        target = self.delta_normalizer.normalize(next_obs - obs)
        mean, logvar = self(obs, act)
        if self.probabilistic:
            nll = ((mean - target).square() * torch.exp(-logvar) + logvar).mean(dim=(1, 2))
            bounds = 0.01 * (self.max_logvar.sum() - self.min_logvar.sum()) / self.obs_dim
            loss = nll.sum() + self.ensemble_size * bounds
        else:
            loss = (mean - target).square().mean(dim=(1, 2)).sum()
        decay = sum(d * weight.square().sum()
                    for d, weight in zip(self.weight_decays, self.net.weights, strict=True))
        return loss + decay

    def training_loss(self, batch: dict[str, Tensor]) -> Tensor:
        return self.loss(batch["obs"], batch["act"], batch["next_obs"])

    def validation_scores(self, data: dict[str, Tensor]) -> Tensor:
        return self.mse(data["obs"], data["act"], data["next_obs"])

    def select_elites(self, scores: list[float]) -> None:
        """The ``len(elites)`` members with the lowest scores become the elites."""
        self.elites.copy_(torch.as_tensor(np.argsort(scores)[:len(self.elites)]))

    def elite_members(self) -> list[int]:
        return self.elites.tolist()

    def planning_dynamics(self, num_particles: int, propagation: str) -> EnsembleDynamics:
        return EnsembleDynamics(self, num_particles, propagation)

    def mse(self, obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
        """Each member's mean squared error ``[E]`` on normalised deltas of the same data."""
        target = self.delta_normalizer.normalize(next_obs - obs)
        return torch.stack([(self.member_forward(m, obs, act)[0] - target).square().mean()
                            for m in range(self.ensemble_size)])

    def member_state(self, member: int) -> dict[str, Tensor]:
        """A copy of member ``member``'s weights (the shared log-variance bounds excluded)."""
        return self.net.member_state(member)

    def load_member_state(self, member: int, state: dict[str, Tensor]) -> None:
        """Overwrite member ``member``'s weights with a ``member_state`` copy."""
        self.net.load_member_state(member, state)

    def sample_next(self, member: int, obs: Tensor, act: Tensor,
                    generator: torch.Generator | None) -> Tensor:
        """Next observation ``[B, S]`` from one member: a Gaussian draw when ``generator`` is
        given (and the ensemble is probabilistic), else the mean."""
        mean, logvar = self.member_forward(member, obs, act)
        if generator is not None and self.probabilistic:
            noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
            mean = mean + torch.exp(0.5 * logvar) * noise
        return obs + self.delta_normalizer.denormalize(mean)

    def sample_next_members(self, members: tuple[int, ...], obs: Tensor, act: Tensor,
                            generator: torch.Generator | None) -> Tensor:
        """``sample_next`` of several members at once: member ``members[i]`` on ``obs[i]``,
        ``act[i]`` (``[M, B, S]``, ``[M, B, A]``) -> ``[M, B, S]``, with the same draws as
        ``sample_next`` called member by member in that order."""
        x = self.input_normalizer.normalize(self.model_input(obs, act))
        mean, logvar = self._gaussian(self.net.forward_members(members, x))
        if generator is not None and self.probabilistic:
            noise = torch.stack([torch.randn(mean.shape[1:], generator=generator,
                                             dtype=mean.dtype) for _ in members])
            mean = mean + torch.exp(0.5 * logvar) * noise
        return obs + self.delta_normalizer.denormalize(mean)

    def metadata(self) -> dict[str, object]:
        return {"obs_dim": self.obs_dim, "act_dim": self.act_dim,
                "ensemble_size": self.ensemble_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "probabilistic": self.probabilistic,
                "weight_decays": list(self.weight_decays), "num_elites": len(self.elites),
                "task": self.task, "ignored_obs_dims": list(self.obs_input.ignored)}
