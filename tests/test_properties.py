"""Property-based tests of the public inputs (hypothesis): every input either works or raises
ValueError / TypeError with a message naming what was wrong; no other exception escapes.

Cases per run: planners 4 x 60, Problem 150, ReplayBuffer 150 + 40, config overrides 200.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mbrl.algorithms.mpc_loop import MBRLConfig
from mbrl.data import ReplayBuffer
from mbrl.util.config import load_config
from planners import CEM, ICEM, MPPI, NonFiniteModelOutput, Problem, RandomShooting

CLEAR = (ValueError, TypeError)
floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def linear(states, actions):
    return states + 0.1 * actions.sum(-1, keepdim=True)


def reward(obs, act, next_obs):
    return -next_obs.square().sum(-1)


@st.composite
def problems(draw):
    dim = draw(st.integers(1, 3))
    low = draw(st.lists(floats, min_size=dim, max_size=dim + draw(st.integers(0, 1))))
    high = draw(st.lists(floats, min_size=dim, max_size=dim))
    return dict(action_low=low, action_high=high, horizon=draw(st.integers(-1, 6)),
                num_particles=draw(st.integers(0, 3)),
                discount=draw(st.one_of(st.floats(-0.5, 1.5), st.just(math.nan))),
                termination_penalty=draw(st.floats(-1.0, 10.0)))


@settings(max_examples=150, **SETTINGS)
@given(problems())
def test_problem_construction_works_or_names_the_argument(kwargs):
    try:
        problem = Problem(linear, reward, **kwargs)
    except CLEAR as error:
        assert any(name in str(error) for name in (*kwargs, "action", "bounds")), str(error)
        return
    assert problem.action_dim == len(kwargs["action_low"])


PLANNERS = {
    "random_shooting": lambda: RandomShooting(16, seed=0),
    "cem": lambda: CEM(population=16, elites=4, iterations=2, seed=0),
    "icem": lambda: ICEM(population=16, elites=4, iterations=2, seed=0),
    "mppi": lambda: MPPI(16, iterations=2, seed=0),
}


@st.composite
def plan_inputs(draw):
    dim = draw(st.integers(1, 2))
    horizon = draw(st.integers(1, 4))
    state = draw(st.lists(floats, min_size=0, max_size=3))
    warm = draw(st.one_of(st.none(), st.lists(
        st.lists(floats, min_size=dim, max_size=dim + draw(st.integers(0, 1))),
        min_size=horizon, max_size=horizon + draw(st.integers(0, 1)))))
    dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.int64]))
    return dim, horizon, state, warm, dtype


@pytest.mark.parametrize("name", sorted(PLANNERS))
@settings(max_examples=60, **SETTINGS)
@given(inputs=plan_inputs())
def test_plan_works_or_raises_a_clear_error(name, inputs):
    dim, horizon, state, warm, dtype = inputs
    problem = Problem(linear, reward, [-1.0] * dim, [1.0] * dim, horizon)
    try:
        if dtype == torch.int64:
            state = [int(x) if math.isfinite(x) and abs(x) < 1e6 else 0 for x in state]
        state_tensor = torch.tensor(state, dtype=dtype) if state else torch.zeros(0)
        warm_tensor = None if warm is None else torch.tensor(warm)
        plan = PLANNERS[name]().plan(state_tensor, problem, warm_tensor)
    except (*CLEAR, NonFiniteModelOutput) as error:
        assert str(error)
        return
    assert plan.actions.shape == (horizon, dim)
    assert bool(((plan.actions >= -1) & (plan.actions <= 1)).all())
    assert math.isfinite(plan.expected_return)


@st.composite
def transitions(draw):
    n = draw(st.integers(0, 4))
    obs_dim = draw(st.integers(1, 3))

    def column(*shape):
        return np.asarray(draw(st.lists(floats, min_size=int(np.prod(shape)),
                                        max_size=int(np.prod(shape)))),
                          dtype=np.float32).reshape(shape)
    wrong = draw(st.sampled_from(["none", "obs", "act", "rew", "flags"]))
    return dict(
        obs=column(n, obs_dim + (wrong == "obs")), act=column(n, 1 + (wrong == "act")),
        rew=column(n + (wrong == "rew")), next_obs=column(n, obs_dim),
        terminated=np.zeros(n, bool), truncated=np.zeros(n, bool) if wrong != "flags"
        else np.array(["x"] * n)), obs_dim


@settings(max_examples=150, **SETTINGS)
@given(batch=transitions(), capacity=st.integers(-1, 5), sample_size=st.integers(0, 3))
def test_replay_buffer_add_and_sample_work_or_raise_clearly(batch, capacity, sample_size):
    columns, obs_dim = batch
    try:
        buffer = ReplayBuffer(capacity, obs_dim, 1)
        buffer.add(**columns)
        sampled = buffer.sample(sample_size, np.random.default_rng(0))
    except CLEAR as error:
        assert str(error)
        return
    assert len(sampled) == sample_size
    assert np.isfinite(sampled.obs).all()


@settings(max_examples=40, **SETTINGS)
@given(size=st.integers(1, 20), garbage=st.binary(max_size=64))
def test_replay_buffer_save_load_round_trips_and_refuses_garbage(size, garbage, tmp_path_factory):
    path = tmp_path_factory.mktemp("buffer") / "b.npz"
    buffer = ReplayBuffer(32, 2, 1)
    rows = np.arange(size * 2, dtype=np.float32).reshape(size, 2)
    buffer.add(rows, rows[:, :1], rows[:, 0], rows + 1, np.zeros(size, bool), np.ones(size, bool))
    buffer.save(path)
    loaded = ReplayBuffer.load(path)
    np.testing.assert_array_equal(loaded.get().obs, buffer.get().obs)
    path.write_bytes(garbage)
    with pytest.raises(CLEAR):
        ReplayBuffer.load(path)


KEYS = ["seed", "episodes", "task", "planner.name", "planner.horizon", "model.kind",
        "model.num_particles", "terminal_value.pessimism", "planner.mppi.temperature",
        "nonexistent", "planner.cem.nope", "model"]


@settings(max_examples=200, **SETTINGS)
@given(st.lists(st.tuples(st.sampled_from(KEYS),
                          st.one_of(st.integers(-3, 3).map(str), st.text(max_size=6),
                                    st.sampled_from(["ensemble", "mppi", "1e-3", "null",
                                                     "[1,2]", "true"]))),
                max_size=3))
def test_config_overrides_work_or_name_the_key(pairs):
    overrides = [f"{key}={value}" for key, value in pairs]
    try:
        config = load_config(MBRLConfig, None, overrides)
        config.validate()
    except CLEAR as error:
        assert str(error)
        return
    assert isinstance(config, MBRLConfig)
