"""Search and trajectory optimisation over any batched model; knows nothing of learning.

``planner.plan(state, problem) -> Plan``; ``MPC(planner, problem).act(obs)`` is a policy.
"""

from planners.mpc import MPC
from planners.problem import NonFiniteModelOutput, Plan, Planner, Problem
from planners.shooting import RandomShooting

__all__ = ["MPC", "NonFiniteModelOutput", "Plan", "Planner", "Problem", "RandomShooting"]
