import numpy as np
import pytest
import torch
from gymnasium.envs.mujoco import MujocoEnv

from mbrl.envs import make_task
from mbrl.envs.simulator import MujocoSimulator
from mbrl.policies import SimulatorMPC
from planners import MPC, RandomShooting

SIMULATED = ["InvertedPendulum-v5", "InvertedDoublePendulum-v5", "Reacher-v5", "Pusher-v5",
             "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "CartPoleSwingUp"]


@pytest.mark.parametrize("name", SIMULATED)
def test_simulator_rollout_reproduces_the_env(name):
    task = make_task(name)
    simulator = MujocoSimulator(task, num_threads=2)
    env = task.make_env()
    env.reset(seed=0)
    start = simulator.get_state(env)
    rng = np.random.default_rng(0)
    actions = rng.uniform(env.action_space.low, env.action_space.high, size=(15, task.act_dim))
    observations, rewards = [], []
    for action in actions:
        obs, reward, terminated, _, _ = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        if terminated:
            break
    steps = len(observations)
    predicted = simulator.rollout(torch.tensor(start)[None], torch.tensor(actions[None, :steps]))
    # exact, except Reacher's fingertip position: under RK4 the env reports it at its last
    # integration stage, the simulator at the final state (test_rewards has the same tolerance)
    observation_atol = 1e-5 if name == "Reacher-v5" else 1e-9
    np.testing.assert_allclose(simulator.observe(predicted[0]).numpy(), observations,
                               atol=observation_atol, rtol=0)
    previous = torch.cat([torch.tensor(start)[None], predicted[0, :-1]])
    model_rewards = simulator.reward_fn(previous, torch.tensor(actions[:steps]), predicted[0])
    np.testing.assert_allclose(model_rewards.numpy(), rewards, atol=1e-4, rtol=1e-5)
    one_step = simulator(torch.tensor(start)[None], torch.tensor(actions[:1]))
    np.testing.assert_allclose(one_step.numpy(), predicted[:, 0].numpy())
    simulator.close()


def test_state_round_trips_through_a_live_env():
    task = make_task("HalfCheetah-v5")
    simulator = MujocoSimulator(task, num_threads=1)
    env = task.make_env()
    env.reset(seed=1)
    state = simulator.get_state(env)
    after_one, *_ = env.step(np.full(6, 0.5))
    simulator.set_state(env, state)
    again, *_ = env.step(np.full(6, 0.5))
    np.testing.assert_array_equal(after_one, again)
    with pytest.raises(ValueError, match="state must be"):
        simulator.set_state(env, state[:-1])
    with pytest.raises(ValueError, match="is not a HalfCheetah-v5"):
        simulator.get_state(make_task("Hopper-v5").make_env())


def test_tasks_without_an_observation_function_are_refused():
    with pytest.raises(ValueError, match="Pendulum-v1 has no observation_fn"):
        MujocoSimulator(make_task("Pendulum-v1"))


def test_every_mujoco_task_can_be_simulated():
    from mbrl.envs import list_tasks

    mujoco_tasks = [name for name in list_tasks()
                    if isinstance(make_task(name).make_env().unwrapped, MujocoEnv)]
    assert sorted(mujoco_tasks) == sorted(SIMULATED)


def test_simulator_mpc_plans_from_the_env_state_and_checks_the_observation():
    task = make_task("InvertedPendulum-v5")
    simulator = MujocoSimulator(task, num_threads=2)
    env = task.make_env()
    obs, _ = env.reset(seed=0)
    policy = SimulatorMPC(MPC(RandomShooting(200, seed=0), simulator.problem(20)), simulator, env)
    for _ in range(50):
        obs, _, terminated, _, _ = env.step(policy.act(obs))
        assert not terminated
    with pytest.raises(ValueError, match="does not match the physics state"):
        policy.act(obs + 1.0)


def test_mujoco_derivatives_match_batched_finite_differences_and_drive_ilqr():
    from planners import ILQR
    from planners.ilqr import _finite_difference_jacobians

    task = make_task("HalfCheetah-v5")
    simulator = MujocoSimulator(task, num_threads=2)
    env = task.make_env()
    env.reset(seed=0)
    for _ in range(5):
        env.step(env.action_space.sample())
    states = torch.from_numpy(simulator.get_state(env))[None].repeat(3, 1)
    actions = torch.linspace(-0.5, 0.5, 3 * 6, dtype=torch.float64).view(3, 6)
    fx, fu = simulator.jacobians(states, actions)
    problem = simulator.problem(10)
    fx_ref, fu_ref = _finite_difference_jacobians(problem, states, actions, 1e-6)
    assert (fx - fx_ref).abs().max() < 1e-3 * fx_ref.abs().max()
    assert (fu - fu_ref).abs().max() < 1e-3 * fu_ref.abs().max()
    plan = ILQR(max_iterations=3, derivatives="model", seed=0).plan(states[0], problem)
    costs = plan.diagnostics["cost_history"]
    assert len(costs) > 1 and costs[-1] < costs[0]  # it makes progress with MuJoCo's derivatives
    assert plan.actions.abs().max() <= 1.0
    with pytest.raises(ValueError, match="RK4"):
        MujocoSimulator(make_task("InvertedPendulum-v5")).jacobians(
            torch.zeros(1, 5, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64))


def test_ilqr_mpc_with_finite_differences_starts_swinging_up_the_cartpole():
    """A few receding-horizon iLQR steps through the simulator (RK4: finite differences) pump
    energy into the hanging pole (the full swing-up is in the simulator_planning benchmark)."""
    from planners import ILQR

    task = make_task("CartPoleSwingUp")
    simulator = MujocoSimulator(task, num_threads=2)
    env = task.make_env()
    obs, _ = env.reset(seed=0)
    planner = ILQR(max_iterations=2, derivatives="finite_differences", seed=0)
    policy = SimulatorMPC(MPC(planner, simulator.problem(30)), simulator, env)
    cosines = []
    for _ in range(15):
        obs, *_ = env.step(policy.act(obs))
        cosines.append(obs[1])
    assert min(cosines[:3]) < -0.99 and max(cosines) > -0.9  # hanging at first, then swinging
    simulator.close()
