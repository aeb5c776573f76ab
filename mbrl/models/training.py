"""One supervised trainer for every learned function of the toolkit: dynamics models (a single
network or an ensemble) and state values.

A model trains as ``E`` members (1 for a single network) through a small protocol,
:class:`Trainable`; the trainer runs the epochs (a :class:`BatchPlan` says which rows each
optimiser step sees), scores the members on held-out data after every epoch, keeps each member's
weights from its best epoch and stops early after ``patience`` epochs in which no member
improved by more than ``improvement_threshold`` (relative).

Two batch plans cover the two ways members are fed (reference 003 eq. 5.3.3; Chua et
al. 2018):

- :func:`shuffled_passes`: every member sees the same rows; an epoch is whole shuffled passes
  over the data, repeated on small data until it has made ``min_updates`` steps;
- :func:`member_streams`: member ``e`` draws its own rows (a bootstrap resample of the data in
  PETS, Chua et al. 2018) and an epoch is ``max(ceil(N / batch), min_updates)`` full batches
  from a shuffled stream of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from mbrl.util.errors import TrainingDiverged, check_finite_loss

# rows of one optimiser step: [b] shared by the members or [E, b] one row set per member
BatchPlan = Callable[[np.random.Generator], Iterator[Tensor]]


class Trainable(Protocol):
    """What the trainer needs of a model of ``members`` members."""

    members: int

    def train(self, mode: bool = True) -> object: ...

    def eval(self) -> object: ...

    def training_loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Scalar loss (summed over members) of a batch of ``[b, ...]`` or ``[E, b, ...]``."""

    def validation_scores(self, data: dict[str, Tensor]) -> Tensor:
        """Each member's score ``[E]`` on ``data`` (lower is better)."""

    def member_state(self, member: int) -> dict[str, Tensor]: ...

    def load_member_state(self, member: int, state: dict[str, Tensor]) -> None: ...


@dataclass
class FitResult:
    """Per epoch: the mean training loss per member and each member's validation score ``[E]``
    (empty without a validation split); per member: the epoch whose weights were kept (-1: the
    last one, no selection) and its selection score (on validation data when ``validated``)."""

    train_loss: list[float] = field(default_factory=list)
    validation_scores: list[list[float]] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)
    best_scores: list[float] = field(default_factory=list)

    @property
    def validated(self) -> bool:
        return bool(self.validation_scores)


def shuffled_passes(size: int, batch_size: int, min_updates: int = 1) -> BatchPlan:
    """Rows ``[b]`` of one epoch: shuffled passes over ``size`` rows (the last batch of a pass
    may be short), as many passes as it takes to make ``min_updates`` steps."""
    _check_batching(size, batch_size, min_updates)
    passes = max(1, math.ceil(min_updates / math.ceil(size / batch_size)))

    def epoch(rng: np.random.Generator) -> Iterator[Tensor]:
        for _ in range(passes):
            order = torch.as_tensor(rng.permutation(size))
            for start in range(0, size, batch_size):
                yield order[start:start + batch_size]

    return epoch


def member_streams(samples: list[np.ndarray], batch_size: int, min_updates: int = 1
                   ) -> BatchPlan:
    """Rows ``[E, b]`` of one epoch: member ``e`` draws from its own ``samples[e]`` (row
    indices, all of one length N), shuffled once per epoch and cycled to fill
    ``max(ceil(N / batch), min_updates)`` full batches."""
    size = len(samples[0])
    _check_batching(size, batch_size, min_updates)
    steps = max(math.ceil(size / batch_size), min_updates)

    def epoch(rng: np.random.Generator) -> Iterator[Tensor]:
        orders = torch.as_tensor(np.stack([np.resize(rng.permutation(s), steps * batch_size)
                                           for s in samples]))  # [E, steps * batch]
        for step in range(steps):
            yield orders[:, step * batch_size:(step + 1) * batch_size]

    return epoch


