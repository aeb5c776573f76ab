import gymnasium as gym
import numpy as np
import torch

from mbrl.envs.analytic import cartpole_dynamics, pendulum_dynamics


def test_pendulum_dynamics_match_gymnasium_step_for_step():
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(300):
        action = rng.uniform(-3.0, 3.0, size=1)  # beyond the limits too: the env clips
        predicted = pendulum_dynamics(torch.tensor(obs[None], dtype=torch.float64),
                                      torch.tensor(action[None]))[0].numpy()
        obs, *_ = env.step(action.astype(np.float32))
        np.testing.assert_allclose(predicted, obs, atol=2e-5)  # obs are float32


def test_cartpole_dynamics_match_cartpole_v1_at_full_force():
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(200):
        state = torch.tensor(env.unwrapped.state, dtype=torch.float64)
        action = int(rng.integers(2))
        predicted = cartpole_dynamics(state[None], torch.tensor([[2.0 * action - 1.0]]))[0]
        _, _, terminated, _, _ = env.step(action)
        np.testing.assert_allclose(predicted.numpy(), env.unwrapped.state, rtol=1e-12, atol=1e-12)
        if terminated:
            env.reset(seed=int(rng.integers(1000)))


def test_analytic_models_are_differentiable():
    states = torch.tensor([[0.1, -0.2, 2.0, 0.5]], dtype=torch.float64, requires_grad=True)
    actions = torch.tensor([[0.3]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(cartpole_dynamics, (states, actions))
    obs = torch.tensor([[0.6, 0.8, 1.0]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pendulum_dynamics, (obs, actions))
