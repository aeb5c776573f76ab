"""Model-based RL with MPC through a learned model (reference 003 Alg. 25, "MBRL version 1.5";
Nagabandi et al. 2018; with a probabilistic ensemble and particles, PETS, Chua et al. 2018).

1. collect random-policy episodes into the buffer;
2. repeat: fit the dynamics model (and the terminal value, if any) to the buffer, run one
   episode of MPC through the model with the task's exact reward/termination functions,
   refitting during the episode when ``model.retrain_every`` / ``retrain_growth`` say so,
   and append the real transitions.

``version`` names the chapter's earlier steps as settings of the same loop (reference 003):
``"0.5"`` (Alg. 23) fits the model once, to the random data, and only plans through it
afterwards (no data aggregation: the model never sees the states its plans reach); ``"1.0"``
(Alg. 24) refits before every episode but executes each plan open loop, all ``horizon``
actions, before planning again (``replan_every = horizon``); ``"1.5"`` (Alg. 25, the default)
is MPC: replan after every ``planner.replan_every`` actions.

Every episode is logged (CSV, TensorBoard, learning-curve PNG) and checkpointed; a resumed run
continues the same trajectory of results (:mod:`mbrl.runs.harness`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar

import gymnasium as gym
import torch
from tqdm.auto import tqdm

from mbrl.algorithms.models import DynamicsModelConfig, build_dynamics_model, fit_settings
from mbrl.algorithms.planning import PlannerConfig, PlannerName, build_planner, build_problem
from mbrl.data import EnvStepper, ReplayBuffer
from mbrl.envs import make_task
from mbrl.envs.video import Video, frame_rate
from mbrl.models.propagation import EnsembleDynamics
from mbrl.models.value import StateValue, fit_state_value
from mbrl.policies import RandomPolicy
from mbrl.runs import Run
from planners import MPC
from planners.problem import ValueFn

VERSIONS = ("0.5", "1.0", "1.5")


class Purpose(IntEnum):
    """What a derived seed is for (keys ``(episode, purpose[, step])``)."""

    ENV = 0
    POLICY = 1
    TRAIN = 2
    PLANNER = 3
    PROPAGATION = 4
    VALUE = 5


@dataclass
class TerminalValueConfig:
    """A learned ``V(s)`` added as ``discount^H V(s_H)`` to every planned sequence's score, with
    in-horizon rewards discounted alike (``mbrl.models.value``); refitted to TD(lambda)
    returns of the buffer whenever the model is (before every MPC episode, and within one with
    ``model.retrain_every`` / ``retrain_growth``). ``warm_start=False`` draws fresh weights
    for every refit: a warm refit starts from a function fitted under the previous input
    statistics, and dozens of them on a small, growing buffer ended in a value no single fit
    gives (higher at the ends of InvertedPendulum's rail than at its centre)."""

    enabled: bool = False  # plan with a learned terminal value
    discount: float = 0.99  # discount of the value and of the in-horizon rewards
    lam: float = 0.95  # TD(lambda) of the value's targets
    hidden_size: int = 64  # units per hidden layer
    num_layers: int = 2  # hidden layers
    learning_rate: float = 1e-3  # Adam step size
    rounds: int = 5  # target recomputations per fit
    epochs_per_round: int = 5  # regression epochs per round
    ensemble_size: int = 1  # value networks (scored together, see pessimism)
    pessimism: float = 0.0  # the planner sees mean - pessimism * std over the members
    # continue every refit from the last one's weights; False starts each from fresh weights
    warm_start: bool = True
    # add this multiple of the task's shaping potential (TaskSpec.potential) to the terminal
    # value, learned or not (enabled=false): potential-based shaping of a sparse reward
    potential_scale: float = 0.0

    def validate(self) -> None:
        if not (0.0 < self.discount <= 1.0 and 0.0 <= self.lam <= 1.0):
            raise ValueError("terminal_value needs discount in (0, 1] and lam in [0, 1], got "
                             f"{self.discount} and {self.lam}")
        if self.rounds < 1 or self.epochs_per_round < 1:
            raise ValueError("terminal_value.rounds and epochs_per_round must be >= 1")
        if self.ensemble_size < 1 or self.pessimism < 0:
            raise ValueError("terminal_value needs ensemble_size >= 1 and pessimism >= 0, got "
                             f"{self.ensemble_size} and {self.pessimism}")
        if self.pessimism and self.ensemble_size == 1:
            raise ValueError("terminal_value.pessimism needs ensemble_size >= 2: one member has "
                             "no spread")
        if not (self.potential_scale >= 0 and math.isfinite(self.potential_scale)):
            raise ValueError("terminal_value.potential_scale must be finite and >= 0, got "
                             f"{self.potential_scale}")


@dataclass
class MBRLConfig:
    """The MPC loop: a task, a learned dynamics model, a planner and its schedule."""

    EXTENDABLE: ClassVar[frozenset[str]] = frozenset({"episodes", "progress", "output_dir",
                                                       "video_every", "stop_at_return"})

    task: str = "CartPoleSwingUp"  # a registered task (mbrl.envs.list_tasks())
    seed: int = 0  # run seed: every random draw derives from it
    random_episodes: int = 1  # episodes of uniform random actions before the first fit
    episodes: int = 15  # MPC episodes after them
    episode_steps: int | None = None  # cap on episode length; None keeps the task's
    # end the run at the first MPC episode whose return reaches this (None: run all episodes)
    stop_at_return: float | None = None
    # MBRL version (module docstring): 0.5 fit once to the random data; 1.0 open-loop plans
    # (replan_every = horizon); 1.5 MPC
    version: str = "1.5"
    buffer_capacity: int = 1_000_000  # transitions kept (oldest overwritten)
    # train the model and the value on the buffer and its mirror image (the
    # task's reflection symmetry, ``TaskSpec.mirror``)
    mirror_data: bool = False
    model: DynamicsModelConfig = field(default_factory=DynamicsModelConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    terminal_value: TerminalValueConfig = field(default_factory=TerminalValueConfig)
    output_dir: str = "runs"  # parent folder of the run folder
    progress: bool = True  # progress bars and a line per episode
    video_every: int = 0  # record every k-th MPC episode to videos/episode-<n>.mp4 (0: never)

    def validate(self) -> None:
        task = make_task(self.task)
        for name in ("random_episodes", "episodes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.random_episodes < 1:
            raise ValueError("random_episodes must be >= 1: the model needs data to start from")
        if self.episode_steps is not None and self.episode_steps < 1:
            raise ValueError(f"episode_steps must be >= 1 or null, got {self.episode_steps}")
        if self.video_every < 0:
            raise ValueError(f"video_every must be >= 0, got {self.video_every}")
        if self.terminal_value.potential_scale and task.potential is None:
            raise ValueError(f"terminal_value.potential_scale needs a task with a shaping "
                             f"potential; {self.task} declares none")
        if self.mirror_data and task.mirror is None:
            raise ValueError(f"mirror_data needs a task with a mirror symmetry; {self.task} "
                             "declares none")
        for part in (self.model, self.planner, self.terminal_value):
            part.validate()
        if self.version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)}, got "
                             f"{self.version!r}")
        if self.version == "1.0" and self.planner.replan_every != 1:
            raise ValueError("version 1.0 executes each plan whole (replan_every = horizon); "
                             "leave planner.replan_every unset")
        if self.version == "0.5" and (self.model.retrain_every or self.model.retrain_growth):
            raise ValueError("version 0.5 fits the model once: model.retrain_every and "
                             "retrain_growth must be unset")
        discrete_planners = (PlannerName.categorical_cem, PlannerName.random_shooting)
        if task.discrete_actions and self.planner.name not in discrete_planners:
            raise ValueError(f"{self.task} has discrete actions: planner.name=categorical_cem "
                             f"or random_shooting, not {self.planner.name.value}")
        if not task.discrete_actions and self.planner.name == PlannerName.categorical_cem:
            raise ValueError(f"categorical_cem plans discrete actions; {self.task} has "
                             "continuous ones")


