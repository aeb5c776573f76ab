"""Backpropagation through a learned ensemble into the policy (SVG(H) / Dreamer-style actor
with a value bootstrap at the horizon, on states).

    python -m experiments.train_model_backprop --preset backprop_pendulum seed=1
    python -m experiments.train_model_backprop --resume runs/model-backprop-Pendulum-v1-s1-...

Presets in ``experiments/presets/model_backprop/``; run folders as the agents' (train.csv with
the actor's gradient norm and the imagined return per phase, eval.csv, eval_return.png,
checkpoints with the real buffer).
"""

from __future__ import annotations

from pathlib import Path

from experiments.presets import MBRL_PRESETS
from experiments.train_agent import summary
from mbrl.util import cli

JOB = cli.Job(command="python -m experiments.train_model_backprop", doc=__doc__,
              run_class="mbrl.algorithms.model_backprop:ModelBackpropRun",
              presets=MBRL_PRESETS / "model_backprop", default_preset="backprop_pendulum",
              summary=summary,
              help_file=Path(__file__).parent / "help" / "train_model_backprop.txt")


def main(argv: list[str] | None = None) -> int:
    return cli.main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
