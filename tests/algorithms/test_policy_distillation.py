"""Multi-task policy distillation: soft targets, masking, the run end to end, bad inputs."""

import numpy as np
import pytest
import torch

from mbrl.algorithms.dagger import StudentConfig
from mbrl.algorithms.model_free import AgentRun, AgentRunConfig
from mbrl.algorithms.policy_distillation import (
    DistillationConfig,
    DistillationRun,
    MultiTaskStudent,
    soft_targets,
)
from mbrl.util.config import load_config


@pytest.fixture(scope="module")
def experts(tmp_path_factory):
    """Tiny PPO runs on CartPole-v1 (2 actions) and Acrobot-v1 (3 actions)."""
    root = tmp_path_factory.mktemp("experts")
    folders = []
    for task in ("CartPole-v1", "Acrobot-v1"):
        run = AgentRun.start(load_config(AgentRunConfig, None, [
            "algo=ppo", f"task={task}", "total_steps=256", "num_envs=2", "eval_every=256",
            "eval_episodes=1", "ppo.steps_per_env=64", "progress=false",
            f"output_dir={root}"])).run()
        folders.append(str(run.folder.root))
    return folders


def distil(root, experts, *overrides) -> DistillationConfig:
    return load_config(DistillationConfig, None, [
        f"experts=[{experts[0]},{experts[1]}]", "states_per_task=200", "eval_episodes=1",
        "student.epochs=3", "student.hidden=[16]", "progress=false", f"output_dir={root}",
        *overrides])


def test_soft_targets_tend_to_hard_labels_as_the_temperature_falls():
    z = torch.log_softmax(torch.randn(64, 3, generator=torch.Generator().manual_seed(0)), -1)
    hard = torch.nn.functional.one_hot(z.argmax(-1), 3).float()
    torch.testing.assert_close(soft_targets(z, 1e-6), hard)
    torch.testing.assert_close(soft_targets(z, 1.0), z.exp())  # T = 1: the expert's policy
    masked = torch.cat([z[:, :2], torch.full((64, 1), -torch.inf)], -1)
    assert (soft_targets(masked, 2.0)[:, 2] == 0).all()


def test_the_student_never_picks_an_action_its_task_lacks():
    student = MultiTaskStudent([4, 6], [2, 3], StudentConfig(hidden=(8,)))
    with torch.no_grad():
        student.net[-1].bias.copy_(torch.tensor([0.0, 0.0, 100.0]))  # prefers action 2
    obs = np.zeros((5, 4))
    assert (student.for_task(0).act(obs) < 2).all()
    assert (student.for_task(1).act(np.zeros((5, 6))) == 2).all()
    with pytest.raises(ValueError, match="observes 6"):
        student.inputs(obs, 1)


@pytest.mark.parametrize("targets", ["soft", "hard"])
def test_a_run_collects_fits_and_evaluates_every_task(tmp_path, experts, targets):
    run = DistillationRun.start(distil(tmp_path, experts, f"targets={targets}")).run()
    assert run.data.inputs.shape == (400, 6 + 2) and run.env_steps == 400
    assert np.isinf(run.data.log_probs[:200, 2]).all()  # CartPole has no third action
    rows = run.folder.read("tasks")
    assert [int(r["task"]) for r in rows] == [0, 1]
    assert all(np.isfinite(r["student_return"]) for r in rows)
    assert len(run.folder.read("fit")) == 3


def test_resume_after_the_collection_fits_identically(tmp_path, experts, monkeypatch):
    straight = DistillationRun.start(distil(tmp_path / "a", experts)).run()
    stopped = DistillationRun.start(distil(tmp_path / "b", experts))
    monkeypatch.setattr(DistillationRun, "fit", lambda self: (_ for _ in ()).throw(
        KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        stopped.run()
    monkeypatch.undo()
    resumed = DistillationRun.resume(stopped.folder.root).run()
    for a, b in zip(straight.student.parameters(), resumed.student.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("override,message", [
    ("temperature=0", "temperature"), ("experts=[]", "one expert run folder per task"),
    ("tasks=[Pendulum-v1,Acrobot-v1]", "discrete actions")])
def test_bad_settings_are_refused_before_a_run_folder(tmp_path, experts, override, message):
    with pytest.raises(ValueError, match=message):
        DistillationRun.start(distil(tmp_path, experts, override))
    assert not list(tmp_path.iterdir())


def test_an_expert_of_another_task_is_named(tmp_path, experts):
    with pytest.raises(ValueError, match="trained on Acrobot-v1, not CartPole-v1"):
        DistillationRun.start(distil(tmp_path, experts[::-1]))
