"""Videos of what a policy does: MP4 files of episodes rendered offscreen (MuJoCo through EGL,
classic control through pygame), written with imageio's ffmpeg plugin."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

os.environ.setdefault("MUJOCO_GL", "egl")  # offscreen rendering, no display needed
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


class Video:
    """Frames appended one by one to the MP4 ``path`` (``with Video(path, fps) as video:
    video.add(frame)``)."""

    def __init__(self, path: str | os.PathLike, fps: int = 30) -> None:
        import imageio.v2 as imageio

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = imageio.get_writer(self.path, fps=fps, codec="libx264", quality=7,
                                          macro_block_size=1)

    def add(self, frame: np.ndarray) -> None:
        self._writer.append_data(np.asarray(frame))

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def record_episode(env: Any, policy: Any, path: str | os.PathLike, seed: int | None = None,
                   deterministic: bool = True, fps: int | None = None,
                   max_steps: int | None = None) -> dict[str, float]:
    """Run one episode of ``policy`` in ``env`` (made with ``render_mode="rgb_array"``) and
    write its frames to the MP4 ``path``; its return and length."""
    if env.render_mode != "rgb_array":
        raise ValueError(f"record_episode needs an env made with render_mode='rgb_array', got "
                         f"{env.render_mode!r}")
    obs, _ = env.reset(seed=seed)
    getattr(policy, "reset", lambda: None)()
    total, steps, done = 0.0, 0, False
    with Video(path, fps or frame_rate(env)) as video:
        video.add(env.render())
        while not done and (max_steps is None or steps < max_steps):
            with torch.no_grad():
                action = policy.act(obs, deterministic=deterministic)
            obs, reward, terminated, truncated, _ = env.step(action)
            video.add(env.render())
            total, steps, done = total + float(reward), steps + 1, terminated or truncated
    return {"return": total, "length": steps}


def frame_rate(env: Any) -> int:
    """The env's own rendering rate (real time), 30 if it declares none."""
    return int(env.metadata.get("render_fps") or 30)
