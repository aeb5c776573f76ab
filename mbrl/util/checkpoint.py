"""Checkpoints that prove their integrity: atomic, verified on disk before they replace the
previous one, loaded with ``weights_only=True``.

A checkpoint file holds ``{"format", "sha256", "payload"}``: the state serialised by
``torch.save`` as bytes and its SHA-256. Loading checks the format version and the hash before
unpickling the payload (tensors, numbers, strings, nested dicts and lists only), so a garbled,
truncated or foreign file is a :class:`CheckpointError` naming the file, never a silent load.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from mbrl.util.atomic import atomic_write

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint (or a file it vouches for) is missing, damaged or not the one expected."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: str | os.PathLike, size: int | None = None) -> str:
    """SHA-256 of the first ``size`` bytes of a file (all of it by default)."""
    with open(path, "rb") as handle:
        return digest(handle.read() if size is None else handle.read(size))


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` atomically; the new file replaces the old one only once it has been
    read back from disk and its hash checked."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    record = {"format": FORMAT_VERSION, "sha256": digest(payload), "payload": payload}
    atomic_write(path, lambda handle: torch.save(record, handle), verify=_read)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, checking its integrity."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    return _read(Path(path))


def _read(path: Path) -> dict[str, Any]:
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, zipfile.BadZipFile, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable checkpoint (damaged or truncated?): "
                              f"{error}") from None
    if not isinstance(record, dict) or set(record) != {"format", "sha256", "payload"}:
        raise CheckpointError(f"{path} is not a checkpoint of this toolkit")
    if record["format"] != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {record['format']}, this version "
                              f"reads {FORMAT_VERSION}")
    if digest(record["payload"]) != record["sha256"]:
        raise CheckpointError(f"{path} is damaged: its content does not match its SHA-256")
    return torch.load(io.BytesIO(record["payload"]), map_location="cpu", weights_only=True)
