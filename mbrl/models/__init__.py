"""Learned models: dynamics (one interface, :class:`DynamicsModel`), values, latent world models,
and a learned model as a batched environment (:class:`ModelEnv`). Time-varying local linear
models for guided policy search live in :mod:`mbrl.models.local_linear` (it imports
scikit-learn, so it is not imported here)."""

from mbrl.models.base import DynamicsModel, FitSettings, PlanningDynamics
from mbrl.models.ensemble import ProbabilisticEnsemble
from mbrl.models.mlp_dynamics import MLPDynamics
from mbrl.models.model_env import ModelEnv
from mbrl.models.propagation import EnsembleDynamics
from mbrl.models.rollouts import branched_rollouts, imagined_rollout
from mbrl.models.training import FitResult

__all__ = ["DynamicsModel", "EnsembleDynamics", "FitResult", "FitSettings", "MLPDynamics",
           "ModelEnv", "PlanningDynamics", "ProbabilisticEnsemble", "branched_rollouts",
           "imagined_rollout"]
