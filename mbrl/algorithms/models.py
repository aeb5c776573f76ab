"""The learned dynamics model of the model-based loops: its settings, built with keyword
arguments, and the settings of each fit."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from mbrl.envs.tasks import TaskSpec
from mbrl.models import FitSettings, MLPDynamics, ProbabilisticEnsemble
from mbrl.models.propagation import STACKED_ROWS
from mbrl.util.config import require_positive


class ModelKind(str, Enum):
    mlp = "mlp"
    ensemble = "ensemble"


class Propagation(str, Enum):
    ts_inf = "ts_inf"
    ts1 = "ts1"
    expectation = "expectation"
    random_model = "random_model"


@dataclass
class DynamicsModelConfig:
    """``kind="mlp"``: a deterministic MLP; ``kind="ensemble"``: a probabilistic ensemble
    planned through with ``num_particles`` particles propagated by ``propagation`` (PETS)."""

    kind: ModelKind = ModelKind.mlp  # a deterministic MLP or a probabilistic ensemble
    hidden_size: int = 200  # units per hidden layer
    num_layers: int = 3  # hidden layers
    learning_rate: float = 1e-3  # Adam step size
    weight_decay: float = 0.0  # Adam weight decay (mlp; the ensemble has PETS's per-layer decays)
    batch_size: int = 256  # minibatch size of the fit
    max_epochs: int = 50  # epochs per fit (early stopping may end it sooner)
    patience: int = 5  # epochs without validation improvement before a fit stops
    validation_fraction: float = 0.1  # share of the buffer held out for early stopping
    # optimiser steps per epoch at least: on small data an epoch repeats passes (1: one pass)
    min_updates_per_epoch: int = 20
    ensemble_size: int = 5  # members of the ensemble
    num_elites: int = 5  # members planned through (lowest validation error)
    probabilistic: bool = True  # Gaussian heads (NLL) rather than deterministic members (MSE)
    propagation: Propagation = Propagation.ts_inf  # how particles pick members (PETS)
    num_particles: int = 20  # particles per candidate sequence (ensemble)
    # TS-inf steps the elites together (one batched matmul per layer) up to this many rows per
    # elite, one by one above it, where that measured faster (0: always one by one)
    stacked_rows: int = STACKED_ROWS
    retrain_every: int | None = None  # also refit (model and value) every k steps of an episode
    # also refit within an episode once the buffer has grown by this factor since the last fit:
    # often while data is scarce, rarely once it is plentiful
    retrain_growth: float | None = None

    def __post_init__(self) -> None:
        self.kind, self.propagation = ModelKind(self.kind), Propagation(self.propagation)

    def validate(self) -> None:
        if self.retrain_every is not None and self.retrain_every < 1:
            raise ValueError(f"model.retrain_every must be >= 1 or null, got "
                             f"{self.retrain_every}")
        if self.retrain_growth is not None and not self.retrain_growth > 1.0:
            raise ValueError(f"model.retrain_growth must be > 1 or null, got "
                             f"{self.retrain_growth}")
        if self.kind == ModelKind.ensemble and self.weight_decay:
            raise ValueError("model.weight_decay applies to the mlp model; the ensemble uses "
                             "PETS's per-layer weight decays")
        require_positive(self, "batch_size", "max_epochs", "patience", "min_updates_per_epoch",
                         "num_particles", prefix="model.")
        if self.stacked_rows < 0:
            raise ValueError(f"model.stacked_rows must be >= 0, got {self.stacked_rows}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"model.validation_fraction must be in [0, 1), got "
                             f"{self.validation_fraction}")


def build_dynamics_model(config: DynamicsModelConfig, task: TaskSpec
                         ) -> MLPDynamics | ProbabilisticEnsemble:
    """The model ``config.kind`` names, for ``task``'s observations and actions (its
    reward-only observation dims left out of the model's input)."""
    sizes = {"obs_dim": task.obs_dim, "act_dim": task.act_dim,
             "hidden_size": config.hidden_size, "num_layers": config.num_layers,
             "ignored_obs_dims": task.reward_only_dims}
    if config.kind == ModelKind.ensemble:
        return ProbabilisticEnsemble(**sizes, ensemble_size=config.ensemble_size,
                                     probabilistic=config.probabilistic,
                                     num_elites=config.num_elites, task=task.name)
    return MLPDynamics(**sizes)


def fit_settings(config: DynamicsModelConfig) -> FitSettings:
    """The settings of every fit of the model ``config`` describes."""
    return FitSettings(batch_size=config.batch_size, max_epochs=config.max_epochs,
                       patience=config.patience, validation_fraction=config.validation_fraction,
                       min_updates_per_epoch=config.min_updates_per_epoch)
