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

from pathlib import Path

from experiments.presets import MBRL_PRESETS
from mbrl.util import cli


def summary(run) -> dict:
    return {"task": run.config.task, "seed": run.config.seed, "run_dir": str(run.folder.root),
            "returns": [round(r, 2) for r in run.returns()]}


JOB = cli.Job(command="python -m experiments.run_mbrl", doc=__doc__,
          run_class="mbrl.algorithms.mpc_loop:MBRLRun", presets=MBRL_PRESETS,
          default_preset="cartpole_swingup", summary=summary,
          help_file=Path(__file__).parent / "help" / "run_mbrl.txt")



def main(argv: list[str] | None = None) -> int:
    return cli.main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
