"""Model-predictive control: receding horizon around any planner (reference 003 Alg. 25;
Garcia, Prett and Morari 1989)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from planners.problem import Plan, Planner, Problem


class MPC:
    """Turn a planner into a policy: plan from the current state, execute the first
    ``replan_every`` actions, then plan again warm-started from the shifted previous plan.

    ``act(obs [S], deterministic) -> action [A]`` (numpy; for a ``Problem.discrete`` the action
    index, an int64 scalar, as a ``Discrete`` env takes it), ``reset()`` at each episode start.
    """

    def __init__(self, planner: Planner, problem: Problem, replan_every: int = 1) -> None:
        if not isinstance(planner, Planner):
            raise TypeError(f"planner must be a planners.Planner, got {type(planner).__name__}")
        if int(replan_every) != replan_every or not 1 <= replan_every <= problem.horizon:
            raise ValueError(f"replan_every must be an integer in [1, horizon={problem.horizon}], "
                             f"got {replan_every!r}")
        self.planner, self.problem, self.replan_every = planner, problem, int(replan_every)
        self.last_plan: Plan | None = None
        self._plan_actions: Tensor | None = None
        self._step_in_plan = 0

    def reset(self) -> None:
        """Forget the previous plan (call at the start of every episode)."""
        self.last_plan, self._plan_actions, self._step_in_plan = None, None, 0
        self.planner.reset()

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        if np.ndim(obs) != 1:
            raise ValueError(f"MPC acts on a single observation [S], got shape {np.shape(obs)}")
        if self._plan_actions is None or self._step_in_plan >= self.replan_every:
            state = torch.as_tensor(np.asarray(obs), dtype=self.problem.action_low.dtype)
            if self._plan_actions is not None:
                self.planner.advance(self._step_in_plan)
            self.last_plan = self.planner.plan(state, self.problem, self._shifted_plan())
            self._plan_actions, self._step_in_plan = self.last_plan.actions, 0
        action = self._plan_actions[self._step_in_plan]
        self._step_in_plan += 1
        if self.problem.is_discrete:
            return np.int64(round(float(action[0])))
        return action.detach().cpu().numpy()

    def _shifted_plan(self) -> Tensor | None:
        """The previous plan advanced by the steps executed, padded by repeating its last action."""
        if self._plan_actions is None:
            return None
        rest = self._plan_actions[self._step_in_plan:]  # empty once all were executed
        padding = self._plan_actions[-1:].expand(self.problem.horizon - rest.shape[0], -1)
        return torch.cat([rest, padding], dim=0)
