"""Model-free actor-critic core: returns and advantages, and the agents built on them."""

from mbrl.agents.returns import (
    discounted_returns,
    gae,
    lambda_returns,
    n_step_returns,
    td_errors,
)

__all__ = ["discounted_returns", "gae", "lambda_returns", "n_step_returns", "td_errors"]
