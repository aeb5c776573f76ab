"""DAgger on the harness: the aggregated dataset, the mixture schedule, the student's fit,
identical resume and settings refused before a run folder exists."""

import numpy as np
import pytest
import torch

from mbrl.algorithms.dagger import DAggerConfig, DAggerRun, LabelledStates, StudentPolicy
from mbrl.algorithms.model_free import AgentRun, AgentRunConfig
from mbrl.envs import make_task
from mbrl.util.config import load_config

TIMING = {"expert_ms_per_act", "student_ms_per_act"}
# a cheap simulator-MPC expert on InvertedPendulum-v5, 10-step episodes (the pole stays up)
TINY = ["episode_steps=10", "episodes_per_iteration=2", "eval_episodes=1", "progress=false",
        "expert.planner.name=mppi", "expert.planner.horizon=5",
        "expert.planner.mppi.num_samples=20", "student.epochs=3", "student.hidden=[16]"]


def dagger(root, *overrides) -> DAggerConfig:
    return load_config(DAggerConfig, None, [*TINY, f"output_dir={root}", *overrides])


def rows(run) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in run.evaluations()]


def test_the_aggregated_dataset_grows_by_each_iterations_visited_states(tmp_path):
    expert_only = DAggerRun.start(dagger(tmp_path / "a", "iterations=3", "beta_decay=1")).run()
    got = expert_only.evaluations()  # the expert keeps the pole up: 2 episodes x 10 steps
    assert [r["dataset_size"] for r in got] == [20, 40, 60]
    run = DAggerRun.start(dagger(tmp_path / "b", "iterations=3", "beta_decay=0.5")).run()
    got = run.evaluations()  # the student's own episodes may end sooner: every state counts
    assert [r["beta"] for r in got] == [1.0, 0.5, 0.25]
    assert [r["dataset_size"] for r in got] == [r["env_steps"] for r in got]
    assert got[0]["dataset_size"] == 20 and len(run.data) == got[-1]["env_steps"]
    assert np.isfinite(run.data.actions).all()
    assert (np.abs(run.data.actions) <= make_task("InvertedPendulum-v5").action_space.high).all()
    assert all(r["student_ms_per_act"] > 0 and r["expert_ms_per_act"] > 0 for r in got)


def test_resume_continues_identically(tmp_path, monkeypatch):
    straight = DAggerRun.start(dagger(tmp_path / "a", "iterations=3")).run()
    short = DAggerRun.start(dagger(tmp_path / "b", "iterations=2")).run()
    resumed = DAggerRun.resume(short.folder.root, ["iterations=3"]).run()
    assert rows(resumed) == rows(straight)
    for a, b in zip(straight.student.parameters(), resumed.student.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_simulator_expert_acts_in_the_env_it_is_given(tmp_path):
    run = DAggerRun.start(dagger(tmp_path, "iterations=1"))
    expert_return = run.evaluate(run.expert_in(run.eval_env), run.eval_env, 1, seed=3)
    assert expert_return == 10.0  # not "obs does not match the physics state" of the train env
    with pytest.raises(ValueError, match="physics state"):
        run.evaluate(run.expert, run.eval_env, 1, seed=3)


def test_a_run_folder_as_expert_and_a_discrete_student(tmp_path):
    """Distil a (tiny) PPO run on CartPole-v1: the student's cross-entropy fit on the expert's
    own labels."""
    expert = AgentRun.start(load_config(AgentRunConfig, None, [
        "algo=ppo", "task=CartPole-v1", "total_steps=512", "num_envs=2", "eval_every=512",
        "eval_episodes=1", "progress=false", f"output_dir={tmp_path / 'expert'}"])).run()
    run = DAggerRun.start(load_config(DAggerConfig, None, [
        "task=CartPole-v1", "expert.kind=run", f"expert.run_dir={expert.folder.root}",
        "iterations=2", "episode_steps=20", "eval_episodes=1", "progress=false",
        f"output_dir={tmp_path / 'dagger'}"])).run()
    labels = run.data.actions[:, 0]
    assert set(np.unique(labels)) <= {0.0, 1.0}
    expected = expert.evaluation_policy().act(run.data.obs, deterministic=True)
    np.testing.assert_array_equal(labels, expected)  # the expert's deterministic actions


def test_the_student_fits_a_linear_expert_closely():
    task = make_task("InvertedPendulum-v5")
    student = StudentPolicy(task, load_config(DAggerConfig, None, []).student)
    obs = torch.randn(512, task.obs_dim, generator=torch.Generator().manual_seed(0)) * 0.1
    labels = (obs @ torch.tensor([[1.0], [-2.0], [0.5], [0.3]])).clamp(-3, 3)
    optimizer = torch.optim.Adam(student.parameters(), lr=3e-3)
    for _ in range(500):
        optimizer.zero_grad()
        student.loss(obs, labels).backward()
        optimizer.step()
    assert student.loss(obs, labels).item() < 1e-3 * labels.var().item() + 1e-4


def test_the_dataset_round_trips_and_names_a_wrong_file(tmp_path):
    data = LabelledStates(3, 1)
    data.add(np.ones((4, 3)), np.zeros((4, 1)))
    data.save(tmp_path / "d.npz")
    back = LabelledStates.load(tmp_path / "d.npz")
    np.testing.assert_array_equal(back.obs, data.obs)
    np.savez(tmp_path / "other.npz", x=np.ones(2))
    with pytest.raises(ValueError, match="not a DAgger dataset"):
        LabelledStates.load(tmp_path / "other.npz")


@pytest.mark.parametrize("override,message", [
    ("beta_decay=1.5", "beta_decay"), ("iterations=0", "iterations"),
    ("student.learning_rate=0", "student.learning_rate"), ("expert.kind=run", "run_dir"),
    ("episode_steps=0", "episode_steps")])
def test_bad_settings_are_refused_before_a_run_folder(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        DAggerRun.start(dagger(tmp_path, override))
    assert not list(tmp_path.iterdir())


def test_an_expert_run_of_another_observation_space_is_named(tmp_path):
    expert = AgentRun.start(load_config(AgentRunConfig, None, [
        "algo=a2c", "task=Pendulum-v1", "total_steps=80", "num_envs=2", "eval_every=80",
        "eval_episodes=1", "progress=false", f"output_dir={tmp_path / 'expert'}"])).run()
    with pytest.raises(ValueError, match="observes"):
        DAggerRun.start(load_config(DAggerConfig, None, [
            "task=CartPole-v1", "expert.kind=run", f"expert.run_dir={expert.folder.root}",
            f"output_dir={tmp_path / 'dagger'}"]))
