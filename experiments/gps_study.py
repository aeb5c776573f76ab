"""Guided policy search over seeds: does the network alone succeed from held-out conditions?

    python -m experiments.gps_study swingup     # preset gps_cartpole_swingup, seeds 0-2
    python -m experiments.gps_study reacher     # preset gps_reacher, seeds 0-2

Trains one GPS run per seed, then runs the final network alone (deterministic, no planner, no
controller) from the run's held-out conditions and from its training conditions. Success on
``swingup``: ``cos(theta) > 0.95`` over the last 50 of the 200 steps (the criterion of
``experiments/benchmarks/simulator_planning.py``); on ``reacher``: the fingertip within 0.02
of the target at the episode's end (``held_out_measure`` and ``training_measure`` list the
lowest cosine or the final distance per condition). Beside the network, the local
linear-Gaussian (LQR) experts' deterministic returns over their horizon from the training
conditions, with the network's over the same steps. Writes ``results/gps_<task>.json`` and a
PNG of the held-out return against real env steps.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from experiments.presets import MBRL_PRESETS, preset_path
from mbrl.algorithms.gps import GPSConfig, GPSRun, Purpose
from mbrl.util.config import load_config

RESULTS = Path(__file__).parent / "results"
STUDIES = {"swingup": "gps_cartpole_swingup", "reacher": "gps_reacher"}
UPRIGHT_COS, HOLD_STEPS, REACH_DISTANCE = 0.95, 50, 0.02


def measure(study: str, observations: np.ndarray) -> float:
    """What success is judged on, from ``observations [T+1, S]`` of one episode: the lowest
    ``cos(theta)`` over the last 50 steps (swing-up), the final fingertip distance (reacher)."""
    if study == "swingup":
        return float(observations[-HOLD_STEPS:, 1].min())
    return float(np.linalg.norm(observations[-1, -2:]))


def succeeds(study: str, value: float) -> bool:
    return value > UPRIGHT_COS if study == "swingup" else value < REACH_DISTANCE


def episode(run: GPSRun, act, seed: int, steps: int) -> tuple[np.ndarray, float]:
    """Observations ``[steps+1, S]`` and return of ``act(t, obs)`` from the condition ``seed``."""
    env = run.evaluation_env()
    obs, _ = env.reset(seed=seed)
    observations, total = [obs], 0.0
    for t in range(steps):
        obs, reward, *_ = env.step(np.clip(act(t, obs), run.low, run.high))
        observations.append(obs)
        total += float(reward)
    env.close()
    return np.stack(observations), total


def study_seed(study: str, seed: int, overrides: list[str], output_dir: str) -> dict:
    config = load_config(GPSConfig, preset_path(STUDIES[study], MBRL_PRESETS / "gps"),
                         [*overrides, f"seed={seed}", "progress=false",
                          f"output_dir={output_dir}"])
    started = time.perf_counter()
    run = GPSRun.start(config).run()
    seconds = time.perf_counter() - started
    network = lambda t, obs: run.policy.act(obs)  # noqa: E731
    full = run.task.max_episode_steps
    held_out = [measure(study, episode(run, network, run.seeds.derive(Purpose.HELD_OUT, i),
                                       full)[0]) for i in range(config.held_out_conditions)]
    training = [measure(study, episode(run, network, run.seeds.derive(Purpose.CONDITION, c),
                                       full)[0]) for c in range(config.conditions)]
    experts, students = [], []
    for c, controller in enumerate(run.controllers):
        condition = run.seeds.derive(Purpose.CONDITION, c)
        experts.append(episode(run, controller.mean, condition,
                               run.horizon)[1])
        students.append(episode(run, network, condition, run.horizon)[1])
    rows = run.evaluations()
    return {"seed": seed, "run_dir": str(run.folder.root), "train_seconds": round(seconds, 1),
            "real_env_steps": rows[-1]["env_steps"],
            "held_out_successes": sum(succeeds(study, v) for v in held_out),
            "held_out_conditions": len(held_out),
            "training_successes": sum(succeeds(study, v) for v in training),
            "held_out_measure": [round(v, 4) for v in held_out],
            "training_measure": [round(v, 4) for v in training],
            "expert_return_over_horizon": [round(r, 3) for r in experts],
            "network_return_over_horizon": [round(r, 3) for r in students],
            "curve": [{"env_steps": r["env_steps"], "held_out_return": r["held_out_return"],
                       "policy_return": r["policy_return"], "sample_return": r["sample_return"]}
                      for r in rows]}


def plot(study: str, seeds: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(6, 4))
    for row in seeds:
        steps = [r["env_steps"] for r in row["curve"]]
        axis.plot(steps, [r["held_out_return"] for r in row["curve"]],
                  label=f"seed {row['seed']}: {row['held_out_successes']}/"
                        f"{row['held_out_conditions']} succeed")
    axis.set(xlabel="real env steps", ylabel="network return, held-out conditions",
             title=f"GPS {study}")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("study", choices=sorted(STUDIES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output-dir", default="runs")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = parser.parse_intermixed_args(argv)
    seeds = []
    for seed in args.seeds:
        seeds.append(study_seed(args.study, seed, args.overrides, args.output_dir))
        print(json.dumps({k: v for k, v in seeds[-1].items() if k != "curve"}), flush=True)
    task = load_config(GPSConfig, preset_path(STUDIES[args.study], MBRL_PRESETS / "gps"),
                       args.overrides).task
    path = RESULTS / f"gps_{task}.json"
    path.write_text(json.dumps({"study": args.study, "preset": STUDIES[args.study],
                                "overrides": args.overrides, "seeds": seeds}, indent=1) + "\n")
    plot(args.study, seeds, path.with_suffix(".png"))
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
