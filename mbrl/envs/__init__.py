"""Tasks (gymnasium envs with exact batched reward/termination fns) and known-model MDPs."""

from mbrl.envs.tabular import TabularMDP, ValueIterationResult, make_tabular_mdp, value_iteration
from mbrl.envs.tasks import TaskSpec, list_tasks, make_task

__all__ = [
    "TabularMDP",
    "TaskSpec",
    "ValueIterationResult",
    "list_tasks",
    "make_tabular_mdp",
    "make_task",
    "value_iteration",
]
