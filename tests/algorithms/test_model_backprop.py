"""Backprop through the model: the pathwise gradient against the likelihood-ratio one and the
closed form, BPTT against finite differences, the run end to end, resume, bad settings."""

import math

import pytest
import torch
from torch import nn

from mbrl.algorithms.model_backprop import (
    ModelBackpropConfig,
    ModelBackpropRun,
    imagined_return,
)
from mbrl.util.config import load_config

A, B, NOISE, X = 0.9, 0.5, 0.2, 1.5  # s' = A s + B a + NOISE w, start state X


class LinearGaussian(nn.Module):
    """``a = k s + b + sigma eps`` (reparameterised), ``sample(s, g) -> (a [B, 1], log pi)``."""

    def __init__(self, k: float, b: float, sigma: float) -> None:
        super().__init__()
        self.k, self.b = nn.Parameter(torch.tensor(k)), nn.Parameter(torch.tensor(b))
        self.sigma = sigma

    def mean(self, s):
        return self.k * s + self.b

    def sample(self, s, generator):
        eps = torch.randn(s.shape, generator=generator)
        a = self.mean(s) + self.sigma * eps
        return a, (-0.5 * eps.square() - math.log(self.sigma)).sum(-1)


def linear_step(generator):
    return lambda s, a: A * s + B * a + NOISE * torch.randn(s.shape, generator=generator)


def reward(s, a, s_next):
    return -(s_next.square() + 0.1 * a.square()).sum(-1)


def never(s_next):
    return torch.zeros(len(s_next), dtype=torch.bool)


def closed_form_gradient(k, b, sigma):
    """d/d(k, b) of E[-(s'^2 + 0.1 a^2)] from s = X: s' and a are Gaussian."""
    mu = k * X + b
    m1 = A * X + B * mu
    return torch.tensor([-(2 * m1 * B * X + 0.2 * mu * X), -(2 * m1 * B + 0.2 * mu)])


def test_pathwise_and_likelihood_ratio_gradients_equal_the_closed_form():
    k, b, sigma, n = -0.4, 0.3, 0.5, 400_000
    expected = closed_form_gradient(k, b, sigma)
    policy = LinearGaussian(k, b, sigma)
    starts = torch.full((n, 1), X)
    total, _, _, _ = imagined_return(policy, linear_step(torch.Generator().manual_seed(1)),
                                     reward, never, None, starts, 1, 0.99,
                                     torch.Generator().manual_seed(0))
    pathwise = torch.stack(torch.autograd.grad(total.mean(), [policy.k, policy.b]))
    torch.testing.assert_close(pathwise, expected, rtol=0.01, atol=0.01)
    # likelihood ratio: E[grad log pi(a|s) r] with the same kind of samples (no gradient
    # through the model or the reward), a mean baseline for its variance
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        a = policy.mean(starts) + sigma * torch.randn(starts.shape, generator=g)
        r = reward(starts, a, linear_step(g)(starts, a))
    score = ((a - policy.mean(starts).detach()) / sigma ** 2)[:, 0]
    advantage = r - r.mean()
    likelihood_ratio = torch.stack([(score * X * advantage).mean(), (score * advantage).mean()])
    torch.testing.assert_close(likelihood_ratio, expected, rtol=0.03, atol=0.03)


def test_bptt_over_the_horizon_matches_finite_differences_with_common_noise():
    policy = LinearGaussian(-0.4, 0.3, 0.5)
    value = nn.Linear(1, 1)
    starts = torch.linspace(-1, 1, 64)[:, None]

    def objective():
        total, *_ = imagined_return(policy, linear_step(torch.Generator().manual_seed(3)),
                                    reward, never, value, starts, 5, 0.9,
                                    torch.Generator().manual_seed(4))
        return total.mean()

    grad = torch.autograd.grad(objective(), [policy.k])[0]
    h = 1e-3
    with torch.no_grad():
        policy.k += h
        up = objective()
        policy.k -= 2 * h
        down = objective()
        policy.k += h
    torch.testing.assert_close(grad, (up - down) / (2 * h), rtol=2e-3, atol=2e-3)


TINY = ["total_steps=300", "random_steps=100", "refit_every=100", "updates_per_refit=5",
        "horizon=5", "batch_size=32", "eval_every=100", "eval_episodes=1", "progress=false",
        "model.max_epochs=2", "model.hidden_size=32", "hidden=[16]"]


def backprop(root, *overrides):
    return load_config(ModelBackpropConfig, None, [*TINY, f"output_dir={root}", *overrides])


def test_a_run_learns_through_the_model_and_logs_its_gradients(tmp_path):
    run = ModelBackpropRun.start(backprop(tmp_path, "checkpoint_every=300")).run()
    assert [int(r["env_steps"]) for r in run.evaluations()] == [100, 200, 300]
    last = run.folder.read("train")[-1]
    assert math.isfinite(last["actor_grad_norm"]) and last["actor_grad_norm"] > 0
    assert math.isfinite(last["imagined_return"]) and math.isfinite(last["value_loss"])


def test_resume_continues_identically(tmp_path):
    straight = ModelBackpropRun.start(backprop(tmp_path / "a", "checkpoint_every=200")).run()
    short = ModelBackpropRun.start(backprop(tmp_path / "b", "checkpoint_every=200",
                                            "total_steps=200")).run()
    resumed = ModelBackpropRun.resume(short.folder.root, ["total_steps=300"]).run()
    drop = {"train_seconds"}
    strip = [{k: v for k, v in r.items() if k not in drop} for r in straight.evaluations()]
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed.evaluations()] == strip


@pytest.mark.parametrize("override,message", [
    ("task=CartPole-v1", "continuous actions"), ("horizon=0", "horizon"),
    ("max_grad_norm=0", "max_grad_norm"), ("model.kind=mlp", "model.kind=ensemble")])
def test_bad_settings_are_refused_before_a_run_folder(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        ModelBackpropRun.start(backprop(tmp_path, override))
    assert not list(tmp_path.iterdir())
