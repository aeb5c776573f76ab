"""Model-based PPO on the harness: on-policy updates from imagined rollouts only, policy
validation across members, identical resume, settings refused."""

import math

import pytest
import torch

from mbrl.algorithms.model_based_ppo import ModelBasedPPOConfig, ModelBasedPPORun
from mbrl.util.config import load_config

TINY = ["random_steps=60", "refit_every=60", "num_envs=16", "eval_every=120",
        "eval_episodes=1", "checkpoint_every=120", "progress=false", "model.max_epochs=3",
        "model.hidden_size=32", "model.num_layers=2", "ppo.steps_per_env=8",
        "ppo.batch_size=64", "ppo.epochs=2", "ppo.hidden=[16,16]", "max_updates=4",
        "validate_every=2", "validation_starts=8", "validation_horizon=10"]


def tiny(root, steps, *extra):
    return load_config(ModelBasedPPOConfig, None, [*TINY, f"total_steps={steps}",
                                                   f"output_dir={root}", *extra])


def test_model_based_ppo_learns_from_imagination_and_resumes_identically(tmp_path):
    full = ModelBasedPPORun.start(tiny(tmp_path / "a", 240)).run()
    rows = full.folder.read("train")
    assert rows and all(math.isfinite(r["policy_loss"]) for r in rows)
    assert all(1 <= r["policy_updates"] <= 4 and 0 <= r["improved_fraction"] <= 1
               for r in rows)
    assert full.folder.root.name.startswith("mb-ppo-InvertedPendulum-v5")
    short = ModelBasedPPORun.start(tiny(tmp_path / "b", 120)).run()
    resumed = ModelBasedPPORun.resume(short.folder.root, ["total_steps=240"]).run()
    assert [(r["env_steps"], r["eval_return"]) for r in resumed.evaluations()] == [
        (r["env_steps"], r["eval_return"]) for r in full.evaluations()]
    assert [r["policy_loss"] for r in resumed.folder.read("train")] == [
        r["policy_loss"] for r in rows]


def test_policy_validation_stops_when_the_members_disagree(tmp_path):
    """A threshold above 1 of the members can never be met: every phase stops at the first
    validation; a threshold of 0 runs every phase to max_updates."""
    strict = ModelBasedPPORun.start(tiny(tmp_path / "a", 120, "validation_threshold=1.0",
                                         "algo=a2c", "a2c.steps_per_env=8")).run()
    lenient = ModelBasedPPORun.start(tiny(tmp_path / "b", 120, "validation_threshold=0.0",
                                          "algo=reinforce", "reinforce.steps_per_env=8")).run()
    assert {r["policy_updates"] for r in lenient.folder.read("train")} == {4}
    assert all(r["policy_updates"] in (2, 4) for r in strict.folder.read("train"))
    returns = strict.validation_returns(strict.real_states(5))
    assert returns.shape == (len(strict.model.elite_members()),) and torch.isfinite(returns).all()


def test_discrete_actions_train_through_the_model(tmp_path):
    run = ModelBasedPPORun.start(tiny(tmp_path, 120, "task=CartPole-v1")).run()
    rows = run.folder.read("train")
    assert run.agent.policy.discrete and rows
    assert all(math.isfinite(r["value_loss"]) for r in rows)


@pytest.mark.parametrize("override,message", [
    ("algo=sac", "on-policy agent"), ("validate_every=0", "validate_every must be >= 1"),
    ("validation_threshold=1.5", "validation_threshold"), ("model.kind=mlp", "model.kind"),
    ("random_steps=1", "random_steps"), ("ppo.steps_per_env=0", "steps_per_env"),
    ("task=NoSuchTask-v0", "NoSuchTask")])
def test_bad_settings_are_refused_before_a_folder_exists(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        ModelBasedPPORun.start(tiny(tmp_path, 120, override))
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_preset_balances_the_inverted_pendulum_within_5000_steps(tmp_path):
    """The issue's must-show on seed 0: eval >= 950 within 5,000 real steps (measured: 1000 at
    3,000, about 4 minutes on one core)."""
    from experiments.presets import MBRL_PRESETS

    config = load_config(ModelBasedPPOConfig,
                         MBRL_PRESETS / "model_based_ppo" / "mb_ppo_inverted_pendulum.yaml",
                         ["progress=false", f"output_dir={tmp_path}"])
    run = ModelBasedPPORun.start(config).run()
    assert max(r["eval_return"] for r in run.evaluations()) >= 950


def test_nan_from_the_model_names_the_algorithm_step_and_rows(tmp_path):
    from planners import NonFiniteModelOutput

    run = ModelBasedPPORun.start(tiny(tmp_path, 120))
    run.model_env.dynamics = lambda states, actions: torch.full_like(states, float("nan"))
    with pytest.raises(NonFiniteModelOutput,
                       match=r"model-based ppo at env step 60, update 1: dynamics returned "
                             r"NaN/Inf for 16 of 16 rows at model step 0"):
        run.run()
