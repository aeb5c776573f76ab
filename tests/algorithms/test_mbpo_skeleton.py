"""A new algorithm fits on the seams: the outline of MBPO's loop (Janner et al. 2019) written
only from shared pieces (harness, stepper, dynamics-model interface, model rollouts, SAC), with
real SAC training on model rollouts for a few hundred Pendulum steps."""

import math
from dataclasses import dataclass, field

import torch

from mbrl.agents.sac import SAC, SACConfig
from mbrl.data import EnvStepper, ReplayBuffer
from mbrl.envs import make_task
from mbrl.models import FitSettings, ModelEnv, ProbabilisticEnsemble
from mbrl.models.rollouts import branched_rollouts
from mbrl.policies import RandomPolicy
from mbrl.runs import Run


@dataclass
class ToyMBPOConfig:
    seed: int = 0
    output_dir: str = "runs"
    progress: bool = False
    total_steps: int = 300
    refit_every: int = 100  # F
    rollout_length: int = 1  # k
    rollouts: int = 64  # branched rollouts per refit
    real_fraction: float = 0.1
    sac: SACConfig = field(default_factory=lambda: SACConfig(hidden=(32, 32), batch_size=32))

    def validate(self) -> None:
        assert self.refit_every >= 1 and self.rollout_length >= 1


class ToyMBPO(Run):
    def __init__(self, config):
        super().__init__(config)
        self.task = task = make_task("Pendulum-v1")
        self.env = EnvStepper(task.make_env())
        self.agent = SAC(task.observation_space, task.action_space, config.sac,
                         self.seeds.torch("agent"))
        self.model = ProbabilisticEnsemble(task.obs_dim, task.act_dim, ensemble_size=3,
                                           hidden_size=32, num_layers=2)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.real = ReplayBuffer(10_000, task.obs_dim, task.act_dim)
        self.synthetic = ReplayBuffer(10_000, task.obs_dim, task.act_dim)
        self.model_env = ModelEnv(self.model.planning_dynamics(1, "ts1"), task.reward_fn,
                                  task.termination_fn)
        self.losses = []

    def folder_name(self):
        return "toy-mbpo"

    def train(self):
        config, explore = self.config, RandomPolicy(self.task.action_space, 0)
        self.env.reset(self.seeds.derive("env"))
        while self.env_steps < config.total_steps:
            if self.env_steps and self.env_steps % config.refit_every == 0:
                rng = self.seeds.numpy("model", self.env_steps)
                self.model.fit(self.real, self.optimizer, rng, FitSettings(max_epochs=3))
                self.model_env.dynamics.generator = self.seeds.torch("rollouts", self.env_steps)
                start = self.real.sample(config.rollouts, rng).to_torch()["obs"]
                branched_rollouts(self.model_env, self.agent, start, config.rollout_length,
                                  self.synthetic)
            policy = self.agent if len(self.synthetic) else explore
            step = self.env.step(policy.act(self.env.obs))
            self.real.add(step.obs, step.actions, step.rewards, step.next_obs, step.terminated,
                          step.truncated)
            self.env_steps += 1
            if len(self.synthetic):
                rng = self.seeds.numpy("sac", self.env_steps)
                metrics = self.agent.train_from(self.real, 1, rng, self.synthetic,
                                                config.real_fraction)
                self.losses.append(metrics["critic_loss"])


def test_mbpo_outline_trains_sac_on_model_rollouts(tmp_path):
    run = ToyMBPO.start(ToyMBPOConfig(output_dir=str(tmp_path))).run()
    assert len(run.synthetic) == 2 * 64  # two refits, one-step rollouts from 64 real states
    assert len(run.losses) == 200 and all(math.isfinite(loss) for loss in run.losses)
