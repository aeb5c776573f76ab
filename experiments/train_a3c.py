"""A3C: asynchronous workers (Ray actors) sending A2C gradients to one learner.

    python -m experiments.train_a3c --preset a3c_cartpole seed=1 workers=2
    python -m experiments.train_a3c --resume runs/a3c-CartPole-v1-s1-...

Presets in ``experiments/presets/a3c/``; run folders as the agents' (train.csv, eval.csv,
eval_return.png, checkpoints). Needs Ray (``pip install -e ".[sweep]"``).
"""

from __future__ import annotations

from pathlib import Path

from experiments.presets import MBRL_PRESETS
from experiments.train_agent import summary
from mbrl.util import cli

JOB = cli.Job(command="python -m experiments.train_a3c", doc=__doc__,
              run_class="mbrl.algorithms.a3c:A3CRun", presets=MBRL_PRESETS / "a3c",
              default_preset="a3c_cartpole", summary=summary,
              help_file=Path(__file__).parent / "help" / "train_a3c.txt")


def main(argv: list[str] | None = None) -> int:
    return cli.main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
