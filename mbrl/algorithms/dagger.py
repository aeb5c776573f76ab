"""DAgger: distil any expert with ``act()`` into a neural-network policy (reference 003 §5.7.3;
Ross, Gordon and Bagnell 2011).

Iteration ``i`` (``beta_i = beta_decay ** i``, so iteration 0 is the expert alone):

1. run ``episodes_per_iteration`` episodes in which each step's action comes from the expert
   with probability ``beta_i`` and from the student otherwise, and ask the expert for its
   action at every state visited: the student's own state distribution, expert labels;
2. aggregate those (state, expert action) pairs with every earlier iteration's;
3. fit the student to all of them by supervised learning (mean squared error on the action
   for continuous actions, cross-entropy for discrete ones), warm-started from the last fit;
4. evaluate the student alone (deterministic episodes).

The expert is a run folder's learned policy (``expert.kind=run``: PPO, SAC, an MPC run over a
learned model, ...) or MPC through the true MuJoCo simulator (``simulator_mpc``, planning from
the live env's physics state). Each iteration logs the seconds per ``act()`` of expert and
student, measured on the same states, so the distilled policy's speed-up is read in one run.
A resumed run continues identically for the simulator expert (its planner is reseeded each
iteration) and for experts that act deterministically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mbrl.algorithms.planning import PlannerConfig, build_planner
from mbrl.data.buffer import read_npz
from mbrl.envs import MujocoSimulator, make_task
from mbrl.envs.tasks import TaskSpec
from mbrl.nn import ObservationInput, mlp
from mbrl.runs import Run
from mbrl.runs.harness import load_run
from mbrl.util.atomic import atomic_path
from mbrl.util.config import require_positive


class Purpose(IntEnum):
    ENV = 0
    MIXTURE = 1
    FIT = 2
    EVAL = 3
    EXPERT = 4


class ExpertKind(str, Enum):
    run = "run"
    simulator_mpc = "simulator_mpc"


@dataclass
class ExpertConfig:
    kind: ExpertKind = ExpertKind.simulator_mpc  # a run folder's policy, or simulator MPC
    run_dir: str | None = None  # kind=run: the run folder whose learned policy is the expert
    planner: PlannerConfig = field(default_factory=PlannerConfig)  # kind=simulator_mpc

    def __post_init__(self) -> None:
        self.kind = ExpertKind(self.kind)


@dataclass
class StudentConfig:
    hidden: tuple[int, ...] = (64, 64)  # hidden layer widths
    activation: str = "tanh"  # tanh | relu | silu | elu
    learning_rate: float = 1e-3  # Adam step size
    epochs: int = 30  # passes over the aggregated data per iteration
    batch_size: int = 256  # minibatch size


@dataclass
class DAggerConfig:
    """DAgger of an expert into a network on one task."""

    EXTENDABLE: ClassVar[frozenset[str]] = frozenset({"iterations", "progress", "output_dir"})

    task: str = "InvertedPendulum-v5"  # a registered task (mbrl.envs.list_tasks())
    seed: int = 0  # run seed: every random draw derives from it
    iterations: int = 6  # DAgger iterations (the first labels the expert's own episodes)
    episodes_per_iteration: int = 2  # episodes collected per iteration
    episode_steps: int | None = None  # cap on episode length; None keeps the task's
    beta_decay: float = 0.5  # the expert acts at a step with probability beta_decay ** i
    eval_episodes: int = 10  # deterministic episodes of the student per iteration
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    output_dir: str = "runs"  # parent folder of the run folder
    progress: bool = True  # progress bar

    def validate(self) -> None:
        task = make_task(self.task)
        require_positive(self, "iterations", "episodes_per_iteration", "eval_episodes")
        require_positive(self.student, "epochs", "batch_size", prefix="student.")
        if self.student.learning_rate <= 0:
            raise ValueError(f"student.learning_rate must be > 0, got "
                             f"{self.student.learning_rate}")
        if self.episode_steps is not None and self.episode_steps < 1:
            raise ValueError(f"episode_steps must be >= 1 or null, got {self.episode_steps}")
        if not 0.0 <= self.beta_decay <= 1.0:
            raise ValueError(f"beta_decay must be in [0, 1], got {self.beta_decay}")
        if self.expert.kind == ExpertKind.run:
            if not self.expert.run_dir:
                raise ValueError("expert.kind=run needs expert.run_dir (a run folder)")
            if not (Path(self.expert.run_dir) / "config.yaml").exists():
                raise ValueError(f"expert.run_dir {self.expert.run_dir} is not a run folder")
        else:
            MujocoSimulator(task).close()  # names a task the simulator cannot model
            self.expert.planner.validate()


class StudentPolicy(nn.Module):
    """The distilled network: ``act(obs [S] or [N, S])`` as every policy here. Continuous
    actions are ``offset + scale * tanh(net(obs))`` (inside the bounds by construction),
    discrete ones the argmax of its logits. The task's reward-only observation dims are not
    among its inputs."""

    def __init__(self, task: TaskSpec, config: StudentConfig) -> None:
        super().__init__()
        self.discrete = task.discrete_actions
        out = int(task.action_space.n) if self.discrete else task.act_dim
        self.obs_input = ObservationInput(task.obs_dim, task.reward_only_dims)
        self.net = mlp([self.obs_input.dim, *config.hidden, out], config.activation)
        if not self.discrete:
            low = torch.as_tensor(task.action_space.low, dtype=torch.float32)
            high = torch.as_tensor(task.action_space.high, dtype=torch.float32)
            self.register_buffer("scale", (high - low) / 2)
            self.register_buffer("offset", (high + low) / 2)

    def forward(self, obs: Tensor) -> Tensor:
        """Actions ``[B, A]`` (continuous) or logits ``[B, K]`` (discrete)."""
        out = self.net(self.obs_input(obs))
        return out if self.discrete else self.offset + self.scale * torch.tanh(out)

    def loss(self, obs: Tensor, labels: Tensor) -> Tensor:
        """Supervised loss against expert actions ``[B, A]`` (indices ``[B, 1]`` if discrete)."""
        out = self(obs)
        if self.discrete:
            return F.cross_entropy(out, labels[:, 0].long())
        return F.mse_loss(out, labels)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        single = np.ndim(obs) == 1
        out = self(torch.as_tensor(np.atleast_2d(obs), dtype=torch.float32))
        actions = out.argmax(-1).numpy() if self.discrete else out.numpy()
        return actions[0] if single else actions


class LabelledStates:
    """The aggregated dataset: states ``[N, S]`` with the expert's actions ``[N, A]``."""

    def __init__(self, obs_dim: int, act_dim: int) -> None:
        self.obs = np.zeros((0, obs_dim), np.float32)
        self.actions = np.zeros((0, act_dim), np.float32)

    def __len__(self) -> int:
        return len(self.obs)

    def add(self, obs: np.ndarray, actions: np.ndarray) -> None:
        """Append states ``[n, S]`` and their labels ``[n, A]``."""
        self.obs = np.concatenate([self.obs, np.asarray(obs, np.float32)])
        self.actions = np.concatenate([self.actions, np.asarray(actions, np.float32)])

    def save(self, path: str | Path) -> None:
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, obs=self.obs, actions=self.actions)

    @classmethod
    def load(cls, path: str | Path) -> LabelledStates:
        data = read_npz(path)
        if set(data) != {"obs", "actions"}:
            raise ValueError(f"{path} is not a DAgger dataset: holds {sorted(data)}")
        states = cls(data["obs"].shape[1], data["actions"].shape[1])
        states.add(data["obs"], data["actions"])
        return states


