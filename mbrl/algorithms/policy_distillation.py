"""Multi-task policy distillation: several discrete-action experts, one per task, into one
network (reference 003 §5.7.3; Rusu et al. 2016, soft targets after Hinton et al. 2015).

Each expert acts in its own task for ``states_per_task`` steps; every visited state is stored
with the expert's action log-probabilities ``z``. The student sees the state padded with zeros
to the largest observation of the tasks and a one-hot task id, and has one logit per action of
the largest action space (actions a task does not have are masked out). It is fitted by

    L = - sum_a p_T(a|s) log pi_student(a|s),   p_T = softmax(z / T)   (soft targets)

or by cross-entropy on the expert's most likely action (``targets=hard``; ``T -> 0`` gives the
same), then evaluated on every task alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from mbrl.agents.networks import Categorical
from mbrl.algorithms.dagger import StudentConfig
from mbrl.data.buffer import read_npz
from mbrl.envs import make_task
from mbrl.nn import mlp
from mbrl.runs import Run
from mbrl.runs.harness import load_run
from mbrl.util.atomic import atomic_path
from mbrl.util.config import require_positive


class Purpose(IntEnum):
    ENV = 0
    FIT = 1
    EVAL = 2


class Targets(str, Enum):
    soft = "soft"
    hard = "hard"


@dataclass
class DistillationConfig:
    """Experts (run folders, one per task, in the order of ``tasks``) into one network."""

    EXTENDABLE: ClassVar[frozenset[str]] = frozenset({"progress", "output_dir"})

    tasks: list[str] = field(default_factory=lambda: ["CartPole-v1", "Acrobot-v1"])  # one net
    experts: list[str] = field(default_factory=list)  # the experts' run folders
    seed: int = 0  # run seed: every random draw derives from it
    states_per_task: int = 5000  # expert steps recorded per task (the data budget)
    targets: Targets = Targets.soft  # soft: softmax(z / T); hard: the expert's argmax
    temperature: float = 1.0  # T of the soft targets
    eval_episodes: int = 10  # deterministic episodes per task, student and expert
    student: StudentConfig = field(default_factory=lambda: StudentConfig(
        hidden=(128, 128), epochs=50))
    output_dir: str = "runs"  # parent folder of the run folder
    progress: bool = True  # progress bar

    def __post_init__(self) -> None:
        self.targets = Targets(self.targets)

    def validate(self) -> None:
        require_positive(self, "states_per_task", "eval_episodes")
        require_positive(self.student, "epochs", "batch_size", prefix="student.")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if len(self.tasks) < 1 or len(self.experts) != len(self.tasks):
            raise ValueError(f"need one expert run folder per task: {len(self.tasks)} tasks, "
                             f"{len(self.experts)} experts")
        for name, expert in zip(self.tasks, self.experts, strict=True):
            if not isinstance(make_task(name).action_space, gym.spaces.Discrete):
                raise ValueError(f"policy distillation needs discrete actions; {name} has "
                                 f"{make_task(name).action_space}")
            if not (Path(expert) / "config.yaml").exists():
                raise ValueError(f"expert {expert} (for {name}) is not a run folder")


def action_log_probs(policy: Any, obs: Tensor) -> Tensor:
    """``log pi_expert(. | obs) [B, K]`` of a discrete-action policy from this library: an
    on-policy agent (``policy.distribution``) or a discrete SAC (``actor``)."""
    if hasattr(policy, "policy") and hasattr(policy.policy, "distribution"):
        dist = policy.policy.distribution(obs)
    elif getattr(policy, "discrete", False) and hasattr(policy, "actor"):
        dist = policy.actor(obs)
    else:
        raise ValueError(f"{type(policy).__name__} gives no action distribution to distil")
    if not isinstance(dist, Categorical):
        raise ValueError(f"{type(policy).__name__} acts with {type(dist).__name__}, not a "
                         "categorical distribution")
    return dist.log_probs


def soft_targets(log_probs: Tensor, temperature: float) -> Tensor:
    """``softmax(z / T)`` ``[B, K]``; masked actions (``z = -inf``) get probability 0."""
    return torch.softmax(log_probs / temperature, -1)


class MultiTaskStudent(nn.Module):
    """``logits [B, K_max]`` of ``[padded obs, one-hot task]``, actions a task lacks masked."""

    def __init__(self, obs_dims: list[int], action_counts: list[int],
                 config: StudentConfig) -> None:
        super().__init__()
        self.obs_dims, self.action_counts = obs_dims, action_counts
        self.width, self.actions = max(obs_dims), max(action_counts)
        self.net = mlp([self.width + len(obs_dims), *config.hidden, self.actions],
                       config.activation)
        mask = torch.zeros(len(action_counts), self.actions)
        for task, count in enumerate(action_counts):
            mask[task, count:] = -torch.inf
        self.register_buffer("mask", mask)

    def inputs(self, obs: np.ndarray, task: int) -> Tensor:
        """``[B, width + tasks]`` from a task's observations ``[B, S_task]``."""
        obs = torch.as_tensor(np.atleast_2d(obs), dtype=torch.float32)
        if obs.shape[1] != self.obs_dims[task]:
            raise ValueError(f"task {task} observes {self.obs_dims[task]} values, got "
                             f"{obs.shape[1]}")
        padded = torch.zeros(len(obs), self.width + len(self.obs_dims))
        padded[:, :obs.shape[1]] = obs
        padded[:, self.width + task] = 1.0
        return padded

    def forward(self, inputs: Tensor) -> Tensor:
        task = inputs[:, self.width:].argmax(-1)
        return self.net(inputs) + self.mask[task]

    def for_task(self, task: int) -> TaskPolicy:
        return TaskPolicy(self, task)


