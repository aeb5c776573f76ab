import mujoco
import numpy as np
import pytest
import torch

from mbrl.data.sequences import EpisodeBuffer
from mbrl.envs.pixels import make_pixel_env
from mbrl.models.latent import LatentModelConfig, LatentWorldModel
from mbrl.policies import LatentMPC
from planners import CEM


def rotating_episodes(count=20, steps=30, seed=0):
    """A 2-D point rotated by an angle set by the action; reward = first coordinate."""
    rng = np.random.default_rng(seed)
    buffer = EpisodeBuffer()
    for _ in range(count):
        state = rng.normal(size=2)
        states, actions, rewards = [state], [], []
        for _ in range(steps):
            action = rng.uniform(-1, 1, size=1)
            angle = 0.3 * action[0]
            rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            state = rotation @ state
            states.append(state)
            actions.append(action)
            rewards.append(state[0])
        buffer.add_episode(np.array(states, np.float32), np.array(actions), np.array(rewards))
    return buffer


@pytest.mark.parametrize(("stochastic", "prediction_weight"), [(False, 1.0), (True, 1.0),
                                                             (False, 0.0)])
def test_vector_world_model_learns_open_loop_predictions(stochastic, prediction_weight):
    """Also without the decoded K-step terms (eq. 5.3.6's terms only): the latent prediction
    alone makes decoded open-loop predictions beat copying the last observation."""
    torch.manual_seed(0)
    data = rotating_episodes()
    config = LatentModelConfig(latent_dim=4, hidden=32, overshooting=5, stochastic=stochastic,
                               kl_weight=0.01, prediction_weight=prediction_weight)
    model = LatentWorldModel((2,), 1, config)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    rng, generator = np.random.default_rng(0), torch.Generator().manual_seed(0)
    first = None
    for _ in range(200):
        loss, terms = model.loss(*data.sample(16, 5, rng), generator)
        first = first or terms
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert ("prediction" in terms) == bool(prediction_weight)
    prediction = "prediction" if prediction_weight else "latent"
    assert terms[prediction] < 0.2 * first[prediction]
    assert terms["reward"] < 0.2 * first["reward"]
    obs, actions, _ = rotating_episodes(count=5, seed=1).sample(64, 5, np.random.default_rng(1))
    model_error, copy_error = model.open_loop_error(obs, actions)
    assert (model_error < copy_error).all()
    if stochastic:
        assert "kl" in terms


def test_pixel_model_shapes_and_gradients():
    model = LatentWorldModel((6, 64, 64), 2, LatentModelConfig(latent_dim=8, overshooting=3))
    obs = torch.randint(0, 256, (2, 4, 6, 64, 64), dtype=torch.uint8)
    loss, terms = model.loss(obs, torch.randn(2, 3, 2), torch.randn(2, 3))
    loss.backward()
    assert set(terms) == {"reconstruction", "prediction", "latent", "reward"}
    for part in (model.encoder, model.decoder, model.dynamics, model.reward_head):
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in part.parameters())
    assert model.decode(model.encode(obs[:, 0])).shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="64, 64"):
        LatentWorldModel((3, 32, 32), 1)
    with pytest.raises(ValueError, match="prediction_weight must be >= 0"):
        LatentWorldModel((2,), 1, LatentModelConfig(prediction_weight=-1.0))


def test_latent_mpc_acts_within_bounds():
    model = LatentWorldModel((2,), 1, LatentModelConfig(latent_dim=4, hidden=16))
    low, high = torch.tensor([-0.5]), torch.tensor([0.5])
    policy = LatentMPC(model.encode, CEM(population=32, elites=4, iterations=2, seed=0),
                       model.problem(low, high, 5))
    action = policy.act(np.array([0.1, -0.2], np.float32))
    assert action.shape == (1,) and abs(action[0]) <= 0.5


def test_episode_buffer_windows_and_errors():
    buffer = rotating_episodes(count=2, steps=6)
    obs, actions, rewards = buffer.sample(10, 4, np.random.default_rng(0))
    assert obs.shape == (10, 5, 2) and actions.shape == (10, 4, 1) and rewards.shape == (10, 4)
    with pytest.raises(ValueError, match="no stored episode"):
        buffer.sample(1, 7, np.random.default_rng(0))
    with pytest.raises(ValueError, match="T\\+1"):
        buffer.add_episode(np.zeros((3, 2)), np.zeros((3, 1)), np.zeros(3))


@pytest.mark.parametrize("task", ["Pendulum-v1", "CartPoleSwingUp", "InvertedPendulum-v5"])
def test_pixel_wrapper_renders_stacked_frames(task):
    env = make_pixel_env(task, size=64, frame_stack=2)
    obs, info = env.reset(seed=0)
    assert obs.shape == (6, 64, 64) and obs.dtype == np.uint8
    np.testing.assert_array_equal(obs[:3], obs[3:])  # reset fills the stack
    for _ in range(3):
        next_obs, _, _, _, info = env.step(env.action_space.sample())
    np.testing.assert_array_equal(next_obs[:3], env._frames[0])
    assert not np.array_equal(next_obs[:3], next_obs[3:])
    assert "state" in info
    assert env.observation_space.contains(next_obs)


def test_action_repeat_sums_rewards_and_renders_once_per_action():
    import gymnasium as gym

    from mbrl.envs.pixels import ActionRepeat

    plain, repeated = gym.make("Pendulum-v1"), ActionRepeat(gym.make("Pendulum-v1"), 3)
    plain.reset(seed=1)
    repeated.reset(seed=1)
    action = np.array([0.7], np.float32)
    total = sum(plain.step(action)[1] for _ in range(3))
    obs, reward, *_ = repeated.step(action)
    assert reward == pytest.approx(total)
    np.testing.assert_allclose(obs, plain.unwrapped._get_obs())
    env = make_pixel_env("Pendulum-v1", frame_stack=1, action_repeat=4)
    env.reset(seed=0)
    assert env.step(action)[0].shape == (3, 64, 64)
    with pytest.raises(ValueError, match="repeat"):
        ActionRepeat(gym.make("Pendulum-v1"), 0)


@pytest.mark.parametrize("cart_x", [-2.5, 2.5])
def test_swingup_frames_show_the_pole_at_the_slider_limits(cart_x):
    """At 64 x 64 the whole rail and the pole pointing outwards from either end are in view,
    and the pole is drawn thick enough to be seen (it was one broken pixel line, and out of the
    frame at the limits)."""
    env = make_pixel_env("CartPoleSwingUp", size=64)
    env.reset(seed=0)
    swingup = env.unwrapped
    outwards = np.sign(cart_x) * np.pi / 2  # horizontal, pointing away from the centre
    swingup.set_state(np.array([cart_x, outwards]), np.zeros(2))
    frame = env._frame().transpose(1, 2, 0).astype(int)  # [64, 64, 3]
    red, green, blue = frame[..., 0], frame[..., 1], frame[..., 2]
    orange = (red > 100) & (red > green + 50) & (red > 3 * blue)  # the pole's colour
    assert orange.sum() >= 10
    columns = np.flatnonzero(orange.any(0))
    assert (columns.min() > 0) and (columns.max() < 63)  # the tip is inside the frame


def test_swingup_visual_geoms_carry_no_mass_and_do_not_collide():
    model = make_pixel_env("CartPoleSwingUp").unwrapped.model
    for name in ("cart_visual", "pole_visual"):
        geom = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)
        assert model.geom_contype[geom] == 0 and model.geom_conaffinity[geom] == 0
    np.testing.assert_allclose(model.body_mass, [0.0, 1.0, 0.1])
