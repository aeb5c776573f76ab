"""Model-free training runs: an on-policy step loop (REINFORCE, A2C, PPO on rollouts of
synchronous envs) and an off-policy one (SAC, one env step then updates from the replay buffer),
each a :class:`~mbrl.runs.Run` with evaluation, metrics, checkpoints and identical resumption.

Checkpoints fall on segment boundaries every ``checkpoint_every`` env steps. Every segment
starts from fresh episodes (envs reset with a seed derived from the run seed and the segment)
and freshly seeded generators, in an uninterrupted run as in a resumed one, so a resumed run
continues exactly the trajectory of results it would have had. An episode running at a boundary
is cut there as a time-limit truncation (the returns bootstrap from its last state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, ClassVar

import numpy as np
from tqdm.auto import tqdm

from mbrl.agents.a2c import A2C, A2CConfig
from mbrl.agents.networks import ActorCritic
from mbrl.agents.onpolicy import OnPolicyAgent, RolloutCollector
from mbrl.agents.ppo import PPO, PPOConfig
from mbrl.agents.reinforce import Reinforce, ReinforceConfig
from mbrl.agents.sac import SAC, SACConfig
from mbrl.data import EnvStepper, ReplayBuffer
from mbrl.envs import TaskSpec, make_task
from mbrl.envs.video import record_episode
from mbrl.policies import RandomPolicy
from mbrl.runs import EvaluationSchedule, Run
from mbrl.util.config import require_positive


class Algo(str, Enum):
    reinforce = "reinforce"
    a2c = "a2c"
    ppo = "ppo"
    sac = "sac"


class Purpose(IntEnum):
    """What a derived seed is for (keys ``(purpose, segment or env step)``)."""

    ENV = 0
    EVAL = 1
    AGENT = 2
    SAMPLING = 3
    EXPLORE = 4


@dataclass
class AgentRunConfig:
    """A model-free agent trained on a task, evaluated every ``eval_every`` env steps."""

    EXTENDABLE: ClassVar[frozenset[str]] = frozenset({"total_steps", "progress", "output_dir",
                                                       "video_every"})

    algo: Algo = Algo.ppo  # the agent: its settings are the sub-config of the same name
    task: str = "CartPole-v1"  # a registered task (mbrl.envs.list_tasks())
    seed: int = 0  # run seed: every random draw derives from it
    total_steps: int = 100_000  # env steps to train for
    num_envs: int = 8  # synchronous envs of the on-policy agents (SAC steps one env)
    eval_every: int = 10_000  # env steps between deterministic evaluations
    eval_episodes: int = 10  # episodes per evaluation
    checkpoint_every: int = 50_000  # env steps per segment (see the module docstring)
    output_dir: str = "runs"  # parent folder of the run folder
    progress: bool = True  # progress bar
    video_every: int = 0  # record an episode at every k-th evaluation to videos/ (0: never)
    reinforce: ReinforceConfig = field(default_factory=ReinforceConfig)
    a2c: A2CConfig = field(default_factory=A2CConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    sac: SACConfig = field(default_factory=SACConfig)

    def __post_init__(self) -> None:
        self.algo = Algo(self.algo)

    def validate(self) -> None:
        make_task(self.task)
        require_positive(self, "total_steps", "num_envs", "eval_every",
                         "eval_episodes", "checkpoint_every")
        if self.video_every < 0:
            raise ValueError(f"video_every must be >= 0, got {self.video_every}")
        self.agent_config.validate()
        if self.algo != Algo.sac:  # on-policy: num_envs steps at a time, so the ends are exact
            for name in ("total_steps", "checkpoint_every"):
                if getattr(self, name) % self.num_envs:
                    raise ValueError(f"{name} must be a multiple of num_envs ({self.num_envs}) "
                                     f"for {self.algo.value}, got {getattr(self, name)}")

    @property
    def agent_config(self) -> ReinforceConfig | A2CConfig | PPOConfig | SACConfig:
        return getattr(self, self.algo.value)


class AgentRun(Run):
    """What the two step loops share: the agent, segments, evaluation and train logging.
    ``AgentRun.start(config)`` builds the loop the agent needs."""

    config_class = AgentRunConfig

    def __init__(self, config: AgentRunConfig) -> None:
        super().__init__(config)
        self.task = make_task(config.task)
        self.generator = self.seeds.torch(Purpose.AGENT)
        self.eval_env = self.evaluation_env()
        self.schedule = EvaluationSchedule(config.eval_every, config.total_steps)
        self.evaluations_done = 0

    @classmethod
    def for_config(cls, config: AgentRunConfig) -> type[AgentRun]:
        """The step loop the configured agent trains in."""
        return OffPolicyRun if config.algo == Algo.sac else OnPolicyRun

    def folder_name(self) -> str:
        return f"{self.label()}-{self.config.task}-s{self.config.seed}"

    def label(self) -> str:
        """What trains, for titles and folder names."""
        return self.config.algo.value

    def train(self) -> None:
        config = self.config
        bar = self.progress_bar(config.total_steps, self.env_steps, "step",
                                f"{self.label()} {config.task}")
        while self.env_steps < config.total_steps:
            segment = self.env_steps // config.checkpoint_every
            self.segment(segment, min((segment + 1) * config.checkpoint_every,
                                      config.total_steps), bar)
            self.save()
        bar.close()

    def segment(self, segment: int, end: int, bar: tqdm) -> None:
        """Train from ``self.env_steps`` to ``end`` env steps, starting fresh episodes."""
        raise NotImplementedError

    def log_train(self, metrics: dict[str, float], returns: list[float]) -> None:
        row = {"env_steps": self.env_steps,
               "episode_return": float(np.mean(returns)) if returns else float("nan"),
               "episodes": len(returns), **metrics}
        self.log("train", row)

    def maybe_evaluate(self, bar: tqdm) -> None:
        if self.schedule.due(self.env_steps):
            self.schedule.advance(self.env_steps)
            self.evaluate_at(self.env_steps, bar)

    def evaluate_at(self, env_steps: int, bar: tqdm) -> None:
        """Evaluate the agent as it acts now, as the policy of env step ``env_steps``."""
        config = self.config
        mean_return = self.evaluate(self.agent, self.eval_env, config.eval_episodes,
                                    self.seeds.derive(Purpose.EVAL, env_steps))
        self.log("eval", {"env_steps": env_steps, "eval_return": mean_return,
                          "train_seconds": self.clock.seconds})
        self.plot("eval", "env_steps", "eval_return",
                  f"{self.label()} {config.task} (seed {config.seed})")
        self.evaluations_done += 1
        if config.video_every and (self.evaluations_done - 1) % config.video_every == 0:
            with self.clock.paused():
                record_episode(self.evaluation_env("rgb_array"), self.agent,
                               self.folder.root / "videos" / f"eval-{env_steps:09d}.mp4",
                               seed=self.seeds.derive(Purpose.EVAL, env_steps))
        bar.set_postfix(eval_return=f"{mean_return:.1f}")
        tqdm.write(f"{self.label()} {config.task} env steps {env_steps:8d}  "
                   f"eval return {mean_return:9.2f}")

    def evaluation_policy(self) -> Any:
        return self.agent

    def evaluation_env(self, render_mode: str | None = None) -> Any:
        return self.task.make_env(render_mode=render_mode)

    def state_dict(self) -> dict[str, Any]:
        return {"next_eval": self.schedule.next, "evaluations": self.evaluations_done,
                "agent": self.agent.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.schedule.next = int(state["next_eval"])
        self.evaluations_done = int(state["evaluations"])
        self.agent.load_state_dict(state["agent"])

    def evaluations(self) -> list[dict[str, float]]:
        """Every evaluation row so far (resumed ones included)."""
        return self.folder.read("eval")


def actor_critic(task: TaskSpec, config: ReinforceConfig | A2CConfig | PPOConfig
                 ) -> ActorCritic:
    """The policy and value network an on-policy agent's config describes."""
    return ActorCritic(task.observation_space, task.action_space, tuple(config.hidden),
                       config.activation, shared_trunk=getattr(config, "shared_trunk", False),
                       log_std_init=config.log_std_init,
                       normalize_observations=getattr(config, "normalize_observations", False),
                       ignored_obs_dims=task.reward_only_dims)


