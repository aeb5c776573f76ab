import numpy as np
import pytest
import torch

from mbrl.nn import Normalizer


def test_fit_round_trips_and_leaves_constant_dims_unscaled():
    data = torch.stack([torch.randn(100) * 5 + 3, torch.full((100,), 2.0)], dim=1)
    norm = Normalizer(2)
    norm.fit(data)
    z = norm.normalize(data)
    torch.testing.assert_close(z[:, 0].mean(), torch.tensor(0.0), atol=1e-5, rtol=0)
    assert norm.std[1] == 1.0
    torch.testing.assert_close(norm.denormalize(z), data)
    with pytest.raises(ValueError, match="expects"):
        norm.fit(torch.zeros(5, 3))


def test_running_update_matches_numpy_over_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3, 2, size=(n, 4)) for n in (7, 50, 1, 33)]
    stats = Normalizer(4, min_std=0.0, variance_eps=1e-8, dtype=torch.float64)
    for batch in batches:
        stats.update(torch.as_tensor(batch))
    data = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean.numpy(), data.mean(0), rtol=1e-4)
    np.testing.assert_allclose(stats.var.numpy(), data.var(0), rtol=1e-4)
    np.testing.assert_allclose(stats.std.numpy(), np.sqrt(data.var(0) + 1e-8), rtol=1e-4)


def test_clip_bounds_outliers_and_reset_is_the_identity():
    norm = Normalizer(1, clip=3.0)
    norm.fit(torch.tensor([[0.0], [2.0]]))
    assert norm.normalize(torch.tensor([[100.0]])).item() == 3.0
    norm.reset()
    x = torch.tensor([[2.5]])
    assert torch.equal(norm.normalize(x), x) and torch.equal(norm.denormalize(x), x)


def test_statistics_survive_a_state_dict_round_trip():
    norm, copy = Normalizer(3), Normalizer(3)
    norm.fit(torch.randn(20, 3) * 4 + 1)
    copy.load_state_dict(norm.state_dict())
    x = torch.randn(5, 3)
    assert torch.equal(copy.normalize(x), norm.normalize(x))
