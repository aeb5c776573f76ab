"""Model-based RL with MPC through a learned model (reference 003 Alg. 25, "MBRL version 1.5").

1. collect random-policy episodes into the buffer;
2. repeat: fit the dynamics model to the buffer, run one episode of MPC through the model with
   the task's exact reward/termination functions, append the real transitions.

Every episode is logged (CSV, TensorBoard, learning-curve PNG) and checkpointed atomically; a
run resumed from its folder continues the same trajectory of results, because every random
draw comes from a generator derived from ``(seed, episode)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

from mbrl.data import ReplayBuffer, collect
from mbrl.envs import TaskSpec, make_task
from mbrl.models import FitSettings, MLPDynamics, ProbabilisticEnsemble
from mbrl.models.propagation import MODES
from mbrl.models.value import StateValue, fit_state_value
from mbrl.policies import RandomPolicy
from mbrl.util.checkpoint import load_checkpoint, save_checkpoint
from mbrl.util.run_folder import RunFolder
from mbrl.util.seeding import derive_seed, numpy_generator, seed_torch, torch_generator
from planners import CEM, ICEM, MPC, MPPI, Planner, Problem, RandomShooting
from planners.problem import Dynamics

# purposes for derived seeds: (seed, episode, purpose)
_ENV, _POLICY, _TRAIN, _PLANNER, _PROPAGATION, _VALUE = range(6)


@dataclass
class DynamicsModelConfig:
    """``kind="mlp"``: a deterministic MLP; ``kind="ensemble"``: a probabilistic ensemble
    planned through with ``num_particles`` particles propagated by ``propagation`` (PETS)."""

    kind: str = "mlp"
    hidden_size: int = 200
    num_layers: int = 3
    learning_rate: float = 1e-3
    weight_decay: float = 0.0  # MLP only; the ensemble uses per-layer PETS weight decays
    batch_size: int = 256
    max_epochs: int = 50
    patience: int = 5
    validation_fraction: float = 0.1
    ensemble_size: int = 5
    num_elites: int = 5
    probabilistic: bool = True
    propagation: str = "ts_inf"
    num_particles: int = 20
    retrain_every: int | None = None  # also refit (model and value) every k steps of an episode
    # also refit within an episode once the buffer has grown by this factor since the last fit:
    # often while data is scarce, rarely once it is plentiful
    retrain_growth: float | None = None


@dataclass
class TerminalValueConfig:
    """A learned ``V(s)`` added as ``discount^H V(s_H)`` to every planned sequence's score, with
    in-horizon rewards discounted alike (``mbrl.models.value``); refitted to TD(lambda)
    returns of the buffer whenever the model is (before every MPC episode, and within one with
    ``model.retrain_every`` / ``retrain_growth``). ``warm_start=False`` draws fresh weights
    for every refit: a warm refit starts from a function fitted under the previous input
    statistics, and dozens of them on a small, growing buffer ended in a value no single fit
    gives (higher at the ends of InvertedPendulum's rail than at its centre)."""

    enabled: bool = False
    discount: float = 0.99
    lam: float = 0.95
    hidden_size: int = 64
    num_layers: int = 2
    learning_rate: float = 1e-3
    rounds: int = 5
    epochs_per_round: int = 5
    ensemble_size: int = 1
    pessimism: float = 0.0  # the planner sees mean - pessimism * std over the members
    # continue every refit from the last one's weights; False starts each from fresh weights
    warm_start: bool = True


PLANNERS = ("random_shooting", "cem", "icem", "mppi")


@dataclass
class PlannerConfig:
    """Which population planner MPC runs and its settings (fields a planner does not use are
    ignored by it); see ``planners.shooting`` for their meaning."""

    name: str = "random_shooting"
    num_samples: int = 1000  # population (CEM, iCEM) or samples (random shooting, MPPI)
    horizon: int = 25
    replan_every: int = 1
    elites: int = 50  # CEM, iCEM
    iterations: int = 5  # CEM, iCEM, MPPI
    smoothing: float = 0.1  # CEM, iCEM (mean/std), MPPI (update along time)
    init_std: float = 0.5  # CEM, iCEM: fraction of the half action range
    min_std: float = 1e-3  # CEM, iCEM: fraction of the half action range
    noise_beta: float = 2.0  # iCEM coloured noise exponent
    population_decay: float = 1.25  # iCEM
    keep_elites: float = 0.3  # iCEM
    temperature: float = 1.0  # MPPI
    noise_std: float = 0.5  # MPPI, in action units


def build_planner(config: PlannerConfig) -> Planner:
    """The planner named by ``config.name`` (its generator is set per episode by the loop)."""
    if config.name == "random_shooting":
        return RandomShooting(config.num_samples)
    if config.name == "cem":
        return CEM(config.num_samples, config.elites, config.iterations, config.smoothing,
                   config.init_std, config.min_std)
    if config.name == "icem":
        return ICEM(config.num_samples, config.elites, config.iterations, config.smoothing,
                    config.init_std, config.min_std, config.noise_beta, config.population_decay,
                    config.keep_elites)
    if config.name == "mppi":
        return MPPI(config.num_samples, config.temperature, config.noise_std,
                    iterations=config.iterations, smoothing=config.smoothing)
    raise ValueError(f"planner.name must be one of {PLANNERS}, got {config.name!r}")


@dataclass
class MBRLConfig:
    task: str = "CartPoleSwingUp"
    seed: int = 0
    random_episodes: int = 1
    episodes: int = 15
    episode_steps: int | None = None  # cap on episode length; None keeps the task's
    buffer_capacity: int = 1_000_000
    # train the model and the value on the buffer and its mirror image (the
    # task's reflection symmetry, ``TaskSpec.mirror``)
    mirror_data: bool = False
    model: DynamicsModelConfig = field(default_factory=DynamicsModelConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    terminal_value: TerminalValueConfig = field(default_factory=TerminalValueConfig)
    output_dir: str = "runs"
    progress: bool = True

    def validate(self) -> None:
        make_task(self.task)
        for name in ("random_episodes", "episodes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.random_episodes < 1:
            raise ValueError("random_episodes must be >= 1: the model needs data to start from")
        if self.episode_steps is not None and self.episode_steps < 1:
            raise ValueError(f"episode_steps must be >= 1 or null, got {self.episode_steps}")
        if self.model.retrain_every is not None and self.model.retrain_every < 1:
            raise ValueError(f"model.retrain_every must be >= 1 or null, got "
                             f"{self.model.retrain_every}")
        if self.model.retrain_growth is not None and not self.model.retrain_growth > 1.0:
            raise ValueError(f"model.retrain_growth must be > 1 or null, got "
                             f"{self.model.retrain_growth}")
        build_planner(self.planner)
        if self.mirror_data and make_task(self.task).mirror is None:
            raise ValueError(f"mirror_data needs a task with a mirror symmetry; {self.task} "
                             "declares none")
        if self.model.kind not in ("mlp", "ensemble"):
            raise ValueError(f"model.kind must be 'mlp' or 'ensemble', got {self.model.kind!r}")
        if self.model.kind == "ensemble" and self.model.propagation not in MODES:
            raise ValueError(f"model.propagation must be one of {MODES}, got "
                             f"{self.model.propagation!r}")
        value = self.terminal_value
        if not (0.0 < value.discount <= 1.0 and 0.0 <= value.lam <= 1.0):
            raise ValueError("terminal_value needs discount in (0, 1] and lam in [0, 1], got "
                             f"{value.discount} and {value.lam}")
        if value.rounds < 1 or value.epochs_per_round < 1:
            raise ValueError("terminal_value.rounds and epochs_per_round must be >= 1")
        if value.ensemble_size < 1 or value.pessimism < 0:
            raise ValueError("terminal_value needs ensemble_size >= 1 and pessimism >= 0, got "
                             f"{value.ensemble_size} and {value.pessimism}")
        if value.pessimism and value.ensemble_size == 1:
            raise ValueError("terminal_value.pessimism needs ensemble_size >= 2: one member has "
                             "no spread")


def build_problem(task: TaskSpec, model: Dynamics, horizon: int, num_particles: int = 1,
                  terminal_value: StateValue | None = None, discount: float = 1.0) -> Problem:
    """The planning problem: learned dynamics + the task's exact reward and termination (and
    optionally a learned terminal value with its discount)."""
    space = task.action_space
    if not isinstance(space, gym.spaces.Box):
        raise ValueError(f"task {task.name} has {type(space).__name__} actions; the MPC loop "
                         "plans continuous actions (Box)")
    return Problem(dynamics=model, reward_fn=task.reward_fn, termination_fn=task.termination_fn,
                   action_low=torch.as_tensor(space.low, dtype=torch.float32),
                   action_high=torch.as_tensor(space.high, dtype=torch.float32), horizon=horizon,
                   num_particles=num_particles, terminal_value=terminal_value, discount=discount)


class MBRLRun:
    """State of one run of the loop; ``run()`` continues from wherever it stopped."""

    def __init__(self, config: MBRLConfig, folder: RunFolder) -> None:
        config.validate()
        self.config, self.folder = config, folder
        self.task = make_task(config.task)
        seed_torch(config.seed)
        model_config = config.model
        if model_config.kind == "ensemble":
            self.model = ProbabilisticEnsemble(
                self.task.obs_dim, self.task.act_dim, model_config.ensemble_size,
                model_config.hidden_size, model_config.num_layers, model_config.probabilistic,
                num_elites=model_config.num_elites, task=self.task.name)
            weight_decay = 0.0
        else:
            self.model = MLPDynamics(self.task.obs_dim, self.task.act_dim,
                                     model_config.hidden_size, model_config.num_layers)
            weight_decay = model_config.weight_decay
        self.dynamics = self.model.planning_dynamics(model_config.num_particles,
                                                     model_config.propagation)
        num_particles = self.dynamics.num_particles
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=model_config.learning_rate,
                                          weight_decay=weight_decay, fused=True)
        self.buffer = ReplayBuffer(config.buffer_capacity, self.task.obs_dim, self.task.act_dim)
        self.mirror = (tuple(torch.tensor(signs) for signs in self.task.mirror)
                       if config.mirror_data else None)
        self.episode, self.env_steps, self.wall_seconds = 0, 0, 0.0
        self.fitted_size = 0  # buffer size at the last refit (every MPC episode starts with one)
        self.env = self.task.make_env(max_episode_steps=config.episode_steps)
        self.model.eval()
        value_config = config.terminal_value
        self.value = (StateValue(self.task.obs_dim, value_config.hidden_size,
                                 value_config.num_layers, value_config.ensemble_size,
                                 value_config.pessimism) if value_config.enabled else None)
        self.value_optimizer = (None if self.value is None else torch.optim.Adam(
            self.value.parameters(), lr=value_config.learning_rate, fused=True))
        self.mpc = MPC(build_planner(config.planner),
                       build_problem(self.task, self.dynamics, config.planner.horizon,
                                     num_particles, self.value,
                                     value_config.discount if value_config.enabled else 1.0),
                       config.planner.replan_every)

    @property
    def total_episodes(self) -> int:
        return self.config.random_episodes + self.config.episodes

    @classmethod
    def resume(cls, config: MBRLConfig, folder: RunFolder) -> MBRLRun:
        """Reload the latest checkpoint of ``folder`` (metrics after it are dropped)."""
        run = cls(config, folder)
        path = folder.checkpoint_dir / "latest.pt"
        if path.exists():
            state = load_checkpoint(path)
            run.model.load_state_dict(state["model"])
            run.optimizer.load_state_dict(state["optimizer"])
            if (run.value is not None) != ("value" in state):
                raise ValueError(f"{path} was saved with terminal_value.enabled="
                                 f"{'value' in state}; resume it with the same setting")
            if run.value is not None:
                run.value.load_state_dict(state["value"])
                run.value_optimizer.load_state_dict(state["value_optimizer"])
            run.episode, run.env_steps = int(state["episode"]), int(state["env_steps"])
            run.wall_seconds = float(state["wall_seconds"])
            run.buffer = ReplayBuffer.load(folder.checkpoint_dir / state["buffer_file"])
        folder.truncate("episodes", "episode", run.episode - 1)
        return run

    def run(self) -> list[float]:
        """Run the remaining episodes; return every episode's return (resumed ones included)."""
        bar = tqdm(total=self.total_episodes, initial=self.episode, desc=self.config.task,
                   unit="ep", disable=not self.config.progress)
        while self.episode < self.total_episodes:
            row = self._run_episode()
            bar.update(1)
            bar.set_postfix(ret=f"{row['return']:.1f}", steps=self.env_steps)
            tqdm.write(f"episode {row['episode']:3d} {'mpc' if row['mpc'] else 'random':6s} "
                       f"return {row['return']:9.2f}  length {row['length']:4d}  "
                       f"model val mse {row['model_val_mse']:.4f}")
        bar.close()
        self.folder.close()
        return [r["return"] for r in self.folder.read("episodes")]

    def _run_episode(self) -> dict[str, float]:
        config, episode = self.config, self.episode
        started = time.perf_counter()
        val_mse, value_mse, plan_ms = float("nan"), float("nan"), float("nan")
        mpc = episode >= config.random_episodes
        if not mpc:
            policy = RandomPolicy(self.task.action_space,
                                  derive_seed(config.seed, episode, _POLICY))
        else:
            val_mse, value_mse = self._refit(0)
            self.mpc.planner.generator = torch_generator(config.seed, episode, _PLANNER)
            self.dynamics.generator = torch_generator(config.seed, episode, _PROPAGATION)
            policy = self.mpc
            if config.model.retrain_every is not None or config.model.retrain_growth is not None:
                policy = RefittingPolicy(self.mpc, self._refit_due, self._refit)
        plan_started = time.perf_counter()
        with torch.no_grad():
            outcome = collect(self.env, policy, episodes=1, buffer=self.buffer,
                              seed=derive_seed(config.seed, episode, _ENV),
                              progress=config.progress and "episode")
        if mpc:
            plan_ms = 1000 * (time.perf_counter() - plan_started) / outcome.steps
        self.env_steps += outcome.steps
        self.wall_seconds += time.perf_counter() - started
        row = {"episode": episode, "mpc": int(mpc),
               "return": outcome.episode_returns[0], "length": outcome.episode_lengths[0],
               "env_steps": self.env_steps, "model_val_mse": val_mse, "value_mse": value_mse,
               "ms_per_step": plan_ms, "wall_seconds": self.wall_seconds}
        self.folder.log("episodes", row, step=self.env_steps)
        self.folder.plot("episodes", "env_steps", "return", title=f"{config.task} (seed "
                         f"{config.seed})")
        self.episode += 1
        self._checkpoint()
        return row

    def _refit(self, step: int) -> tuple[float, float]:
        """Refit the model and the terminal value (if any) to the buffer, at ``step`` of the
        episode; return the model's validation MSE and the value's regression MSE."""
        self.fitted_size = len(self.buffer)
        return self._train_model(step), self._fit_value(step)

    def _refit_due(self, step: int) -> bool:
        """Whether to refit at ``step`` (> 0) of an MPC episode (``model.retrain_every``,
        ``model.retrain_growth``)."""
        every, growth = self.config.model.retrain_every, self.config.model.retrain_growth
        return ((every is not None and step % every == 0)
                or (growth is not None and len(self.buffer) >= growth * self.fitted_size))

    def _train_model(self, step: int) -> float:
        """Fit the model to the buffer; return its (mean over members) validation MSE."""
        config, model_config = self.config, self.config.model
        rng = numpy_generator(config.seed, self.episode, _TRAIN, *_step_key(step))
        settings = FitSettings(model_config.batch_size, model_config.max_epochs,
                               model_config.patience, model_config.validation_fraction)
        result = self.model.fit(self.buffer, self.optimizer, rng, settings, self.mirror,
                                config.progress)
        return self.model.validation_mse(result)

    def _fit_value(self, step: int) -> float:
        """Refit the terminal value (if any) to the buffer; return its final regression MSE."""
        if self.value is None:
            return float("nan")
        config = self.config.terminal_value
        keys = (self.config.seed, self.episode, _VALUE, *_step_key(step))
        if not config.warm_start:
            self.value.reinitialize(torch_generator(*keys))
            self.value_optimizer.state.clear()
        rng = numpy_generator(*keys)
        self.value.train()
        mse = fit_state_value(self.value, self.buffer, self.value_optimizer, rng, config.discount,
                              config.lam, config.rounds, config.epochs_per_round,
                              mirror=self.mirror)
        self.value.eval()
        return mse

    def _checkpoint(self) -> None:
        directory = self.folder.checkpoint_dir
        buffer_file = f"buffer-{self.episode:05d}.npz"
        self.buffer.save(directory / buffer_file)
        save_checkpoint(directory / "latest.pt", {
            "episode": self.episode, "env_steps": self.env_steps,
            "wall_seconds": self.wall_seconds, "buffer_file": buffer_file,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            **({} if self.value is None else {
                "value": self.value.state_dict(),
                "value_optimizer": self.value_optimizer.state_dict()})})
        for old in directory.glob("buffer-*.npz"):
            if old.name != buffer_file:
                old.unlink()


def _step_key(step: int) -> tuple[int, ...]:
    """Seed keys for a refit at ``step`` of an episode (none at its start, as before refits
    within episodes existed, so earlier runs reproduce)."""
    return (step,) if step else ()


class RefittingPolicy:
    """MPC that refits the model (and value) to the buffer during an episode, at the steps for
    which ``due(step)`` holds, so that an episode plans with what its own first steps taught
    (mbrl-lib's ``freq_train_model``). ``refit(step)`` is called with the step of the episode."""

    def __init__(self, mpc: MPC, due: Callable[[int], bool],
                 refit: Callable[[int], object]) -> None:
        self.mpc, self.due, self.refit = mpc, due, refit
        self.steps = 0

    def reset(self) -> None:
        self.mpc.reset()
        self.steps = 0

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        if self.steps and self.due(self.steps):
            with torch.enable_grad():
                self.refit(self.steps)
        self.steps += 1
        return self.mpc.act(obs, deterministic)


def run_mbrl(config: MBRLConfig, resume_dir: str | Path | None = None) -> tuple[RunFolder,
                                                                               list[float]]:
    """Start (or, with ``resume_dir``, continue) a run; returns its folder and episode returns."""
    if resume_dir is not None:
        folder = RunFolder(resume_dir)
        run = MBRLRun.resume(config, folder)
        folder.save_config(config)
    else:
        folder = RunFolder.create(config.output_dir, f"{config.task}-s{config.seed}")
        folder.save_config(config)
        run = MBRLRun(config, folder)
    return folder, run.run()