ON_POLICY_AGENTS = {
    Algo.reinforce: lambda policy, config, generator: Reinforce(policy, config.reinforce,
                                                                generator),
    Algo.a2c: lambda policy, config, generator: A2C(policy, config.a2c, generator),
    Algo.ppo: lambda policy, config, generator: PPO(policy, config.ppo, generator,
                                                    config.num_envs),
}


class OnPolicyRun(AgentRun):
    """REINFORCE, A2C or PPO: rollouts of ``num_envs`` synchronous envs, one update each; the
    last rollout of a segment is cut to the steps left, so a run ends at ``total_steps``.
    Evaluations fall on their points exactly: one inside a rollout evaluates the policy that
    collects it (before it does), one at a rollout's end the policy after its update."""

    def __init__(self, config: AgentRunConfig) -> None:
        super().__init__(config)
        policy = actor_critic(self.task, config.agent_config)
        self.agent: OnPolicyAgent = ON_POLICY_AGENTS[config.algo](policy, config, self.generator)
        self.collector = RolloutCollector(self.task.make_vector_env(config.num_envs),
                                          self.agent.policy, self.generator)

    def segment(self, segment: int, end: int, bar: tqdm) -> None:
        agent, steps_per_env = self.agent, self.config.agent_config.steps_per_env
        self.collector.env.reset(self.seeds.derive(Purpose.ENV, segment))
        while self.env_steps < end:
            agent.begin_update(self.env_steps / self.config.total_steps)
            steps = min(steps_per_env, (end - self.env_steps) // self.config.num_envs)
            for point in self.schedule.take_inside(self.env_steps,
                                                   self.env_steps + steps * self.config.num_envs):
                self.evaluate_at(point, bar)
            rollout = self.collector.collect(steps)
            if self.env_steps + rollout.num_steps >= end:  # cut the episodes at the boundary
                rollout.truncated[-1] = True
            metrics = agent.update(rollout)
            agent.after_update(rollout)
            self.env_steps += rollout.num_steps
            bar.update(rollout.num_steps)
            self.log_train(metrics, self.collector.pop_episodes()[0])
            self.maybe_evaluate(bar)


class ReplayStepRun(AgentRun):
    """The step loop of the off-policy agents (SAC here, TD-MPC): one env step at a time into
    ``self.buffer``, uniform random actions while :meth:`acting_randomly`, and updates paid for
    by a credit each step adds to (:meth:`update_credit`; fractions carry over). Subclasses
    build ``self.agent``, ``self.env`` (an :class:`~mbrl.data.EnvStepper`) and
    ``self.buffer``."""

    # seed keys of each segment's minibatch draws, exploration and env resets
    seed_keys: ClassVar[tuple[Any, Any, Any]] = (Purpose.SAMPLING, Purpose.EXPLORE, Purpose.ENV)

    def acting_randomly(self) -> bool:
        """Whether the next step takes a uniform random action."""
        raise NotImplementedError

    def update_credit(self, acted_randomly: bool) -> float:
        """Updates the step just taken pays for."""
        raise NotImplementedError

    def update_agent(self, rng: np.random.Generator) -> dict[str, float]:
        """One update from the buffer, minibatches drawn with ``rng``; its metrics."""
        raise NotImplementedError

    def start_episode(self) -> None:
        """Called as each episode starts (e.g. to forget a plan)."""

    def segment(self, segment: int, end: int, bar: tqdm) -> None:
        env = self.env
        sampling, exploring, resetting = self.seed_keys
        rng = self.seeds.numpy(sampling, segment)
        explore = RandomPolicy(self.task.action_space, self.seeds.derive(exploring, segment),
                               obs_ndim=len(self.buffer.obs_shape))
        env.reset(self.seeds.derive(resetting, segment))
        self.start_episode()
        credit, metrics = 0.0, {}
        while self.env_steps < end:
            random_phase = self.acting_randomly()
            step = env.step((explore if random_phase else self.agent).act(env.obs))
            self.env_steps += 1
            cut = self.env_steps == end and not step.done[0]  # the segment's boundary
            self.buffer.add(step.obs, step.actions.reshape(1, -1), step.rewards, step.next_obs,
                            step.terminated, step.truncated | cut)
            if step.done[0]:
                self.start_episode()
            credit += self.update_credit(random_phase)
            while credit >= 1.0:
                metrics = self.update_agent(rng)
                credit -= 1.0
            bar.update(1)
            if env.episodes.returns and (step.done[0] or cut) and metrics:
                self.log_train(metrics, env.episodes.pop()[0])
            self.maybe_evaluate(bar)

    def buffers(self) -> dict[str, ReplayBuffer]:
        return {"buffer": self.buffer}

    def load_buffers(self, buffers: dict[str, ReplayBuffer]) -> None:
        self.buffer = buffers["buffer"]


class OffPolicyRun(ReplayStepRun):
    """SAC: one env step at a time into the replay buffer, ``updates_per_step`` updates after
    each once ``learning_starts`` steps of uniform random actions have been taken."""

    def __init__(self, config: AgentRunConfig) -> None:
        super().__init__(config)
        self.agent = SAC(self.task.observation_space, self.task.action_space, config.sac,
                         self.generator, self.task.reward_only_dims)
        self.env = EnvStepper(self.task.make_env())
        act_dim = 1 if self.agent.discrete else self.task.action_space.shape[0]
        self.buffer = ReplayBuffer(config.sac.buffer_size, self.task.obs_dim, act_dim)

    def acting_randomly(self) -> bool:
        return self.env_steps < self.config.sac.learning_starts

    def update_credit(self, acted_randomly: bool) -> float:
        return 0.0 if acted_randomly else self.config.sac.updates_per_step

    def update_agent(self, rng: np.random.Generator) -> dict[str, float]:
        return self.agent.update(self.buffer.sample(self.config.sac.batch_size, rng).to_torch())
