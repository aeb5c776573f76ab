"""MPPI on the analytic pendulum: ours vs pytorch-mppi (0.9.1), same model, same settings.

    python -m experiments.benchmarks.mppi_vs_pytorch_mppi [--episodes 10]

For (K samples, H horizon) in {(1000, 15), (100, 30)} both controllers drive the real
Pendulum-v1 for 200-step episodes from the same seeds, planning through the same analytic
model (``mbrl.envs.analytic.pendulum_dynamics``) with the env's own reward; reported are the
median time per action (the first, compiling, action of ``ours_compiled`` excluded by the
median) and the mean episode return, and the peer's time per action over ours.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import numpy as np
import torch
from pytorch_mppi import MPPI as PeerMPPI

from experiments.benchmarks.common import write_results
from mbrl.envs import make_task
from mbrl.envs.analytic import pendulum_dynamics
from mbrl.envs.rewards import pendulum_reward
from planners import MPC, MPPI, Problem

NOISE_VARIANCE, TEMPERATURE = 10.0, 1.0  # pytorch-mppi's pendulum example


def pendulum_cost(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    return -pendulum_reward(states, actions, states)


def run_episode(act, env, seed: int) -> tuple[float, float]:
    """Return and median seconds per action of one episode."""
    obs, _ = env.reset(seed=seed)
    total, times = 0.0, []
    for _ in range(200):
        started = time.perf_counter()
        action = act(obs)
        times.append(time.perf_counter() - started)
        obs, reward, terminated, truncated, _ = env.step(np.asarray(action, dtype=np.float32))
        total += reward
        if terminated or truncated:
            break
    return total, statistics.median(times)


def ours(samples: int, horizon: int, seed: int, compile: bool = False):
    problem = Problem(pendulum_dynamics, pendulum_reward, [-2.0], [2.0], horizon, compile=compile)
    # pytorch-mppi's algorithm: one update per step, the control cost, an absolute temperature
    mpc = MPC(MPPI(samples, temperature=TEMPERATURE, noise_std=NOISE_VARIANCE ** 0.5,
                   iterations=1, control_cost=True, normalize=False, seed=seed), problem)
    return mpc.act, mpc.reset


def peer(samples: int, horizon: int, seed: int):
    torch.manual_seed(seed)  # pytorch-mppi samples from torch's global generator
    controller = PeerMPPI(pendulum_dynamics, pendulum_cost, 3,
                          torch.tensor([[NOISE_VARIANCE]]), num_samples=samples, horizon=horizon,
                          lambda_=TEMPERATURE, u_min=torch.tensor([-2.0]),
                          u_max=torch.tensor([2.0]))

    def act(obs):
        return controller.command(torch.as_tensor(obs)).numpy()

    return act, controller.reset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=10)
    args = parser.parse_args()
    env = make_task("Pendulum-v1").make_env()
    results = {}
    for samples, horizon in [(1000, 15), (100, 30)]:
        row = {}
        contenders = [("ours", ours), ("ours_compiled", partial(ours, compile=True)),
                      ("pytorch_mppi", peer)]
        for name, factory in contenders:
            returns, times = [], []
            act, reset = factory(samples, horizon, seed=0)  # built (and compiled) once
            for episode in range(args.episodes):
                reset()
                total, seconds = run_episode(act, env, seed=100 + episode)
                returns.append(total)
                times.append(seconds)
            row[name] = {"mean_return": float(np.mean(returns)), "returns": returns,
                         "ms_per_action": 1000 * statistics.median(times)}
            print(f"K={samples} H={horizon} {name:13s} return {np.mean(returns):8.1f}  "
                  f"{row[name]['ms_per_action']:.2f} ms/action", flush=True)
        for name in ("ours", "ours_compiled"):
            row[f"speedup_{name}"] = (row["pytorch_mppi"]["ms_per_action"]
                                      / row[name]["ms_per_action"])
            print(f"K={samples} H={horizon} {name} speed-up {row[f'speedup_{name}']:.2f}x",
                  flush=True)
        results[f"K{samples}_H{horizon}"] = row
    print(write_results("mppi_vs_pytorch_mppi", results))


if __name__ == "__main__":
    main()