def _check_batching(size: int, batch_size: int, min_updates: int) -> None:
    if size < 1 or batch_size < 1 or min_updates < 1:
        raise ValueError(f"need data, batch_size >= 1 and min_updates >= 1; got {size} rows, "
                         f"batch_size {batch_size}, min_updates {min_updates}")


def fit(model: Trainable, optimizer: torch.optim.Optimizer, train: dict[str, Tensor],
        plan: BatchPlan, rng: np.random.Generator, max_epochs: int,
        validation: dict[str, Tensor] | None = None, patience: int | None = None,
        improvement_threshold: float = 0.0, score_training_loss: bool = False,
        progress: bool = False, desc: str = "train") -> FitResult:
    """Train ``model`` on ``train`` (columns ``[N, ...]``) for up to ``max_epochs`` epochs of
    ``plan``'s batches.

    After each epoch every member is scored on ``validation`` (with ``patience``; without a
    validation split on the training data, or with ``score_training_loss`` on the epoch's mean
    training loss); a member's score counts as an improvement when it is below
    ``(1 - improvement_threshold)`` times its best. Training stops after ``patience`` epochs
    without any member improving, and each member gets back its best epoch's weights. Without
    ``patience`` every epoch runs and the last weights are kept. A NaN/Inf loss or gradient
    stops the fit before its optimiser step with :class:`~mbrl.util.errors.TrainingDiverged`
    (the weights stay those before the bad step); a NaN validation score stops it with the
    best weights so far restored.
    """
    if max_epochs < 1:
        raise ValueError(f"max_epochs must be >= 1, got {max_epochs}")
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be >= 1 or None, got {patience}")
    members = model.members
    result = FitResult(best_epochs=[-1] * members, best_scores=[math.nan] * members)
    last_finite = math.nan
    best = [math.inf] * members
    best_states = [model.member_state(m) for m in range(members)] if patience else []
    since_improved = 0
    bar = tqdm(range(max_epochs), desc=desc, unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        losses = []
        for step, rows in enumerate(plan(rng)):
            loss = model.training_loss({name: column[rows] for name, column in train.items()})
            check_finite_loss(desc, f"epoch {epoch}, step {step}", loss.item(), last_finite)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grads = [p.grad for group in optimizer.param_groups for p in group["params"]
                     if p.grad is not None]
            check_finite_loss(f"{desc} (gradient norm)", f"epoch {epoch}, step {step}",
                              float(torch.nn.utils.get_total_norm(grads)), last_finite)
            optimizer.step()
            last_finite = loss.item()
            losses.append(last_finite)
        result.train_loss.append(float(np.mean(losses)) / members)
        model.eval()
        if patience is None:
            bar.set_postfix(loss=f"{result.train_loss[-1]:.4f}")
            continue
        if validation is not None or not score_training_loss:
            with torch.no_grad():
                scores = model.validation_scores(
                    train if validation is None else validation).tolist()
        else:
            scores = [result.train_loss[-1]]
        if not all(math.isfinite(score) for score in scores):
            for member, state in enumerate(best_states):
                model.load_member_state(member, state)
            raise TrainingDiverged(f"{desc}: validation scores {scores} at epoch {epoch} (last "
                                   f"finite loss {last_finite:.6g}); the best weights so far are "
                                   "kept")
        if validation is not None:
            result.validation_scores.append(scores)
        improved = False
        for member, score in enumerate(scores):
            if score < best[member] * (1.0 - improvement_threshold) or best[member] == math.inf:
                best[member], result.best_epochs[member] = score, epoch
                best_states[member] = model.member_state(member)
                improved = True
        bar.set_postfix(loss=f"{result.train_loss[-1]:.4f}", score=f"{np.mean(scores):.4f}")
        since_improved = 0 if improved else since_improved + 1
        if since_improved >= patience:
            break
    bar.close()
    if patience is not None:
        for member, state in enumerate(best_states):
            model.load_member_state(member, state)
        result.best_scores = best
    return result
