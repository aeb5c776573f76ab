"""Train an agent preset over several seeds and summarise its evaluation curves.

    python -m experiments.agent_seeds --preset ppo_cartpole --seeds 0 1 2 --threshold 475

Writes ``experiments/results/agents/<preset>.json``: per seed the evaluation curve
(env steps, mean return of the deterministic evaluation episodes), the first evaluation at or
above ``--threshold`` and the training wall time (evaluation excluded); over seeds the mean
final return and the mean return at each evaluation point.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from experiments.presets import AGENT_PRESETS, preset_path
from mbrl.algorithms.model_free import AgentRun, AgentRunConfig
from mbrl.util.config import load_config

RESULTS = Path(__file__).parent / "results" / "agents"


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


def summarise(runs: list[dict], threshold: float) -> dict:
    """Over seeds: how many reached ``threshold``, the mean final value and mean curve."""
    points = [steps for steps, _ in runs[0]["curve"]]
    return {"threshold": threshold, "seeds": [r["seed"] for r in runs],
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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threshold", type=float, required=True,
                        help="the return an evaluation must reach")
    parser.add_argument("--output-dir", default="runs/agent_seeds",
                        help="where the seeds' run folders go (kept, so curves can be looked at)")
    parser.add_argument("overrides", nargs="*", help="config overrides key=value")
    args = parser.parse_args(argv)
    runs = []
    for seed in args.seeds:
        runs.append(train_seed(preset_path(args.preset, AGENT_PRESETS), args.overrides, seed,
                               args.threshold, args.output_dir))
        print(json.dumps(runs[-1]), flush=True)
    summary = {"preset": args.preset, "overrides": args.overrides,
               **summarise(runs, args.threshold)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.preset}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("runs", "mean_curve")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
