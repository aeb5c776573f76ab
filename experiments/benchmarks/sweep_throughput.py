"""Sweep throughput: 2 configs x 3 seeds of a short agent preset, one after another in one
process (torch's default threads) against ``mbrl sweep`` on Ray (one CPU per trial), same
trials, on this machine; and, as a user would run them one after another, as six
``mbrl train`` commands (each paying Python's and torch's start-up):

    python -m experiments.benchmarks.sweep_throughput [--workload ppo_cartpole ...]

Ray's start-up (the local instance and its worker processes) is inside the sweep's time.
Goal on 2 cores: at least 1.7x the throughput of the sequential runs. The limit: with C cores,
a trial that takes ``T_all`` seconds on all threads and ``T_1`` on one, trials in parallel can
gain at most ``C * T_all / T_1`` over running them one after another, so the benchmark also
times the first trial on one thread and reports that bound beside the measured ratio. Ray's
fixed cost ``F`` (``ray.init``, the workers importing the run class, ``ray.shutdown``) is timed
on its own, so the bound with it, ``N * T_all / (ceil(N / C) * T_1 + F)`` for N trials, says
how long a trial must be for the goal. Results go to ``results/sweep_throughput.json`` (a
workload measured again replaces its entry; the others stay).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from experiments.benchmarks.common import RESULTS, write_results
from experiments.presets import AGENT_PRESETS
from mbrl.runs.sweep import expand_grid, run_trial, sweep

RUN_CLASS = "mbrl.algorithms.model_free:AgentRun"
SEEDS = [0, 1, 2]
PPO_GRID = {"ppo.learning_rate": ["0.001", "0.0003"]}
# workload -> (agent preset, grid of two configs, overrides that keep each trial short)
WORKLOADS = {
    "sac_pendulum": ("sac_pendulum", {"sac.learning_rate": ["0.001", "0.0003"]},
                     ["total_steps=3000", "eval_every=3000", "eval_episodes=2"]),
    "ppo_cartpole_50k_steps": ("ppo_cartpole", PPO_GRID,
                               ["total_steps=50000", "eval_every=50000", "eval_episodes=2"]),
    "ppo_cartpole": ("ppo_cartpole", PPO_GRID,
                     ["eval_every=100000", "eval_episodes=2"]),  # the preset's 100k steps
    "ppo_cartpole_200k_steps": ("ppo_cartpole", PPO_GRID,
                                ["total_steps=200000", "eval_every=200000", "eval_episodes=2"]),
    "ppo_cartpole_500k_steps": ("ppo_cartpole", PPO_GRID,
                                ["total_steps=500000", "eval_every=500000", "eval_episodes=2"]),
}


def ray_fixed_seconds() -> float:
    """Ray's cost in a sweep that is not trials: start a local instance, have one worker per
    CPU import the run class, shut down."""
    import ray

    from mbrl.runs.harness import import_run_class

    started = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    load = ray.remote(num_cpus=1)(import_run_class)
    ray.get([load.remote(RUN_CLASS) for _ in range(os.cpu_count() or 1)])
    ray.shutdown()
    return time.perf_counter() - started


def measure(workload: str, threads: int) -> dict:
    """The workload one after another on ``threads`` torch threads, its first trial on one,
    Ray's fixed cost and the sweep; run_trial sets this process's thread count, so it is reset
    after each."""
    preset_name, grid, fixed = WORKLOADS[workload]
    preset = AGENT_PRESETS / f"{preset_name}.yaml"
    trials = expand_grid(grid, SEEDS)
    root = Path(tempfile.mkdtemp())

    def timed(action) -> float:
        started = time.perf_counter()
        try:
            action()
        finally:
            torch.set_num_threads(threads)
        return time.perf_counter() - started

    sequential = timed(lambda: [
        run_trial(RUN_CLASS, str(preset), [*fixed, *t.overrides],
                  str(root / "sequential" / t.name), threads=threads) for t in trials])
    algo = yaml.safe_load(preset.read_text())["algo"]
    commands = timed(lambda: [subprocess.run(
        [sys.executable, "-m", "experiments.command", "train", algo, "--preset", preset_name,
         *fixed, *t.overrides, "progress=false", f"output_dir={root / 'commands' / t.name}"],
        check=True, capture_output=True) for t in trials])
    one_thread = timed(lambda: run_trial(RUN_CLASS, str(preset), [*fixed, *trials[0].overrides],
                                         str(root / "one_thread"), threads=1))
    fixed_cost = ray_fixed_seconds()
    swept = timed(lambda: sweep(RUN_CLASS, preset, trials, root / "sweep", fixed,
                                progress=False))
    all_threads = sequential / len(trials)
    cores = os.cpu_count() or 1
    rounds = math.ceil(len(trials) / cores)
    result = {"preset": preset_name, "trials": len(trials), "overrides": fixed, "grid": grid,
              "sequential_seconds": round(sequential, 1), "sweep_seconds": round(swept, 1),
              "throughput_ratio": round(sequential / swept, 3),
              "sequential_commands_seconds": round(commands, 1),
              "throughput_ratio_to_commands": round(commands / swept, 3),
              "trial_seconds_all_threads": round(all_threads, 1),
              "trial_seconds_one_thread": round(one_thread, 1),
              "ratio_bound": round(cores * all_threads / one_thread, 3),
              "ray_fixed_seconds": round(fixed_cost, 1),
              "ratio_bound_with_ray": round(sequential / (rounds * one_thread + fixed_cost), 3)}
    print(workload, result, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", nargs="+", choices=sorted(WORKLOADS),
                        default=["ppo_cartpole", "ppo_cartpole_200k_steps"])
    args = parser.parse_args()
    path = RESULTS / "sweep_throughput.json"
    earlier = json.loads(path.read_text())["results"] if path.exists() else {}
    threads = torch.get_num_threads()
    results = {**earlier, "cores": os.cpu_count(), "torch_threads": threads,
               **{name: measure(name, threads) for name in args.workload}}  # others kept
    print(write_results("sweep_throughput", results))


if __name__ == "__main__":
    main()
