"""Asynchronous advantage actor-critic (A3C; reference 004; Mnih et al. 2016), workers on Ray.

Each of ``workers`` Ray actors steps its own ``envs_per_worker`` envs with its copy of the
policy, computes the gradients of the A2C loss (:meth:`mbrl.agents.A2C.loss`: n-step or GAE
advantages, value loss, entropy bonus) on a ``steps_per_env`` rollout and sends them. The
learner (this process) applies each worker's gradients as they arrive, clipped, with one
optimiser (the paper's shared RMSprop statistics), and sends that worker the current weights
for its next rollout, so a worker's gradients are up to ``workers - 1`` updates stale: the
asynchrony of A3C, with processes in place of the paper's threads (Ray actors, on this machine
or a cluster the process is connected to).

Checkpoints fall on segment boundaries every ``checkpoint_every`` env steps: the last rollouts
of a segment are cut there (truncated), applied, and the learner saves; every segment starts
fresh episodes. Gradients arrive in whatever order the workers finish, so unlike the
synchronous loops a run is not bit-reproducible, and a resumed run continues from the
checkpoint's weights rather than retracing the uninterrupted run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from tqdm.auto import tqdm

from mbrl.agents.a2c import A2C, A2CConfig
from mbrl.agents.onpolicy import RolloutCollector
from mbrl.algorithms.model_free import AgentRun, Purpose, actor_critic
from mbrl.envs import make_task
from mbrl.util.config import require_positive


@dataclass
class A3CConfig:
    """A3C: asynchronous workers, each with its own envs, sending A2C gradients."""

    EXTENDABLE: ClassVar[frozenset[str]] = frozenset({"total_steps", "progress", "output_dir",
                                                      "video_every"})

    task: str = "CartPole-v1"  # a registered task (importable by the workers' processes)
    seed: int = 0  # run seed: the workers' envs and action sampling derive from it
    total_steps: int = 200_000  # env steps over all workers
    workers: int = 2  # Ray actors computing gradients asynchronously (one CPU each)
    envs_per_worker: int = 4  # synchronous envs each worker steps
    eval_every: int = 10_000  # env steps between deterministic evaluations
    eval_episodes: int = 10  # episodes per evaluation
    checkpoint_every: int = 50_000  # env steps per segment
    output_dir: str = "runs"  # parent folder of the run folder
    progress: bool = True  # progress bar
    video_every: int = 0  # record an episode at every k-th evaluation to videos/ (0: never)
    a2c: A2CConfig = field(default_factory=A2CConfig)  # the loss, optimiser and network

    def validate(self) -> None:
        make_task(self.task)
        require_positive(self, "total_steps", "workers", "envs_per_worker", "eval_every",
                         "eval_episodes", "checkpoint_every")
        if self.video_every < 0:
            raise ValueError(f"video_every must be >= 0, got {self.video_every}")
        self.a2c.validate()


class A3CWorker:
    """One worker (a Ray actor): its envs, its copy of the policy, the A2C loss's gradients."""

    def __init__(self, task: str, config: A2CConfig, envs: int, seed: int) -> None:
        torch.set_num_threads(1)
        spec = make_task(task)
        generator = torch.Generator().manual_seed(seed)
        self.agent = A2C(actor_critic(spec, config), config, generator)
        self.collector = RolloutCollector(spec.make_vector_env(envs), self.agent.policy,
                                          generator)

    def reset(self, seed: int) -> None:
        """Start fresh episodes (a new segment)."""
        self.collector.env.reset(seed)

    def gradients(self, weights: dict[str, torch.Tensor], steps_per_env: int, cut: bool
                  ) -> dict[str, Any]:
        """A rollout with ``weights``, cut (truncated) at its last step if ``cut``; the loss's
        gradients (one per parameter), the loss, the env steps and the episodes finished."""
        policy = self.agent.policy
        policy.load_state_dict(weights)
        rollout = self.collector.collect(steps_per_env)
        if cut:
            rollout.truncated[-1] = True
        loss, metrics = self.agent.loss(rollout)
        policy.zero_grad(set_to_none=False)
        loss.backward()
        return {"gradients": [p.grad.clone() for p in policy.parameters()],
                "loss": loss.item(), "steps": rollout.num_steps, "metrics": metrics,
                "returns": self.collector.pop_episodes()[0]}


class A3CRun(AgentRun):
    """The learner: applies the workers' gradients as they arrive (module docstring)."""

    config_class = A3CConfig

    def __init__(self, config: A3CConfig) -> None:
        super().__init__(config)
        self.agent = A2C(actor_critic(self.task, config.a2c), config.a2c, self.generator)
        self.workers: list[Any] = []

    @classmethod
    def for_config(cls, config: A3CConfig) -> type[A3CRun]:
        return cls

    def label(self) -> str:
        return "a3c"

    def start_workers(self) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(num_cpus=max(os.cpu_count() or 1, self.config.workers),
                     include_dashboard=False, log_to_driver=False)
        remote = ray.remote(num_cpus=1)(A3CWorker)
        config = self.config
        self.workers = [remote.remote(config.task, config.a2c, config.envs_per_worker,
                                      self.seeds.derive(Purpose.AGENT, index))
                        for index in range(config.workers)]

    def train(self) -> None:
        import ray

        if not self.workers:
            self.start_workers()
        try:
            super().train()
        finally:
            for worker in self.workers:
                ray.kill(worker)
            self.workers = []

    def segment(self, segment: int, end: int, bar: tqdm) -> None:
        import ray

        config = self.config
        steps_per_env = config.a2c.steps_per_env
        per_rollout = steps_per_env * config.envs_per_worker
        ray.get([worker.reset.remote(self.seeds.derive(Purpose.ENV, segment, index))
                 for index, worker in enumerate(self.workers)])
        weights = ray.put(self.agent.policy.state_dict())
        dispatched, in_flight = self.env_steps, {}

        def dispatch(worker: Any) -> None:
            nonlocal dispatched
            cut = dispatched + per_rollout >= end
            in_flight[worker.gradients.remote(weights, steps_per_env, cut)] = worker
            dispatched += per_rollout

        for worker in self.workers:
            if dispatched < end:
                dispatch(worker)
        while in_flight:
            (ready,), _ = ray.wait(list(in_flight), num_returns=1)
            worker = in_flight.pop(ready)
            result = ray.get(ready)
            norm = self.agent.apply_gradients(result["gradients"], result["loss"])
            self.env_steps += result["steps"]
            bar.update(result["steps"])
            self.log_train({**result["metrics"], "grad_norm": float(norm)}, result["returns"])
            self.maybe_evaluate(bar)
            if dispatched < end:
                weights = ray.put(self.agent.policy.state_dict())
                dispatch(worker)
