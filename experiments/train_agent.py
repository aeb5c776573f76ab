"""Train a model-free agent (REINFORCE, A2C, PPO, SAC) on a task.

    python -m experiments.train_agent --preset ppo_cartpole seed=1
    python -m experiments.train_agent --preset sac_pendulum total_steps=20000 sac.batch_size=128
    python -m experiments.train_agent --resume runs/ppo-CartPole-v1-s1-20261124-120000

Presets are YAML files in ``experiments/presets/agents/`` (by name) or any path; ``key=value``
arguments override fields. Results go to a run folder under ``output_dir``: config.yaml,
train.csv, eval.csv, eval_return.png, tb/, checkpoints/. ``--resume`` continues an interrupted
run from its last checkpoint, exactly as the uninterrupted run would have gone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from experiments.presets import AGENT_PRESETS, preset_path
from mbrl.agents.training import AgentRunConfig, run_agent
from mbrl.util.config import load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="ppo_cartpole", help="preset name or YAML path")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in this folder")
    parser.add_argument("overrides", nargs="*", help="config overrides key=value")
    args = parser.parse_args(argv)
    try:
        source = (Path(args.resume) / "config.yaml" if args.resume
                  else preset_path(args.preset, AGENT_PRESETS))
        config = load_config(AgentRunConfig, source, args.overrides)
        folder, evaluations = run_agent(config, resume_dir=args.resume)
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"algo": config.algo, "task": config.task, "seed": config.seed,
                      "run_dir": str(folder.root),
                      "eval": [[int(r["env_steps"]), round(r["eval_return"], 2)]
                               for r in evaluations]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
