"""Whole episodes for sequence models (latent world models): windows sampled with a generator."""

from __future__ import annotations

import os

import numpy as np
import torch

from mbrl.data.buffer import read_npz
from mbrl.util.atomic import atomic_path


class EpisodeBuffer:
    """Episodes of ``obs [T+1, *obs_shape]`` (any dtype, e.g. ``uint8`` pixels),
    ``actions [T, A]`` and ``rewards [T]``, each marked as terminated (its last transition
    reached a terminal state) or not (cut by a time limit); :meth:`sample` draws windows of
    ``length`` steps within episodes, :meth:`sample_windows` masked windows of every episode
    with the continuation flags too."""

    def __init__(self) -> None:
        self.episodes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.terminated: list[bool] = []

    def __len__(self) -> int:
        return sum(len(rewards) for _, _, rewards in self.episodes)

    def add_episode(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                    terminated: bool = False) -> None:
        obs, actions, rewards = np.asarray(obs), np.asarray(actions), np.asarray(rewards)
        steps = len(rewards)
        if steps < 1 or obs.shape[0] != steps + 1 or actions.shape[0] != steps:
            raise ValueError(f"an episode needs obs [T+1, ...], actions [T, A], rewards [T] with "
                             f"T >= 1; got {obs.shape}, {actions.shape}, {rewards.shape}")
        if self.episodes and obs.shape[1:] != self.episodes[0][0].shape[1:]:
            raise ValueError(f"observation shape {obs.shape[1:]} differs from the stored "
                             f"{self.episodes[0][0].shape[1:]}")
        self.episodes.append((obs, actions.reshape(steps, -1).astype(np.float32),
                              rewards.astype(np.float32)))
        self.terminated.append(bool(terminated))

    def sample(self, batch_size: int, length: int, rng: np.random.Generator
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(obs [B, L+1, ...], actions [B, L, A], rewards [B, L])`` from uniformly drawn
        windows of ``length`` steps within episodes at least that long (for a loss that does
        not mask; :meth:`sample_windows` takes every episode)."""
        usable = [i for i, e in enumerate(self.episodes) if len(e[2]) >= length]
        if not usable:
            raise ValueError(f"no stored episode has {length} steps")
        weights = np.array([len(self.episodes[i][2]) - length + 1 for i in usable], dtype=float)
        obs, actions, rewards = [], [], []
        for index in rng.choice(len(usable), size=batch_size, p=weights / weights.sum()):
            episode_obs, episode_actions, episode_rewards = self.episodes[usable[index]]
            start = rng.integers(0, len(episode_rewards) - length + 1)
            obs.append(episode_obs[start:start + length + 1])
            actions.append(episode_actions[start:start + length])
            rewards.append(episode_rewards[start:start + length])
        return (torch.as_tensor(np.stack(obs)), torch.as_tensor(np.stack(actions)),
                torch.as_tensor(np.stack(rewards)))

    def sample_windows(self, batch_size: int, length: int, rng: np.random.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                  torch.Tensor]:
        """Windows of ``length`` steps from every episode, short ones too: ``(obs [B, L+1,
        ...], actions [B, L, A], rewards [B, L], continues [B, L], valid [B, L])``.
        ``continues`` is 0 for the transition that ended a terminated episode, 1 elsewhere; a
        window of an episode shorter than ``length`` runs past its end, where ``valid`` is 0
        (the last frame repeated, zero actions and rewards: placeholders for a loss to mask).
        An episode of ``T`` steps is drawn with weight ``max(T, length)`` and its window starts
        uniformly in ``[0, max(T - length, 0)]``, so every episode's inner transitions are
        drawn at about the same rate (``length`` windows per unit weight), short ones
        included."""
        if not self.episodes:
            raise ValueError("the buffer holds no episodes")
        steps = np.array([len(rewards) for _, _, rewards in self.episodes])
        weights = np.maximum(steps, length).astype(float)
        chosen = rng.choice(len(steps), size=batch_size, p=weights / weights.sum())
        obs, actions, rewards, continues, valid = [], [], [], [], []
        for episode in chosen:
            episode_obs, episode_actions, episode_rewards = self.episodes[episode]
            start = rng.integers(0, max(steps[episode] - length, 0) + 1)
            real = min(length, steps[episode] - start)
            pad = length - real
            frames = episode_obs[start:start + real + 1]
            obs.append(np.concatenate([frames, np.repeat(frames[-1:], pad, 0)]))
            actions.append(np.pad(episode_actions[start:start + real], ((0, pad), (0, 0))))
            rewards.append(np.pad(episode_rewards[start:start + real], (0, pad)))
            flags = np.ones(length, np.float32)
            if self.terminated[episode] and start + real == steps[episode]:
                flags[real - 1] = 0.0
            continues.append(flags)
            valid.append(np.arange(length) < real)
        return tuple(torch.as_tensor(np.stack(x))
                     for x in (obs, actions, rewards, continues, valid))

    def save(self, path: str | os.PathLike) -> None:
        """Atomically write every episode (concatenated, with their lengths) to ``.npz``."""
        if not self.episodes:
            arrays = {"obs": np.zeros((0,)), "actions": np.zeros((0, 0), np.float32),
                      "rewards": np.zeros(0, np.float32), "lengths": np.zeros(0, np.int64),
                      "terminated": np.zeros(0, bool)}
        else:
            obs, actions, rewards = zip(*self.episodes, strict=True)
            arrays = {"obs": np.concatenate(obs), "actions": np.concatenate(actions),
                      "rewards": np.concatenate(rewards),
                      "lengths": np.array([len(r) for r in rewards], np.int64),
                      "terminated": np.array(self.terminated, bool)}
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> EpisodeBuffer:
        """Read a buffer written by :meth:`save`."""
        buffer = cls()
        data = read_npz(path)
        missing = [name for name in ("obs", "actions", "rewards", "lengths") if name not in data]
        if missing:
            raise ValueError(f"{path} is not an EpisodeBuffer file: missing {missing}")
        obs_start = step_start = 0
        terminated = data.get("terminated", np.zeros(len(data["lengths"]), bool)).tolist()
        for length, ended in zip(data["lengths"].tolist(), terminated, strict=True):
            buffer.add_episode(data["obs"][obs_start:obs_start + length + 1],
                               data["actions"][step_start:step_start + length],
                               data["rewards"][step_start:step_start + length], ended)
            obs_start, step_start = obs_start + length + 1, step_start + length
        return buffer
