"""TD-MPC: planning in a learned latent space with a learned value and a policy prior, on a
task's states or (``pixels=true``) its rendered frames.

    python -m experiments.train_tdmpc --preset tdmpc_inverted_pendulum seed=1
    MUJOCO_GL=egl python -m experiments.train_tdmpc --preset tdmpc_pendulum_pixels
    python -m experiments.train_tdmpc --resume runs/tdmpc-InvertedPendulum-v5-s1-...

Presets in ``experiments/presets/tdmpc/``; run folders as the agents' (train.csv with the
model's loss terms, the policy's entropy and temperature; eval.csv, eval_return.png,
checkpoints with the real buffer).
"""

from __future__ import annotations

from pathlib import Path

from experiments.presets import MBRL_PRESETS
from experiments.train_agent import summary
from mbrl.util import cli

JOB = cli.Job(command="python -m experiments.train_tdmpc", doc=__doc__,
              run_class="mbrl.algorithms.tdmpc:TDMPCRun",
              presets=MBRL_PRESETS / "tdmpc", default_preset="tdmpc_inverted_pendulum",
              summary=summary, help_file=Path(__file__).parent / "help" / "train_tdmpc.txt")


def main(argv: list[str] | None = None) -> int:
    return cli.main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
