"""The one run harness under every algorithm (DESIGN idea 7).

A :class:`Run` owns what every training run needs and no algorithm should write again: the
resolved config, seeds by named purpose, a :class:`~mbrl.util.run_folder.RunFolder` with
metrics (CSV + TensorBoard), atomic checkpoints with their replay buffers beside them, exact
resume, a progress bar, an evaluation schedule and a clock of training time (evaluation,
logging and checkpoints excluded). An algorithm subclasses it and writes only its loop.

Resuming a run rebuilds it from its saved config, loads the last checkpoint, drops metric rows
logged after it (CSV rows and TensorBoard points alike) and continues: every random draw comes
from a generator derived from the seed and the point the run is at, so a resumed run continues
the trajectory of results the uninterrupted one would have had.
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from tqdm.auto import tqdm

from mbrl.data.collect import collect
from mbrl.runs.seeds import Seeds
from mbrl.util.checkpoint import CheckpointError, file_digest, load_checkpoint, save_checkpoint
from mbrl.util.config import flatten, from_yaml, identity_changes, load_config, to_yaml
from mbrl.util.run_folder import RunFolder
from mbrl.util.seeding import seed_torch

CHECKPOINT = "latest.pt"
RUN_CLASS = "run_class.txt"  # the Run subclass of a folder, for tools that open any run


def import_run_class(spec: str) -> type[Run]:
    """The ``Run`` subclass named ``"module:Class"``, imported."""
    import importlib

    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def load_run(root: str | Path) -> Run:
    """The run in any run folder as of its last checkpoint (:meth:`Run.load`), whatever its
    algorithm."""
    path = Path(root) / RUN_CLASS
    if not path.exists():
        raise FileNotFoundError(f"{root} is not a run folder (no {RUN_CLASS})")
    return import_run_class(path.read_text().strip()).load(root)


class RunConfig(Protocol):
    """The fields the harness reads from every algorithm's config."""

    EXTENDABLE: ClassVar[frozenset[str]]  # fields a resumed run may change
    seed: int
    output_dir: str
    progress: bool

    def validate(self) -> None: ...


class Buffer(Protocol):
    """Data kept beside a checkpoint: a replay or episode buffer."""

    def save(self, path: str | Path) -> None: ...

    @classmethod
    def load(cls, path: str | Path) -> Buffer: ...


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends (then act on them), so that an interrupt
    never leaves a half-written checkpoint behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda number, frame: received.append(number))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in received:
            signal.raise_signal(sig)


