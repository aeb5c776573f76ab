"""Train a model-free agent (REINFORCE, A2C, PPO or SAC) on a task, with evaluation, metrics,
checkpoints and identical resumption.

Checkpoints fall on segment boundaries every ``checkpoint_every`` env steps. Every segment
starts from fresh episodes (envs reset with a seed derived from the run seed and the segment)
and freshly seeded numpy generators, in an uninterrupted run as in a resumed one, so a resumed
run continues exactly the trajectory of results it would have had. An episode running at a
boundary is cut there as a time-limit truncation (the returns bootstrap from its last state).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mbrl.agents.a2c import A2C, A2CConfig
from mbrl.agents.networks import ActorCritic
from mbrl.agents.onpolicy import OnPolicyAgent, RolloutCollector
from mbrl.agents.ppo import PPO, PPOConfig
from mbrl.agents.reinforce import Reinforce, ReinforceConfig
from mbrl.agents.sac import SAC, SACConfig
from mbrl.data.buffer import ReplayBuffer
from mbrl.data.collect import collect
from mbrl.envs import make_task
from mbrl.policies import RandomPolicy
from mbrl.util.checkpoint import load_checkpoint, save_checkpoint
from mbrl.util.run_folder import RunFolder
from mbrl.util.seeding import derive_seed, numpy_generator, seed_torch, torch_generator

ALGORITHMS = ("reinforce", "a2c", "ppo", "sac")
_ENV, _EVAL, _AGENT, _SAMPLING, _EXPLORE = range(5)


@dataclass
class AgentRunConfig:
    algo: str = "ppo"  # reinforce | a2c | ppo | sac
    task: str = "CartPole-v1"
    seed: int = 0
    total_steps: int = 100_000  # env steps
    num_envs: int = 8  # synchronous envs of the on-policy agents (SAC steps one env)
    eval_every: int = 10_000  # env steps between deterministic evaluations
    eval_episodes: int = 10
    checkpoint_every: int = 50_000  # env steps per segment (see the module docstring)
    output_dir: str = "runs"
    progress: bool = True
    reinforce: ReinforceConfig = field(default_factory=ReinforceConfig)
    a2c: A2CConfig = field(default_factory=A2CConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    sac: SACConfig = field(default_factory=SACConfig)

    def validate(self) -> None:
        if self.algo not in ALGORITHMS:
            raise ValueError(f"algo must be one of {ALGORITHMS}, got {self.algo!r}")
        for name in ("total_steps", "num_envs", "eval_every", "eval_episodes",
                     "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def evaluate(policy, env, episodes: int, seed: int) -> float:
    """Mean return of ``episodes`` deterministic episodes."""
    with torch.no_grad():
        return collect(env, policy, episodes=episodes, seed=seed, deterministic=True).mean_return


class AgentRun:
    """One training run in a :class:`RunFolder`: ``train.csv`` (per update/episode batch),
    ``eval.csv`` (return and training wall time without evaluation) and ``eval_return.png``,
    TensorBoard, ``checkpoints/``."""

    def __init__(self, config: AgentRunConfig, folder: RunFolder) -> None:
        config.validate()
        self.config, self.folder = config, folder
        self.task = make_task(config.task)
        seed_torch(config.seed)
        self.generator = torch_generator(config.seed, _AGENT)
        self.eval_env = self.task.make_env()
        self.env_steps, self.next_eval = 0, config.eval_every
        self.wall_seconds, self.eval_seconds = 0.0, 0.0  # up to the last checkpoint; evaluation
        self._segment_started = time.perf_counter()
        if config.algo == "sac":
            self.agent: SAC | OnPolicyAgent = SAC(self.task.observation_space,
                                                  self.task.action_space, config.sac,
                                                  self.generator)
            self.env = self.task.make_env()
            obs_dim = self.task.observation_space.shape[0]
            act_dim = 1 if self.agent.discrete else self.task.action_space.shape[0]
            self.buffer = ReplayBuffer(config.sac.buffer_size, obs_dim, act_dim)
        else:
            self.agent = self._on_policy_agent()
            vector_env = self.task.make_vector_env(config.num_envs)
            self.collector = RolloutCollector(vector_env, self.agent.policy, self.generator)

    def _on_policy_agent(self) -> OnPolicyAgent:
        config = self.config
        algo_config = getattr(config, config.algo)
        policy = ActorCritic(self.task.observation_space, self.task.action_space,
                             tuple(algo_config.hidden), algo_config.activation,
                             shared_trunk=getattr(algo_config, "shared_trunk", False),
                             log_std_init=algo_config.log_std_init,
                             normalize_observations=getattr(algo_config,
                                                            "normalize_observations", False))
        if config.algo == "ppo":
            return PPO(policy, algo_config, self.generator, config.num_envs)
        if config.algo == "a2c":
            return A2C(policy, algo_config, self.generator)
        return Reinforce(policy, algo_config, self.generator)

    # ----- checkpoints --------------------------------------------------------------------
    @property
    def _checkpoint_path(self) -> Path:
        return self.folder.checkpoint_dir / "latest.pt"

    def _save(self) -> None:
        state = {"env_steps": self.env_steps, "wall_seconds": self.wall_seconds,
                 "eval_seconds": self.eval_seconds, "next_eval": self.next_eval,
                 "agent": self.agent.state_dict()}
        if self.config.algo == "sac":
            buffer_file = f"buffer-{self.env_steps:09d}.npz"
            self.buffer.save(self.folder.checkpoint_dir / buffer_file)
            state["buffer_file"] = buffer_file
        save_checkpoint(self._checkpoint_path, state)
        for old in self.folder.checkpoint_dir.glob("buffer-*.npz"):
            if old.name != state.get("buffer_file"):
                old.unlink()

    @classmethod
    def resume(cls, config: AgentRunConfig, folder: RunFolder) -> AgentRun:
        """Continue from the latest checkpoint of ``folder`` (metrics after it are dropped)."""
        run = cls(config, folder)
        if run._checkpoint_path.exists():
            state = load_checkpoint(run._checkpoint_path)
            run.agent.load_state_dict(state["agent"])
            run.env_steps, run.wall_seconds = int(state["env_steps"]), float(state["wall_seconds"])
            run.eval_seconds = float(state["eval_seconds"])
            run.next_eval = int(state["next_eval"])
            if config.algo == "sac":
                run.buffer = ReplayBuffer.load(folder.checkpoint_dir / state["buffer_file"])
        for stream in ("train", "eval"):
            folder.truncate(stream, "env_steps", run.env_steps)
        return run

    # ----- training -----------------------------------------------------------------------
    def run(self) -> list[dict[str, float]]:
        """Train to ``total_steps``; return the evaluation rows (resumed ones included)."""
        config = self.config
        bar = tqdm(total=config.total_steps, initial=self.env_steps, unit="step",
                   desc=f"{config.algo} {config.task}", disable=not config.progress)
        while self.env_steps < config.total_steps:
            segment = self.env_steps // config.checkpoint_every
            end = min((segment + 1) * config.checkpoint_every, config.total_steps)
            self._segment_started = time.perf_counter()
            if config.algo == "sac":
                self._sac_segment(segment, end, bar)
            else:
                self._on_policy_segment(segment, end, bar)
            self.wall_seconds = self._elapsed()
            self._save()
        bar.close()
        self.folder.close()
        return self.folder.read("eval")

    def _elapsed(self) -> float:
        return self.wall_seconds + time.perf_counter() - self._segment_started

    def _log_train(self, metrics: dict[str, float], returns: list[float]) -> None:
        row = {"env_steps": self.env_steps,
               "episode_return": float(np.mean(returns)) if returns else float("nan"),
               "episodes": len(returns), **metrics}
        self.folder.log("train", row, step=self.env_steps)

    def _maybe_evaluate(self, bar: tqdm) -> None:
        if self.env_steps < self.next_eval and self.env_steps < self.config.total_steps:
            return
        while self.next_eval <= self.env_steps:
            self.next_eval += self.config.eval_every
        started = time.perf_counter()  # evaluating, logging and plotting count as evaluation
        mean_return = evaluate(self.agent, self.eval_env, self.config.eval_episodes,
                               derive_seed(self.config.seed, _EVAL, self.env_steps))
        row = {"env_steps": self.env_steps, "eval_return": mean_return,
               "train_seconds": self._elapsed() - self.eval_seconds
               - (time.perf_counter() - started)}
        self.folder.log("eval", row, step=self.env_steps)
        self.folder.plot("eval", "env_steps", "eval_return",
                         title=f"{self.config.algo} {self.config.task} (seed {self.config.seed})")
        self.eval_seconds += time.perf_counter() - started
        bar.set_postfix(eval_return=f"{mean_return:.1f}")
        tqdm.write(f"{self.config.algo} {self.config.task} env steps {self.env_steps:8d}  "
                   f"eval return {mean_return:9.2f}")

    def _on_policy_segment(self, segment: int, end: int, bar: tqdm) -> None:
        agent = self.agent
        self.collector.env.reset(derive_seed(self.config.seed, _ENV, segment))
        steps_per_env = getattr(self.config, self.config.algo).steps_per_env
        while self.env_steps < end:
            agent.begin_update(self.env_steps / self.config.total_steps)
            rollout = self.collector.collect(steps_per_env)
            if self.env_steps + rollout.num_steps >= end:  # cut the episodes at the boundary
                rollout.truncated[-1] = True
            metrics = agent.update(rollout)
            agent.after_update(rollout)
            self.env_steps += rollout.num_steps
            bar.update(rollout.num_steps)
            self._log_train(metrics, self.collector.pop_episodes()[0])
            self._maybe_evaluate(bar)

    def _sac_segment(self, segment: int, end: int, bar: tqdm) -> None:
        config, agent = self.config, self.agent
        rng = numpy_generator(config.seed, _SAMPLING, segment)
        explore = RandomPolicy(self.task.action_space, derive_seed(config.seed, _EXPLORE, segment))
        obs, _ = self.env.reset(seed=derive_seed(config.seed, _ENV, segment))
        episode_return, returns, credit, metrics = 0.0, [], 0.0, {}
        while self.env_steps < end:
            random_phase = self.env_steps < config.sac.learning_starts
            action = (explore if random_phase else agent).act(obs)
            next_obs, reward, terminated, truncated, _ = self.env.step(action)
            self.env_steps += 1
            cut = self.env_steps == end and not (terminated or truncated)  # segment boundary
            self.buffer.add(obs, np.atleast_1d(action), reward, next_obs, terminated,
                            truncated or cut)
            episode_return += float(reward)
            obs = next_obs
            if terminated or truncated:  # an episode cut at the boundary is not counted
                returns.append(episode_return)
                episode_return = 0.0
                obs, _ = self.env.reset()
            if not random_phase:
                credit += config.sac.updates_per_step
                while credit >= 1.0:
                    metrics = agent.update(self.buffer.sample(config.sac.batch_size,
                                                              rng).to_torch())
                    credit -= 1.0
            bar.update(1)
            if returns and (terminated or truncated or cut) and metrics:
                self._log_train(metrics, returns)
                returns = []
            self._maybe_evaluate(bar)


def run_agent(config: AgentRunConfig, resume_dir: str | Path | None = None
              ) -> tuple[RunFolder, list[dict[str, float]]]:
    """Start (or, with ``resume_dir``, continue) a run; returns its folder and eval rows."""
    config.validate()
    if resume_dir is not None:
        folder = RunFolder(resume_dir)
        run = AgentRun.resume(config, folder)
    else:
        folder = RunFolder.create(config.output_dir,
                                  f"{config.algo}-{config.task}-s{config.seed}")
        run = AgentRun(config, folder)
    folder.save_config(config)
    return folder, run.run()
