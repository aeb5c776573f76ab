"""A model-based algorithm beside its model-free baseline, same task, same seeds, one script:

    python -m experiments.model_vs_model_free --pair mbpo_inverted_pendulum
    python -m experiments.model_vs_model_free --pair mbpo_pendulum
    python -m experiments.model_vs_model_free --pair dyna_cartpole
    python -m experiments.model_vs_model_free --pair mb_ppo_inverted_pendulum
    python -m experiments.model_vs_model_free --pair mb_ppo_pendulum      # curves to 20k steps
    python -m experiments.model_vs_model_free --pair a3c_cartpole         # A3C beside A2C
    python -m experiments.model_vs_model_free --pair backprop_pendulum    # beside SAC

Each pair names the model-based job and preset (``experiments/presets/mbpo/``,
``experiments/presets/model_based_ppo/``), the model-free preset
(``experiments/presets/agents/``), the return to reach and the env-step budgets. Writes
``experiments/results/<pair>.json`` (per seed: the evaluation curve, the first env step at the
threshold, training seconds) and ``<pair>.png`` (mean and 95% bootstrap band per algorithm).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from experiments import train_a3c, train_mbpo, train_model_backprop, train_model_based_ppo
from experiments.presets import AGENT_PRESETS
from mbrl.algorithms.model_free import AgentRun, AgentRunConfig
from mbrl.runs.compare import compare
from mbrl.util.config import load_config

RESULTS = Path(__file__).parent / "results"
# pair -> ((model-based job, preset, steps), (model-free preset, steps, overrides), threshold)
# and, for a pair of two model-free algorithms, the names of the two sides in the JSON
PAIRS = {
    "mbpo_inverted_pendulum": ((train_mbpo, "mbpo_inverted_pendulum", 3000),
                               ("sac_inverted_pendulum", 20000, []), 950.0),
    "mbpo_pendulum": ((train_mbpo, "mbpo_pendulum", 1500), ("sac_pendulum", 5000, []), -200.0),
    "dyna_cartpole": ((train_mbpo, "dyna_cartpole", 18000), ("sac_discrete_cartpole", 60000, []),
                      400.0),
    "mb_ppo_inverted_pendulum": ((train_model_based_ppo, "mb_ppo_inverted_pendulum", 5000),
                                 ("ppo_inverted_pendulum", 40000, ["eval_every=2000"]), 950.0),
    "mb_ppo_pendulum": ((train_model_based_ppo, "mb_ppo_pendulum", 20000),
                        ("ppo_pendulum", 20000, ["eval_every=1000"]), -200.0),
    "backprop_pendulum": ((train_model_backprop, "backprop_pendulum", 3000),
                          ("sac_pendulum", 5000, []), -200.0),
    "a3c_cartpole": ((train_a3c, "a3c_cartpole", 60000), ("a2c_cartpole", 60000, []), 475.0,
                     ("a3c", "a2c")),
}


def run_one(job, preset: str, steps: int, seed: int, output: str,
            extra: list[str] = ()) -> dict:
    """One run of ``preset`` (of ``job``, or a model-free agent preset if ``job`` is None)."""
    overrides = [f"total_steps={steps}", f"seed={seed}", "progress=false",
                 f"output_dir={output}", *extra]
    if job is None:
        run = AgentRun.start(load_config(AgentRunConfig, AGENT_PRESETS / f"{preset}.yaml",
                                         overrides)).run()
    else:
        run_class = job.JOB.load_run_class()
        run = run_class.start(load_config(run_class.config_class,
                                          job.JOB.presets / f"{preset}.yaml", overrides)).run()
    rows = run.evaluations()
    return {"seed": seed, "run_dir": str(run.folder.root),
            "curve": [[int(r["env_steps"]), round(r["eval_return"], 2)] for r in rows],
            "train_seconds": round(rows[-1]["train_seconds"], 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", choices=sorted(PAIRS), required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output-dir", default=None, help="run folders (default: a temp dir)")
    args = parser.parse_args(argv)
    (job, based, based_steps), (free, free_steps, extra), threshold, *names = PAIRS[args.pair]
    first, second = names[0] if names else ("model_based", "model_free")
    output = args.output_dir or tempfile.mkdtemp()
    result = {"pair": args.pair, "threshold": threshold, "seeds": args.seeds}
    folders = []
    for kind, kind_job, preset, steps, overrides in (
            (first, job, based, based_steps, []),
            (second, None, free, free_steps, extra)):
        runs = []
        for seed in args.seeds:
            runs.append(run_one(kind_job, preset, steps, seed, output, overrides))
            runs[-1]["first_step_at_threshold"] = next(
                (s for s, value in runs[-1]["curve"] if value >= threshold), None)
            print(kind, preset, json.dumps({k: v for k, v in runs[-1].items() if k != "curve"}),
                  flush=True)
            folders.append(runs[-1]["run_dir"])
        reached = [r["first_step_at_threshold"] for r in runs]
        result[kind] = {"preset": preset, "env_steps": steps, "runs": runs,
                        "seeds_reaching_threshold": sum(r is not None for r in reached),
                        "worst_first_step": None if None in reached else max(reached)}
    RESULTS.mkdir(exist_ok=True)
    table = compare(folders, Path(output) / "compare")
    result["table"] = table
    (Path(output) / "compare" / "returns_vs_env_steps.png").replace(RESULTS / f"{args.pair}.png")
    (RESULTS / f"{args.pair}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "runs"}
                      if isinstance(v, dict) else v for k, v in result.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
