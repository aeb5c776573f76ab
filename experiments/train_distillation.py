"""Multi-task policy distillation: discrete-action experts (run folders, one per task) into one
network, with soft targets at a temperature or hard labels.

    python -m experiments.train_distillation --preset distill_cartpole_acrobot \\
        experts=[runs/ppo-CartPole-v1-s0-...,runs/ppo-Acrobot-v1-s0-...]

Presets in ``experiments/presets/distillation/``; the run folder holds fit.csv (loss per
epoch), tasks.csv (student and expert return per task) and checkpoints with the dataset.
"""

from __future__ import annotations

from pathlib import Path

from experiments.presets import MBRL_PRESETS
from mbrl.util import cli


def summary(run) -> dict:
    return {"tasks": run.config.tasks, "seed": run.config.seed, "run_dir": str(run.folder.root),
            "student_return": [round(r["student_return"], 2) for r in run.folder.read("tasks")],
            "expert_return": [round(r["expert_return"], 2) for r in run.folder.read("tasks")]}


JOB = cli.Job(command="python -m experiments.train_distillation", doc=__doc__,
              run_class="mbrl.algorithms.policy_distillation:DistillationRun",
              presets=MBRL_PRESETS / "distillation", default_preset=None, summary=summary,
              help_file=Path(__file__).parent / "help" / "train_distillation.txt")


def main(argv: list[str] | None = None) -> int:
    return cli.main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
