"""Running stable-baselines3 beside our agents: evaluation at fixed env steps, outside the timing.

stable-baselines3 is a benchmark-only peer (``pip install -e ".[bench]"``); it is imported only
when a benchmark runs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mbrl.agents.training import evaluate
from mbrl.util.seeding import derive_seed


class SB3Policy:
    """An SB3 model behind our policy protocol."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return self.model.predict(obs, deterministic=deterministic)[0]


def learn_with_evaluations(model: Any, total_steps: int, eval_every: int, eval_env: Any,
                           eval_episodes: int, seed: int) -> tuple[float, list[list[float]]]:
    """``model.learn(total_steps)`` in one call (so schedules see the whole run), evaluating
    every ``eval_every`` env steps; returns ``(training seconds without evaluation, curve)``."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Evaluations(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_eval, self.eval_seconds, self.curve = eval_every, 0.0, []

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_eval:
                started = time.perf_counter()
                value = evaluate(SB3Policy(self.model), eval_env, eval_episodes,
                                 derive_seed(seed, 1, self.num_timesteps))
                self.curve.append([self.num_timesteps, value])
                self.next_eval += eval_every
                self.eval_seconds += time.perf_counter() - started
            return True

    callback = Evaluations()
    started = time.perf_counter()
    model.learn(total_steps, callback=callback)
    return time.perf_counter() - started - callback.eval_seconds, callback.curve


def alternate_runs(seeds: list[int], runners: dict[str, Callable[[int], dict]],
                   describe: Callable[[dict], str]) -> dict[str, list[dict]]:
    """For each seed run every library in turn (so machine noise hits all of them), seeding
    torch's global generator first; returns each library's per-seed results."""
    import torch

    runs: dict[str, list[dict]] = {name: [] for name in runners}
    for seed in seeds:
        for name, runner in runners.items():
            torch.manual_seed(seed)
            result = runner(seed)
            runs[name].append({"seed": seed, **result})
            print(f"{name:5s} seed {seed}: {describe(result)}", flush=True)
    return runs
