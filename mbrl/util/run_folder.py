"""One folder per run: resolved config, metrics (CSV + TensorBoard), checkpoints and plots."""

from __future__ import annotations

import csv
import itertools
import os
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from mbrl.util.atomic import atomic_write  # noqa: E402
from mbrl.util.checkpoint import CheckpointError, file_digest  # noqa: E402
from mbrl.util.config import to_yaml  # noqa: E402


class RunFolder:
    """``root/config.yaml``, ``root/<stream>.csv``, ``root/tb/``, ``root/checkpoints/``, plots.

    Each metrics stream (``episodes``, ``model``, ...) is one CSV with a fixed set of columns
    (fixed by its first row) and mirrored to TensorBoard as ``stream/column``.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        """An existing run folder (see :meth:`create` for a new one)."""
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"no run folder at {self.root}")
        self.checkpoint_dir.mkdir(exist_ok=True)
        self._writer: SummaryWriter | None = None
        self._headers: dict[str, list[str]] = {}  # columns of each stream's CSV
        self._purge_step: int | None = None  # TensorBoard points from here on are stale

    @classmethod
    def create(cls, parent: str | os.PathLike, name: str) -> RunFolder:
        """A new folder ``parent/<name>-<timestamp>`` (never one that exists: creating it is
        the test, so two processes never share a folder)."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        Path(parent).mkdir(parents=True, exist_ok=True)
        for suffix in itertools.count():
            root = Path(parent) / (f"{name}-{stamp}" + (f"-{suffix}" if suffix else ""))
            try:
                root.mkdir()
            except FileExistsError:
                continue
            return cls(root)
        raise AssertionError("unreachable")

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    def save_config(self, config: Any) -> None:
        text = to_yaml(config).encode()
        atomic_write(self.config_path, lambda handle: handle.write(text))

    def csv_path(self, stream: str) -> Path:
        return self.root / f"{stream}.csv"

    def log(self, stream: str, row: dict[str, float | int], step: int) -> None:
        """Append ``row`` to ``<stream>.csv`` (written through at once) and each value to
        TensorBoard at ``step`` (flushed every few seconds and on :meth:`close`)."""
        path = self.csv_path(stream)
        header = self._headers.get(stream)
        if header is None and path.exists():
            with open(path, newline="") as handle:
                header = self._headers[stream] = next(csv.reader(handle))
        if header is not None and list(row) != header:
            raise ValueError(f"metrics for stream {stream!r} must have columns {header}, "
                             f"got {list(row)}")
        with open(path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row), lineterminator="\n")
            if header is None:
                writer.writeheader()
                self._headers[stream] = list(row)
            writer.writerow(row)
        if self._writer is None:
            self._writer = SummaryWriter(str(self.root / "tb"), flush_secs=5,
                                         purge_step=self._purge_step)
        for key, value in row.items():
            self._writer.add_scalar(f"{stream}/{key}", value, step)

    def read(self, stream: str) -> list[dict[str, float]]:
        """Rows of ``<stream>.csv`` as floats (empty if the stream was never logged)."""
        path = self.csv_path(stream)
        if not path.exists():
            return []
        with open(path, newline="") as handle:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]

    def stream_records(self) -> dict[str, tuple[int, str]]:
        """Each stream's CSV size in bytes and SHA-256 now (what a checkpoint vouches for)."""
        return {path.stem: (path.stat().st_size, file_digest(path))
                for path in sorted(self.root.glob("*.csv"))}

    def restore_streams(self, records: dict[str, tuple[int, str]], env_steps: int) -> None:
        """Cut every stream back to what it held at a checkpoint at ``env_steps`` (``records``
        from :meth:`stream_records` then), dropping rows logged after it, in the CSVs and in
        TensorBoard. A CSV whose first bytes differ from what the checkpoint recorded is a
        :class:`~mbrl.util.checkpoint.CheckpointError`; nothing is cut before all are checked."""
        paths = {path.stem: path for path in self.root.glob("*.csv")}
        for stream, (size, sha256) in records.items():
            path = paths.get(stream)
            if path is None or path.stat().st_size < size:
                raise CheckpointError(f"{self.csv_path(stream)} is missing or shorter than at "
                                      f"the checkpoint ({size} bytes)")
            if file_digest(path, size) != sha256:
                raise CheckpointError(f"{path} differs from what the checkpoint recorded: it "
                                      "was changed or damaged")
        for stream, path in paths.items():
            if stream not in records:
                path.unlink()  # a stream first logged after the checkpoint
            elif path.stat().st_size > records[stream][0]:
                with open(path, "r+b") as handle:
                    handle.truncate(records[stream][0])
        self._headers.clear()
        self._purge_step = env_steps + 1

    def plot(self, stream: str, x: str, y: str, title: str = "") -> Path:
        """Save ``<stream>_<y>.png`` (``<y>.png`` when ``y`` already names the stream, as
        ``eval_return`` does): ``y`` against ``x`` from the stream's CSV."""
        rows = self.read(stream)
        figure, axes = plt.subplots(figsize=(6, 4))
        axes.plot([r[x] for r in rows], [r[y] for r in rows], marker="o")
        axes.set_xlabel(x)
        axes.set_ylabel(y)
        axes.set_title(title or f"{self.root.name}: {y}")
        axes.grid(alpha=0.3)
        figure.tight_layout()
        out = self.root / (f"{y}.png" if y.startswith(f"{stream}_") else f"{stream}_{y}.png")
        figure.savefig(out, dpi=100)
        plt.close(figure)
        return out

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
