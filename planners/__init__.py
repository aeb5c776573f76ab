"""Search and trajectory optimisation over any batched model; knows nothing of learning.

``planner.plan(state, problem) -> Plan``; ``MPC(planner, problem).act(obs)`` is a policy.
"""

from planners.mpc import MPC
from planners.problem import NonFiniteModelOutput, Plan, Planner, Problem
from planners.shooting import CEM, ICEM, MPPI, RandomShooting

__all__ = ["CEM", "ICEM", "MPC", "MPPI", "NonFiniteModelOutput", "Plan", "Planner", "Problem",
           "RandomShooting"]
