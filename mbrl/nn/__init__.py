"""Network building blocks shared by agents, dynamics models and values: one MLP builder, one
stacked (ensemble) MLP, one normaliser."""

from mbrl.nn.layers import ACTIVATIONS, EnsembleMLP, mlp
from mbrl.nn.normalizer import Normalizer

__all__ = ["ACTIVATIONS", "EnsembleMLP", "Normalizer", "mlp"]
