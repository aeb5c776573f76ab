"""Search and trajectory optimisation over any batched model; knows nothing of learning.

``planner.plan(state, problem) -> Plan``; ``MPC(planner, problem).act(obs)`` is a policy;
``MCTS.search(state, model)`` / ``MCTSPolicy``, and ``CategoricalCEM`` over a
``Problem.discrete``, for discrete actions; linear-Gaussian controllers and their
KL-constrained update for guided policy search.
"""

from planners.ilqr import ILQR
from planners.linear_gaussian import (
    LinearGaussianController,
    LinearGaussianDynamics,
    QuadraticCost,
    kl_constrained_update,
    max_entropy_lqr,
    trajectory_kl,
)
from planners.lqr import LQRSolution, TimeVaryingLinearPolicy, infinite_horizon_lqr, solve_lqr
from planners.mcts import MCTS, DiscreteActionModel, GenerativeModel, MCTSPolicy, SearchResult
from planners.mpc import MPC
from planners.problem import NonFiniteModelOutput, Plan, Planner, Problem
from planners.shooting import CEM, ICEM, MPPI, CategoricalCEM, RandomShooting

__all__ = ["CEM", "ICEM", "ILQR", "MCTS", "MPC", "MPPI", "CategoricalCEM", "DiscreteActionModel",
           "GenerativeModel", "LQRSolution", "LinearGaussianController",
           "LinearGaussianDynamics", "QuadraticCost", "MCTSPolicy", "NonFiniteModelOutput", "Plan",
           "Planner", "Problem", "RandomShooting", "SearchResult", "TimeVaryingLinearPolicy",
           "infinite_horizon_lqr", "kl_constrained_update", "max_entropy_lqr",
           "solve_lqr", "trajectory_kl"]
