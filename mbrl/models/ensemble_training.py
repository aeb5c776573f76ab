"""Training a probabilistic ensemble: bootstrap per member, held-out validation, early stopping
that keeps each member's best weights, and elite selection (reference 003 eq. 5.3.3)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from mbrl.data.buffer import ReplayBuffer
from mbrl.models.ensemble import ProbabilisticEnsemble
from mbrl.models.mlp_dynamics import split_for_training


@dataclass
class EnsembleTrainResult:
    """Per epoch: mean training loss and each member's validation MSE ``[E]`` (normalised
    deltas; on the training data when the split was too small); each member's kept epoch."""

    train_loss: list[float] = field(default_factory=list)
    validation_mse: list[list[float]] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)
    best_validation_mse: list[float] = field(default_factory=list)


def train_ensemble(model: ProbabilisticEnsemble, buffer: ReplayBuffer,
                   optimizer: torch.optim.Optimizer, rng: np.random.Generator,
                   batch_size: int = 256, max_epochs: int = 50, patience: int = 5,
                   validation_fraction: float = 0.1, bootstrap: bool = True,
                   min_updates_per_epoch: int = 20, progress: bool = False,
                   mirror: tuple[torch.Tensor, torch.Tensor] | None = None
                   ) -> EnsembleTrainResult:
    """Fit every member on its own bootstrap resample of the training split (one optimiser step
    covers all members), keep each member's weights from its best validation epoch, stop after
    ``patience`` epochs in which no member improved by 1%, then choose the elites (the
    ``len(model.elites)`` members with the lowest validation MSE). With ``mirror = (obs_sign,
    act_sign)`` both splits are augmented with their mirror images (``split_for_training``)."""
    train, validation = split_for_training(model, buffer, rng, validation_fraction, mirror)
    validation = train if validation is None else validation
    size, members = len(train["obs"]), model.ensemble_size
    samples = [rng.integers(size, size=size) if bootstrap else np.arange(size)
               for _ in range(members)]
    steps = max(math.ceil(size / batch_size), min_updates_per_epoch)
    result = EnsembleTrainResult()
    best = [math.inf] * members
    best_states = [model.member_state(m) for m in range(members)]
    result.best_epochs = [-1] * members
    since_improved = 0
    bar = tqdm(range(max_epochs), desc="train ensemble", unit="epoch", disable=not progress,
               leave=False)
    for epoch in bar:
        model.train()
        orders = torch.as_tensor(np.stack([np.resize(rng.permutation(s), steps * batch_size)
                                           for s in samples]))  # [E, steps * batch]
        losses = torch.zeros(steps)
        for step in range(steps):
            rows = orders[:, step * batch_size:(step + 1) * batch_size]  # [E, batch]
            loss = model.loss(train["obs"][rows], train["act"][rows], train["next_obs"][rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses[step] = loss.detach()
        model.eval()
        with torch.no_grad():
            scores = model.mse(validation["obs"], validation["act"],
                               validation["next_obs"]).tolist()
        result.train_loss.append(losses.mean().item() / members)
        result.validation_mse.append(scores)
        improved = False
        for member, score in enumerate(scores):
            if score < best[member] * 0.99 or best[member] == math.inf:
                best[member], result.best_epochs[member] = score, epoch
                best_states[member] = model.member_state(member)
                improved = True
        bar.set_postfix(loss=f"{result.train_loss[-1]:.3f}", val=f"{np.mean(scores):.4f}")
        since_improved = 0 if improved else since_improved + 1
        if since_improved >= patience:
            break
    bar.close()
    for member, state in enumerate(best_states):
        model.load_member_state(member, state)
    ranking = torch.as_tensor(np.argsort(best)[:len(model.elites)])
    model.elites.copy_(ranking)
    result.best_validation_mse = best
    return result
