"""Atomic torch checkpoints, loaded with ``weights_only=True``."""

from __future__ import annotations

import os
from typing import Any

import torch

from mbrl.util.atomic import atomic_write


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, nested dicts/lists) atomically."""
    atomic_write(path, lambda handle: torch.save(state, handle))


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` without unpickling code."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location="cpu", weights_only=True)
