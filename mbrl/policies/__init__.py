"""The one policy protocol (DESIGN idea 4) and the policies that are neither agents nor
planners: uniform random actions, and MPC policies that need more than a ``Problem`` to plan
(the true simulator's physics state, a latent world model's encoder)."""

from mbrl.policies.base import Policy, RandomPolicy
from mbrl.policies.planning import LatentMPC, SimulatorMPC

__all__ = ["LatentMPC", "Policy", "RandomPolicy", "SimulatorMPC"]
