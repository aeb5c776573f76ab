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

from experiments.presets import MBRL_PRESETS
from mbrl.algorithms.mpc_loop import MBRLConfig, MBRLRun
from mbrl.runs import cli


def summary(run: MBRLRun) -> dict:
    return {"task": run.config.task, "seed": run.config.seed, "run_dir": str(run.folder.root),
            "returns": [round(r, 2) for r in run.returns()]}


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, doc=__doc__, schema=MBRLConfig, run_class=MBRLRun,
                    presets=MBRL_PRESETS, default_preset="cartpole_swingup", summary=summary,
                    command="python -m experiments.run_mbrl")


if __name__ == "__main__":
    raise SystemExit(main())
