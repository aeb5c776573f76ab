"""Search and trajectory optimisation over any batched model; knows nothing of learning.

``planner.plan(state, problem) -> Plan``; ``MPC(planner, problem).act(obs)`` is a policy;
``MCTS.search(state, model)`` / ``MCTSPolicy``, and ``CategoricalCEM`` over a
``Problem.discrete``, for discrete actions.
"""

from planners.ilqr import ILQR
from planners.lqr import LQRSolution, TimeVaryingLinearPolicy, infinite_horizon_lqr, solve_lqr
from planners.mcts import MCTS, DiscreteActionModel, GenerativeModel, MCTSPolicy, SearchResult
from planners.mpc import MPC
from planners.problem import NonFiniteModelOutput, Plan, Planner, Problem
from planners.shooting import CEM, ICEM, MPPI, CategoricalCEM, RandomShooting

__all__ = ["CEM", "ICEM", "ILQR", "MCTS", "MPC", "MPPI", "CategoricalCEM", "DiscreteActionModel",
           "GenerativeModel", "LQRSolution", "MCTSPolicy", "NonFiniteModelOutput", "Plan",
           "Planner", "Problem", "RandomShooting", "SearchResult", "TimeVaryingLinearPolicy",
           "infinite_horizon_lqr", "solve_lqr"]
