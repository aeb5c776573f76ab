"""The episode loop that PlaNet and Dreamer share (Hafner et al. 2019, 2020; reference 003
Alg. 26): a recurrent state-space model (:mod:`mbrl.models.rssm`) learned from whole episodes,
pixels or states, and a policy that acts from its filtered state.

    `seed_episodes` episodes of uniform random actions
    every episode after that:
        `updates_per_episode` updates, each on B windows of L transitions from every episode
            so far: the RSSM's ELBO, then the algorithm's own learning (Dreamer: actor and
            critic in imagination; PlaNet: none)
        one episode with the algorithm's policy from the filtered state, plus Gaussian
            exploration noise (`exploration_std`)
        every `eval_every` episodes: `eval_episodes` deterministic episodes

Episodes, the last update's losses before each episode and evaluations go to
``episodes.csv``, ``train.csv`` and ``eval.csv``; a checkpoint (model, optimisers, the
episodes themselves) follows every episode, and every random draw derives from the seed, the
episode and its purpose, so a resumed run continues the same trajectory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

from mbrl.data import EnvStepper
from mbrl.data.sequences import EpisodeBuffer
from mbrl.envs import make_task
from mbrl.envs.pixels import make_observed_env
from mbrl.envs.rewards import never_terminates
from mbrl.models.rssm import RSSM, RSSMConfig, RSSMFilter
from mbrl.policies import RandomPolicy
from mbrl.runs import Run
from mbrl.util.config import require_positive
from mbrl.util.errors import check_finite_loss


class Purpose(IntEnum):
    """What a derived seed is for (keys ``(purpose, episode)``)."""

    ENV = 0
    RANDOM_POLICY = 1
    TRAIN = 2
    ACT = 3
    EVALUATION = 4


@dataclass
class WorldModelRunConfig:
    """The episode schedule, observations and model of the shared loop."""

    EXTENDABLE: ClassVar[frozenset[str]] = frozenset({"episodes", "progress", "output_dir"})

    task: str = "Pendulum-v1"  # a registered continuous-action task
    seed: int = 0  # run seed: every random draw derives from it
    pixels: bool = True  # observe rendered frames (else the task's state vector)
    size: int = 64  # frame width and height
    frame_stack: int = 1  # frames per observation (the RSSM's recurrence remembers the rest)
    action_repeat: int = 2  # env steps per action (the model's step)
    seed_episodes: int = 5  # episodes of uniform random actions first
    episodes: int = 60  # episodes in all, the seed episodes included
    updates_per_episode: int = 100  # updates before each episode after the seed episodes
    batch_size: int = 16  # windows per update
    sequence_length: int = 32  # transitions per window (shorter episodes: padded, masked)
    exploration_std: float = 0.3  # std of the acting noise, a fraction of the half action range
    eval_every: int = 10  # episodes between evaluations (0: none)
    eval_episodes: int = 10  # deterministic episodes per evaluation
    output_dir: str = "runs"  # parent folder of the run folder
    progress: bool = True  # progress bars
    model: RSSMConfig = field(default_factory=RSSMConfig)

    def validate(self) -> None:
        task = make_task(self.task)
        if not isinstance(task.action_space, gym.spaces.Box):
            raise ValueError(f"the world-model loop acts with continuous actions; {self.task} "
                             f"has {task.action_space}")
        require_positive(self, "size", "frame_stack", "action_repeat", "seed_episodes",
                         "episodes", "batch_size", "sequence_length", "eval_episodes")
        if self.updates_per_episode < 0 or self.eval_every < 0 or self.exploration_std < 0:
            raise ValueError(f"updates_per_episode, eval_every and exploration_std must be >= "
                             f"0, got {self.updates_per_episode}, {self.eval_every}, "
                             f"{self.exploration_std}")
        if self.pixels and self.size != 64:
            raise ValueError(f"the convolutional encoder takes 64 x 64 frames, got size "
                             f"{self.size}")
        self.model.validate()


class FilteredPolicy:
    """The policy protocol over an RSSM's filtered state: ``act(obs)`` updates the filter with
    the observation, asks ``act_from_state(state [D + S], deterministic)`` for the action, adds
    exploration noise unless ``deterministic`` and remembers the action for the next update."""

    def __init__(self, rssm_filter: RSSMFilter, act_from_state: Any, space: gym.spaces.Box,
                 exploration_std: float, generator: torch.Generator,
                 reset_hook: Any = None) -> None:
        self.filter, self.act_from_state, self.space = rssm_filter, act_from_state, space
        self.noise = exploration_std * (space.high - space.low) / 2
        self.generator, self.reset_hook = generator, reset_hook

    def reset(self) -> None:
        self.filter.reset()
        if self.reset_hook is not None:
            self.reset_hook()

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        state = self.filter.update(obs)
        action = np.asarray(self.act_from_state(state, deterministic), np.float32)
        if not deterministic and self.noise.any():
            noise = torch.randn(action.shape, generator=self.generator).numpy() * self.noise
            action = np.clip(action + noise, self.space.low, self.space.high).astype(np.float32)
        self.filter.record_action(action)
        return action


class WorldModelRun(Run):
    """The module docstring's loop. Subclasses implement :meth:`act_from_state` and may
    extend :meth:`learn` (called after each model update with the posterior states) and the
    checkpointed state."""

    config_class = WorldModelRunConfig

    def __init__(self, config: WorldModelRunConfig) -> None:
        super().__init__(config)
        self.task = make_task(config.task)
        self.env = EnvStepper(self.make_env())
        self.space = self.env.env.action_space
        self.model = RSSM(self.env.env.observation_space.shape, self.space.shape[0],
                          config.model, terminates=self.task.termination_fn is not never_terminates)
        self.model_optimizer = torch.optim.Adam(self.model.parameters(),
                                                lr=config.model.learning_rate)
        self.data = EpisodeBuffer()
        self.episode = 0
        self.act_generator = self.seeds.torch(Purpose.ACT)

    def folder_name(self) -> str:
        return f"{self.label()}-{self.config.task}-s{self.config.seed}"

    def label(self) -> str:
        raise NotImplementedError

    def make_env(self, render_mode: str | None = None) -> gym.Env:
        """The task's env as the config observes it (:func:`make_observed_env`)."""
        config = self.config
        return make_observed_env(config.task, config.pixels, config.size, config.frame_stack,
                                 config.action_repeat, render_mode)

    # ----- what an algorithm provides ------------------------------------------------------
    def act_from_state(self, state: torch.Tensor, deterministic: bool) -> np.ndarray:
        """The action ``[A]`` from the filtered model state ``[D + S]``."""
        raise NotImplementedError

    def reset_acting(self) -> None:
        """Called at each episode start (e.g. to forget a plan)."""

    def learn(self, states: torch.Tensor, generator: torch.Generator, where: str
              ) -> dict[str, float]:
        """Learning after each model update from its posterior states of real frames
        ``[N, D + S]`` (detached); the metrics to log (default: none)."""
        return {}

    # ----- the loop ------------------------------------------------------------------------
    def policy(self) -> FilteredPolicy:
        return FilteredPolicy(RSSMFilter(self.model), self.act_from_state, self.space,
                              self.config.exploration_std, self.act_generator,
                              self.reset_acting)

    def train(self) -> None:
        config = self.config
        bar = self.progress_bar(config.episodes, self.episode, "ep", f"{self.label()} "
                                f"{config.task}")
        while self.episode < config.episodes:
            seeding = self.episode < config.seed_episodes
            if not seeding and config.updates_per_episode:
                metrics = self.fit(config.updates_per_episode)
                self.log("train", {"episode": self.episode, "env_steps": self.env_steps,
                                   **metrics, "train_seconds": self.clock.seconds})
            policy = RandomPolicy(self.space, self.seeds.derive(Purpose.RANDOM_POLICY,
                                                                self.episode),
                                  obs_ndim=len(self.env.env.observation_space.shape)
                                  ) if seeding else self.policy()
            obs, actions, rewards, terminated = self.run_episode(
                policy, self.seeds.derive(Purpose.ENV, self.episode))
            self.data.add_episode(obs, actions, rewards, terminated)
            self.env_steps += config.action_repeat * len(rewards)
            self.log("episodes", {"episode": self.episode, "random": int(seeding),
                                  "return": float(rewards.sum()), "length": len(rewards),
                                  "env_steps": self.env_steps,
                                  "train_seconds": self.clock.seconds})
            self.episode += 1
            if config.eval_every and not seeding and self.episode % config.eval_every == 0:
                self.evaluate_policy(bar)
            self.save()
            bar.update(1)
            bar.set_postfix(ret=f"{rewards.sum():.1f}")
        bar.close()

    def run_episode(self, policy: Any, seed: int, deterministic: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """One episode: ``(obs [T+1, ...], actions [T, A], rewards [T], terminated)``."""
        obs = self.env.reset(seed)
        getattr(policy, "reset", lambda: None)()
        frames, actions, rewards = [obs], [], []
        while True:
            with torch.no_grad():
                step = self.env.step(np.asarray(policy.act(obs, deterministic),
                                                 dtype=np.float32))
            frames.append(step.next_obs[0])
            actions.append(step.actions[0])
            rewards.append(step.rewards[0])
            obs = self.env.obs
            if step.done[0]:
                return (np.stack(frames), np.stack(actions), np.asarray(rewards, np.float32),
                        bool(step.terminated[0]))

    def fit(self, updates: int) -> dict[str, float]:
        """``updates`` model updates (each followed by :meth:`learn`); the last metrics."""
        config, model = self.config, self.model
        rng = self.seeds.numpy(Purpose.TRAIN, self.episode)
        generator = self.seeds.torch(Purpose.TRAIN, self.episode)
        metrics: dict[str, float] = {}
        last_loss = math.nan
        bar = self.progress_bar(updates, 0, "update", "train world model", leave=False)
        for update in range(updates):
            where = f"episode {self.episode}, update {update}"
            obs, actions, rewards, continues, valid = self.data.sample_windows(
                config.batch_size, config.sequence_length, rng)
            loss, states, metrics = model.loss(obs, actions, rewards, continues, generator,
                                               valid)
            check_finite_loss("RSSM", where, loss.item(), last_loss)
            self.model_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.model.max_grad_norm)
            self.model_optimizer.step()
            last_loss = loss.item()
            metrics = {**metrics, **self.learn(states.detach(), generator, where)}
            bar.update(1)
        bar.close()
        return metrics

    def evaluate_policy(self, bar: tqdm) -> None:
        config = self.config
        with self.clock.paused():
            policy, returns = self.policy(), []
            for index in range(config.eval_episodes):
                seed = self.seeds.derive(Purpose.EVALUATION, self.episode, index)
                returns.append(float(self.run_episode(policy, seed, deterministic=True)[2].sum()))
        mean_return = float(np.mean(returns))
        self.log("eval", {"episode": self.episode, "env_steps": self.env_steps,
                          "eval_return": mean_return, "train_seconds": self.clock.seconds})
        self.plot("eval", "episode", "eval_return",
                  f"{self.label()} {config.task} (seed {config.seed})")
        tqdm.write(f"{self.label()} {config.task} episode {self.episode}  eval return "
                   f"{mean_return:9.2f}")
        bar.set_postfix(eval_return=f"{mean_return:.1f}")

    def evaluations(self) -> list[dict[str, float]]:
        return self.folder.read("eval")

    def evaluation_policy(self) -> FilteredPolicy:
        """The acting policy from the filtered state (``mbrl eval`` acts deterministically)."""
        return self.policy()

    def evaluation_env(self, render_mode: str | None = None) -> gym.Env:
        return self.make_env(render_mode)

    # ----- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"episode": self.episode, "model": self.model.state_dict(),
                "model_optimizer": self.model_optimizer.state_dict(),
                "act_generator": self.act_generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.episode = int(state["episode"])
        self.model.load_state_dict(state["model"])
        self.model_optimizer.load_state_dict(state["model_optimizer"])
        self.act_generator.set_state(state["act_generator"])

    def buffers(self) -> dict[str, EpisodeBuffer]:
        return {"episodes": self.data}

    def load_buffers(self, buffers: dict[str, EpisodeBuffer]) -> None:
        self.data = buffers["episodes"]
