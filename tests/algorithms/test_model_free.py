"""The agent-training runs end to end: every algorithm, metrics, checkpoints, identical resume,
and fast learning smoke tests (the full must-show runs are marked slow)."""

import numpy as np
import pytest

from mbrl.agents.a2c import A2CConfig
from mbrl.agents.ppo import PPOConfig
from mbrl.agents.reinforce import ReinforceConfig
from mbrl.agents.sac import SACConfig
from mbrl.algorithms.model_free import AgentRun, AgentRunConfig
from mbrl.runs import Run

TINY = {
    "reinforce": dict(reinforce=ReinforceConfig(steps_per_env=32, hidden=(16,))),
    "a2c": dict(a2c=A2CConfig(steps_per_env=8, hidden=(16,))),
    "ppo": dict(ppo=PPOConfig(steps_per_env=16, batch_size=32, epochs=2, hidden=(16,),
                              normalize_observations=True, normalize_rewards=True,
                              anneal_learning_rate=True, target_kl=0.05)),
    "sac": dict(sac=SACConfig(hidden=(16,), batch_size=16, learning_starts=50)),
}


def run_agent(config, resume_dir=None):
    """Start (or resume) a run to its end: ``(folder, evaluation rows)``."""
    run = (AgentRun.start(config) if resume_dir is None
           else AgentRun.resume(resume_dir, config=config)).run()
    return run.folder, run.evaluations()


def tiny_config(algo: str, task: str, tmp_path, **overrides) -> AgentRunConfig:
    settings = dict(algo=algo, task=task, seed=3, total_steps=256, num_envs=2, eval_every=128,
                    eval_episodes=1, checkpoint_every=128, output_dir=str(tmp_path),
                    progress=False, **TINY[algo])
    settings.update(overrides)
    return AgentRunConfig(**settings)


@pytest.mark.parametrize("algo,task", [("reinforce", "CartPole-v1"),
                                       ("a2c", "Pendulum-v1"),
                                       ("ppo", "InvertedPendulum-v5"),
                                       ("sac", "CartPole-v1")])
def test_every_algorithm_runs_and_writes_its_folder(algo, task, tmp_path):
    folder, evaluations = run_agent(tiny_config(algo, task, tmp_path))
    assert [int(r["env_steps"]) for r in evaluations][-1] >= 256
    assert all(np.isfinite(r["eval_return"]) for r in evaluations)
    for name in ("config.yaml", "train.csv", "eval.csv", "eval_return.png",
                 "checkpoints/latest.pt"):
        assert (folder.root / name).exists(), name
    assert folder.read("train")


def test_on_policy_runs_end_at_total_steps(tmp_path):
    """The fault (issue 21): rollouts of num_envs x steps_per_env overshot total_steps (200,192
    for 200,000); the last rollout of a segment is now cut to what is left."""
    folder, evaluations = run_agent(tiny_config("ppo", "CartPole-v1", tmp_path, total_steps=300,
                                                eval_every=300, checkpoint_every=300))
    assert [int(r["env_steps"]) for r in evaluations] == [300]  # 32 + ... + 32 + 12 steps
    assert int(folder.read("train")[-1]["env_steps"]) == 300
    with pytest.raises(ValueError, match="multiple of num_envs"):
        run_agent(tiny_config("ppo", "CartPole-v1", tmp_path, total_steps=301))
    with pytest.raises(ValueError, match="multiple of num_envs"):
        run_agent(tiny_config("a2c", "CartPole-v1", tmp_path, checkpoint_every=201))


def test_on_policy_evaluations_fall_on_their_points(tmp_path, monkeypatch):
    """The fault (issue 21): evaluations drifted to the first rollout boundary past each
    multiple of eval_every (rollouts of 32 steps: 64, 128, ... for eval_every=50). Each point
    now evaluates the policy acting at it, and evaluating does not change training."""
    from mbrl.algorithms.model_free import OnPolicyRun

    acting_at = {}  # evaluation point -> env steps of the last update before it
    evaluate_at = OnPolicyRun.evaluate_at

    def record(self, env_steps, bar):
        acting_at[env_steps] = self.env_steps
        evaluate_at(self, env_steps, bar)

    monkeypatch.setattr(OnPolicyRun, "evaluate_at", record)
    folder, evaluations = run_agent(tiny_config("ppo", "CartPole-v1", tmp_path / "a",
                                                eval_every=50))
    assert [int(r["env_steps"]) for r in evaluations] == [50, 100, 150, 200, 250, 256]
    assert acting_at == {50: 32, 100: 96, 150: 128, 200: 192, 250: 224, 256: 256}
    sparse, _ = run_agent(tiny_config("ppo", "CartPole-v1", tmp_path / "b", eval_every=256))
    np.testing.assert_array_equal([list(r.values()) for r in folder.read("train")],
                                  [list(r.values()) for r in sparse.read("train")])


