"""TD-MPC end to end: a short run plans, learns and logs finite losses, resumes identically,
and refuses bad settings before a run folder exists."""

import math

import numpy as np
import pytest
import torch

from mbrl.algorithms.tdmpc import TDMPCConfig, TDMPCRun
from mbrl.util.config import load_config

TINY = ["total_steps=240", "random_steps=80", "batch_size=16", "eval_every=80",
        "eval_episodes=1", "progress=false", "model.latent_dim=8", "model.hidden=[16]",
        "planner.horizon=3", "planner.mppi.num_samples=16", "planner.mppi.iterations=2",
        "policy_samples=4"]


def tdmpc(root, *overrides):
    return load_config(TDMPCConfig, None, [*TINY, f"output_dir={root}", *overrides])


@pytest.mark.parametrize("task", ["InvertedPendulum-v5", "Pendulum-v1"])
def test_a_run_plans_learns_and_logs(tmp_path, task):
    run = TDMPCRun.start(tdmpc(tmp_path, f"task={task}", "checkpoint_every=240")).run()
    assert [int(r["env_steps"]) for r in run.evaluations()] == [80, 160, 240]
    assert len(run.buffer) == 240
    last = run.folder.read("train")[-1]
    for name in ("model_loss", "consistency_loss", "reward_loss", "value_loss", "actor_loss",
                 "policy_entropy", "alpha"):
        assert math.isfinite(last[name]), name
    assert (last["continuation_loss"] > 0) == (task == "InvertedPendulum-v5")


def test_a_pixel_run_stores_frames_plans_and_resumes_identically(tmp_path, monkeypatch):
    """From 3 stacked 64 x 64 frames (MuJoCo rendered offscreen): uint8 frames in the buffer,
    finite losses, and a run resumed from its checkpoint matches an uninterrupted one."""
    monkeypatch.setenv("MUJOCO_GL", "egl")
    pixels = ["task=InvertedPendulum-v5", "pixels=true", "model.channels=[4,4,8,8]",
              "total_steps=60", "random_steps=20", "eval_every=30", "batch_size=4",
              "buffer_size=100", "checkpoint_every=30", "action_repeat=2"]
    straight = TDMPCRun.start(tdmpc(tmp_path / "a", *pixels)).run()
    assert straight.buffer.obs.shape == (100, 9, 64, 64) and straight.buffer.obs.dtype == np.uint8
    assert math.isfinite(straight.folder.read("train")[-1]["model_loss"])
    short = TDMPCRun.start(tdmpc(tmp_path / "b", *pixels[:-2], "total_steps=30",
                                 "action_repeat=2")).run()
    resumed = TDMPCRun.resume(short.folder.root, ["total_steps=60"]).run()
    key = lambda rows: [(r["env_steps"], r["eval_return"]) for r in rows]  # noqa: E731
    assert key(resumed.evaluations()) == key(straight.evaluations())
    with pytest.raises(ValueError, match="lower its capacity"):  # 1M frame pairs: 74 GiB
        TDMPCRun.start(tdmpc(tmp_path / "c", *pixels[:7], "buffer_size=1000000"))


def test_resume_continues_identically(tmp_path):
    straight = TDMPCRun.start(tdmpc(tmp_path / "a", "checkpoint_every=160")).run()
    short = TDMPCRun.start(tdmpc(tmp_path / "b", "checkpoint_every=160",
                                 "total_steps=160")).run()
    resumed = TDMPCRun.resume(short.folder.root, ["total_steps=240"]).run()

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "train_seconds"} for r in rows]

    assert strip(resumed.evaluations()) == strip(straight.evaluations())
    assert strip(resumed.folder.read("train")) == strip(straight.folder.read("train"))


@pytest.mark.parametrize("override,message", [
    ("task=CartPole-v1", "continuous actions"), ("random_steps=0", "random_steps"),
    ("gamma=0", "gamma"), ("policy_samples=-1", "policy_samples"),
    ("planner.name=categorical_cem", "planner.name"), ("model.rho=0", "rho"),
    ("updates_per_step=0", "updates_per_step")])
def test_bad_settings_are_refused_before_a_run_folder(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        TDMPCRun.start(tdmpc(tmp_path, override))
    assert not list(tmp_path.iterdir())


def test_a_non_finite_loss_names_the_algorithm_and_the_env_step(tmp_path):
    run = TDMPCRun.start(tdmpc(tmp_path, "total_steps=80", "checkpoint_every=80")).run()
    with torch.no_grad():
        run.agent.model.reward_head[0].weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="TD-MPC model.*env step 80"):
        run.agent.update(run.buffer, 8, 3, 0.99, np.random.default_rng(0), "env step 80")


@pytest.mark.slow
def test_preset_balances_the_inverted_pendulum_within_5000_steps(tmp_path):
    """The issue's must-show on seed 0: eval 1000 within 5,000 env steps (measured: 1000 from
    3,000 on, about 15 minutes on one core beside other runs)."""
    from experiments.presets import MBRL_PRESETS

    config = load_config(TDMPCConfig, MBRL_PRESETS / "tdmpc" / "tdmpc_inverted_pendulum.yaml",
                         ["progress=false", f"output_dir={tmp_path}"])
    run = TDMPCRun.start(config).run()
    assert max(r["eval_return"] for r in run.evaluations()) >= 1000
