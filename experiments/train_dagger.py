"""DAgger: distil an expert (a run folder's policy, or MPC through the true MuJoCo simulator)
into a neural-network policy on the states it visits itself.

    python -m experiments.train_dagger --preset dagger_inverted_pendulum expert.run_dir=runs/X
    python -m experiments.train_dagger --resume runs/dagger-run-InvertedPendulum-v5-s0-...

Presets in ``experiments/presets/dagger/``; the run folder holds iterations.csv (dataset size,
student and collection returns, milliseconds per act of expert and student), its plot and
checkpoints with the aggregated dataset beside them.
"""

from __future__ import annotations

from pathlib import Path

from experiments.presets import MBRL_PRESETS
from mbrl.util import cli


def summary(run) -> dict:
    return {"task": run.config.task, "seed": run.config.seed, "run_dir": str(run.folder.root),
            "student_return": [round(r["student_return"], 2) for r in run.evaluations()]}


JOB = cli.Job(command="python -m experiments.train_dagger", doc=__doc__,
              run_class="mbrl.algorithms.dagger:DAggerRun", presets=MBRL_PRESETS / "dagger",
              default_preset=None, summary=summary,
              help_file=Path(__file__).parent / "help" / "train_dagger.txt")


def main(argv: list[str] | None = None) -> int:
    return cli.main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
