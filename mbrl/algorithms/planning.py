"""Planner settings of the model-based loops: one sub-config per population planner, built with
keyword arguments, and the planning problem over a learned model with a task's exact reward and
termination (DESIGN idea 2)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum

import gymnasium as gym
import torch

from mbrl.envs import TaskSpec
from planners import CEM, ICEM, MPPI, CategoricalCEM, Planner, Problem, RandomShooting
from planners.problem import Dynamics, ValueFn


class PlannerName(str, Enum):
    random_shooting = "random_shooting"
    cem = "cem"
    icem = "icem"
    mppi = "mppi"
    categorical_cem = "categorical_cem"


@dataclass
class RandomShootingConfig:
    """``planners.RandomShooting`` (reference 003 §5.2.1; Richards 2005)."""

    num_samples: int = 1000  # action sequences drawn uniformly within the bounds


@dataclass
class CEMConfig:
    """``planners.CEM`` (reference 003 Alg. 21; Rubinstein 1999)."""

    population: int = 1000  # sequences sampled per iteration
    elites: int = 50  # best sequences the distribution is refitted to
    iterations: int = 5  # refits per plan
    smoothing: float = 0.1  # weight of the old mean/std in each refit
    init_std: float = 0.5  # initial std as a fraction of the half action range
    min_std: float = 1e-3  # std floor as a fraction of the half action range


@dataclass
class ICEMConfig(CEMConfig):
    """``planners.ICEM`` (Pinneri et al. 2020): CEM with coloured noise, a decaying population
    and elites carried over between plans."""

    noise_beta: float = 2.0  # exponent of the 1/f^beta noise spectrum (0: white)
    population_decay: float = 1.25  # population divided by this at every iteration
    keep_elites: float = 0.3  # fraction of the elites carried into the next iteration and plan


@dataclass
class MPPIConfig:
    """``planners.MPPI`` (Williams et al. 2017)."""

    num_samples: int = 1000  # perturbed sequences per iteration
    temperature: float = 1.0  # softmax temperature (in return units unless normalize)
    noise_std: float = 0.5  # perturbation std in action units
    iterations: int = 5  # updates of the nominal sequence per plan
    smoothing: float = 0.1  # low-pass filter of the update along the horizon
    # add the information-theoretic control cost of Williams et al. (optimises another
    # objective than the reward: opt in knowingly)
    control_cost: bool = False
    normalize: bool = False  # temperature relative to the spread of the sampled returns


@dataclass
class CategoricalCEMConfig:
    """``planners.CategoricalCEM``: CEM over discrete action sequences (tasks with Discrete
    actions)."""

    population: int = 500  # sequences sampled per iteration
    elites: int = 50  # best sequences the categoricals are refitted to
    iterations: int = 5  # refits per plan
    smoothing: float = 0.1  # weight of the old probabilities in each refit
    min_probability: float = 0.01  # probability floor of every action at every step
    warm_start_weight: float = 0.5  # probability put on the shifted previous plan's action


_PLANNERS = {PlannerName.random_shooting: RandomShooting, PlannerName.cem: CEM,
             PlannerName.icem: ICEM, PlannerName.mppi: MPPI,
             PlannerName.categorical_cem: CategoricalCEM}


@dataclass
class PlannerConfig:
    """Which population planner MPC runs (``name``) and each planner's own settings."""

    name: PlannerName = PlannerName.random_shooting  # the planner MPC runs
    horizon: int = 25  # planned steps H
    replan_every: int = 1  # execute this many actions of each plan before planning again
    random_shooting: RandomShootingConfig = field(default_factory=RandomShootingConfig)
    cem: CEMConfig = field(default_factory=CEMConfig)
    icem: ICEMConfig = field(default_factory=ICEMConfig)
    mppi: MPPIConfig = field(default_factory=MPPIConfig)
    categorical_cem: CategoricalCEMConfig = field(default_factory=CategoricalCEMConfig)

    def __post_init__(self) -> None:
        self.name = PlannerName(self.name)

    def validate(self) -> None:
        if self.horizon < 1 or not 1 <= self.replan_every <= self.horizon:
            raise ValueError(f"planner needs horizon >= 1 and 1 <= replan_every <= horizon, got "
                             f"{self.horizon} and {self.replan_every}")
        build_planner(self)


def build_planner(config: PlannerConfig, generator: torch.Generator | None = None) -> Planner:
    """The planner named by ``config.name``, built from its sub-config."""
    settings = asdict(getattr(config, config.name.value))
    return _PLANNERS[config.name](**settings, seed=generator)


def build_problem(task: TaskSpec, dynamics: Dynamics, horizon: int, num_particles: int = 1,
                  terminal_value: ValueFn | None = None, discount: float = 1.0) -> Problem:
    """The planning problem: a (learned) dynamics + the task's exact reward and termination,
    optionally a terminal value with its discount; over action indices for a Discrete task
    (plan it with ``categorical_cem`` or ``random_shooting``)."""
    space = task.action_space
    settings = dict(termination_fn=task.termination_fn, num_particles=num_particles,
                    terminal_value=terminal_value, discount=discount)
    if isinstance(space, gym.spaces.Discrete):
        return Problem.discrete(dynamics, task.reward_fn, int(space.n), horizon, **settings)
    if not isinstance(space, gym.spaces.Box):
        raise ValueError(f"task {task.name} has {type(space).__name__} actions; the planners "
                         "plan Box or Discrete ones")
    return Problem(dynamics=dynamics, reward_fn=task.reward_fn,
                   action_low=torch.as_tensor(space.low, dtype=torch.float32),
                   action_high=torch.as_tensor(space.high, dtype=torch.float32), horizon=horizon,
                   **settings)
