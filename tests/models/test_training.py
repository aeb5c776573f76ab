"""The one supervised trainer: batch plans, per-member early stopping and best weights."""

import numpy as np
import pytest
import torch
from torch import nn

from mbrl.models import training


class Scalars(nn.Module):
    """``E`` members each holding one number, trained towards ``target``; scored by how far
    they are from ``score_target`` (so the best epoch need not be the last)."""

    def __init__(self, members, score_target):
        super().__init__()
        self.members = members
        self.value = nn.Parameter(torch.zeros(members))
        self.score_target = torch.as_tensor(score_target, dtype=torch.float32)

    def training_loss(self, batch):
        return (self.value[:, None] - batch["target"][:, 0]).square().mean(1).sum()

    def validation_scores(self, data):
        return (self.value.detach() - self.score_target).abs()

    def member_state(self, member):
        return {"value": self.value[member].detach().clone()}

    def load_member_state(self, member, state):
        with torch.no_grad():
            self.value[member] = state["value"]


def test_shuffled_passes_cover_every_row_and_repeat_on_small_data():
    plan = training.shuffled_passes(size=10, batch_size=4, min_updates=7)
    batches = list(plan(np.random.default_rng(0)))
    assert [len(b) for b in batches] == [4, 4, 2] * 3  # 3 passes make >= 7 steps
    for start in (0, 3, 6):
        assert sorted(torch.cat(batches[start:start + 3]).tolist()) == list(range(10))


def test_member_streams_give_each_member_its_own_rows():
    samples = [np.arange(10), np.full(10, 3)]
    batches = list(training.member_streams(samples, 4, min_updates=5)(np.random.default_rng(0)))
    assert len(batches) == 5 and all(b.shape == (2, 4) for b in batches)
    rows = torch.cat(batches, dim=1)
    assert sorted(rows[0, :10].tolist()) == list(range(10)) and (rows[1] == 3).all()


def test_each_member_keeps_its_best_epoch_and_training_stops_with_patience():
    model = Scalars(2, score_target=[0.3, -5.0])  # member 0 passes 0.3 on its way to 1
    train = {"target": torch.ones(8, 1)}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    result = training.fit(model, optimizer, train, training.shuffled_passes(8, 8),
                          np.random.default_rng(0), max_epochs=100, validation=train,
                          patience=3)
    assert len(result.train_loss) < 100 and result.validated
    member_0 = [scores[0] for scores in result.validation_scores]
    assert result.best_scores[0] == min(member_0) < 0.05
    assert abs(model.value[0].item() - 0.3) < 0.05  # its best weights, not its last
    assert result.best_epochs[1] == 0 and model.value[1].item() == pytest.approx(0.1)  # 1st


def test_without_patience_every_epoch_runs_and_the_last_weights_stay():
    model = Scalars(1, score_target=[0.0])
    result = training.fit(model, torch.optim.SGD(model.parameters(), lr=0.1),
                          {"target": torch.ones(4, 1)}, training.shuffled_passes(4, 2),
                          np.random.default_rng(0), max_epochs=6)
    assert len(result.train_loss) == 6 and result.best_epochs == [-1]
    assert model.value.item() > 0.5


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="batch_size"):
        training.shuffled_passes(10, 0)
    with pytest.raises(ValueError, match="max_epochs"):
        training.fit(Scalars(1, [0.0]), None, {}, training.shuffled_passes(1, 1),
                     np.random.default_rng(0), max_epochs=0)


def test_a_nan_loss_stops_before_the_step_and_keeps_the_weights():
    from mbrl.util.errors import TrainingDiverged

    model = Scalars(1, score_target=[0.0])
    train = {"target": torch.tensor([[1.0], [float("nan")]])}
    before = model.value.detach().clone()
    with pytest.raises(TrainingDiverged, match=r"train: the loss became nan at epoch 0, step 0"):
        training.fit(model, torch.optim.SGD(model.parameters(), lr=0.1), train,
                     training.shuffled_passes(2, 2), np.random.default_rng(0), max_epochs=3)
    assert torch.equal(model.value.detach(), before)


def test_nan_validation_scores_keep_the_best_weights_never_none():
    """The fault of the old MLP trainer: every validation score NaN left no weights to keep."""
    from mbrl.util.errors import TrainingDiverged

    model = Scalars(1, score_target=[float("nan")])
    with pytest.raises(TrainingDiverged, match="validation scores"):
        training.fit(model, torch.optim.SGD(model.parameters(), lr=0.1),
                     {"target": torch.ones(4, 1)}, training.shuffled_passes(4, 4),
                     np.random.default_rng(0), max_epochs=5, validation={}, patience=2)
    assert torch.isfinite(model.value).all()
