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


# --- termination at the horizon ---------------------------------------------------------------

def cliff(**kwargs):
    """x' = x + a, reward a (moving right pays), the episode terminates past the edge x > 4.5:
    from x = 2 the plan [1, 1, 1] falls at the last planned step with return 3, the best
    surviving plan [1, 1, 0.5] returns 2.5."""
    return Problem(lambda s, a: s + a, lambda s, a, n: a[:, 0], [-1.0], [1.0], horizon=3,
                   termination_fn=lambda n: n[:, 0] > 4.5, **kwargs)


def test_terminating_at_the_last_step_is_free_by_default_and_penalised_on_request():
    fall, survive = torch.ones(1, 3, 1), torch.tensor([[[1.0], [1.0], [0.5]]])
    x = torch.tensor([2.0])
    free = cliff()
    # the convention: the terminating step's reward counts, nothing after it, value 0
    assert free.evaluate(x, fall).item() == 3.0 and free.evaluate(x, survive).item() == 2.5
    penalised = cliff(termination_penalty=10.0, discount=0.9)
    assert penalised.evaluate(x, fall).item() == pytest.approx(1 + 0.9 + 0.81 - 0.81 * 10.0)
    valued = cliff(termination_value=lambda s: torch.full((s.shape[0],), -5.0), discount=0.9,
                   terminal_value=lambda s: torch.full((s.shape[0],), 7.0))
    # terminated rows get termination_value (discounted one step past the terminating step),
    # surviving rows the terminal value
    assert valued.evaluate(x, fall).item() == pytest.approx(1 + 0.9 + 0.81 - 0.729 * 5.0)
    assert valued.evaluate(x, survive).item() == pytest.approx(1 + 0.9 + 0.81 * 0.5 + 0.729 * 7.0)
    falls_early = torch.tensor([[[1.0], [1.0], [1.0]]])  # from x = 3 it falls at step 1
    assert valued.evaluate(torch.tensor([3.0]), falls_early).item() == pytest.approx(
        1 + 0.9 - 0.81 * 5.0)


@pytest.mark.parametrize("penalty", [0.0, 10.0])
def test_a_termination_penalty_keeps_receding_horizon_control_off_the_cliff(penalty):
    """Without a penalty every plan is happy to fall at its last step, so MPC walks over the
    edge; with one it stops at the edge. (Discounted, so that moving right early pays more
    than late.)"""
    problem = cliff(termination_penalty=penalty, discount=0.9)
    policy = MPC(RandomShooting(2000, seed=0), problem)
    x, fell = torch.tensor([0.0]), False
    for _ in range(10):
        x = x + torch.as_tensor(policy.act(x.numpy()))
        fell = fell or bool(problem.termination_fn(x[None])[0])
    if penalty:
        assert not fell and x.item() > 4.0
    else:
        assert fell


@pytest.mark.parametrize("termination_fn, error, message", [
    (lambda n: (n[:, 0] > 1.0).float(), TypeError, "bool tensor \\[B\\].*dtype torch.float32"),
    (lambda n: n[:, :1] > 1.0, ValueError, "bool tensor \\[B\\].*shape \\(6, 1\\)"),
])
def test_termination_fn_must_return_bool_per_row(termination_fn, error, message):
    problem = integrator_problem(horizon=3, termination_fn=termination_fn)
    with pytest.raises(error, match=message):
        problem.evaluate(torch.tensor([0.5]), torch.zeros(2, 3, 1))


def test_bad_termination_settings_are_clear_errors():
    with pytest.raises(ValueError, match="termination_penalty must be a finite number"):
        integrator_problem(termination_penalty=float("nan"))
    with pytest.raises(TypeError, match="termination_value must be a callable"):
        integrator_problem(termination_value=-5.0)


# --- checked inputs ---------------------------------------------------------------------------

def test_reward_fn_must_return_floats_per_row():
    problem = Problem(lambda s, a: s + a, lambda s, a, n: (n[:, 0] > 0).long(), [-1.0], [1.0], 2)
    with pytest.raises(TypeError, match="reward_fn must return a floating-point tensor"):
        problem.evaluate(torch.tensor([0.5]), torch.zeros(2, 2, 1))


def test_state_of_the_wrong_size_never_reaches_the_dynamics():
    calls = []

    def dynamics(states, actions):
        calls.append(states.shape[1])
        return states + actions.sum(-1, keepdim=True)

    problem = Problem(dynamics, lambda s, a, n: -n.square().sum(-1), [-1.0], [1.0], 2,
                      state_dim=2)
    with pytest.raises(ValueError, match=r"state must be \[S\] with S = 2 \(Problem\(state_dim"):
        problem.evaluate(torch.zeros(3), torch.zeros(4, 2, 1))
    assert calls == []
    problem.evaluate(torch.zeros(2), torch.zeros(4, 2, 1))
    # without state_dim, the size the dynamics accepted in the first evaluation is kept
    learned = Problem(dynamics, lambda s, a, n: -n.square().sum(-1), [-1.0], [1.0], 2)
    learned.evaluate(torch.zeros(2), torch.zeros(4, 2, 1))
    calls.clear()
    with pytest.raises(ValueError, match=r"S = 2 \(the size the dynamics accepted earlier\)"):
        learned.evaluate(torch.zeros(3), torch.zeros(4, 2, 1))
    assert calls == []
    with pytest.raises(ValueError, match="state_dim must be a positive integer"):
        integrator_problem(state_dim=0)


def test_dynamics_returning_another_state_size_names_the_state():
    problem = Problem(lambda s, a: torch.cat([s, s], dim=1), lambda s, a, n: n.sum(-1),
                      [-1.0], [1.0], 2)
    with pytest.raises(ValueError, match="next states of size S = 4 for states of size S = 2.*"
                                         "state_dim"):
        problem.evaluate(torch.zeros(2), torch.zeros(3, 2, 1))


def all_planners():
    from planners import CEM, ICEM, ILQR, MPPI
    return [RandomShooting(10, seed=0), CEM(20, 5, 2, seed=0), ICEM(20, 5, 2, seed=0),
            MPPI(20, iterations=2, seed=0), ILQR(max_iterations=2, seed=0)]


@pytest.mark.parametrize("planner", all_planners(), ids=lambda p: type(p).__name__)
def test_warm_start_must_be_finite_and_inside_the_bounds(planner):
    problem = integrator_problem(horizon=3)
    state = torch.tensor([0.5])
    nan = torch.tensor([[0.0], [float("nan")], [0.0]])
    with pytest.raises(ValueError, match="warm_start must be finite, got nan at step 1"):
        planner.plan(state, problem, warm_start=nan)
    outside = torch.tensor([[0.0], [0.0], [2.0]])
    with pytest.raises(ValueError, match=r"warm_start must lie within the action bounds.*2.0 at "
                                         r"step 2, action dim 0, outside \[-1.0, 1.0\]"):
        planner.plan(state, problem, warm_start=outside)
    # round-off beyond a bound is clipped, not an error
    edge = torch.tensor([[-1.0 - 1e-7], [0.0], [1.0 + 1e-7]])
    plan = planner.plan(state, problem, warm_start=edge)
    assert ((plan.actions >= -1) & (plan.actions <= 1)).all()


def test_random_shooting_never_returns_an_out_of_bounds_warm_start():
    problem = integrator_problem(horizon=2)
    with pytest.raises(ValueError, match="warm_start must lie within the action bounds"):
        RandomShooting(1, seed=0).plan(torch.tensor([3.0]), problem,
                                       warm_start=torch.tensor([[-3.0], [0.0]]))
