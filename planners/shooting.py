"""Population planners over open-loop action sequences (reference 003 §5.2: random shooting)."""

from __future__ import annotations

import time

import torch
from torch import Tensor

from planners.problem import Plan, Planner, Problem, check_warm_start


def make_generator(seed: int | torch.Generator | None) -> torch.Generator:
    """A ``torch.Generator`` from a seed (or the one given); ``None`` seeds it from the OS
    without touching torch's global generator."""
    if isinstance(seed, torch.Generator):
        return seed
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


class RandomShooting(Planner):
    """Sample ``num_samples`` action sequences uniformly within the bounds, keep the best.

    With a warm start (MPC's shifted previous plan) it is one of the candidates, so the plan
    never gets worse for lack of luck in the draw.
    """

    def __init__(self, num_samples: int = 1000, seed: int | torch.Generator | None = None) -> None:
        if int(num_samples) != num_samples or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        self.num_samples = int(num_samples)
        self.generator = make_generator(seed)

    def plan(self, state: Tensor, problem: Problem, warm_start: Tensor | None = None) -> Plan:
        started = time.perf_counter()
        warm_start = check_warm_start(warm_start, problem)
        shape = (self.num_samples, problem.horizon, problem.action_dim)
        low, high = problem.action_low, problem.action_high
        candidates = low + (high - low) * torch.rand(shape, generator=self.generator,
                                                     dtype=low.dtype)
        if warm_start is not None:
            candidates[0] = warm_start
        with torch.no_grad():
            returns = problem.evaluate(state, candidates)
        best = int(torch.argmax(returns))
        diagnostics = {"mean_return": float(returns.mean()),
                       "seconds": time.perf_counter() - started}
        return Plan(candidates[best], float(returns[best]), diagnostics)
