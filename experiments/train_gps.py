"""Guided policy search: a network trained from local linear-Gaussian controllers, one per
initial condition, fitted to local models of sampled trajectories (reference 003 Alg. 30).

    python -m experiments.train_gps --preset gps_cartpole_swingup
    python -m experiments.train_gps --preset gps_reacher seed=1
    python -m experiments.train_gps --resume runs/gps-CartPoleSwingUp-s0-...

Presets in ``experiments/presets/gps/``; the run folder holds iterations.csv (env steps, the
local controllers' sample return, KL steps and duals, the network's return from the training
conditions and from held-out ones), its plot and checkpoints.
"""

from __future__ import annotations

from pathlib import Path

from experiments.presets import MBRL_PRESETS
from mbrl.util import cli


def summary(run) -> dict:
    rows = run.evaluations()
    return {"task": run.config.task, "seed": run.config.seed, "run_dir": str(run.folder.root),
            "env_steps": rows[-1]["env_steps"] if rows else 0,
            "held_out_return": [round(r["held_out_return"], 2) for r in rows]}


JOB = cli.Job(command="python -m experiments.train_gps", doc=__doc__,
              run_class="mbrl.algorithms.gps:GPSRun", presets=MBRL_PRESETS / "gps",
              default_preset="gps_cartpole_swingup", summary=summary,
              help_file=Path(__file__).parent / "help" / "train_gps.txt")


def main(argv: list[str] | None = None) -> int:
    return cli.main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