class TaskPolicy:
    """The student acting in one task (the policy protocol)."""

    def __init__(self, student: MultiTaskStudent, task: int) -> None:
        self.student, self.task = student, task

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        actions = self.student(self.student.inputs(obs, self.task)).argmax(-1).numpy()
        return actions[0] if np.ndim(obs) == 1 else actions


class DistillationData:
    """Student inputs ``[N, width + tasks]`` with the experts' log-probabilities
    ``[N, K_max]`` (``-inf`` for actions a task lacks)."""

    def __init__(self, inputs: np.ndarray, log_probs: np.ndarray) -> None:
        self.inputs, self.log_probs = inputs, log_probs

    def save(self, path: str | Path) -> None:
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, inputs=self.inputs, log_probs=self.log_probs)

    @classmethod
    def load(cls, path: str | Path) -> DistillationData:
        data = read_npz(path)
        if set(data) != {"inputs", "log_probs"}:
            raise ValueError(f"{path} is not a distillation dataset: holds {sorted(data)}")
        return cls(data["inputs"], data["log_probs"])


class DistillationRun(Run):
    """Collect the experts' data, fit the student, evaluate it on every task."""

    config_class = DistillationConfig

    def __init__(self, config: DistillationConfig) -> None:
        super().__init__(config)
        self.tasks = [make_task(name) for name in config.tasks]
        self.experts = []
        for task, folder in zip(self.tasks, config.experts, strict=True):
            expert = load_run(folder)
            theirs = getattr(expert.config, "task", None)
            if theirs != task.name:
                raise ValueError(f"expert {folder} was trained on {theirs}, not {task.name}")
            self.experts.append(expert.evaluation_policy())
        self.student = MultiTaskStudent([t.obs_dim for t in self.tasks],
                                        [int(t.action_space.n) for t in self.tasks],
                                        config.student)
        self.optimizer = torch.optim.Adam(self.student.parameters(),
                                          lr=config.student.learning_rate)
        self.data = DistillationData(np.zeros((0, self.student.width + len(self.tasks)),
                                              np.float32),
                                     np.zeros((0, self.student.actions), np.float32))
        self.fitted = False

    def folder_name(self) -> str:
        config = self.config
        targets = (f"soft-T{config.temperature:g}" if config.targets == Targets.soft
                   else "hard")
        return f"distill-{targets}-{'+'.join(config.tasks)}-s{config.seed}"

    def train(self) -> None:
        if not len(self.data.inputs):
            self.data = self.collect()
            self.save()
        if not self.fitted:
            self.fit()
            self.fitted = True
            self.evaluate_tasks()
            self.save()

    def collect(self) -> DistillationData:
        """``states_per_task`` steps of each expert in its own task (deterministic actions)."""
        inputs, log_probs = [], []
        for index, (task, expert) in enumerate(zip(self.tasks, self.experts, strict=True)):
            env, states, episode = task.make_env(), [], 0
            obs, _ = env.reset(seed=self.seeds.derive(Purpose.ENV, index, episode))
            while len(states) < self.config.states_per_task:
                states.append(obs)
                obs, _, terminated, truncated, _ = env.step(expert.act(obs, deterministic=True))
                if terminated or truncated:
                    episode += 1
                    obs, _ = env.reset(seed=self.seeds.derive(Purpose.ENV, index, episode))
            env.close()
            with torch.no_grad():
                z = action_log_probs(expert, torch.as_tensor(np.stack(states),
                                                            dtype=torch.float32))
            padded = torch.full((len(states), self.student.actions), -torch.inf)
            padded[:, :z.shape[1]] = z
            inputs.append(self.student.inputs(np.stack(states), index))
            log_probs.append(padded)
            self.env_steps += len(states)
        return DistillationData(torch.cat(inputs).numpy(), torch.cat(log_probs).numpy())

    def targets(self, log_probs: Tensor) -> Tensor:
        """Soft targets at the temperature, or the one-hot of the expert's argmax."""
        if self.config.targets == Targets.soft:
            return soft_targets(log_probs, self.config.temperature)
        return nn.functional.one_hot(log_probs.argmax(-1), log_probs.shape[1]).float()

    def fit(self) -> None:
        config = self.config.student
        generator = self.seeds.torch(Purpose.FIT)
        inputs = torch.from_numpy(self.data.inputs)
        targets = self.targets(torch.from_numpy(self.data.log_probs))
        bar = self.progress_bar(config.epochs, 0, "epoch", "distil")
        for epoch in range(config.epochs):
            order, losses = torch.randperm(len(inputs), generator=generator), []
            for start in range(0, len(inputs), config.batch_size):
                rows = order[start:start + config.batch_size]
                log_pi = torch.log_softmax(self.student(inputs[rows]), -1)
                loss = -(targets[rows] * log_pi.clamp_min(-1e9)).sum(-1).mean()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                losses.append(loss.item())
            self.log("fit", {"epoch": epoch + 1, "loss": float(np.mean(losses))})
            bar.update(1)
        bar.close()

    def evaluate_tasks(self) -> None:
        for index, (task, expert) in enumerate(zip(self.tasks, self.experts, strict=True)):
            env, seed = task.make_env(), self.seeds.derive(Purpose.EVAL, index)
            student = self.evaluate(self.student.for_task(index), env,
                                    self.config.eval_episodes, seed)
            teacher = self.evaluate(expert, env, self.config.eval_episodes, seed)
            self.log("tasks", {"task": index, "student_return": student,
                               "expert_return": teacher})

    # ----- the harness's hooks ---------------------------------------------------------------
    def evaluation_policy(self) -> TaskPolicy:
        return self.student.for_task(0)

    def evaluation_env(self, render_mode: str | None = None) -> Any:
        return self.tasks[0].make_env(render_mode=render_mode)

    def state_dict(self) -> dict[str, Any]:
        return {"student": self.student.state_dict(), "optimizer": self.optimizer.state_dict(),
                "fitted": self.fitted}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.student.load_state_dict(state["student"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.fitted = bool(state["fitted"])

    def buffers(self) -> dict[str, DistillationData]:
        return {"dataset": self.data}

    def load_buffers(self, buffers: dict[str, Any]) -> None:
        self.data = buffers["dataset"]
