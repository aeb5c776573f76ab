"""Every task's batched reward/termination fns reproduce the environment's own on real data."""

import numpy as np
import pytest
import torch

from mbrl.envs import check_task, list_tasks, make_task

NUM_TRANSITIONS = 1000


@pytest.mark.parametrize("name", list_tasks())
def test_reward_and_termination_fns_match_the_env(name):
    report = check_task(name, steps=NUM_TRANSITIONS)
    assert report.ok, str(report)
    from mbrl.envs.rewards import never_terminates

    # tasks that can terminate do so within the random data (so the check has teeth), except
    # MountainCar and Acrobot, whose goals a random policy never reaches (tested separately)
    if make_task(name).termination_fn is not never_terminates and name not in (
            "MountainCarContinuous-v0", "Acrobot-v1"):
        assert report.terminations > 0, str(report)


def test_spec_spaces_match_env():
    for name in list_tasks():
        task = make_task(name)
        env = task.make_env()
        obs, _ = env.reset(seed=0)
        assert obs.shape == (task.obs_dim,), name
        assert env.spec.max_episode_steps == task.max_episode_steps, name
        env.close()


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown task 'Nope-v0'.*known tasks"):
        make_task("Nope-v0")


def test_mountain_car_goal_reward_and_termination():
    task = make_task("MountainCarContinuous-v0")
    env = task.make_env()
    env.reset(seed=0)
    env.unwrapped.state = np.array([0.44, 0.05], dtype=np.float32)
    obs = env.unwrapped.state.copy()
    action = np.array([0.7], dtype=np.float32)
    next_obs, reward, terminated, _, _ = env.step(action)
    assert terminated
    to_t = lambda x: torch.as_tensor(np.asarray(x, dtype=np.float64))[None]  # noqa: E731
    assert task.termination_fn(to_t(next_obs)).item()
    predicted = task.reward_fn(to_t(obs), to_t(action), to_t(next_obs)).item()
    assert predicted == pytest.approx(reward, abs=1e-5)


@pytest.mark.parametrize("name", [n for n in list_tasks() if make_task(n).mirror is not None])
def test_mirror_symmetry_holds_in_the_simulator(name):
    """Negating every joint position and velocity and the action is the declared observation
    mirror, keeps the reward and termination fns' values, and the simulator's next state is the
    mirror image of the original's next state (to 1% of a step's change: the tasks' geometry
    is symmetric up to millimetres, e.g. InvertedPendulum's pole is tilted by 1 mm)."""
    task = make_task(name)
    obs_sign, act_sign = (np.array(signs) for signs in task.mirror)
    assert obs_sign.shape == (task.obs_dim,) and act_sign.shape == (task.act_dim,)
    env = task.make_env()
    env.reset(seed=0)
    sim, rng = env.unwrapped, np.random.default_rng(0)
    columns = {"obs": [], "act": [], "next_obs": [], "mismatch": []}
    for _ in range(100):
        qpos = rng.uniform(-0.2, 0.2, sim.model.nq)
        qvel = rng.uniform(-1.0, 1.0, sim.model.nv)
        action = rng.uniform(env.action_space.low, env.action_space.high)
        sim.set_state(qpos, qvel)
        obs = sim._get_obs()
        next_obs = env.step(action)[0]
        sim.set_state(-qpos, -qvel)
        np.testing.assert_allclose(sim._get_obs(), obs_sign * obs, atol=1e-12)
        mirrored_next = env.step(act_sign * action)[0]
        for key, value in [("obs", obs), ("act", action), ("next_obs", next_obs),
                           ("mismatch", np.abs(mirrored_next - obs_sign * next_obs))]:
            columns[key].append(value)
    data = {key: torch.as_tensor(np.stack(value)) for key, value in columns.items()}
    change = (data["next_obs"] - data["obs"]).abs().mean(0)
    assert (data["mismatch"].mean(0) <= 0.01 * change).all(), (data["mismatch"].mean(0), change)
    mirrored = [data["obs"] * torch.as_tensor(obs_sign), data["act"] * torch.as_tensor(act_sign),
                data["next_obs"] * torch.as_tensor(obs_sign)]
    torch.testing.assert_close(task.reward_fn(*mirrored),
                               task.reward_fn(data["obs"], data["act"], data["next_obs"]))
    assert torch.equal(task.termination_fn(mirrored[2]), task.termination_fn(data["next_obs"]))


def test_acrobot_termination_matches_the_env_on_states_random_play_never_reaches():
    """Random actions almost never lift Acrobot's tip above the bar, so check the termination
    against gymnasium's own test on random joint angles."""
    import gymnasium as gym
    import numpy as np
    import torch

    from mbrl.envs import rewards

    env = gym.make("Acrobot-v1").unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    states = np.column_stack([rng.uniform(-np.pi, np.pi, (500, 2)), np.zeros((500, 2))])
    expected = []
    for state in states:
        env.state = state
        expected.append(env._terminal())
    obs = torch.as_tensor(np.array([env._get_ob() for env.state in states]))
    got = rewards.acrobot_termination(obs).numpy()
    assert 50 < sum(expected) < 450 and (got == np.array(expected)).all()
    assert (rewards.acrobot_reward(obs, torch.zeros(500, 1), obs).numpy()
            == np.where(expected, 0.0, -1.0)).all()
    potential = rewards.acrobot_potential(obs).numpy()
    assert (potential[~np.array(expected)] <= 0).all() and potential.min() >= -3.0


def test_shaping_potentials_are_declared_only_where_a_sparse_reward_needs_one():
    from mbrl.envs import list_tasks, make_task

    assert [name for name in list_tasks() if make_task(name).potential is not None] == [
        "Acrobot-v1"]
