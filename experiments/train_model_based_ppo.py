"""Model-based PPO (ME-TRPO with PPO, A2C or REINFORCE): the policy learns only on imagined
rollouts of a learned ensemble, stopped by policy validation across its members.

    python -m experiments.train_model_based_ppo --preset mb_ppo_inverted_pendulum seed=1
    python -m experiments.train_model_based_ppo --resume runs/mb-ppo-InvertedPendulum-v5-s1-...

Presets in ``experiments/presets/model_based_ppo/``; run folders as the agents' (train.csv
with policy_updates, improved_fraction and validation_return per improvement phase, eval.csv,
eval_return.png, checkpoints with the real buffer).
"""

from __future__ import annotations

from pathlib import Path

from experiments.presets import MBRL_PRESETS
from experiments.train_agent import summary
from mbrl.util import cli

JOB = cli.Job(command="python -m experiments.train_model_based_ppo", doc=__doc__,
              run_class="mbrl.algorithms.model_based_ppo:ModelBasedPPORun",
              presets=MBRL_PRESETS / "model_based_ppo",
              default_preset="mb_ppo_inverted_pendulum", summary=summary,
              help_file=Path(__file__).parent / "help" / "train_model_based_ppo.txt")


def main(argv: list[str] | None = None) -> int:
    return cli.main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
