"""Learned dynamics models."""

from mbrl.models.ensemble import ProbabilisticEnsemble
from mbrl.models.ensemble_training import EnsembleTrainResult, train_ensemble
from mbrl.models.mlp_dynamics import MLPDynamics, TrainResult, train_dynamics
from mbrl.models.model_env import ModelEnv
from mbrl.models.propagation import EnsembleDynamics
from mbrl.nn import Normalizer

__all__ = ["EnsembleDynamics", "EnsembleTrainResult", "MLPDynamics", "ModelEnv", "Normalizer",
           "ProbabilisticEnsemble", "TrainResult", "train_dynamics", "train_ensemble"]
