"""Model-based policy optimisation: SAC on branched rollouts of a learned ensemble.

    python -m experiments.train_mbpo --preset mbpo_inverted_pendulum seed=1
    python -m experiments.train_mbpo --resume runs/mbpo-InvertedPendulum-v5-s1-...

Presets in ``experiments/presets/mbpo/``; run folders as the agents' (train.csv, eval.csv,
eval_return.png, checkpoints with the real and the model buffers).
"""

from __future__ import annotations

from pathlib import Path

from experiments.presets import MBRL_PRESETS
from experiments.train_agent import summary
from mbrl.util import cli

JOB = cli.Job(command="python -m experiments.train_mbpo", doc=__doc__,
              run_class="mbrl.algorithms.mbpo:MBPORun", presets=MBRL_PRESETS / "mbpo",
              default_preset="mbpo_inverted_pendulum", summary=summary,
              help_file=Path(__file__).parent / "help" / "train_mbpo.txt")


def main(argv: list[str] | None = None) -> int:
    return cli.main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
