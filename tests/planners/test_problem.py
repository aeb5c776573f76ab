import pytest
import torch

from planners import MPC, NonFiniteModelOutput, Problem, RandomShooting


def integrator_problem(horizon=5, **kwargs):
    """x' = x + a, reward -x'^2: the best first action from x drives x to 0."""
    return Problem(lambda s, a: s + a, lambda s, a, n: -n.square().sum(-1),
                   action_low=[-1.0], action_high=[1.0], horizon=horizon, **kwargs)


def test_evaluate_matches_brute_force():
    problem = integrator_problem(horizon=3, discount=0.9)
    actions = torch.rand(7, 3, 1, generator=torch.Generator().manual_seed(0)) * 2 - 1
    state = torch.tensor([0.5])
    expected = []
    for seq in actions:
        x, total = state.clone(), 0.0
        for t in range(3):
            x = x + seq[t]
            total += 0.9**t * -float(x.square().sum())
        expected.append(total)
    torch.testing.assert_close(problem.evaluate(state, actions), torch.tensor(expected))


def test_terminated_particles_stop_accruing_reward_and_terminal_value():
    problem = Problem(lambda s, a: s + 1.0, lambda s, a, n: torch.ones(s.shape[0]),
                      action_low=[-1.0], action_high=[1.0], horizon=5,
                      termination_fn=lambda n: n[:, 0] >= 2.0,
                      terminal_value=lambda s: torch.full((s.shape[0],), 100.0))
    # from 0: steps to 1, 2 (terminates, reward counted), then nothing; no terminal value
    assert problem.evaluate(torch.tensor([0.0]), torch.zeros(1, 5, 1)).item() == 2.0
    # from -10 nothing terminates: 5 rewards + terminal value
    assert problem.evaluate(torch.tensor([-10.0]), torch.zeros(1, 5, 1)).item() == 105.0


def test_particles_are_averaged_candidate_major():
    seen = {}

    def dynamics(states, actions):
        seen["rows"] = states.shape[0]
        noise = torch.arange(states.shape[0], dtype=states.dtype)[:, None] % 2  # particle id
        return states + actions + noise

    problem = Problem(dynamics, lambda s, a, n: n[:, 0], [-1.0], [1.0], horizon=1,
                      num_particles=2)
    returns = problem.evaluate(torch.tensor([0.0]), torch.tensor([[[0.0]], [[1.0]]]))
    assert seen["rows"] == 4
    torch.testing.assert_close(returns, torch.tensor([0.5, 1.5]))


def test_non_finite_model_output_is_reported():
    problem = Problem(lambda s, a: s / 0.0 * 0.0, lambda s, a, n: n[:, 0], [-1.0], [1.0], 3)
    with pytest.raises(NonFiniteModelOutput, match="dynamics returned NaN/Inf.*step 0"):
        problem.evaluate(torch.tensor([1.0]), torch.zeros(2, 3, 1))


@pytest.mark.parametrize("kwargs, message", [
    ({"horizon": 0}, "horizon"), ({"num_particles": 0}, "num_particles"),
    ({"action_low": [1.0]}, "action_low < action_high"), ({"discount": 0.0}, "discount"),
    ({"action_high": [1.0, 2.0]}, "both be \\[A\\]"),
])
def test_bad_problem_is_a_clear_error(kwargs, message):
    base = dict(dynamics=lambda s, a: s, reward_fn=lambda s, a, n: n[:, 0],
                action_low=[-1.0], action_high=[1.0], horizon=3)
    with pytest.raises(ValueError, match=message):
        Problem(**{**base, **kwargs})


def test_bad_shapes_are_clear_errors():
    problem = integrator_problem(horizon=4)
    with pytest.raises(ValueError, match="single state"):
        problem.evaluate(torch.zeros(2, 1), torch.zeros(3, 4, 1))
    with pytest.raises(ValueError, match=r"\[N, 4, 1\]"):
        problem.evaluate(torch.zeros(1), torch.zeros(3, 5, 1))
    bad = Problem(lambda s, a: s[:, :0], lambda s, a, n: n.sum(-1), [-1.0], [1.0], 2)
    with pytest.raises(ValueError, match="dynamics returned shape"):
        bad.evaluate(torch.zeros(1), torch.zeros(3, 2, 1))


def test_random_shooting_is_seeded_and_near_optimal():
    problem = integrator_problem(horizon=2)
    plan_a = RandomShooting(2000, seed=3).plan(torch.tensor([0.8]), problem)
    plan_b = RandomShooting(2000, seed=3).plan(torch.tensor([0.8]), problem)
    torch.testing.assert_close(plan_a.actions, plan_b.actions)
    assert plan_a.actions.shape == (2, 1)
    assert plan_a.expected_return > -0.01  # optimum is 0 (a0 = -0.8, a1 = 0)
    assert ((plan_a.actions >= -1) & (plan_a.actions <= 1)).all()


def test_warm_start_is_a_candidate():
    problem = integrator_problem(horizon=3)
    warm = torch.tensor([[-0.5], [0.0], [0.0]])
    plan = RandomShooting(1, seed=0).plan(torch.tensor([0.5]), problem, warm_start=warm)
    torch.testing.assert_close(plan.actions, warm)
    with pytest.raises(ValueError, match="warm_start must be"):
        RandomShooting(1).plan(torch.tensor([0.5]), problem, warm_start=torch.zeros(2, 1))


def test_mpc_drives_integrator_to_zero_and_replans_every_k():
    problem = integrator_problem(horizon=5)
    calls = []

    class CountingShooting(RandomShooting):
        def plan(self, state, problem, warm_start=None):
            calls.append(warm_start is not None)
            return super().plan(state, problem, warm_start)

    policy = MPC(CountingShooting(500, seed=0), problem, replan_every=2)
    x = 3.0
    for _ in range(6):
        x = x + float(policy.act([x])[0])
    assert abs(x) < 0.1
    assert calls == [False, True, True]  # planned at steps 0, 2, 4, warm-started after the first
    policy.reset()
    assert policy.last_plan is None
    with pytest.raises(ValueError, match="replan_every"):
        MPC(RandomShooting(10), problem, replan_every=6)
    with pytest.raises(ValueError, match="single observation"):
        policy.act([[1.0], [2.0]])


def test_non_finite_reward_and_terminal_value_are_located():
    problem = Problem(lambda s, a: s + a, lambda s, a, n: torch.log(n[:, 0]), [-1.0], [1.0], 3)
    with pytest.raises(NonFiniteModelOutput, match="reward_fn returned NaN/Inf for 1 of 2 rows "
                                                   "at planning step 2"):
        problem.evaluate(torch.tensor([2.5]), torch.tensor([[[-1.0]] * 3, [[1.0]] * 3]))
    problem = Problem(lambda s, a: s + a, lambda s, a, n: n[:, 0], [-1.0], [1.0], 3,
                      terminal_value=lambda s: 1 / (s[:, 0] - 3.0))
    with pytest.raises(NonFiniteModelOutput, match="terminal_value"):
        problem.evaluate(torch.tensor([0.0]), torch.ones(1, 3, 1))


def test_compiled_evaluation_matches_eager():
    problem = integrator_problem(horizon=4, discount=0.9)
    compiled = integrator_problem(horizon=4, discount=0.9, compile=True)
    actions = torch.rand(16, 4, 1, generator=torch.Generator().manual_seed(0)) * 2 - 1
    state = torch.tensor([0.3])
    torch.testing.assert_close(compiled.evaluate(state, actions), problem.evaluate(state, actions))
