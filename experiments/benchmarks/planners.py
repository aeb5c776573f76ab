"""All planner benchmarks in one command (about half an hour on 2 CPU cores):

    pip install -e ".[bench]" && python -m experiments.benchmarks.planners

1. ``mppi_vs_pytorch_mppi``: MPPI on the analytic pendulum, ours vs pytorch-mppi;
2. ``simulator_planning``: CEM/MPPI throughput through the MuJoCo simulator vs raw
   ``mujoco.rollout``, and MPC with the true model on InvertedPendulum and HalfCheetah.

Each writes its JSON to ``experiments/benchmarks/results/``.
"""

from __future__ import annotations

import sys

from experiments.benchmarks import mppi_vs_pytorch_mppi, simulator_planning


def main() -> None:
    for module in (mppi_vs_pytorch_mppi, simulator_planning):
        sys.argv = [module.__name__]
        module.main()


if __name__ == "__main__":
    main()