class MBRLRun(Run):
    """One run of the loop; ``train()`` continues from wherever it stopped."""

    config_class = MBRLConfig

    def __init__(self, config: MBRLConfig) -> None:
        super().__init__(config)
        self.task = task = make_task(config.task)
        model_config, value_config = config.model, config.terminal_value
        self.model = build_dynamics_model(model_config, task)
        self.model.eval()
        self.dynamics = self.model.planning_dynamics(model_config.num_particles,
                                                     model_config.propagation.value)
        if isinstance(self.dynamics, EnsembleDynamics):
            self.dynamics.stacked_rows = model_config.stacked_rows
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=model_config.learning_rate,
                                          weight_decay=model_config.weight_decay, fused=True)
        self.fit_settings = fit_settings(model_config)
        self.buffer = ReplayBuffer(config.buffer_capacity, task.obs_dim, task.act_dim)
        self.mirror = (tuple(torch.tensor(signs) for signs in task.mirror)
                       if config.mirror_data else None)
        self.episode = 0
        self.fitted_size = 0  # buffer size at the last refit (every MPC episode starts with one)
        self.env = EnvStepper(self.evaluation_env("rgb_array" if config.video_every else None))
        self.value = (StateValue(task.obs_dim, hidden_size=value_config.hidden_size,
                                 num_layers=value_config.num_layers,
                                 ensemble_size=value_config.ensemble_size,
                                 pessimism=value_config.pessimism,
                                 ignored_obs_dims=task.reward_only_dims)
                      if value_config.enabled else None)
        self.value_optimizer = (None if self.value is None else torch.optim.Adam(
            self.value.parameters(), lr=value_config.learning_rate, fused=True))
        shaped = bool(value_config.potential_scale)
        problem = build_problem(task, self.dynamics, config.planner.horizon,
                                self.dynamics.num_particles, self.terminal_value_fn(),
                                value_config.discount if value_config.enabled or shaped else 1.0)
        replan_every = (config.planner.horizon if config.version == "1.0"
                        else config.planner.replan_every)
        self.mpc = MPC(build_planner(config.planner), problem, replan_every)

    def terminal_value_fn(self) -> ValueFn | None:
        """What the planner adds at the horizon: the learned value, ``potential_scale`` times
        the task's potential, their sum, or None."""
        scale, potential = self.config.terminal_value.potential_scale, self.task.potential
        if not scale:
            return self.value
        if self.value is None:
            return lambda states: scale * potential(states)
        return lambda states: self.value(states) + scale * potential(states)

    def folder_name(self) -> str:
        version = "" if self.config.version == "1.5" else f"-mbrl{self.config.version}"
        return f"{self.config.task}{version}-s{self.config.seed}"

    @property
    def total_episodes(self) -> int:
        return self.config.random_episodes + self.config.episodes

    # ----- the loop (reference 003 Alg. 25) ------------------------------------------------
    def train(self) -> None:
        config = self.config
        bar = self.progress_bar(self.total_episodes, self.episode, "ep", config.task)
        while self.episode < self.total_episodes:
            mpc = self.episode >= config.random_episodes
            fit = mpc and (config.version != "0.5" or self.episode == config.random_episodes)
            val_mse, value_mse = self.refit(0) if fit else (float("nan"), float("nan"))
            returns, steps, acting_seconds = self.run_episode(mpc)
            self.env_steps += steps
            row = {"episode": self.episode, "mpc": int(mpc), "return": returns,
                   "length": steps, "env_steps": self.env_steps, "model_val_mse": val_mse,
                   "value_mse": value_mse,
                   "ms_per_step": 1000 * acting_seconds / steps if mpc else float("nan"),
                   "wall_seconds": self.clock.seconds}
            self.log("episodes", row)
            self.plot("episodes", "env_steps", "return", f"{config.task} (seed {config.seed})")
            self.episode += 1
            self.save()
            bar.update(1)
            bar.set_postfix(ret=f"{returns:.1f}", steps=self.env_steps)
            tqdm.write(f"episode {row['episode']:3d} {'mpc' if mpc else 'random':6s} return "
                       f"{returns:9.2f}  length {steps:4d}  model val mse {val_mse:.4f}")
            if mpc and config.stop_at_return is not None and returns >= config.stop_at_return:
                break
        bar.close()

    def run_episode(self, mpc: bool) -> tuple[float, int, float]:
        """One episode into the buffer, MPC (refitting when due) or random; its return, its
        length and the seconds spent acting (planning included, refits excluded)."""
        episode, seeds = self.episode, self.seeds
        if mpc:
            self.mpc.planner.generator = seeds.torch(episode, Purpose.PLANNER)
            self.dynamics.generator = seeds.torch(episode, Purpose.PROPAGATION)
            policy = self.mpc
        else:
            policy = RandomPolicy(self.task.action_space, seeds.derive(episode, Purpose.POLICY))
        obs = self.env.reset(seeds.derive(episode, Purpose.ENV))
        if mpc:
            self.mpc.reset()
        steps, refit_seconds, done = 0, 0.0, False
        mpc_episode = episode - self.config.random_episodes
        video = (Video(self.folder.root / "videos" / f"episode-{episode:04d}.mp4",
                       frame_rate(self.env.env))
                 if mpc and self.config.video_every and mpc_episode % self.config.video_every == 0
                 else None)
        started = time.perf_counter()
        bar = self.progress_bar(self.config.episode_steps or self.task.max_episode_steps, 0,
                                "step", "episode", leave=False)
        while not done:
            if mpc and steps and self.refit_due(steps):
                refit_started = time.perf_counter()
                self.refit(steps)
                refit_seconds += time.perf_counter() - refit_started
            if video is not None:
                with self.clock.paused():
                    video.add(self.env.env.render())
            with torch.no_grad():
                step = self.env.step(policy.act(obs))
            self.buffer.add(step.obs, step.actions.reshape(1, -1), step.rewards, step.next_obs,
                            step.terminated, step.truncated)
            obs, steps, done = self.env.obs, steps + 1, bool(step.done[0])
            bar.update(1)
        bar.close()
        if video is not None:
            video.close()
        (returns,), _ = self.env.episodes.pop()
        return returns, steps, time.perf_counter() - started - refit_seconds

    def refit(self, step: int) -> tuple[float, float]:
        """Refit the model and the terminal value (if any) to the buffer, at ``step`` of the
        episode; return the model's validation MSE and the value's regression MSE."""
        self.fitted_size = len(self.buffer)
        return self.fit_model(step), self.fit_value(step)

    def refit_due(self, step: int) -> bool:
        """Whether to refit at ``step`` (> 0) of an MPC episode (``model.retrain_every``,
        ``model.retrain_growth``)."""
        every, growth = self.config.model.retrain_every, self.config.model.retrain_growth
        return ((every is not None and step % every == 0)
                or (growth is not None and len(self.buffer) >= growth * self.fitted_size))

    def fit_model(self, step: int) -> float:
        """Fit the model to the buffer; return its (elites') validation MSE."""
        rng = self.seeds.numpy(self.episode, Purpose.TRAIN, *_step_key(step))
        result = self.model.fit(self.buffer, self.optimizer, rng, self.fit_settings, self.mirror,
                                self.config.progress)
        return self.model.validation_mse(result)

    def fit_value(self, step: int) -> float:
        """Refit the terminal value (if any) to the buffer; return its final regression MSE."""
        if self.value is None:
            return float("nan")
        config = self.config.terminal_value
        keys = (self.episode, Purpose.VALUE, *_step_key(step))
        if not config.warm_start:
            self.value.reinitialize(self.seeds.torch(*keys))
            self.value_optimizer.state.clear()
        mse = fit_state_value(self.value, self.buffer, self.value_optimizer,
                              self.seeds.numpy(*keys), discount=config.discount, lam=config.lam,
                              rounds=config.rounds, epochs_per_round=config.epochs_per_round,
                              mirror=self.mirror)
        self.value.eval()
        return mse

    # ----- evaluation ----------------------------------------------------------------------
    def evaluation_policy(self) -> MPC:
        self.mpc.planner.generator = self.seeds.torch("evaluation planner")
        self.dynamics.generator = self.seeds.torch("evaluation propagation")
        return self.mpc

    def evaluation_env(self, render_mode: str | None = None) -> gym.Env:
        return self.task.make_env(render_mode=render_mode,
                                  max_episode_steps=self.config.episode_steps)

    # ----- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {"episode": self.episode, "model": self.model.state_dict(),
                 "optimizer": self.optimizer.state_dict()}
        if self.value is not None:
            state.update(value=self.value.state_dict(),
                         value_optimizer=self.value_optimizer.state_dict())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.episode = int(state["episode"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.value is not None:
            self.value.load_state_dict(state["value"])
            self.value_optimizer.load_state_dict(state["value_optimizer"])

    def buffers(self) -> dict[str, ReplayBuffer]:
        return {"buffer": self.buffer}

    def load_buffers(self, buffers: dict[str, ReplayBuffer]) -> None:
        self.buffer = buffers["buffer"]

    def returns(self) -> list[float]:
        """Every episode's return so far (resumed ones included)."""
        return [r["return"] for r in self.folder.read("episodes")]


def _step_key(step: int) -> tuple[int, ...]:
    """Seed keys for a refit at ``step`` of an episode (none at its start, as before refits
    within episodes existed, so earlier runs reproduce)."""
    return (step,) if step else ()
