"""Atomic file writes: write to a temporary file in the same folder, flush it to disk, then
rename it over the target, so a reader sees the old file or the new one, never a part."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "",
                verify: Callable[[Path], Any] | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically,
    with the permissions a plain ``open`` would give it. ``verify(tmp)`` (raising on a bad
    file) is called on the written file before it replaces the target.

    ``suffix`` keeps an extension some writers insist on (``np.savez`` appends ``.npz``).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())
        if verify is not None:
            verify(tmp_path)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None],
                 verify: Callable[[Path], Any] | None = None) -> None:
    """Call ``write(handle)`` on a temporary binary file, then move it to ``path`` (after
    ``verify``, see :func:`atomic_path`)."""
    with atomic_path(path, verify=verify) as tmp:
        with open(tmp, "wb") as handle:
            write(handle)
