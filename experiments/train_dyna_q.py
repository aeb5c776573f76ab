"""Tabular Dyna-Q, Dyna-Q+ or prioritized sweeping on a toy-text env or a changing maze.

    python -m experiments.train_dyna_q --preset taxi planning_steps=5 seed=1
    python -m experiments.train_dyna_q --preset shortcut_maze planning=dyna_q

Presets in ``experiments/presets/dyna/``. The run folder's ``steps.csv`` logs the cumulative
reward and whether the greedy policy is optimal (value iteration) where it goes.
"""

from __future__ import annotations

from pathlib import Path

from experiments.presets import MBRL_PRESETS
from mbrl.util import cli


def summary(run) -> dict:
    from mbrl.algorithms.dyna_q import first_optimal_step

    rows = run.curve()
    return {"env": run.config.env, "planning": run.config.planning.value,
            "planning_steps": run.config.planning_steps, "seed": run.config.seed,
            "run_dir": str(run.folder.root), "cumulative_reward": run.cumulative_reward,
            "first_optimal_step": first_optimal_step(rows)}


JOB = cli.Job(command="python -m experiments.train_dyna_q", doc=__doc__,
              run_class="mbrl.algorithms.dyna_q:DynaQRun", presets=MBRL_PRESETS / "dyna",
              default_preset="taxi", summary=summary,
              help_file=Path(__file__).parent / "help" / "train_dyna_q.txt")


def main(argv: list[str] | None = None) -> int:
    return cli.main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
