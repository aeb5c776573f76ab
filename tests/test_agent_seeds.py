"""The multi-seed experiment summarises agent and MPC-loop presets over seeds."""

from __future__ import annotations

import json

import pytest

from experiments import agent_seeds
from experiments.agent_seeds import window_mean


def test_window_mean_is_the_mean_of_the_inclusive_points() -> None:
    curve = [[50, -40.0], [100, -10.0], [150, -4.0], [200, -2.0]]
    assert window_mean(curve, 1, 2) == -7.0
    assert window_mean(curve, 3, 3) == -2.0
    with pytest.raises(ValueError, match="window 2..4 is outside the curve's 4 points"):
        window_mean(curve, 2, 4)


def test_an_mpc_preset_runs_over_seeds_with_a_window(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(agent_seeds, "RESULTS", tmp_path)
    code = agent_seeds.main([
        "--mpc", "--preset", "pendulum", "--seeds", "0", "1", "--threshold=-1e9",
        "--window", "1", "2", "--output-dir", str(tmp_path / "runs"), "episodes=2",
        "episode_steps=10", "planner.random_shooting.num_samples=20", "planner.horizon=3",
        "model.max_epochs=2"])
    assert code == 0
    result = json.loads((tmp_path / "mpc" / "pendulum.json").read_text())
    assert result["seeds"] == [0, 1] and result["window"] == [1, 2]
    for run in result["runs"]:
        assert [steps for steps, _ in run["curve"]] == [10, 20, 30]  # the random episode first
        assert run["first_step_at_threshold"] == 10
        assert run["window_mean"] == round((run["curve"][1][1] + run["curve"][2][1]) / 2, 2)
    assert result["mean_window_return"] == round(
        sum(run["window_mean"] for run in result["runs"]) / 2, 2)
