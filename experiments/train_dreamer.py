"""Dreamer on a recurrent state-space model, from pixels (default) or states.

    python -m experiments.train_dreamer --preset dreamer_pendulum_pixels seed=1
    python -m experiments.train_dreamer --resume runs/dreamer-Pendulum-v1-s1-...

Presets in ``experiments/presets/world_models/``; run folders hold episodes.csv (every
episode's return), train.csv (the last update's losses before each episode), eval.csv,
eval_return.png and checkpoints with the episodes. ``mbrl eval <run folder>`` evaluates or
films the learned policy.
"""

from __future__ import annotations

from pathlib import Path

from experiments.presets import MBRL_PRESETS
from experiments.train_agent import summary
from mbrl.util import cli

JOB = cli.Job(command="python -m experiments.train_dreamer", doc=__doc__,
              run_class="mbrl.algorithms.dreamer:DreamerRun",
              presets=MBRL_PRESETS / "world_models", default_preset="dreamer_pendulum_pixels",
              summary=summary, help_file=Path(__file__).parent / "help" / "train_dreamer.txt")


def main(argv: list[str] | None = None) -> int:
    return cli.main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
