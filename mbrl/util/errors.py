"""Errors a run reports as one clear line (the command-line entry points catch them)."""

from __future__ import annotations

import math


class TrainingDiverged(FloatingPointError):
    """A loss or gradient became NaN/Inf; the message names the component, where it happened
    and the last finite loss, and the weights are left as they were before the bad step."""


def check_finite_loss(component: str, where: str, loss: float, last_finite: float) -> None:
    """Raise :class:`TrainingDiverged` if ``loss`` is NaN or Inf."""
    if not math.isfinite(loss):
        raise TrainingDiverged(f"{component}: the loss became {loss} at {where} (last finite "
                               f"loss {last_finite:.6g}); the weights before that step are kept")
