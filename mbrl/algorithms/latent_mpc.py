"""Model-based RL with a latent world model from pixels and MPC in its latent space (reference
003 §5.3.4, Alg. 26; latent models: Hafner et al. 2019, PlaNet).

1. collect random-policy episodes with pixel observations (and a few held-out ones);
2. train encoder, latent dynamics, reward model and decoder (:mod:`mbrl.models.latent`),
   then measure decoded open-loop predictions on the held-out episodes against copying the
   last frame (``open_loop.json``, a strip of true vs predicted frames ``frames.png``);
3. repeat: one episode of latent MPC (any population planner, in latent space with the learned
   reward), then more training on the grown data before the next.

Every episode is logged and checkpointed (the episodes themselves beside the checkpoint), and
every random draw derives from the seed, the episode and its purpose, so a resumed run continues
the same trajectory of results.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from mbrl.algorithms.planning import (
    CEMConfig,
    PlannerConfig,
    PlannerName,
    build_planner,
)
from mbrl.data import EnvStepper
from mbrl.data.sequences import EpisodeBuffer
from mbrl.envs import make_task
from mbrl.envs.pixels import make_pixel_env
from mbrl.models.latent import LatentModelConfig, LatentWorldModel
from mbrl.policies import LatentMPC, Policy, RandomPolicy
from mbrl.runs import Run
from mbrl.util.atomic import atomic_write
from mbrl.util.config import require_positive
from mbrl.util.errors import check_finite_loss


class Purpose(IntEnum):
    """What a derived seed is for (keys ``(purpose, episode)``)."""

    ENV = 0
    POLICY = 1
    TRAIN = 2
    PLANNER = 3
    EVALUATION = 4


def _latent_planner() -> PlannerConfig:
    return PlannerConfig(name=PlannerName.cem, horizon=12,
                         cem=CEMConfig(population=500, elites=50, iterations=5, init_std=1.0))


@dataclass
class LatentRunConfig:
    """Latent MPC from pixels: data, model, planner and training schedule."""

    EXTENDABLE: ClassVar[frozenset[str]] = frozenset({"mpc_episodes", "progress", "output_dir"})

    task: str = "Pendulum-v1"  # a registered task, rendered offscreen
    seed: int = 0  # run seed: every random draw derives from it
    random_episodes: int = 50  # episodes of uniform random actions to train on first
    heldout_episodes: int = 3  # random episodes kept out of training, for open-loop errors
    mpc_episodes: int = 12  # latent MPC episodes after them
    train_steps: int = 3000  # gradient steps on the random data
    train_steps_per_episode: int = 300  # gradient steps after each MPC episode
    batch_size: int = 16  # windows of model.overshooting + 1 frames per step
    size: int = 64  # frame width and height
    frame_stack: int = 2  # frames per observation
    action_repeat: int = 4  # env steps per action (the model's step)
    episode_steps: int | None = None  # cap on episode length in env steps; None keeps the task's
    # eq. 5.3.6's terms only by default (prediction_weight 0: about half the cost of a step)
    model: LatentModelConfig = field(default_factory=lambda: LatentModelConfig(
        prediction_weight=0.0))
    planner: PlannerConfig = field(default_factory=_latent_planner)
    output_dir: str = "runs"  # parent folder of the run folder
    progress: bool = True  # progress bars

    def validate(self) -> None:
        make_task(self.task)
        require_positive(self, "random_episodes", "heldout_episodes", "batch_size",
                         "size", "frame_stack", "action_repeat")
        for name in ("mpc_episodes", "train_steps", "train_steps_per_episode"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.episode_steps is not None and self.episode_steps < self.action_repeat:
            raise ValueError(f"episode_steps must be >= action_repeat or null, got "
                             f"{self.episode_steps}")
        if self.size != 64:
            raise ValueError(f"the convolutional encoder takes 64 x 64 frames, got size "
                             f"{self.size}")
        self.model.validate()
        self.planner.validate()


class LatentMPCRun(Run):
    """One run; ``train()`` continues from wherever it stopped."""

    config_class = LatentRunConfig

    def __init__(self, config: LatentRunConfig) -> None:
        super().__init__(config)
        self.env = EnvStepper(self.evaluation_env())
        space = self.env.env.action_space
        self.model = LatentWorldModel(self.env.env.observation_space.shape, space.shape[0],
                                      config.model)
        self.optimizer = torch.optim.Adam(self.model.parameters(),
                                          lr=config.model.learning_rate)
        self.mpc = LatentMPC(self.model.encode, build_planner(config.planner), self.model.problem(
            torch.as_tensor(space.low, dtype=torch.float32),
            torch.as_tensor(space.high, dtype=torch.float32), config.planner.horizon))
        self.data, self.heldout = EpisodeBuffer(), EpisodeBuffer()
        self.episode = 0

    def folder_name(self) -> str:
        return f"latent-{self.config.task}-s{self.config.seed}"

    # ----- the loop (reference 003 Alg. 26) ------------------------------------------------
    def train(self) -> None:
        config = self.config
        first_mpc = config.random_episodes + config.heldout_episodes
        bar = self.progress_bar(first_mpc + config.mpc_episodes, self.episode, "ep",
                                f"latent {config.task}")
        while self.episode < first_mpc + config.mpc_episodes:
            mpc = self.episode >= first_mpc
            metrics = {}
            if mpc and self.episode > first_mpc:  # train on the grown data, then act
                metrics = self.fit(config.train_steps_per_episode)
            policy: Policy = self.mpc if mpc else RandomPolicy(
                self.env.env.action_space, self.seeds.derive(Purpose.POLICY, self.episode),
                obs_ndim=3)
            if mpc:
                self.mpc.mpc.planner.generator = self.seeds.torch(Purpose.PLANNER, self.episode)
            obs, actions, rewards = self.run_episode(policy)
            (self.data if self.episode < config.random_episodes or mpc
             else self.heldout).add_episode(obs, actions, rewards)
            self.env_steps += config.action_repeat * len(rewards)
            if self.episode == first_mpc - 1:  # the random data is complete
                metrics = self.fit(config.train_steps)
                self.evaluate_open_loop()
            self.log("episodes", {"episode": self.episode, "mpc": int(mpc),
                                  "return": float(rewards.sum()), "length": len(rewards),
                                  "env_steps": self.env_steps,
                                  **{f"loss_{k}": metrics.get(k, float("nan"))
                                     for k in ("latent", "reward", "reconstruction")},
                                  "wall_seconds": self.clock.seconds})
            self.plot("episodes", "env_steps", "return",
                      f"latent MPC {config.task} (seed {config.seed})")
            self.episode += 1
            self.save()
            bar.update(1)
            bar.set_postfix(ret=f"{rewards.sum():.1f}")
            if mpc:
                tqdm.write(f"latent MPC episode {self.episode - first_mpc}: return "
                           f"{rewards.sum():.1f}, env steps {self.env_steps}")
        bar.close()

    def run_episode(self, policy: Policy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One episode: ``(obs [T+1, C, H, W], actions [T, A], rewards [T])``."""
        obs = self.env.reset(self.seeds.derive(Purpose.ENV, self.episode))
        getattr(policy, "reset", lambda: None)()
        frames, actions, rewards, done = [obs], [], [], False
        while not done:
            with torch.no_grad():
                step = self.env.step(np.asarray(policy.act(obs), dtype=np.float32))
            frames.append(step.next_obs[0])
            actions.append(step.actions[0])
            rewards.append(step.rewards[0])
            obs, done = self.env.obs, bool(step.done[0])
        return np.stack(frames), np.stack(actions), np.asarray(rewards, np.float32)

    def fit(self, steps: int) -> dict[str, float]:
        """``steps`` gradient steps on windows of the training episodes; the last metrics."""
        rng = self.seeds.numpy(Purpose.TRAIN, self.episode)
        generator = self.seeds.torch(Purpose.TRAIN, self.episode)
        self.model.train()
        metrics: dict[str, float] = {}
        bar = self.progress_bar(steps, 0, "step", "train world model", leave=False)
        last_loss = float("nan")
        for step in range(steps):
            obs, actions, rewards = self.data.sample(self.config.batch_size,
                                                     self.model.config.overshooting, rng)
            loss, metrics = self.model.loss(obs, actions, rewards, generator)
            where = f"episode {self.episode}, step {step}"
            check_finite_loss("latent world model", where, loss.item(), last_loss)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 100.0)
            check_finite_loss("latent world model (gradient norm)", where, float(norm),
                              last_loss)
            self.optimizer.step()
            last_loss = loss.item()
            bar.update(1)
            bar.set_postfix(latent=f"{metrics['latent']:.4f}", rew=f"{metrics['reward']:.3f}")
        bar.close()
        self.model.eval()
        return metrics

    def evaluate_open_loop(self) -> None:
        """Decoded open-loop predictions of held-out windows against copying the last frame,
        and the reward error along them: ``open_loop.json`` and ``frames.png``."""
        with self.clock.paused():
            obs, actions, rewards = self.heldout.sample(
                64, self.model.config.overshooting, self.seeds.numpy(Purpose.EVALUATION))
            model_error, copy_error = self.model.open_loop_error(obs, actions)
            result = {"open_loop_mse_model": model_error.tolist(),
                      "open_loop_mse_copy_last": copy_error.tolist(),
                      "open_loop_reward_rmse": open_loop_reward_error(self.model, obs, actions,
                                                                      rewards).tolist(),
                      "model_beats_copy_at_every_step": bool((model_error < copy_error).all()),
                      "reward_std": float(rewards.std())}
            text = (json.dumps(result, indent=1) + "\n").encode()
            atomic_write(self.folder.root / "open_loop.json", lambda handle: handle.write(text))
            frame_strip(self.model, obs[0], actions[0]).save(self.folder.root / "frames.png")

    # ----- evaluation ----------------------------------------------------------------------
    def evaluation_policy(self) -> LatentMPC:
        self.mpc.mpc.planner.generator = self.seeds.torch("evaluation planner")
        return self.mpc

    def evaluation_env(self, render_mode: str | None = None) -> Any:
        """The pixel env (it renders ``rgb_array`` frames already, at the model's size)."""
        config = self.config
        return make_pixel_env(config.task, config.size, config.frame_stack,
                              config.action_repeat, max_episode_steps=config.episode_steps)

    # ----- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"episode": self.episode, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.episode = int(state["episode"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])

    def buffers(self) -> dict[str, EpisodeBuffer]:
        return {"episodes": self.data, "heldout": self.heldout}

    def load_buffers(self, buffers: dict[str, EpisodeBuffer]) -> None:
        self.data, self.heldout = buffers["episodes"], buffers["heldout"]

    def summary(self) -> dict[str, Any]:
        rows = self.folder.read("episodes")
        first_mpc = self.config.random_episodes + self.config.heldout_episodes
        return {"task": self.config.task, "seed": self.config.seed,
                "settings": asdict(self.config), "run_dir": str(self.folder.root),
                "random_returns": [r["return"] for r in rows[:first_mpc]],
                "random_mean_return": float(np.mean([r["return"] for r in rows[:first_mpc]])),
                "latent_mpc_returns": [r["return"] for r in rows[first_mpc:]],
                "env_steps": self.env_steps, "wall_seconds": self.clock.seconds}


