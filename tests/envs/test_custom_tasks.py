"""A user's own task in a few lines: register, check against the env, plan and train on it."""

import sys

import pytest
import torch

from mbrl.envs import check_task, list_tasks, make_task, register_task, tasks


@pytest.fixture(autouse=True)
def own_registry(monkeypatch):
    """Tasks registered by a test are gone after it (and the example module imports afresh)."""
    monkeypatch.setattr(tasks, "_TASKS", dict(tasks._TASKS))
    monkeypatch.delitem(sys.modules, "examples.swimmer_task", raising=False)


def test_swimmer_registers_and_its_reward_checks_out():
    from examples.swimmer_task import SWIMMER

    assert "Swimmer-v5" in list_tasks() and make_task("Swimmer-v5") is SWIMMER
    assert SWIMMER.obs_dim == 10 and SWIMMER.max_episode_steps == 1000
    assert SWIMMER.reward_only_dims == (0, 1)
    report = check_task("Swimmer-v5", steps=300)
    assert report.ok, str(report)


def test_check_task_catches_a_wrong_reward():
    def forgets_the_timestep(obs, act, next_obs):
        return next_obs[:, 0] - obs[:, 0] - 1e-4 * act.square().sum(-1)

    spec = register_task("BadSwimmer", "Swimmer-v5", forgets_the_timestep, overwrite=True,
                         env_kwargs={"exclude_current_positions_from_observation": False})
    report = check_task(spec, steps=200)
    assert not report.ok and "MISMATCH" in str(report) and report.worst_reward_error > 1e-3


def test_factories_overwrites_and_bad_registrations():
    def short_pendulum(**kwargs):  # gymnasium passes render_mode and the env_kwargs
        from gymnasium.envs.classic_control.pendulum import PendulumEnv

        return PendulumEnv(g=5.0, **kwargs)

    from mbrl.envs.rewards import pendulum_reward

    spec = register_task("MyPendulum", short_pendulum, pendulum_reward, max_episode_steps=20,
                         overwrite=True)
    assert spec.obs_dim == 3 and check_task(spec, steps=50).ok
    with pytest.raises(ValueError, match="already registered"):
        register_task("MyPendulum", short_pendulum, pendulum_reward, max_episode_steps=20)
    replaced = register_task("MyPendulum", "CartPole-v1", lambda o, a, n: torch.ones(len(o)),
                             overwrite=True)
    assert replaced.obs_dim == 4  # spaces belong to the spec, not to the name
    with pytest.raises(TypeError, match="reward_fn must be a function of 3"):
        register_task("X", "Pendulum-v1", lambda obs: obs)
    with pytest.raises(ValueError, match="not a registered gymnasium id"):
        register_task("X", "NoSuchEnv-v9", pendulum_reward)
    with pytest.raises(ValueError, match=r"reward_only_dims \[3\] .* 3 observation dims"):
        register_task("X", "Pendulum-v1", pendulum_reward, reward_only_dims=(0, 3))
    assert "X" not in list_tasks()


def test_a_registered_task_trains_through_the_command_lines(tmp_path, capsys):
    from experiments.run_mbrl import main as run_mbrl
    from experiments.train_agent import main as train_agent

    assert run_mbrl(["--preset", "pendulum", "task=NotRegistered"]) == 2
    assert "register your own" in capsys.readouterr().err
    common = ["--import", "examples.swimmer_task", "task=Swimmer-v5", "progress=false",
              f"output_dir={tmp_path}"]
    assert run_mbrl([*common, "--preset", "pets_cartpole_swingup", "episodes=1",
                     "episode_steps=20", "model.max_epochs=2", "model.num_particles=2",
                     "planner.random_shooting.num_samples=20", "planner.horizon=3"]) == 0
    assert train_agent([*common, "--preset", "sac_pendulum", "total_steps=200",
                        "eval_every=200", "eval_episodes=1", "sac.hidden=[16]"]) == 0
    pets_run = next(tmp_path.glob("Swimmer-v5-s0-*"))
    assert (pets_run / "imports.txt").read_text() == "examples.swimmer_task\n"
    assert run_mbrl(["--resume", str(pets_run), "episodes=2"]) == 0
