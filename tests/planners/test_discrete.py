"""Planning over discrete actions: ``Problem.discrete``, ``CategoricalCEM`` and ``RandomShooting``
against exhaustive enumeration, continuous planners refusing discrete problems, MPC returning
indices, and a categorical planner through a learned ensemble."""

import itertools

import numpy as np
import pytest
import torch

from planners import CEM, ICEM, ILQR, MPC, MPPI, CategoricalCEM, Problem, RandomShooting

MOVES = torch.tensor([-1.0, 0.0, 0.5, 2.0])  # what each of the K = 4 actions adds


def walk(horizon=7):
    """A position moved by one of four steps; reward for sitting near a moving target, a cost
    for big moves: a problem whose optimum needs every action somewhere."""

    def dynamics(states, actions):
        return torch.stack([states[:, 0] + MOVES[actions[:, 0].long()], states[:, 1] + 1], 1)

    def reward(states, actions, next_states):
        target = torch.sin(next_states[:, 1])
        return -(next_states[:, 0] - 2 * target).abs() - 0.1 * (actions[:, 0] == 3).double()

    return Problem.discrete(dynamics, reward, num_actions=4, horizon=horizon)


START = torch.tensor([0.0, 0.0], dtype=torch.float64)


def optimum(problem):
    sequences = torch.tensor(list(itertools.product(range(4), repeat=problem.horizon)),
                             dtype=torch.float64)[:, :, None]
    return float(problem.evaluate(START, sequences).max())


@pytest.mark.parametrize("seed", range(5))
def test_categorical_cem_finds_the_exhaustive_optimum(seed):
    problem = walk()
    best = optimum(problem)  # over all 4^7 = 16,384 sequences
    plan = CategoricalCEM(seed=seed).plan(START, problem)
    assert plan.expected_return == pytest.approx(best, abs=1e-9)
    assert plan.actions.shape == (7, 1) and set(plan.actions.unique().tolist()) <= {0, 1, 2, 3}
    assert float(problem.evaluate(START, plan.actions[None])[0]) == plan.expected_return
    # random shooting over indices at the same budget is valid, and no better
    shooting = RandomShooting(2500, seed=seed).plan(START, problem)
    assert shooting.actions.eq(shooting.actions.round()).all()
    assert shooting.expected_return <= best + 1e-12


def test_warm_start_competes_and_must_hold_indices():
    problem = walk()
    sequences = torch.tensor(list(itertools.product(range(4), repeat=7)),
                             dtype=torch.float64)[:, :, None]
    best = sequences[int(problem.evaluate(START, sequences).argmax())]
    plan = CategoricalCEM(population=2, elites=1, iterations=1, seed=0).plan(START, problem, best)
    assert plan.expected_return == pytest.approx(optimum(problem))
    with pytest.raises(ValueError, match="action indices; got 0.5"):
        CategoricalCEM(seed=0).plan(START, problem, torch.full((7, 1), 0.5))
    with pytest.raises(ValueError, match="within the action bounds"):
        CategoricalCEM(seed=0).plan(START, problem, torch.full((7, 1), 4.0))


@pytest.mark.parametrize("planner", [CEM(seed=0), ICEM(seed=0), MPPI(seed=0), ILQR(seed=0)])
def test_continuous_planners_refuse_discrete_problems(planner):
    with pytest.raises(ValueError, match="plans continuous actions.*CategoricalCEM"):
        planner.plan(START, walk())


def test_discrete_problem_and_categorical_cem_settings_are_checked():
    continuous = Problem(lambda s, a: s, lambda s, a, n: s[:, 0], [-1.0], [1.0], 3)
    with pytest.raises(ValueError, match="Problem.discrete"):
        CategoricalCEM(seed=0).plan(START, continuous)
    with pytest.raises(ValueError, match="num_actions must be an integer >= 2"):
        Problem.discrete(lambda s, a: s, lambda s, a, n: s[:, 0], num_actions=1, horizon=3)
    with pytest.raises(ValueError, match="actions are indices"):
        Problem(lambda s, a: s, lambda s, a, n: s[:, 0], [0.0], [2.0], 3, num_actions=4)
    with pytest.raises(ValueError, match="elites"):
        CategoricalCEM(population=10, elites=20)
    with pytest.raises(ValueError, match="min_probability .* below 1"):
        CategoricalCEM(min_probability=0.3, seed=0).plan(START, walk())


def test_mpc_acts_with_indices_a_discrete_env_accepts():
    import gymnasium as gym

    from mbrl.envs import make_task

    task = make_task("CartPole-v1")
    problem = Problem.discrete(lambda s, a: s, task.reward_fn, 2, horizon=5,
                               termination_fn=task.termination_fn)
    policy = MPC(CategoricalCEM(50, 5, 2, seed=0), problem)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    action = policy.act(obs.astype(np.float64))
    assert isinstance(action, np.integer) and env.action_space.contains(action)
    env.step(action)


def test_categorical_cem_and_mcts_plan_cartpole_through_a_learned_ensemble():
    """A small ensemble fitted to random CartPole data, planned through by MPC with categorical
    CEM (TS-inf particles) and by tree search over its mean member (DiscreteActionModel): the
    pole stays up far longer than under random actions."""
    from mbrl.algorithms.planning import build_problem
    from mbrl.data import ReplayBuffer, collect
    from mbrl.envs import make_task
    from mbrl.models import FitSettings, ProbabilisticEnsemble
    from mbrl.policies import RandomPolicy
    from planners import MCTS, DiscreteActionModel, MCTSPolicy

    task = make_task("CartPole-v1")
    buffer = ReplayBuffer(5000, task.obs_dim, task.act_dim)
    random = collect(task.make_env(), RandomPolicy(task.action_space, 0), steps=1500,
                     buffer=buffer, seed=0)
    torch.manual_seed(0)
    model = ProbabilisticEnsemble(task.obs_dim, task.act_dim, ensemble_size=3, hidden_size=64,
                                  num_layers=2)
    model.fit(buffer, torch.optim.Adam(model.parameters(), lr=3e-3),
              np.random.default_rng(0), FitSettings(batch_size=128, max_epochs=40, patience=5))
    dynamics = model.planning_dynamics(3, "ts_inf")
    dynamics.generator = torch.Generator().manual_seed(0)
    problem = build_problem(task, dynamics, horizon=15, num_particles=3)
    assert problem.is_discrete
    policy = MPC(CategoricalCEM(100, 10, 3, seed=0), problem)
    result = collect(task.make_env(), policy, steps=150, seed=1)
    assert result.episode_lengths == [] and 150 > 5 * np.mean(random.episode_lengths)  # up

    def mean_member(states, actions):
        return model.sample_next(model.elite_members()[0], states.float(), actions.float(), None)

    tree = MCTSPolicy(MCTS(num_simulations=20, max_depth=10, seed=0),
                      DiscreteActionModel(mean_member, task.reward_fn, [[0.0], [1.0]],
                                          task.termination_fn, dtype=torch.float32))
    env = task.make_env()
    obs, _ = env.reset(seed=1)
    steps_up = 0
    while steps_up < 100:
        obs, _, terminated, truncated, _ = env.step(tree.act(obs))
        if terminated or truncated:
            break
        steps_up += 1
    assert steps_up == 100  # 5x a random episode's length
