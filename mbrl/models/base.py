"""The interface every learned dynamics model implements, and how it is fitted to a buffer.

A :class:`DynamicsModel` predicts the change of a state from normalised ``[obs, act]`` with
``members`` networks (1 for a single MLP), is fitted to a :class:`~mbrl.data.ReplayBuffer` by
:meth:`DynamicsModel.fit` (the one supervised trainer of :mod:`mbrl.models.training`), and
offers a batched ``planners.Problem`` dynamics through :meth:`planning_dynamics`. An algorithm
holds a ``DynamicsModel`` and never asks which one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from mbrl.data.buffer import ReplayBuffer
from mbrl.data.mirror import with_mirror_image
from mbrl.models import training
from mbrl.nn import ObservationInput
from mbrl.util.checkpoint import load_checkpoint, save_checkpoint

MIN_VALIDATION_SIZE = 10


class PlanningDynamics(Protocol):
    """``(states [B, S], actions [B, A]) -> next_states [B, S]`` over ``num_particles``
    candidate-major particles, drawing any randomness from ``generator``."""

    num_particles: int
    generator: torch.Generator | None

    def __call__(self, states: Tensor, actions: Tensor) -> Tensor: ...


@dataclass(frozen=True)
class TrainingScheme:
    """How a model class is trained by :func:`mbrl.models.training.fit`: members fed by
    ``member_streams`` (each its own stream of rows, bootstrapped with ``bootstrap``) or
    ``shuffled_passes`` (the same rows for all), the relative improvement that counts for early
    stopping, and whether, without a validation split, members are selected on the epoch's
    training loss rather than on a score of the training data."""

    member_streams: bool
    bootstrap: bool = False
    improvement_threshold: float = 0.0
    score_training_loss: bool = False


@dataclass(frozen=True)
class FitSettings:
    """The settings of one fit: minibatch size, epochs, early-stopping patience, held-out
    fraction and the minimum optimiser steps per epoch on small data."""

    batch_size: int = 256
    max_epochs: int = 50
    patience: int = 5
    validation_fraction: float = 0.1
    min_updates_per_epoch: int = 20


class DynamicsModel(nn.Module):
    """Base of the learned dynamics models: ``members`` networks over normalised deltas.

    Subclasses define the networks and :meth:`training_loss` (on a batch of ``[b, ...]`` rows,
    or ``[E, b, ...]`` with ``training_scheme.member_streams``), :meth:`validation_scores` (each
    member's MSE of normalised deltas ``[E]``), the member-state copies, :meth:`planning_dynamics`
    and :meth:`metadata` (the constructor's keyword arguments, for :meth:`load`). The networks
    take :meth:`model_input`: the observation without its ``obs_input.ignored`` dims (a task's
    reward-only dims), whose deltas are still predicted.
    """

    training_scheme: ClassVar[TrainingScheme]
    members: int
    obs_dim: int
    act_dim: int
    obs_input: ObservationInput
    input_normalizer: nn.Module
    delta_normalizer: nn.Module

    def model_input(self, obs: Tensor, act: Tensor) -> Tensor:
        """The networks' unnormalised input ``[..., S - ignored + A]``."""
        return torch.cat([self.obs_input(obs), act], dim=-1)

    def fit_normalizers(self, obs: Tensor, act: Tensor, next_obs: Tensor) -> None:
        """Input and target statistics from training data ``[N, S]``, ``[N, A]``, ``[N, S]``."""
        self.input_normalizer.fit(self.model_input(obs, act))
        self.delta_normalizer.fit(next_obs - obs)

    def training_loss(self, batch: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def validation_scores(self, data: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def member_state(self, member: int) -> dict[str, Tensor]:
        raise NotImplementedError

    def load_member_state(self, member: int, state: dict[str, Tensor]) -> None:
        raise NotImplementedError

    def select_elites(self, scores: list[float]) -> None:
        """Keep the best members by their selection ``scores`` (models without elites ignore
        it)."""

    def elite_members(self) -> list[int]:
        """The members planning uses (all, unless the model keeps elites)."""
        return list(range(self.members))

    def validation_mse(self, result: training.FitResult) -> float:
        """The kept members' mean validation score of a fit (NaN if it had no validation
        split)."""
        if not result.validated:
            return float("nan")
        return float(np.mean([result.best_scores[m] for m in self.elite_members()]))

    def planning_dynamics(self, num_particles: int, propagation: str) -> PlanningDynamics:
        raise NotImplementedError

    def metadata(self) -> dict[str, object]:
        raise NotImplementedError

    def fit(self, buffer: ReplayBuffer, optimizer: torch.optim.Optimizer,
            rng: np.random.Generator, settings: FitSettings = FitSettings(),
            mirror: tuple[Tensor, Tensor] | None = None, progress: bool = False
            ) -> training.FitResult:
        """Fit to the buffer: split it (:func:`split_for_training`, which refits the
        normalisers), train with early stopping on the validation split, keep each member's
        best weights, then choose the elites. With ``mirror = (obs_sign, act_sign)`` both
        splits are followed by their mirror images."""
        train, validation = split_for_training(self, buffer, rng, settings.validation_fraction,
                                               mirror)
        size, scheme = len(train["obs"]), self.training_scheme
        if scheme.member_streams:
            samples = [rng.integers(size, size=size) if scheme.bootstrap else np.arange(size)
                       for _ in range(self.members)]
            plan = training.member_streams(samples, settings.batch_size,
                                           settings.min_updates_per_epoch)
        else:
            plan = training.shuffled_passes(size, settings.batch_size,
                                            settings.min_updates_per_epoch)
        result = training.fit(self, optimizer, train, plan, rng, settings.max_epochs,
                              validation, settings.patience, scheme.improvement_threshold,
                              scheme.score_training_loss, progress,
                              f"train {type(self).__name__}")
        self.select_elites(result.best_scores)
        return result

    def save(self, path: str | Path) -> None:
        """Weights, normalisers, elites and shape metadata, written atomically."""
        save_checkpoint(path, {"metadata": self.metadata(), "state": self.state_dict()})

    @classmethod
    def load(cls, path: str | Path, **expected: object) -> DynamicsModel:
        """Load a saved model; refuse one whose metadata differs from ``expected`` (e.g.
        ``obs_dim=4, task="InvertedPendulum-v5"``)."""
        saved = load_checkpoint(path)
        meta = dict(saved["metadata"])
        for name, value in expected.items():
            if value is not None and meta.get(name) != value:
                raise ValueError(f"{path} holds a {cls.__name__} with {name}="
                                 f"{meta.get(name)!r}, expected {value!r}")
        model = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta.items()})
        model.load_state_dict(saved["state"])
        return model


def split_for_training(model: DynamicsModel, buffer: ReplayBuffer, rng: np.random.Generator,
                       validation_fraction: float, mirror: tuple[Tensor, Tensor] | None = None
                       ) -> tuple[dict[str, Tensor], dict[str, Tensor] | None]:
    """Split the buffer, fit the model's normalisers on the training part; return the training
    data and the validation data (None when it would have fewer than ``MIN_VALIDATION_SIZE``
    transitions). With ``mirror = (obs_sign, act_sign)`` each part is followed by its mirror
    image (:func:`mbrl.data.mirror.with_mirror_image`), after the split, so that no validation
    transition is a training transition's mirror image."""
    if len(buffer) < 2:
        raise ValueError(f"need at least 2 transitions to train a model, have {len(buffer)}")
    train_idx, val_idx = buffer.split(validation_fraction, rng)
    train = buffer.get(train_idx).to_torch()
    validation = (buffer.get(val_idx).to_torch() if len(val_idx) >= MIN_VALIDATION_SIZE
                  else None)
    if mirror is not None:
        train = with_mirror_image(train, *mirror)
        validation = None if validation is None else with_mirror_image(validation, *mirror)
    model.fit_normalizers(train["obs"], train["act"], train["next_obs"])
    return train, validation
