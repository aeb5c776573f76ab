"""PlaNet (Hafner et al. 2019): MPC in the latent space of a recurrent state-space model,
learned from pixels or states (reference 003 §5.3.4, Alg. 26 with Alg. 25's MPC).

The loop is :mod:`mbrl.algorithms.world_model_loop`'s; acting filters the observation into the
RSSM's state ``[h, s]`` and plans from it with any population planner (CEM by default, as
PlaNet) over the model's prior (:meth:`mbrl.models.rssm.RSSM.problem`), executing the plan's
first action: the planners are the toolkit's, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mbrl.algorithms.planning import CEMConfig, PlannerConfig, PlannerName, build_planner
from mbrl.algorithms.world_model_loop import WorldModelRun, WorldModelRunConfig
from planners import MPC


def _planet_planner() -> PlannerConfig:
    return PlannerConfig(name=PlannerName.cem, horizon=12, cem=CEMConfig(
        population=500, elites=50, iterations=5, smoothing=0.0, init_std=1.0))


@dataclass
class PlaNetConfig(WorldModelRunConfig):
    """The shared loop's settings and the planner over the RSSM (PlaNet: CEM, H = 12, 1000
    candidates, 100 elites, 10 iterations; half of each here for a CPU)."""

    planner: PlannerConfig = field(default_factory=_planet_planner)
    sample_prior: bool = True  # plan through prior samples (PlaNet) or the prior means

    def validate(self) -> None:
        super().validate()
        if self.planner.name == PlannerName.categorical_cem:
            raise ValueError("PlaNet plans continuous actions: planner.name must be "
                             "random_shooting, cem, icem or mppi")
        self.planner.validate()


class PlaNetRun(WorldModelRun):
    """One PlaNet run; ``train()`` continues from wherever it stopped."""

    config_class = PlaNetConfig

    def __init__(self, config: PlaNetConfig) -> None:
        super().__init__(config)
        self.plan_generator = self.seeds.torch("planning")
        problem = self.model.problem(self.space.low, self.space.high, config.planner.horizon,
                                     self.plan_generator, config.sample_prior)
        self.mpc = MPC(build_planner(config.planner, self.plan_generator), problem)

    def label(self) -> str:
        return "planet"

    def reset_acting(self) -> None:
        self.mpc.reset()

    def act_from_state(self, state: torch.Tensor, deterministic: bool) -> np.ndarray:
        return self.mpc.act(state.numpy(), deterministic)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "plan_generator": self.plan_generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.plan_generator.set_state(state["plan_generator"])
