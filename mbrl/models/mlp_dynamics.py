"""Deterministic MLP dynamics: predicts the normalised state change from normalised inputs.

``next_obs = obs + denorm(f(norm([obs, act])))``, trained by MSE on normalised deltas with a
held-out validation split and early stopping (reference 003 §5.1, Alg. 25, "MBRL version 1.5";
Nagabandi et al. 2018).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mbrl.models.base import DynamicsModel, PlanningDynamics, TrainingScheme
from mbrl.nn import Normalizer, ObservationInput, mlp


class MLPDynamics(DynamicsModel):
    """Deterministic dynamics model; ``forward(obs [B, S], act [B, A]) -> next_obs [B, S]``.

    As planning dynamics it is itself (one particle; it draws nothing from ``generator``)."""

    training_scheme = TrainingScheme(member_streams=False, score_training_loss=True)
    members = 1
    num_particles = 1

    def __init__(self, obs_dim: int, act_dim: int, hidden_size: int = 200,
                 num_layers: int = 3, ignored_obs_dims: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.obs_input = ObservationInput(obs_dim, ignored_obs_dims)
        inputs = self.obs_input.dim + act_dim
        self.input_normalizer = Normalizer(inputs)
        self.delta_normalizer = Normalizer(obs_dim)
        self.net = mlp([inputs, *[hidden_size] * num_layers, obs_dim], "silu")
        self.generator: torch.Generator | None = None

    def normalized_delta(self, obs: Tensor, act: Tensor) -> Tensor:
        """Network output in normalised delta units, ``[B, S]``."""
        return self.net(self.input_normalizer.normalize(self.model_input(obs, act)))

    def forward(self, obs: Tensor, act: Tensor) -> Tensor:
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise ValueError(f"obs must be [B, {self.obs_dim}], got {tuple(obs.shape)}")
        if act.shape != (obs.shape[0], self.act_dim):
            raise ValueError(
                f"act must be [{obs.shape[0]}, {self.act_dim}], got {tuple(act.shape)}")
        return obs + self.delta_normalizer.denormalize(self.normalized_delta(obs, act))

    def training_loss(self, batch: dict[str, Tensor]) -> Tensor:
        """MSE of the normalised delta on a batch ``[b, ...]``."""
        target = self.delta_normalizer.normalize(batch["next_obs"] - batch["obs"])
        return (self.normalized_delta(batch["obs"], batch["act"]) - target).square().mean()

    def validation_scores(self, data: dict[str, Tensor]) -> Tensor:
        return self.training_loss(data).reshape(1)

    def member_state(self, member: int) -> dict[str, Tensor]:
        return {name: p.detach().clone() for name, p in self.net.named_parameters()}

    def load_member_state(self, member: int, state: dict[str, Tensor]) -> None:
        self.net.load_state_dict(state)

    def planning_dynamics(self, num_particles: int, propagation: str) -> PlanningDynamics:
        return self

    def metadata(self) -> dict[str, object]:
        return {"obs_dim": self.obs_dim, "act_dim": self.act_dim,
                "hidden_size": self.hidden_size, "num_layers": self.num_layers,
                "ignored_obs_dims": list(self.obs_input.ignored)}
