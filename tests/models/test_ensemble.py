import math

import numpy as np
import pytest
import torch

from mbrl.data import ReplayBuffer
from mbrl.models import EnsembleDynamics, FitSettings, ProbabilisticEnsemble


def noisy_linear_buffer(size=600, noise=0.1, seed=0):
    """x' = x + 0.1 a + noise: a known aleatoric variance of the delta."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(size, 2)).astype(np.float32)
    act = rng.uniform(-1, 1, size=(size, 1)).astype(np.float32)
    next_obs = obs + 0.1 * act + noise * rng.normal(size=(size, 2)).astype(np.float32)
    buffer = ReplayBuffer(size, 2, 1)
    buffer.add(obs, act, np.zeros(size, np.float32), next_obs, np.zeros(size, bool),
               np.zeros(size, bool))
    return buffer


def small_ensemble(**kwargs):
    return ProbabilisticEnsemble(2, 1, ensemble_size=3, hidden_size=32, num_layers=2,
                                 weight_decays=(1e-5, 1e-5, 1e-5), **kwargs)


def test_training_learns_the_mean_and_the_aleatoric_variance():
    torch.manual_seed(0)
    model = small_ensemble(num_elites=2)
    buffer = noisy_linear_buffer()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    result = model.fit(buffer, optimizer, np.random.default_rng(0),
                       FitSettings(batch_size=64, max_epochs=60, patience=10))
    assert len(result.validation_scores[0]) == 3 and len(model.elites) == 2
    assert set(model.elites.tolist()) <= {0, 1, 2}
    data = buffer.get(np.arange(len(buffer))).to_torch()
    with torch.no_grad():
        mean, logvar = model.member_forward(0, data["obs"], data["act"])
    # predicted variance in real units ~ noise^2 = 0.01
    variance = (logvar.exp() * model.delta_normalizer.std.square()).mean().item()
    assert variance == pytest.approx(0.01, rel=0.35)
    predicted = data["obs"] + model.delta_normalizer.denormalize(mean)
    assert (predicted - (data["obs"] + 0.1 * data["act"])).abs().mean() < 0.03
    assert (model.min_logvar < model.max_logvar).all()


def test_log_variance_is_soft_bounded():
    model = small_ensemble()
    with torch.no_grad():
        model.net.biases[-1][0].fill_(100.0)  # huge raw log-variance
    _, logvar = model.member_forward(0, torch.zeros(4, 2), torch.zeros(4, 1))
    assert (logvar <= model.max_logvar + 1e-3).all()  # soft: within softplus slack


def test_stacked_and_per_member_paths_agree():
    """Training runs the members stacked, planning one at a time: same numbers, same loss."""
    torch.manual_seed(0)
    model = small_ensemble()
    model.fit_normalizers(torch.randn(50, 2), torch.randn(50, 1), torch.randn(50, 2))
    obs, act, next_obs = torch.randn(3, 7, 2), torch.randn(3, 7, 1), torch.randn(3, 7, 2)
    mean, logvar = model(obs, act)
    for m in range(3):
        member_mean, member_logvar = model.member_forward(m, obs[m], act[m])
        torch.testing.assert_close(mean[m], member_mean)
        torch.testing.assert_close(logvar[m], member_logvar)
    target = model.delta_normalizer.normalize(next_obs - obs)
    by_hand = sum(((mean[m] - target[m]).square() * (-logvar[m]).exp() + logvar[m]).mean()
                  + 0.01 * (model.max_logvar.sum() - model.min_logvar.sum()) / 2
                  for m in range(3))
    by_hand = by_hand + sum(1e-5 * weight.square().sum() for weight in model.net.weights)
    torch.testing.assert_close(model.loss(obs, act, next_obs), by_hand)
    torch.testing.assert_close(model.mse(obs[0], act[0], next_obs[0])[1],
                               (model.member_forward(1, obs[0], act[0])[0]
                                - model.delta_normalizer.normalize(next_obs[0] - obs[0])
                                ).square().mean())


def test_member_state_round_trip_touches_only_that_member():
    torch.manual_seed(0)
    model = small_ensemble()
    x, a = torch.randn(4, 2), torch.randn(4, 1)
    saved = model.member_state(1)
    before = [model.member_forward(m, x, a)[0] for m in range(3)]
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(1.0)
    model.load_member_state(1, saved)
    after = [model.member_forward(m, x, a)[0] for m in range(3)]
    assert torch.equal(after[1], before[1])
    assert not torch.equal(after[0], before[0]) and not torch.equal(after[2], before[2])


def test_propagation_modes_have_their_semantics():
    model = small_ensemble()
    with torch.no_grad():  # member m predicts a delta of exactly m (zero variance path: mean)
        for p in model.net.parameters():
            p.zero_()
        for m in range(3):
            model.net.biases[-1][m, 0, :2] = float(m)
    states, actions = torch.zeros(12, 2), torch.zeros(12, 1)
    ts_inf = EnsembleDynamics(model, num_particles=6, mode="ts_inf", sample=False)
    out = ts_inf(states, actions)[:, 0]
    assert out.tolist() == [0, 1, 2, 0, 1, 2] * 2  # particle p uses member p % 3, per candidate
    assert ts_inf(states, actions).equal(ts_inf(states, actions))  # fixed over steps
    expectation = EnsembleDynamics(model, 6, mode="expectation")(states, actions)
    assert torch.allclose(expectation, torch.ones(12, 2))
    ts1 = EnsembleDynamics(model, 6, mode="ts1", sample=False,
                           generator=torch.Generator().manual_seed(0))
    draws = torch.stack([ts1(states, actions)[:, 0] for _ in range(20)])
    assert set(draws.unique().tolist()) == {0.0, 1.0, 2.0}
    assert (draws.std(dim=0) > 0).all()  # members change between steps
    random_model = EnsembleDynamics(model, 6, mode="random_model", sample=False,
                                    generator=torch.Generator().manual_seed(0))
    assert random_model(states, actions)[:, 0].unique().numel() == 1
    model.elites = torch.tensor([2])
    assert EnsembleDynamics(model, 6, sample=False)(states, actions)[:, 0].eq(2).all()
    with pytest.raises(ValueError, match="whole number of candidates"):
        ts_inf(torch.zeros(5, 2), torch.zeros(5, 1))


def test_sampling_uses_the_generator_and_the_variance():
    model = small_ensemble()
    states, actions = torch.zeros(2000, 2), torch.zeros(2000, 1)
    first = EnsembleDynamics(model, 1, generator=torch.Generator().manual_seed(3))(states,
                                                                                    actions)
    again = EnsembleDynamics(model, 1, generator=torch.Generator().manual_seed(3))(states,
                                                                                    actions)
    assert first.equal(again)
    mean = EnsembleDynamics(model, 1, sample=False)(states, actions)
    assert (first - mean).std() > 0.1


def test_save_load_round_trip_and_refusals(tmp_path):
    torch.manual_seed(0)
    model = small_ensemble(task="Toy", num_elites=2)
    model.fit_normalizers(torch.randn(50, 2), torch.randn(50, 1), torch.randn(50, 2))
    model.elites.copy_(torch.tensor([2, 0]))
    path = tmp_path / "ensemble.pt"
    model.save(path)
    loaded = ProbabilisticEnsemble.load(path, obs_dim=2, act_dim=1, task="Toy")
    x, a = torch.randn(5, 2), torch.randn(5, 1)
    for m in range(3):
        assert torch.equal(model.member_forward(m, x, a)[0], loaded.member_forward(m, x, a)[0])
    assert loaded.elites.tolist() == [2, 0]
    with pytest.raises(ValueError, match="obs_dim=2, expected 3"):
        ProbabilisticEnsemble.load(path, obs_dim=3)
    with pytest.raises(ValueError, match="task='Toy', expected 'Other'"):
        ProbabilisticEnsemble.load(path, task="Other")


def test_deterministic_variant_and_bad_settings():
    model = small_ensemble(probabilistic=False)
    _, logvar = model.member_forward(1, torch.zeros(3, 2), torch.zeros(3, 1))
    assert torch.equal(logvar, torch.zeros(3, 2))
    assert math.isfinite(model.loss(torch.zeros(3, 3, 2), torch.zeros(3, 3, 1),
                                    torch.ones(3, 3, 2)).item())
    with pytest.raises(ValueError, match="weight_decays needs 3"):
        ProbabilisticEnsemble(2, 1, num_layers=2, weight_decays=(1.0,))
    with pytest.raises(ValueError, match="num_elites"):
        ProbabilisticEnsemble(2, 1, ensemble_size=2, num_elites=3)
    with pytest.raises(ValueError, match="mode"):
        EnsembleDynamics(model, 1, mode="mean")


@pytest.mark.parametrize("particles", [1, 3, 5, 10, 7])
def test_ts_inf_stacked_members_equal_member_by_member(particles):
    """TS-infinity steps the elites together where each has equal rows (particles a multiple
    of the elites, or fewer particles than elites) and one by one otherwise (7 over 5): the
    same draws and, up to the last bit of the activations, the same next states."""
    torch.manual_seed(0)
    model = ProbabilisticEnsemble(3, 2, ensemble_size=6, hidden_size=16, num_layers=2,
                                  num_elites=5)
    model.fit_normalizers(torch.randn(50, 3), torch.randn(50, 2), torch.randn(50, 3))
    model.elites.copy_(torch.tensor([4, 0, 2, 5, 1]))
    states, actions = torch.randn(8 * particles, 3), torch.randn(8 * particles, 2)
    outputs = [EnsembleDynamics(model, particles, generator=torch.Generator().manual_seed(1),
                                stacked_rows=rows)(states, actions) for rows in (1024, 0)]
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)