@pytest.mark.parametrize("algo,task", [("ppo", "CartPole-v1"), ("sac", "Pendulum-v1")])
def test_resume_continues_identically(algo, task, tmp_path, monkeypatch):
    """A run stopped right after its first checkpoint and resumed matches an uninterrupted run
    (same total steps, so the annealing schedules are the same), row for row."""
    def config(root):
        return tiny_config(algo, task, root, total_steps=400, checkpoint_every=200,
                           eval_every=200)

    straight_folder, straight = run_agent(config(tmp_path / "a"))
    save = Run.save

    def save_then_stop(self):
        save(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(Run, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_agent(config(tmp_path / "b"))
    monkeypatch.undo()
    root = next((tmp_path / "b").iterdir())
    folder, resumed = run_agent(config(tmp_path / "b"), resume_dir=root)
    key = lambda rows: [(r["env_steps"], r["eval_return"]) for r in rows]  # noqa: E731
    assert key(resumed) == key(straight)
    train, straight_train = folder.read("train"), straight_folder.read("train")
    assert [list(r) for r in train] == [list(r) for r in straight_train]
    np.testing.assert_array_equal([list(r.values()) for r in train],
                                  [list(r.values()) for r in straight_train])


def test_bad_config_is_rejected_before_a_folder_exists(tmp_path):
    from mbrl.util.config import load_config

    with pytest.raises(ValueError, match="expected one of"):
        load_config(AgentRunConfig, None, ["algo=dqn"])
    with pytest.raises(ValueError, match="total_steps"):
        run_agent(tiny_config("ppo", "CartPole-v1", tmp_path, total_steps=0))
    with pytest.raises(ValueError, match="objective"):
        run_agent(tiny_config("ppo", "CartPole-v1", tmp_path,
                              ppo=PPOConfig(objective="trpo")))
    assert not list(tmp_path.iterdir())  # no run folder for a config that cannot run


def test_ppo_learns_cartpole_fast(tmp_path):
    """A short PPO run: CartPole's random policy returns ~20."""
    config = AgentRunConfig(algo="ppo", task="CartPole-v1", seed=0, total_steps=15_000,
                            num_envs=8, eval_every=15_000, eval_episodes=5,
                            checkpoint_every=15_000, output_dir=str(tmp_path), progress=False,
                            ppo=PPOConfig(steps_per_env=32, batch_size=256, epochs=20,
                                          gamma=0.98, gae_lambda=0.8, learning_rate=1e-3))
    _, evaluations = run_agent(config)
    assert evaluations[-1]["eval_return"] >= 150


def test_sac_learns_pendulum_fast(tmp_path):
    """A short SAC run with small networks: the random policy returns ~-1200."""
    config = AgentRunConfig(algo="sac", task="Pendulum-v1", seed=0, total_steps=4_000,
                            eval_every=4_000, eval_episodes=3, checkpoint_every=4_000,
                            output_dir=str(tmp_path), progress=False,
                            sac=SACConfig(hidden=(64, 64), learning_rate=1e-3, batch_size=128))
    _, evaluations = run_agent(config)
    assert evaluations[-1]["eval_return"] >= -700


@pytest.mark.slow
@pytest.mark.parametrize("preset,threshold", [
    ("ppo_cartpole", 475), ("ppo_inverted_pendulum", 950), ("a2c_cartpole", 475),
    ("reinforce_cartpole", 475), ("sac_pendulum", -200), ("sac_inverted_pendulum", 950),
    ("sac_discrete_cartpole", 400)])
def test_preset_reaches_its_goal_within_budget(preset, threshold, tmp_path):
    """The issue's must-show runs (one seed each here; experiments/agent_seeds.py runs three)."""
    from experiments.presets import AGENT_PRESETS, preset_path
    from mbrl.util.config import load_config

    config = load_config(AgentRunConfig, preset_path(preset, AGENT_PRESETS),
                         [f"output_dir={tmp_path}", "progress=false"])
    _, evaluations = run_agent(config)
    assert max(r["eval_return"] for r in evaluations) >= threshold
