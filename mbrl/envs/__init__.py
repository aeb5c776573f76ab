"""Tasks (gymnasium envs with exact batched reward/termination fns), models to plan through
(analytic torch dynamics, the MuJoCo simulator), pixel observations and known-model MDPs."""

from mbrl.envs.analytic import cartpole_dynamics, pendulum_dynamics
from mbrl.envs.check import TaskCheck, check_task
from mbrl.envs.pixels import make_pixel_env
from mbrl.envs.simulator import MujocoSimulator
from mbrl.envs.tabular import TabularMDP, ValueIterationResult, make_tabular_mdp, value_iteration
from mbrl.envs.tasks import TaskSpec, list_tasks, make_task, register_task

__all__ = [
    "MujocoSimulator",
    "TabularMDP",
    "TaskCheck",
    "TaskSpec",
    "ValueIterationResult",
    "cartpole_dynamics",
    "check_task",
    "list_tasks",
    "make_pixel_env",
    "make_tabular_mdp",
    "make_task",
    "pendulum_dynamics",
    "register_task",
    "value_iteration",
]
