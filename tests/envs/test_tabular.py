import numpy as np
import pytest

from mbrl.envs import make_tabular_mdp, value_iteration

CASES = [("FrozenLake-v1", {"map_name": "4x4", "is_slippery": False}),
         ("FrozenLake-v1", {"map_name": "8x8", "is_slippery": True}),
         ("Taxi-v4", {}), ("CliffWalking-v1", {})]


@pytest.mark.parametrize("env_id, kwargs", CASES)
def test_value_iteration_solves_bellman_equation_of_its_policy(env_id, kwargs):
    mdp = make_tabular_mdp(env_id, **kwargs)
    gamma = 0.95
    result = value_iteration(mdp, gamma=gamma)
    # exact policy evaluation of the greedy policy by a linear solve must give the same V
    s = np.arange(mdp.num_states)
    a = result.policy
    probs = mdp.outcome_probs[s, a]
    reward = (probs * mdp.rewards[s, a]).sum(-1)
    transition = np.zeros((mdp.num_states, mdp.num_states))
    np.add.at(transition, (np.repeat(s, probs.shape[1]), mdp.next_states[s, a].ravel()),
              (probs * ~mdp.terminated[s, a]).ravel())
    v = np.linalg.solve(np.eye(mdp.num_states) - gamma * transition, reward)
    np.testing.assert_allclose(v, result.v, atol=1e-7)
    assert result.optimal_actions()[s, a].all()


def test_known_optimal_values():
    mdp = make_tabular_mdp("FrozenLake-v1", map_name="4x4", is_slippery=False)
    result = value_iteration(mdp, gamma=0.9)
    assert result.v[0] == pytest.approx(0.9**5)  # 6 steps to the goal, reward 1 on the last
    cliff = value_iteration(make_tabular_mdp("CliffWalking-v1"), gamma=0.999)
    start = 36
    assert cliff.v[start] == pytest.approx(-sum(0.999**t for t in range(13)))


def test_sampling_matches_transition_probabilities():
    mdp = make_tabular_mdp("FrozenLake-v1", map_name="4x4", is_slippery=True)
    rng = np.random.default_rng(0)
    n = 30_000
    next_states, _, _ = mdp.sample(np.full(n, 5 + 1), np.full(n, 2), rng)
    frequencies = np.bincount(next_states, minlength=mdp.num_states) / n
    np.testing.assert_allclose(frequencies, mdp.transition_matrix()[6, 2], atol=0.01)


def test_live_states_and_sampling_agree_with_the_real_env():
    mdp = make_tabular_mdp("Taxi-v4")
    assert mdp.live_states.sum() == 400
    env = mdp.make_env()
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    for _ in range(200):
        action = int(rng.integers(6))
        next_obs, reward, terminated, truncated, _ = env.step(action)
        s, r, t = mdp.step(obs, action, rng)
        assert (s, r, t) == (next_obs, reward, terminated)
        assert mdp.live_states[obs]
        obs = next_obs if not (terminated or truncated) else env.reset()[0]


def test_bad_input_is_a_clear_error():
    mdp = make_tabular_mdp("CliffWalking-v1")
    with pytest.raises(ValueError, match="actions must be in"):
        mdp.sample(np.array([0]), np.array([7]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="env_id must be one of"):
        make_tabular_mdp("Pendulum-v1")
    with pytest.raises(ValueError, match="gamma"):
        value_iteration(mdp, gamma=1.0)
