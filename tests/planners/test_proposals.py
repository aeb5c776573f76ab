"""Problem.proposals: sequences of the user's choosing (a policy prior) that every population
planner evaluates beside its own samples, checked like a warm start."""

import pytest
import torch

from planners import CEM, ICEM, MPPI, CategoricalCEM, Problem, RandomShooting

HORIZON, DIM = 8, 3
TARGET = torch.linspace(-0.9, 0.9, HORIZON * DIM).reshape(HORIZON, DIM)


def _problem(proposals=None) -> Problem:
    """Reward -||a_t - TARGET_t||^2 per step: the optimum is TARGET, which tiny sampling budgets
    in 24 dimensions do not find on their own."""
    def dynamics(states, actions):
        return states + 1.0  # the state counts the steps, so the reward knows t

    def reward(states, actions, next_states):
        t = states[:, 0].long().clamp(max=HORIZON - 1)
        return -(actions - TARGET[t]).square().sum(-1)

    return Problem(dynamics, reward, -torch.ones(DIM), torch.ones(DIM), HORIZON,
                   proposals=proposals)


def _target_proposal(state):
    assert state.shape == (1,)
    return torch.stack([TARGET, torch.zeros(HORIZON, DIM)])


PLANNERS = {
    "random_shooting": lambda: RandomShooting(num_samples=4, seed=0),
    "cem": lambda: CEM(population=4, elites=2, iterations=2, seed=0),
    "icem": lambda: ICEM(population=4, elites=2, iterations=2, seed=0),
    "mppi": lambda: MPPI(num_samples=4, iterations=1, temperature=1e-3, seed=0),
}


@pytest.mark.parametrize("name", sorted(PLANNERS))
def test_a_proposed_optimum_is_found_with_a_tiny_budget(name):
    state = torch.zeros(1)
    without = PLANNERS[name]().plan(state, _problem())
    with_prior = PLANNERS[name]().plan(state, _problem(_target_proposal))
    assert without.expected_return < -1.0  # the samples alone are far off
    assert with_prior.expected_return > -1e-4
    assert torch.allclose(with_prior.actions, TARGET, atol=1e-2)


def test_categorical_cem_evaluates_proposed_indices():
    goal = torch.tensor([3, 0, 2, 1, 3, 3, 0, 1])

    def reward(states, actions, next_states):
        t = states[:, 0].long().clamp(max=len(goal) - 1)
        return (actions[:, 0] == goal[t]).float()

    def proposals(state):
        return goal.float()[None, :, None]

    problem = Problem.discrete(lambda s, a: s + 1.0, reward, 4, len(goal), proposals=proposals)
    plan = CategoricalCEM(population=2, elites=1, iterations=1, seed=0).plan(torch.zeros(1),
                                                                             problem)
    assert plan.expected_return == len(goal)
    assert torch.equal(plan.actions[:, 0].long(), goal)


@pytest.mark.parametrize("proposal, message", [
    (lambda s: torch.zeros(HORIZON, DIM), r"proposals must be \[K, 8, 3\]"),
    (lambda s: torch.zeros(2, HORIZON + 1, DIM), r"proposals must be \[K, 8, 3\]"),
    (lambda s: torch.full((2, HORIZON, DIM), float("nan")), "proposals must be finite"),
    (lambda s: torch.full((2, HORIZON, DIM), 1.5), "proposals must lie within the action"),
])
def test_bad_proposals_are_named(proposal, message):
    with pytest.raises(ValueError, match=message):
        CEM(population=4, elites=2, iterations=1, seed=0).plan(torch.zeros(1),
                                                               _problem(proposal))


def test_proposals_must_be_callable():
    with pytest.raises(TypeError, match="proposals must be a callable"):
        _problem(torch.zeros(2, HORIZON, DIM))