class Clock:
    """Seconds of training: wall time since the run (re)started plus what earlier sessions
    counted, less the time spent in :meth:`paused` sections."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.counted, self._started, self._paused = seconds, time.perf_counter(), 0.0

    @property
    def seconds(self) -> float:
        return self.counted + time.perf_counter() - self._started - self._paused

    @contextmanager
    def paused(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - started


class EvaluationSchedule:
    """Evaluations every ``every`` env steps and at the end (``total``), on the first step at
    or past each point; a loop that steps many env steps between updates takes the points
    inside each stretch first (:meth:`take_inside`)."""

    def __init__(self, every: int, total: int) -> None:
        self.every, self.total, self.next = every, total, every

    def due(self, env_steps: int) -> bool:
        return env_steps >= self.next or env_steps >= self.total

    def advance(self, env_steps: int) -> None:
        while self.next <= env_steps:
            self.next += self.every

    def take_inside(self, start: int, stop: int) -> list[int]:
        """The points strictly between ``start`` and ``stop`` env steps, marked done: the policy
        acting there is the one acting at ``start`` when nothing updates it in between."""
        points = []
        while start < self.next < min(stop, self.total):
            points.append(self.next)
            self.next += self.every
        return points


class Run:
    """Base class of every training run; ``train()`` is the algorithm's loop.

    Subclasses call ``super().__init__(config)`` first (it seeds torch's global generator,
    which only parameter initialisation uses), build every component in ``__init__`` (so a
    bad config fails before any folder exists), and define :meth:`folder_name`,
    :meth:`state_dict` / :meth:`load_state_dict` (counters and learned state), :meth:`buffers`
    (replay or episode buffers saved beside each checkpoint) and :meth:`train`, which logs with
    :meth:`log` and calls :meth:`save` at the points it can resume from.
    """

    config_class: ClassVar[type]  # the config dataclass of this family of runs

    def __init__(self, config: RunConfig) -> None:
        config.validate()
        self.config = config
        self.seeds = Seeds(config.seed)
        seed_torch(config.seed)
        self.env_steps = 0
        self.clock = Clock()
        self._folder: RunFolder | None = None

    # ----- what an algorithm defines -------------------------------------------------------
    def folder_name(self) -> str:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def buffers(self) -> dict[str, Buffer]:
        """Data saved beside each checkpoint, by name (none by default)."""
        return {}

    def load_buffers(self, buffers: dict[str, Buffer]) -> None:
        """Take the buffers :meth:`buffers` saved."""

    def train(self) -> None:
        raise NotImplementedError

    # ----- starting, resuming, running -----------------------------------------------------
    @property
    def folder(self) -> RunFolder:
        if self._folder is None:
            raise RuntimeError("this run has no folder yet: use Run.start or Run.resume")
        return self._folder

    @classmethod
    def for_config(cls, config: RunConfig) -> type[Run]:
        """The class that runs ``config`` (a family of loops picks one by its config)."""
        return cls

    @classmethod
    def start(cls, config: RunConfig) -> Run:
        """Build the run, then create its folder and write its config."""
        run = cls.for_config(config)(config)
        run._folder = RunFolder.create(config.output_dir, run.folder_name())
        run.folder.save_config(config)
        kind = type(run)
        (run.folder.root / RUN_CLASS).write_text(f"{kind.__module__}:{kind.__qualname__}\n")
        return run

    @classmethod
    def resume(cls, root: str | Path, overrides: list[str] | tuple[str, ...] = (),
               config: RunConfig | None = None) -> Run:
        """Continue the run in ``root`` from its last checkpoint.

        The config is the one the checkpoint holds with ``overrides`` (or ``config`` as given);
        only fields in the config's ``EXTENDABLE`` (more episodes or steps, progress) may differ
        from the checkpoint's. Everything is checked before anything is changed: the
        checkpoint's integrity, the buffers' and metric files' hashes and the config; metric
        rows logged after the checkpoint are then dropped (the run logs them again) and
        ``config.yaml`` is rewritten (a damaged copy is repaired, and said so)."""
        folder = RunFolder(root)
        path = folder.checkpoint_dir / CHECKPOINT
        if not path.exists():
            raise CheckpointError(f"{folder.root} has no checkpoint ({path}) to resume from; "
                                  "add --restart to start this run over in its folder")
        state = load_checkpoint(path)
        if config is None:
            config = from_yaml(cls.config_class, state["config_yaml"], overrides,
                               source=f"the config of {path}")
        changes = identity_changes(state["config"], config, type(config).EXTENDABLE)
        if changes:
            raise ValueError(f"resuming {folder.root} would change what the run is: "
                             f"{'; '.join(changes)}. Only {sorted(type(config).EXTENDABLE)} "
                             "may change on resume; to derive a new run from this one use "
                             f"--preset {folder.config_path} with the overrides")
        run = cls.for_config(config)(config)
        run._folder = folder
        buffers = {}
        for name, record in state["buffers"].items():
            file = folder.checkpoint_dir / record["file"]
            if not file.exists() or file_digest(file) != record["sha256"]:
                raise CheckpointError(f"{file} is missing or damaged (its SHA-256 differs from "
                                      "the checkpoint's record)")
            buffers[name] = type(run.buffers()[name]).load(file)
        folder.restore_streams(state["streams"], int(state["env_steps"]))
        run.env_steps = int(state["env_steps"])
        run.clock = Clock(float(state["clock"]))
        run.load_state_dict(state["run"])
        run.load_buffers(buffers)
        saved = folder.config_path.read_bytes() if folder.config_path.exists() else b""
        if saved != state["config_yaml"].encode():
            print(f"note: {folder.config_path} differed from the checkpoint's config (edited or "
                  "damaged); rewritten from the checkpoint", file=sys.stderr)
        folder.save_config(config)
        return run

    @classmethod
    def load(cls, root: str | Path) -> Run:
        """The run in ``root`` as of its last checkpoint, to evaluate or look at: nothing in
        the folder changes (buffers are not loaded)."""
        folder = RunFolder(root)
        state = load_checkpoint(folder.checkpoint_dir / CHECKPOINT)
        config = from_yaml(cls.config_class, state["config_yaml"],
                           source=f"the config of {folder.checkpoint_dir / CHECKPOINT}")
        run = cls.for_config(config)(config)
        run._folder, run.env_steps = folder, int(state["env_steps"])
        run.load_state_dict(state["run"])
        return run

    def evaluation_policy(self) -> Any:
        """The policy the run has learned (the one protocol: ``act(obs, deterministic)``)."""
        raise NotImplementedError

    def evaluation_env(self, render_mode: str | None = None) -> Any:
        """A fresh env of the run's task (``render_mode="rgb_array"`` for videos)."""
        raise NotImplementedError

    @classmethod
    def restart(cls, root: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Run:
        """Start the run in ``root`` over from the beginning with its ``config.yaml`` (and
        ``overrides``): its checkpoints and metrics are deleted."""
        folder = RunFolder(root)
        config = load_config(cls.config_class, folder.config_path, overrides)
        run = cls.for_config(config)(config)
        run._folder = folder
        for path in [*folder.checkpoint_dir.iterdir(), *folder.root.glob("*.csv")]:
            path.unlink()
        shutil.rmtree(folder.root / "tb", ignore_errors=True)
        folder.save_config(config)
        return run

    def run(self) -> Run:
        """Train to the end of the config, then close the folder."""
        try:
            self.train()
        finally:
            self.folder.close()
        return self

    # ----- services ------------------------------------------------------------------------
    def save(self) -> None:
        """Write a checkpoint: buffers first (named by the env step), then ``latest.pt`` naming
        them with their hashes, the config and the metric files' sizes and hashes, replaced
        only once verified on disk; then remove older buffers. Interrupts wait until it is
        written."""
        with self.clock.paused(), deferred_interrupts():
            directory = self.folder.checkpoint_dir
            files = {name: f"{name}-{self.env_steps:09d}.npz" for name in self.buffers()}
            for name, buffer in self.buffers().items():
                buffer.save(directory / files[name])
            save_checkpoint(directory / CHECKPOINT, {
                "format": 1, "env_steps": self.env_steps, "clock": self.clock.seconds,
                "config": flatten(self.config), "config_yaml": to_yaml(self.config),
                "buffers": {name: {"file": file, "sha256": file_digest(directory / file)}
                            for name, file in files.items()},
                "streams": self.folder.stream_records(), "run": self.state_dict()})
            for old in directory.glob("*.npz"):
                if old.name not in files.values():
                    old.unlink()

    def log(self, stream: str, row: dict[str, float | int]) -> None:
        """Append ``row`` to ``<stream>.csv`` and TensorBoard at the current env step."""
        with self.clock.paused():
            self.folder.log(stream, row, step=self.env_steps)

    def plot(self, stream: str, x: str, y: str, title: str) -> None:
        with self.clock.paused():
            self.folder.plot(stream, x, y, title)

    def progress_bar(self, total: int, initial: int, unit: str, desc: str,
                     leave: bool = True) -> tqdm:
        """A progress bar, shown with ``config.progress``."""
        return tqdm(total=total, initial=initial, unit=unit, desc=desc, leave=leave,
                    disable=not self.config.progress)

    @torch.no_grad()
    def evaluate(self, policy: Any, env: Any, episodes: int, seed: int) -> float:
        """Mean return of ``episodes`` deterministic episodes (not counted as training time)."""
        with self.clock.paused():
            return collect(env, policy, episodes=episodes, seed=seed,
                           deterministic=True).mean_return
