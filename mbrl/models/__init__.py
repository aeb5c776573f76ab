"""Learned dynamics models."""

from mbrl.models.mlp_dynamics import MLPDynamics, TrainResult, train_dynamics
from mbrl.models.normalizer import Normalizer

__all__ = ["MLPDynamics", "Normalizer", "TrainResult", "train_dynamics"]
