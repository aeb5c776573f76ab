"""Latent world model from pixels (reference 003 Alg. 26) and latent MPC on a swing-up task.

    python -m experiments.latent_world_model
    python -m experiments.latent_world_model task=Pendulum-v1 seed=1 model.stochastic=true

Random-policy episodes with 64x64 pixel observations (two stacked frames) train an encoder,
latent dynamics, reward model and decoder (eq. 5.3.6 with 10-step latent overshooting; by
default without decoding the K predicted frames, which halves the cost of a step:
``model.prediction_weight=1`` adds them back); decoded open-loop predictions are measured on
held-out episodes; then latent MPC episodes alternate with more training (Alg. 26's loop).
Results go to a run folder (episodes.csv, open_loop.json, frames.png, summary.json,
checkpoints/; ``--resume`` continues it); the recorded run's summary is kept in
``experiments/results/latent_world_model_<task>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from mbrl.util import cli

PRESETS = Path(__file__).parent / "presets" / "latent"


def summary(run) -> dict:
    result = {**run.summary(), **json.loads((run.folder.root / "open_loop.json").read_text())}
    (run.folder.root / "summary.json").write_text(json.dumps(result, indent=1) + "\n")
    return {k: v for k, v in result.items() if k not in ("settings", "random_returns")}


JOB = cli.Job(command="python -m experiments.latent_world_model", doc=__doc__,
          run_class="mbrl.algorithms.latent_mpc:LatentMPCRun", presets=PRESETS,
          default_preset="pixel_pendulum", summary=summary,
          help_file=Path(__file__).parent / "help" / "latent_world_model.txt")



def main(argv: list[str] | None = None) -> int:
    return cli.main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
