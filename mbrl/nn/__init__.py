"""Network building blocks shared by agents, dynamics models and values: one MLP builder, one
stacked (ensemble) MLP, one normaliser, one observation input."""

from mbrl.nn.inputs import ObservationInput
from mbrl.nn.layers import ACTIVATIONS, EnsembleMLP, mlp
from mbrl.nn.normalizer import Normalizer

__all__ = ["ACTIVATIONS", "EnsembleMLP", "Normalizer", "ObservationInput", "mlp"]
