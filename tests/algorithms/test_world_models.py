"""PlaNet and Dreamer on the shared world-model loop: short runs from states and from pixels,
identical resumption, the actor's pathwise gradient through the model, bad settings."""

import math

import pytest
import torch

from mbrl.algorithms.dreamer import DreamerConfig, DreamerRun, imagine
from mbrl.algorithms.planet import PlaNetConfig, PlaNetRun
from mbrl.util.config import load_config

TINY = ["seed_episodes=2", "episodes=4", "updates_per_episode=3", "batch_size=4",
        "sequence_length=8", "eval_every=1", "eval_episodes=1", "progress=false",
        "model.deterministic_dim=16", "model.stochastic_dim=4", "model.hidden=16",
        "model.embed_dim=16", "model.channels=[4,4,8,8]", "action_repeat=4"]
PLANET = ["planner.horizon=4", "planner.cem.population=16", "planner.cem.elites=4",
          "planner.cem.iterations=2"]
DREAMER = ["imagination_horizon=4", "actor_critic_hidden=[16]"]
RUNS = {"planet": (PlaNetConfig, PlaNetRun, PLANET), "dreamer": (DreamerConfig, DreamerRun,
                                                                 DREAMER)}


def start(algo, root, *overrides):
    config_class, run_class, own = RUNS[algo]
    return run_class.start(load_config(config_class, None,
                                       [*TINY, *own, f"output_dir={root}", *overrides]))


@pytest.mark.parametrize("algo", sorted(RUNS))
@pytest.mark.parametrize("task", ["Pendulum-v1", "InvertedPendulum-v5"])
def test_a_state_based_run_learns_and_evaluates(tmp_path, algo, task):
    run = start(algo, tmp_path, f"task={task}", "pixels=false").run()
    assert [int(r["random"]) for r in run.folder.read("episodes")] == [1, 1, 0, 0]
    assert [int(r["episode"]) for r in run.evaluations()] == [3, 4]
    rows = run.folder.read("train")
    assert [int(r["episode"]) for r in rows] == [2, 3]
    for name in ("reconstruction", "reward", "kl"):
        assert math.isfinite(rows[-1][name])
    assert ("continuation" in rows[-1]) == (task == "InvertedPendulum-v5")
    if task == "InvertedPendulum-v5":  # random episodes end before a window's 8 steps
        assert min(len(rewards) for _, _, rewards in run.data.episodes) < 8
    if algo == "dreamer":
        assert math.isfinite(rows[-1]["actor_loss"]) and math.isfinite(rows[-1]["critic_loss"])


@pytest.mark.parametrize("algo", sorted(RUNS))
def test_a_pixel_run_resumes_identically(tmp_path, monkeypatch, algo):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    straight = start(algo, tmp_path / "a", "task=InvertedPendulum-v5").run()
    short = start(algo, tmp_path / "b", "task=InvertedPendulum-v5", "episodes=3").run()
    resumed = type(short).resume(short.folder.root, ["episodes=4"]).run()

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "train_seconds"} for r in rows]

    for stream in ("episodes", "train"):
        assert strip(resumed.folder.read(stream)) == strip(straight.folder.read(stream))
    assert strip(resumed.evaluations()) == strip(straight.evaluations())


def test_the_actor_gradient_flows_through_the_model_but_not_into_it(tmp_path):
    run = start("dreamer", tmp_path, "pixels=false", "episodes=2")
    starts = torch.zeros(5, run.model.feature_dim)
    run.model.requires_grad_(False)
    states, log_probs, actions = imagine(run.model, run.actor, starts, 3,
                                         torch.Generator().manual_seed(0))
    assert states.shape == (4, 5, run.model.feature_dim) and actions.shape == (3, 5, 1)
    run.model.reward(states[1:]).sum().backward()
    assert all(p.grad is None for p in run.model.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in run.actor.parameters())


@pytest.mark.parametrize("algo,override,message", [
    ("planet", "task=CartPole-v1", "continuous actions"),
    ("planet", "planner.name=categorical_cem", "planner.name"),
    ("planet", "size=32", "64 x 64"), ("dreamer", "lam=1.5", "lam"),
    ("dreamer", "imagination_horizon=0", "imagination_horizon"),
    ("dreamer", "model.min_std=0", "min_std")])
def test_bad_settings_are_refused_before_a_run_folder(tmp_path, algo, override, message):
    with pytest.raises(ValueError, match=message):
        start(algo, tmp_path, override)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_dreamer_learns_pendulum_from_states(tmp_path):
    """Seed 0 at the defaults from states: evaluations (5 episodes) measured -812, -641, -75.7
    after episodes 10, 15 and 20 (774 s of training beside the test suite)."""
    config = load_config(DreamerConfig, None, [
        "pixels=false", "episodes=20", "eval_every=5", "eval_episodes=5", "progress=false",
        f"output_dir={tmp_path}"])
    run = DreamerRun.start(config).run()
    assert max(r["eval_return"] for r in run.evaluations()) >= -400


def test_mbrl_eval_acts_from_a_world_model_run_folder(tmp_path, capsys):
    import json

    from experiments import command

    run = start("dreamer", tmp_path, "pixels=false", "episodes=3").run()
    capsys.readouterr()
    assert command.main(["eval", str(run.folder.root), "--episodes", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["returns"]) == 2 and all(math.isfinite(r) for r in result["returns"])
