"""MBPO on the harness: SAC on branched model rollouts, identical resume, settings refused."""

import math

import pytest

from mbrl.algorithms.mbpo import MBPOConfig, MBPORun
from mbrl.util.config import load_config

TINY = ["random_steps=60", "refit_every=60", "rollouts=4", "eval_every=120", "eval_episodes=1",
        "checkpoint_every=120", "progress=false", "model.max_epochs=3", "model.hidden_size=32",
        "model.num_layers=2", "sac.updates_per_step=2", "sac.hidden=[32,32]", "max_length=2",
        "schedule_end=240"]


def tiny(root, steps, *extra):
    return load_config(MBPOConfig, None, [*TINY, f"total_steps={steps}", f"output_dir={root}",
                                          *extra])


def test_mbpo_trains_sac_on_model_rollouts_and_resumes_identically(tmp_path):
    full = MBPORun.start(tiny(tmp_path / "a", 240)).run()
    rows = full.folder.read("train")
    assert rows and all(math.isfinite(r["critic_loss"]) for r in rows)
    assert len(full.synthetic) > 0 and full.rollout_length() == 2
    short = MBPORun.start(tiny(tmp_path / "b", 120)).run()
    resumed = MBPORun.resume(short.folder.root, ["total_steps=240"]).run()
    def curve(run):
        return [(r["env_steps"], r["eval_return"]) for r in run.evaluations()]

    assert curve(resumed) == curve(full)
    assert [r["critic_loss"] for r in resumed.folder.read("train")] == [
        r["critic_loss"] for r in rows]


@pytest.mark.parametrize("override,message", [
    ("min_length=0", "min_length must be >= 1"), ("sac.updates_per_step=0", "updates_per_step"),
    ("real_fraction=1.5", "real_fraction"), ("action_source=mixed", "expected one of"),
    ("model.kind=mlp", "model.kind=ensemble")])
def test_bad_settings_are_refused_before_a_folder_exists(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        MBPORun.start(tiny(tmp_path, 120, override))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("source", ["buffer", "uniform", "policy"])
def test_general_dyna_trains_discrete_sac_on_model_rollouts(tmp_path, source):
    run = MBPORun.start(tiny(tmp_path, 120, "task=CartPole-v1", f"action_source={source}",
                             "sac.target_entropy_scale=0.3")).run()
    assert run.agent.discrete and len(run.synthetic) > 0
    rows = run.folder.read("train")
    assert rows and all(math.isfinite(r["critic_loss"]) for r in rows)
    assert run.folder.root.name.startswith("mbpo" if source == "policy" else f"dyna-{source}")


@pytest.mark.slow
def test_preset_balances_the_inverted_pendulum_within_3000_steps(tmp_path):
    """The issue's must-show on seed 0: eval >= 950 within 3,000 real steps (measured: 1000 at
    1,250; about 25 minutes on one core)."""
    from experiments.presets import MBRL_PRESETS

    config = load_config(MBPOConfig, MBRL_PRESETS / "mbpo" / "mbpo_inverted_pendulum.yaml",
                         ["progress=false", "total_steps=3000", f"output_dir={tmp_path}"])
    run = MBPORun.start(config).run()
    assert max(r["eval_return"] for r in run.evaluations()) >= 950


def test_nan_from_the_model_names_the_algorithm_step_and_rows(tmp_path):
    import torch

    from planners import NonFiniteModelOutput

    run = MBPORun.start(tiny(tmp_path, 120))
    run.model_env.dynamics = lambda states, actions: torch.full_like(states, float("nan"))
    with pytest.raises(NonFiniteModelOutput, match=r"MBPO at env step 60: dynamics returned "
                                                   r"NaN/Inf for 240 of 240 rows"):
        run.run()
