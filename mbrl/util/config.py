"""Typed dataclass configs loaded from YAML presets with ``key=value`` overrides (OmegaConf).

OmegaConf's structured configs give type checking, nested dotted overrides and clear errors
for unknown keys, so we do not hand-write a parser.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

T = TypeVar("T")


def load_config(schema: type[T], preset: str | os.PathLike | None = None,
                overrides: list[str] | tuple[str, ...] = ()) -> T:
    """Defaults of ``schema`` <- preset YAML file <- ``key=value`` overrides, as a dataclass."""
    bad = [item for item in overrides if "=" not in item]
    if bad:
        raise ValueError(f"overrides must look like key=value, got {bad}")
    try:
        config = OmegaConf.structured(schema)
        if preset is not None:
            config = OmegaConf.merge(config, OmegaConf.load(Path(preset)))
        config = OmegaConf.merge(config, OmegaConf.from_dotlist(list(overrides)))
        return OmegaConf.to_object(config)
    except OmegaConfBaseException as error:
        raise ValueError(f"invalid config for {schema.__name__}: {error}") from None


def to_yaml(config: Any) -> str:
    """The resolved config as YAML text."""
    return OmegaConf.to_yaml(OmegaConf.structured(config))


def from_yaml(schema: type[T], text: str) -> T:
    """Inverse of :func:`to_yaml`."""
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema),
                                               OmegaConf.create(text)))