class DAggerRun(Run):
    """One DAgger run; ``train()`` continues from the last finished iteration."""

    config_class = DAggerConfig

    def __init__(self, config: DAggerConfig) -> None:
        super().__init__(config)
        self.task = make_task(config.task)
        self.env = self.task.make_env(max_episode_steps=config.episode_steps)
        self.eval_env = self.evaluation_env()
        self.expert_generator: torch.Generator | None = None
        self.expert = self.expert_in(self.env)
        self.student = StudentPolicy(self.task, config.student)
        self.optimizer = torch.optim.Adam(self.student.parameters(),
                                          lr=config.student.learning_rate)
        self.data = LabelledStates(self.task.obs_dim, self.task.act_dim)
        self.iteration = 0

    def expert_in(self, env: Any) -> Any:
        """The expert acting in ``env``: a simulator-MPC expert plans from that env's physics
        state, so evaluating it on another env (``eval_env``) needs its own instance."""
        expert = self.config.expert
        if expert.kind == ExpertKind.run:
            policy_run = load_run(expert.run_dir)
            theirs = getattr(policy_run.config, "task", None)
            if theirs is not None and make_task(theirs).observation_space.shape != \
                    self.task.observation_space.shape:
                raise ValueError(f"the expert run's task {theirs} observes "
                                 f"{make_task(theirs).observation_space.shape}, this task "
                                 f"{self.config.task} {self.task.observation_space.shape}")
            return policy_run.evaluation_policy()
        from mbrl.policies import SimulatorMPC
        from planners import MPC

        planner = expert.planner
        if self.expert_generator is None:
            self.simulator = MujocoSimulator(self.task)
            self.expert_generator = torch.Generator()  # reseeded per iteration (see collect)
        mpc = MPC(build_planner(planner, self.expert_generator),
                  self.simulator.problem(planner.horizon), planner.replan_every)
        return SimulatorMPC(mpc, self.simulator, env)

    def folder_name(self) -> str:
        return f"dagger-{self.config.expert.kind.value}-{self.config.task}-s{self.config.seed}"

    # ----- the loop --------------------------------------------------------------------------
    def train(self) -> None:
        config = self.config
        bar = self.progress_bar(config.iterations, self.iteration, "iteration",
                                f"DAgger {config.task}")
        while self.iteration < config.iterations:
            beta = config.beta_decay ** self.iteration
            collected = self.collect(beta)
            fit_loss = self.fit()
            student_return = self.evaluate(self.student, self.eval_env, config.eval_episodes,
                                           self.seeds.derive(Purpose.EVAL, self.iteration))
            self.iteration += 1
            self.log("iterations", {"iteration": self.iteration, "beta": beta,
                                    "env_steps": self.env_steps, "dataset_size": len(self.data),
                                    "fit_loss": fit_loss, "student_return": student_return,
                                    **collected})
            self.plot("iterations", "iteration", "student_return",
                      f"DAgger {config.task} (seed {config.seed})")
            self.save()
            bar.update(1)
            bar.set_postfix(student=f"{student_return:.1f}", data=len(self.data))
        bar.close()

    def collect(self, beta: float) -> dict[str, float]:
        """Episodes of the beta-mixture, every visited state labelled by the expert; the mean
        return of these episodes and the seconds per act of expert and student."""
        config, rng = self.config, self.seeds.numpy(Purpose.MIXTURE, self.iteration)
        if self.expert_generator is not None:  # the planner's draws, as a resumed run makes them
            self.expert_generator.manual_seed(self.seeds.derive(Purpose.EXPERT, self.iteration))
        states, labels, returns = [], [], []
        expert_seconds = student_seconds = 0.0
        for episode in range(config.episodes_per_iteration):
            obs, _ = self.env.reset(seed=self.seeds.derive(Purpose.ENV, self.iteration, episode))
            if hasattr(self.expert, "reset"):
                self.expert.reset()
            total, done = 0.0, False
            while not done:
                started = time.perf_counter()
                label = np.asarray(self.expert.act(obs, deterministic=True))
                mid = time.perf_counter()
                student_action = self.student.act(obs)
                student_seconds += time.perf_counter() - mid
                expert_seconds += mid - started
                states.append(obs)
                labels.append(np.reshape(label, -1))
                action = label if rng.random() < beta else student_action
                obs, reward, terminated, truncated, _ = self.env.step(action)
                total, done = total + float(reward), terminated or truncated
            returns.append(total)
        self.env_steps += len(states)
        self.data.add(np.stack(states), np.stack(labels))
        return {"collection_return": float(np.mean(returns)),
                "expert_ms_per_act": 1e3 * expert_seconds / len(states),
                "student_ms_per_act": 1e3 * student_seconds / len(states)}

    def fit(self) -> float:
        """``student.epochs`` passes over the aggregated data; the last epoch's mean loss."""
        config = self.config.student
        generator = self.seeds.torch(Purpose.FIT, self.iteration)
        obs, labels = torch.from_numpy(self.data.obs), torch.from_numpy(self.data.actions)
        for _ in range(config.epochs):
            order, losses = torch.randperm(len(obs), generator=generator), []
            for start in range(0, len(obs), config.batch_size):
                rows = order[start:start + config.batch_size]
                loss = self.student.loss(obs[rows], labels[rows])
                if not torch.isfinite(loss):
                    raise ValueError(f"DAgger iteration {self.iteration}: the student's loss "
                                     f"is {loss.item()} (are the expert's labels finite?)")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                losses.append(loss.item())
        return float(np.mean(losses))

    # ----- the harness's hooks ---------------------------------------------------------------
    def evaluation_policy(self) -> StudentPolicy:
        return self.student

    def evaluation_env(self, render_mode: str | None = None) -> Any:
        return self.task.make_env(render_mode=render_mode,
                                  max_episode_steps=self.config.episode_steps)

    def state_dict(self) -> dict[str, Any]:
        return {"student": self.student.state_dict(), "optimizer": self.optimizer.state_dict(),
                "iteration": self.iteration}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.student.load_state_dict(state["student"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])

    def buffers(self) -> dict[str, LabelledStates]:
        return {"dataset": self.data}

    def load_buffers(self, buffers: dict[str, Any]) -> None:
        self.data = buffers["dataset"]

    def evaluations(self) -> list[dict[str, float]]:
        return self.folder.read("iterations")
