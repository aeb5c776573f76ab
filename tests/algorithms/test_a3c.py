import math

import pytest

from mbrl.algorithms.a3c import A3CConfig, A3CRun, A3CWorker
from mbrl.util.config import load_config

pytest.importorskip("ray")


def tiny(tmp_path, total_steps, *extra):
    return load_config(A3CConfig, None, [
        "task=CartPole-v1", f"total_steps={total_steps}", "workers=2", "envs_per_worker=2",
        "eval_every=200", "eval_episodes=2", "checkpoint_every=200", "a2c.hidden=[16]",
        "progress=false", f"output_dir={tmp_path}", *extra])


def test_a_worker_sends_the_gradients_of_the_a2c_loss_on_its_own_rollout():
    worker = A3CWorker("CartPole-v1", A3CConfig().a2c, envs=3, seed=0)
    worker.reset(1)
    weights = worker.agent.policy.state_dict()
    result = worker.gradients(weights, steps_per_env=5, cut=True)
    assert result["steps"] == 15
    shapes = [p.shape for p in worker.agent.policy.parameters()]
    assert [g.shape for g in result["gradients"]] == shapes
    assert any(g.abs().sum() > 0 for g in result["gradients"]) and math.isfinite(result["loss"])


def test_a3c_learns_from_asynchronous_workers_checkpoints_and_resumes(tmp_path):
    run = A3CRun.start(tiny(tmp_path, 400)).run()
    rows = run.folder.read("train")
    assert rows and all(math.isfinite(r["value_loss"]) and r["grad_norm"] > 0 for r in rows)
    assert run.env_steps >= 400 and run.agent.steps == len(rows)
    assert [r["env_steps"] for r in run.evaluations()][:2] == [200, 400]
    resumed = A3CRun.resume(run.folder.root, ["total_steps=600"]).run()
    assert resumed.env_steps >= 600 and resumed.agent.steps > run.agent.steps
    assert len(resumed.evaluations()) == 3
    with pytest.raises(ValueError, match="workers must be"):
        A3CRun.start(tiny(tmp_path / "bad", 400, "workers=0"))
    assert not (tmp_path / "bad").exists()
