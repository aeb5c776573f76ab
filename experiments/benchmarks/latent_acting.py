"""Milliseconds per action of PlaNet's latent MPC and Dreamer's actor, at the presets'
settings, from the same pixel observations:

    python -m experiments.benchmarks.latent_acting

Both filter the 64 x 64 frame into the RSSM's state (one encoder call and one recurrent step);
PlaNet then plans with CEM over the prior (``planet_pendulum_pixels``: H = 12, 500 candidates,
5 iterations), Dreamer evaluates its actor once. The weights are untrained (the time does not
depend on them). Rendering is excluded: the frames are recorded first. Results go to
``results/latent_acting.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from experiments import train_dreamer, train_planet
from experiments.benchmarks.common import write_results
from mbrl.util.config import load_config


def policy_of(job, output: str):
    run_class = job.JOB.load_run_class()
    preset = job.JOB.presets / f"{job.JOB.default_preset}.yaml"
    run = run_class.start(load_config(run_class.config_class, preset,
                                      [f"output_dir={output}", "progress=false"]))
    return run, run.policy()


def ms_per_action(policy, frames: list[np.ndarray], rounds: int) -> list[float]:
    results = []
    for _ in range(rounds):
        policy.reset()
        started = time.perf_counter()
        for frame in frames:
            policy.act(frame, deterministic=True)
        results.append(1000 * (time.perf_counter() - started) / len(frames))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50, help="actions per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    output = tempfile.mkdtemp()
    planet_run, planet = policy_of(train_planet, output)
    _, dreamer = policy_of(train_dreamer, output)
    env, frames = planet_run.env.env, []
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(args.steps):
        frames.append(obs)
        obs, *_ = env.step(rng.uniform(-2, 2, size=1).astype(np.float32))
    timings = {"planet": [], "dreamer": []}
    for _ in range(args.rounds):  # alternating, so machine noise hits both
        timings["planet"] += ms_per_action(planet, frames, 1)
        timings["dreamer"] += ms_per_action(dreamer, frames, 1)
    summary = {name: {"ms_per_action": values, "best_ms_per_action": min(values)}
               for name, values in timings.items()}
    summary["dreamer_speedup"] = (summary["planet"]["best_ms_per_action"]
                                  / summary["dreamer"]["best_ms_per_action"])
    print(summary)
    print(write_results("latent_acting", {"settings": vars(args), "summary": summary}))


if __name__ == "__main__":
    main()
