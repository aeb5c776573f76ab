"""Run model-based RL (learned model + MPC) on a task.

    python -m experiments.run_mbrl --preset cartpole_swingup seed=1 episodes=20
    python -m experiments.run_mbrl --resume runs/CartPoleSwingUp-s1-20261124-120000 episodes=30

A preset is a YAML file in ``experiments/presets/`` (by name) or any path; ``key=value``
arguments override single fields (``planner.horizon=30``). Results go to a run folder under
``output_dir``: config.yaml, episodes.csv, tb/, checkpoints/, episodes_return.png. ``--resume``
continues an interrupted run from its last checkpoint (overrides such as a larger ``episodes``
extend it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from experiments.presets import MBRL_PRESETS, preset_path
from mbrl.algorithms.mpc_loop import MBRLConfig, run_mbrl
from mbrl.util.config import load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cartpole_swingup", help="preset name or YAML path")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the run in this folder (from its saved config)")
    parser.add_argument("overrides", nargs="*", help="config overrides key=value")
    args = parser.parse_args(argv)
    try:
        if args.resume:
            config = load_config(MBRLConfig, Path(args.resume) / "config.yaml", args.overrides)
        else:
            config = load_config(MBRLConfig, preset_path(args.preset, MBRL_PRESETS),
                                 args.overrides)
        folder, returns = run_mbrl(config, resume_dir=args.resume)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = {"task": config.task, "seed": config.seed, "run_dir": str(folder.root),
               "returns": [round(r, 2) for r in returns]}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
