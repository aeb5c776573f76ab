"""Fixed-capacity ring buffer of transitions, shared by real and model-generated data."""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np
import torch

from mbrl.util.atomic import atomic_path

FIELDS = ("obs", "act", "rew", "next_obs", "terminated", "truncated")


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read without pickles; a damaged or truncated file is a
    ValueError naming it (FileNotFoundError if it is missing)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no data file at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"{path} is not a readable .npz data file (damaged or truncated?): "
                         f"{error}") from None


def _check_fits_in_memory(capacity: int, bytes_per_transition: int) -> None:
    """Refuse a buffer larger than this machine's memory (the arrays are allocated lazily, so
    it would fail only once filled, far into a run)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: cannot tell
        return
    needed = capacity * bytes_per_transition
    if needed > memory:
        raise ValueError(f"a replay buffer of {capacity} transitions needs {needed / 2**30:.1f} "
                         f"GiB, more than this machine's {memory / 2**30:.1f} GiB: lower its "
                         "capacity (buffer_size)")


@dataclass(frozen=True)
class Batch:
    """A batch of transitions: ``obs [N, S]``, ``act [N, A]``, ``rew [N]``, ``next_obs [N, S]``,
    ``terminated [N]``, ``truncated [N]`` (numpy arrays)."""

    obs: np.ndarray
    act: np.ndarray
    rew: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray

    def __len__(self) -> int:
        return self.obs.shape[0]

    def to_torch(self, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
                 ) -> dict[str, torch.Tensor]:
        """Float fields as ``dtype``, flags as bool, on ``device``."""
        out = {}
        for f in fields(self):
            value = torch.as_tensor(getattr(self, f.name), device=device)
            out[f.name] = value if value.dtype == torch.bool else value.to(dtype)
        return out


class ReplayBuffer:
    """Ring buffer of ``(obs, act, rew, next_obs, terminated, truncated)``.

    Once full, the oldest transitions are overwritten. Discrete actions are stored as a length-1
    action vector holding the index. Observations are vectors ``[S]`` (``obs_dim`` an int) or
    arrays of any shape (``obs_dim`` a tuple, e.g. ``uint8`` frames ``(C, H, W)`` with
    ``obs_dtype``); everything else is stored as ``dtype``.
    """

    def __init__(self, capacity: int, obs_dim: int | tuple[int, ...], act_dim: int,
                 dtype: np.dtype | type = np.float32,
                 obs_dtype: np.dtype | type | None = None) -> None:
        shape = tuple(obs_dim) if isinstance(obs_dim, tuple | list) else (obs_dim,)
        for name, value in [("capacity", capacity), ("act_dim", act_dim),
                            *(("obs_dim", size) for size in shape)]:
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.capacity, self.act_dim = int(capacity), int(act_dim)
        self.obs_shape = tuple(int(size) for size in shape)
        self.dtype = np.dtype(dtype)
        self.obs_dtype = self.dtype if obs_dtype is None else np.dtype(obs_dtype)
        _check_fits_in_memory(self.capacity, 2 * np.prod(self.obs_shape) * self.obs_dtype.itemsize
                              + (self.act_dim + 1) * self.dtype.itemsize + 2)
        self.obs = np.zeros((capacity, *self.obs_shape), self.obs_dtype)
        self.act = np.zeros((capacity, act_dim), self.dtype)
        self.rew = np.zeros(capacity, self.dtype)
        self.next_obs = np.zeros((capacity, *self.obs_shape), self.obs_dtype)
        self.terminated = np.zeros(capacity, bool)
        self.truncated = np.zeros(capacity, bool)
        self._next = 0  # slot the next transition goes into
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, obs: np.ndarray, act: np.ndarray, rew: np.ndarray | float,
            next_obs: np.ndarray, terminated: np.ndarray | bool,
            truncated: np.ndarray | bool) -> None:
        """Add one transition (``obs [S]``) or a batch of them (``obs [N, S]``)."""
        obs = np.asarray(obs)
        single = obs.ndim == len(self.obs_shape)
        columns = [obs, act, rew, next_obs, terminated, truncated]
        columns = [np.asarray(c)[None] if single else np.asarray(c) for c in columns]
        obs, act, rew, next_obs, terminated, truncated = columns
        n = obs.shape[0]
        if act.ndim == 1:  # discrete action indices [N]
            act = act[:, None]
        expected = {"obs": (n, *self.obs_shape), "act": (n, self.act_dim), "rew": (n,),
                    "next_obs": (n, *self.obs_shape), "terminated": (n,), "truncated": (n,)}
        columns = [obs, act, rew, next_obs, terminated, truncated]
        for name, value in zip(FIELDS, columns, strict=True):
            if value.shape != expected[name]:
                raise ValueError(f"{name} must have shape {expected[name]}, got {value.shape}")
            if not np.issubdtype(value.dtype, np.number) and value.dtype != bool:
                raise TypeError(f"{name} must be numeric, got dtype {value.dtype}")
        for name, value in [("obs", obs), ("act", act), ("rew", rew), ("next_obs", next_obs)]:
            if not np.isfinite(value).all():
                raise ValueError(f"{name} contains NaN or Inf; refusing to store it")
        if n > self.capacity:
            raise ValueError(f"cannot add {n} transitions to a buffer of capacity {self.capacity}")
        index = (self._next + np.arange(n)) % self.capacity
        self.obs[index], self.act[index], self.rew[index] = obs, act, rew
        self.next_obs[index] = next_obs
        self.terminated[index], self.truncated[index] = terminated, truncated
        self._next = int((self._next + n) % self.capacity)
        self._size = min(self._size + n, self.capacity)

    def get(self, indices: np.ndarray | slice | None = None) -> Batch:
        """Transitions at ``indices`` (positions 0..len-1, oldest first); all when ``None``."""
        if isinstance(indices, np.ndarray):  # positions -> slots without building the order
            if indices.size and (indices.min() < -self._size or indices.max() >= self._size):
                raise IndexError(f"indices must be in [0, {self._size}), got "
                                 f"[{indices.min()}, {indices.max()}]")
            start = self._next if self._size == self.capacity else 0
            chosen = (start + indices % max(self._size, 1)) % self.capacity
        else:
            order = self._chronological()
            chosen = order if indices is None else order[indices]
        return Batch(*(getattr(self, name)[chosen] for name in FIELDS))

    def sample(self, batch_size: int, generator: np.random.Generator) -> Batch:
        """``batch_size`` transitions drawn uniformly with replacement."""
        if self._size == 0:
            raise ValueError("cannot sample from an empty ReplayBuffer")
        return self.get(generator.integers(0, self._size, size=batch_size))

    def sample_sequences(self, batch_size: int, length: int, generator: np.random.Generator
                         ) -> tuple[Batch, np.ndarray]:
        """``batch_size`` windows of ``length`` consecutive transitions (fields ``[B, L, ...]``),
        starts drawn uniformly with replacement, and ``valid [B, L]``: False from the step after
        an episode ended (terminated or truncated) or past the newest transition, where the
        window's entries are placeholders for a loss to mask."""
        if self._size == 0:
            raise ValueError("cannot sample from an empty ReplayBuffer")
        if int(length) != length or length < 1:
            raise ValueError(f"length must be a positive integer, got {length!r}")
        starts = generator.integers(0, self._size, size=batch_size)
        positions = starts[:, None] + np.arange(length)  # [B, L]
        inside = positions < self._size
        batch = self.get(np.minimum(positions, self._size - 1).reshape(-1))
        done = (batch.terminated | batch.truncated).reshape(batch_size, length)
        ended_before = np.cumsum(done, axis=1) - done > 0
        windows = Batch(*(getattr(batch, name).reshape(batch_size, length,
                                                       *getattr(batch, name).shape[1:])
                          for name in FIELDS))
        return windows, inside & ~ended_before

    def iterate(self, batch_size: int, generator: np.random.Generator | None = None,
                indices: np.ndarray | None = None, drop_last: bool = False) -> Iterator[Batch]:
        """One pass over ``indices`` (default all) in minibatches; shuffled given a generator."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        order = np.arange(self._size) if indices is None else np.asarray(indices)
        if generator is not None:
            order = generator.permutation(order)
        stop = len(order) - (len(order) % batch_size if drop_last else 0)
        for start in range(0, stop, batch_size):
            yield self.get(order[start:start + batch_size])

    def split(self, validation_fraction: float, generator: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
        """Random disjoint ``(train_indices, validation_indices)`` over the stored transitions."""
        if not 0.0 <= validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
        order = generator.permutation(self._size)
        num_validation = int(round(validation_fraction * self._size))
        return order[num_validation:], order[:num_validation]

    def _chronological(self) -> np.ndarray:
        start = self._next if self._size == self.capacity else 0
        return (start + np.arange(self._size)) % self.capacity

    def save(self, path: str | os.PathLike) -> None:
        """Atomically write the stored transitions (oldest first) and the capacity to ``.npz``."""
        batch = self.get()
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, capacity=self.capacity,
                     **{name: getattr(batch, name) for name in FIELDS})

    @classmethod
    def load(cls, path: str | os.PathLike) -> ReplayBuffer:
        """Read a buffer written by :meth:`save`."""
        data = read_npz(path)
        missing = [name for name in (*FIELDS, "capacity") if name not in data]
        if missing:
            raise ValueError(f"{path} is not a ReplayBuffer file: missing {missing}")
        obs, act = data["obs"], data["act"]
        buffer = cls(int(data["capacity"]), obs.shape[1:], act.shape[1], act.dtype, obs.dtype)
        if len(obs):
            buffer.add(obs, act, data["rew"], data["next_obs"], data["terminated"],
                       data["truncated"])
        return buffer
