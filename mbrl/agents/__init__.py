"""Model-free actor-critic core: returns and advantages, REINFORCE, A2C, PPO and SAC.

The agents train on :class:`~mbrl.agents.onpolicy.Rollout` batches (on-policy) or
:class:`~mbrl.data.buffer.ReplayBuffer` samples (SAC) whether the data came from an
environment or from a learned model.
"""

from mbrl.agents.a2c import A2C, A2CConfig
from mbrl.agents.networks import ActorCritic
from mbrl.agents.onpolicy import Rollout, RolloutCollector
from mbrl.agents.ppo import PPO, PPOConfig
from mbrl.agents.reinforce import Reinforce, ReinforceConfig
from mbrl.agents.sac import SAC, SACConfig
from mbrl.returns import (
    discounted_returns,
    gae,
    lambda_returns,
    n_step_returns,
    td_errors,
)

__all__ = ["A2C", "A2CConfig", "ActorCritic", "PPO", "PPOConfig", "Reinforce", "ReinforceConfig",
           "Rollout", "RolloutCollector", "SAC", "SACConfig", "discounted_returns", "gae",
           "lambda_returns", "n_step_returns", "td_errors"]