@torch.no_grad()
def open_loop_reward_error(model: LatentWorldModel, obs: torch.Tensor, actions: torch.Tensor,
                           rewards: torch.Tensor) -> torch.Tensor:
    """Root mean squared error ``[K]`` of the rewards predicted along open-loop latent rollouts
    from ``g(obs [B, K+1, ...][:, 0])`` with ``actions [B, K, A]``."""
    latent, errors = model.encode(obs[:, 0]), []
    for k in range(actions.shape[1]):
        errors.append((model.reward(latent, actions[:, k]) - rewards[:, k]).square().mean().sqrt())
        latent = model.step(latent, actions[:, k])
    return torch.stack(errors)


@torch.no_grad()
def frame_strip(model: LatentWorldModel, obs: torch.Tensor, actions: torch.Tensor) -> Image.Image:
    """Top row: real frames 0..K of ``obs [K+1, C, H, W]``; bottom row: frame 0 and the decoded
    open-loop predictions along ``actions [K, A]``."""
    imagined = (model.imagine(obs[None, 0], actions[None])[0] + 0.5).clamp(0, 1)
    predicted = [obs[0, -3:].float() / 255.0, *imagined]
    real = [o[-3:].float() / 255.0 for o in obs]
    rows = [torch.cat(list(frames), dim=2) for frames in (real, predicted)]
    image = (torch.cat(rows, dim=1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 2),
                                         Image.Resampling.NEAREST)
