"""Sweep throughput: 2 configs x 3 seeds of a short SAC preset, one after another in one
process (torch's default threads) against ``mbrl sweep`` on Ray (one CPU per trial), same
trials, on this machine:

    python -m experiments.benchmarks.sweep_throughput [--steps 3000]

Ray's start-up (the local instance and its worker processes) is inside the sweep's time.
Goal on 2 cores: at least 1.7x the throughput of the sequential runs. Results go to
``results/sweep_throughput.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from experiments.benchmarks.common import write_results
from experiments.presets import AGENT_PRESETS
from mbrl.runs.sweep import expand_grid, run_trial, sweep

RUN_CLASS = "mbrl.algorithms.model_free:AgentRun"
GRID = {"sac.learning_rate": ["0.001", "0.0003"]}
SEEDS = [0, 1, 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000, help="env steps per trial")
    args = parser.parse_args()
    preset = AGENT_PRESETS / "sac_pendulum.yaml"
    fixed = [f"total_steps={args.steps}", f"eval_every={args.steps}", "eval_episodes=2"]
    trials = expand_grid(GRID, SEEDS)
    root = Path(tempfile.mkdtemp())
    started = time.perf_counter()
    for trial in trials:
        run_trial(RUN_CLASS, str(preset), [*fixed, *trial.overrides],
                  str(root / "sequential" / trial.name), threads=torch.get_num_threads())
    sequential = time.perf_counter() - started
    print(f"one after another: {sequential:.1f} s", flush=True)
    started = time.perf_counter()
    sweep(RUN_CLASS, preset, trials, root / "sweep", fixed, progress=False)
    swept = time.perf_counter() - started
    print(f"mbrl sweep on Ray: {swept:.1f} s", flush=True)
    results = {"trials": len(trials), "env_steps_per_trial": args.steps,
               "sequential_seconds": sequential, "sweep_seconds": swept,
               "throughput_ratio": sequential / swept}
    print(results)
    print(write_results("sweep_throughput", results))


if __name__ == "__main__":
    main()
