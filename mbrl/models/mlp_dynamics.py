"""Deterministic MLP dynamics: predicts the normalised state change from normalised inputs.

``next_obs = obs + denorm(f(norm([obs, act])))``, trained by MSE on normalised deltas with a
held-out validation split and early stopping (reference 003 §5.1, Alg. 25, "MBRL version 1.5").
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from mbrl.data.buffer import ReplayBuffer
from mbrl.data.mirror import with_mirror_image
from mbrl.nn import Normalizer, mlp


class MLPDynamics(nn.Module):
    """Deterministic dynamics model; ``forward(obs [B, S], act [B, A]) -> next_obs [B, S]``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_size: int = 200,
                 num_layers: int = 3) -> None:
        super().__init__()
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.input_normalizer = Normalizer(obs_dim + act_dim)
        self.delta_normalizer = Normalizer(obs_dim)
        self.net = mlp([obs_dim + act_dim, *[hidden_size] * num_layers, obs_dim], "silu")

    def fit_normalizers(self, obs: Tensor, act: Tensor, next_obs: Tensor) -> None:
        """Fit input and target statistics from training data ``[N, S]``, ``[N, A]``, ``[N, S]``."""
        self.input_normalizer.fit(torch.cat([obs, act], dim=-1))
        self.delta_normalizer.fit(next_obs - obs)

    def normalized_delta(self, obs: Tensor, act: Tensor) -> Tensor:
        """Network output in normalised delta units, ``[B, S]``."""
        return self.net(self.input_normalizer.normalize(torch.cat([obs, act], dim=-1)))

    def forward(self, obs: Tensor, act: Tensor) -> Tensor:
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise ValueError(f"obs must be [B, {self.obs_dim}], got {tuple(obs.shape)}")
        if act.shape != (obs.shape[0], self.act_dim):
            raise ValueError(
                f"act must be [{obs.shape[0]}, {self.act_dim}], got {tuple(act.shape)}")
        return obs + self.delta_normalizer.denormalize(self.normalized_delta(obs, act))


MIN_VALIDATION_SIZE = 10


def split_for_training(model: nn.Module, buffer: ReplayBuffer, rng: np.random.Generator,
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


@dataclass
class TrainResult:
    """Per-epoch training loss and validation MSE (normalised units; empty when the split had
    too few transitions to validate on), and the epoch whose weights were kept."""

    train_loss: list[float] = field(default_factory=list)
    validation_mse: list[float] = field(default_factory=list)
    best_epoch: int = -1

    @property
    def best_validation_mse(self) -> float:
        return self.validation_mse[self.best_epoch] if self.validation_mse else math.nan


def train_dynamics(
    model: MLPDynamics,
    buffer: ReplayBuffer,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    batch_size: int = 256,
    max_epochs: int = 50,
    patience: int = 5,
    validation_fraction: float = 0.1,
    min_updates_per_epoch: int = 20,
    progress: bool = False,
    mirror: tuple[Tensor, Tensor] | None = None,
) -> TrainResult:
    """Fit ``model`` to the buffer: refit normalisers on the training split, minimise MSE on
    normalised deltas, stop after ``patience`` epochs without validation improvement and keep
    the best weights. With fewer than 10 transitions for validation, the training loss decides
    (and no validation MSE is reported).
    On small data an epoch repeats the pass until it has made ``min_updates_per_epoch`` updates,
    so that the first few episodes still get a well-fitted model. With ``mirror = (obs_sign,
    act_sign)`` both splits are augmented with their mirror images (``split_for_training``)."""
    train, validation = split_for_training(model, buffer, rng, validation_fraction, mirror)
    size = len(train["obs"])
    passes = max(1, math.ceil(min_updates_per_epoch / math.ceil(size / batch_size)))
    result = TrainResult()
    best_score, best_state, since_best = math.inf, None, 0
    bar = tqdm(range(max_epochs), desc="train model", unit="epoch", disable=not progress,
               leave=False)
    for epoch in bar:
        model.train()
        losses = []
        for _ in range(passes):
            order = torch.as_tensor(rng.permutation(size))
            for start in range(0, size, batch_size):
                rows = order[start:start + batch_size]
                loss = _delta_mse(model, {name: column[rows] for name, column in train.items()})
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        result.train_loss.append(float(np.mean(losses)))
        model.eval()
        score = result.train_loss[-1]
        if validation is not None:
            with torch.no_grad():
                score = _delta_mse(model, validation).item()
            result.validation_mse.append(score)
        bar.set_postfix(train=f"{result.train_loss[-1]:.4f}", selection=f"{score:.4f}")
        if score < best_score:
            best_score, best_state, since_best = score, copy.deepcopy(model.state_dict()), 0
            result.best_epoch = epoch
        else:
            since_best += 1
            if since_best >= patience:
                break
    bar.close()
    model.load_state_dict(best_state)
    return result


def _delta_mse(model: MLPDynamics, data: dict[str, Tensor]) -> Tensor:
    target = model.delta_normalizer.normalize(data["next_obs"] - data["obs"])
    return (model.normalized_delta(data["obs"], data["act"]) - target).square().mean()
