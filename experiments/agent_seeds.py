"""Train an agent preset, or an MPC-loop preset, over several seeds and summarise the curves.

    python -m experiments.agent_seeds --preset ppo_cartpole --seeds 0 1 2 --threshold 475
    python -m experiments.agent_seeds --mpc --preset reacher --threshold -8 --window 10 15

Writes ``experiments/results/agents/<preset>.json`` (``results/mpc/<preset>.json`` with
``--mpc``): per seed the curve (env steps, mean return of the deterministic evaluation
episodes; for the MPC loop, every episode's own return, the random ones first), the first
point at or above ``--threshold`` and the wall time (agents: training, evaluation excluded;
the MPC loop: the whole run); over seeds the mean final return and the mean return at each
point. ``--window FIRST LAST`` adds the mean return of the points FIRST..LAST (inclusive; for
the MPC loop, episode numbers).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from experiments.presets import AGENT_PRESETS, MBRL_PRESETS, preset_path
from mbrl.algorithms.model_free import AgentRun, AgentRunConfig
from mbrl.algorithms.mpc_loop import MBRLConfig, MBRLRun
from mbrl.util.config import load_config

RESULTS = Path(__file__).parent / "results"


def train_seed(preset: Path | None, overrides: list[str], seed: int, threshold: float,
               output_dir: str) -> dict:
    """One seed of an agent run (``preset`` None: the defaults) and its evaluation curve."""
    config = load_config(AgentRunConfig, preset, [*overrides, f"seed={seed}", "progress=false",
                                                  f"output_dir={output_dir}"])
    run = AgentRun.start(config).run()
    rows = run.evaluations()
    curve = [[int(r["env_steps"]), round(r["eval_return"], 2)] for r in rows]
    return {"seed": seed, "run_dir": str(run.folder.root),
            "first_step_at_threshold": next((s for s, v in curve if v >= threshold), None),
            "train_seconds": round(rows[-1]["train_seconds"], 1), "curve": curve}


def mpc_seed(preset: Path | None, overrides: list[str], seed: int, threshold: float,
             output_dir: str) -> dict:
    """One seed of the MPC loop (``preset`` None: the defaults); the curve is (env steps,
    episode return) of every episode, the random ones included."""
    config = load_config(MBRLConfig, preset, [*overrides, f"seed={seed}", "progress=false",
                                              f"output_dir={output_dir}"])
    run = MBRLRun.start(config).run()
    rows = run.folder.read("episodes")
    curve = [[int(r["env_steps"]), round(r["return"], 2)] for r in rows]
    return {"seed": seed, "run_dir": str(run.folder.root),
            "first_step_at_threshold": next((s for s, v in curve if v >= threshold), None),
            "wall_seconds": round(rows[-1]["wall_seconds"], 1), "curve": curve}


def window_mean(curve: list[list], first: int, last: int) -> float:
    """Mean value of the points ``first..last`` (inclusive) of a curve."""
    if not 0 <= first <= last < len(curve):
        raise ValueError(f"window {first}..{last} is outside the curve's {len(curve)} points")
    return round(statistics.mean(value for _, value in curve[first:last + 1]), 2)


def summarise(runs: list[dict], threshold: float,
              window: tuple[int, int] | None = None) -> dict:
    """Over seeds: how many reached ``threshold``, the mean final value and mean curve, and
    with ``window`` the mean of the seeds' ``window_mean``."""
    points = [steps for steps, _ in runs[0]["curve"]]
    windowed = {} if window is None else {
        "window": list(window),
        "mean_window_return": round(statistics.mean(r["window_mean"] for r in runs), 2)}
    return {"threshold": threshold, "seeds": [r["seed"] for r in runs], **windowed,
            "seeds_reaching_threshold": sum(r["first_step_at_threshold"] is not None
                                            for r in runs),
            "mean_final_return": round(statistics.mean(r["curve"][-1][1] for r in runs), 2),
            "mean_curve": [[steps, round(statistics.mean(r["curve"][i][1] for r in runs), 2)]
                           for i, steps in enumerate(points)],
            "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True)
    parser.add_argument("--mpc", action="store_true",
                        help="an MPC-loop preset (experiments/presets/) instead of an agent's")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threshold", type=float, required=True,
                        help="the return an evaluation must reach")
    parser.add_argument("--output-dir", default="runs/agent_seeds",
                        help="where the seeds' run folders go (kept, so curves can be looked at)")
    parser.add_argument("--window", type=int, nargs=2, metavar=("FIRST", "LAST"),
                        help="also report the mean return of points FIRST..LAST (inclusive)")
    parser.add_argument("overrides", nargs="*", help="config overrides key=value")
    args = parser.parse_args(argv)
    run_seed, presets, results = ((mpc_seed, MBRL_PRESETS, RESULTS / "mpc") if args.mpc
                                  else (train_seed, AGENT_PRESETS, RESULTS / "agents"))
    runs = []
    for seed in args.seeds:
        runs.append(run_seed(preset_path(args.preset, presets), args.overrides, seed,
                             args.threshold, args.output_dir))
        if args.window:
            runs[-1]["window_mean"] = window_mean(runs[-1]["curve"], *args.window)
        print(json.dumps(runs[-1]), flush=True)
    summary = {"preset": args.preset, "overrides": args.overrides,
               **summarise(runs, args.threshold, args.window)}
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{args.preset}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("runs", "mean_curve")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
