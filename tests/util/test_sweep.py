import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from experiments.command import main
from mbrl.runs.sweep import DONE, Trial, expand_grid, parse_grid, run_trial, split_values

MBRL = "mbrl.algorithms.mpc_loop:MBRLRun"
TINY = ["episode_steps=10", "model.hidden_size=16", "model.num_layers=1", "model.max_epochs=1",
        "planner.random_shooting.num_samples=20", "planner.horizon=3"]


def test_a_grid_expands_to_every_combination_for_every_seed():
    grid = parse_grid(["planner.horizon=20,30", "sac.hidden=[64,64],[256]"])
    assert grid == {"planner.horizon": ["20", "30"], "sac.hidden": ["[64,64]", "[256]"]}
    trials = expand_grid(grid, [0, 1])
    assert len(trials) == 8 and len({t.name for t in trials}) == 8
    assert trials[0] == Trial("planner.horizon=20,sac.hidden=_64,64_-seed0",
                              "planner.horizon=20,sac.hidden=[64,64]",
                              ("planner.horizon=20", "sac.hidden=[64,64]", "seed=0"))
    assert [t.name for t in expand_grid({}, [3])] == ["default-seed3"]
    for bad, match in ((["horizon"], "expected key=value1"), (["seed=1,2"], "is the seed"),
                       (["a=1", "a=2"], "given twice"), (["a=1,,2"], "comma-separated")):
        with pytest.raises(ValueError, match=match):
            parse_grid(bad)
    with pytest.raises(ValueError, match="brackets closed"):
        split_values("[1,2")
    with pytest.raises(ValueError, match="distinct seeds"):
        expand_grid({}, [0, 0])


def test_a_trial_is_skipped_when_done_resumed_when_interrupted_restarted_when_never_saved(
        tmp_path):
    overrides = ["episodes=2", *TINY, "seed=0"]
    whole = run_trial(MBRL, None, overrides, str(tmp_path / "whole"))
    returns = [row["return"] for row in _rows(whole["run"])]
    assert json.loads((tmp_path / "whole" / DONE).read_text()) == whole
    assert run_trial(MBRL, None, ["nonsense=1"], str(tmp_path / "whole")) == whole  # done

    short = run_trial(MBRL, None, ["episodes=1", *TINY, "seed=0"], str(tmp_path / "cut"))
    (tmp_path / "cut" / DONE).unlink()  # as if killed after the first episode's checkpoint
    resumed = run_trial(MBRL, None, overrides, str(tmp_path / "cut"))
    assert resumed["run"] == short["run"]
    assert [row["return"] for row in _rows(resumed["run"])] == returns

    (tmp_path / "cut" / DONE).unlink()
    checkpoints = tmp_path / "cut" / resumed["run"] / "checkpoints"
    shutil.rmtree(checkpoints)  # as if killed before its first checkpoint
    checkpoints.mkdir()
    restarted = run_trial(MBRL, None, overrides, str(tmp_path / "cut"))
    assert [row["return"] for row in _rows(restarted["run"])] == returns


def _rows(run_dir):
    import csv

    with open(f"{run_dir}/episodes.csv", newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def test_mbrl_sweep_runs_trials_on_ray_aggregates_and_skips_finished_ones(tmp_path, capsys):
    pytest.importorskip("ray")
    out = tmp_path / "sweep"
    argv = ["sweep", "pets", "--preset", "none", "--seeds", "0", "--grid",
            "planner.horizon=2,3", "--out", str(out), "episodes=1", *TINY[:-1]]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["trials"] == 2
    assert set(summary["configs"]) == {"planner.horizon=2", "planner.horizon=3"}
    assert (out / "compare" / "returns_vs_env_steps.png").exists()
    done = {p.parent.name: p.stat().st_mtime_ns for p in out.glob(f"*/{DONE}")}
    assert len(done) == 2
    (out / "planner.horizon=3-seed0" / DONE).unlink()  # one trial to do again
    assert main(argv) == 0
    capsys.readouterr()
    again = {p.parent.name: p.stat().st_mtime_ns for p in out.glob(f"*/{DONE}")}
    assert {name for name in again if again[name] != done.get(name)} == {
        "planner.horizon=3-seed0"}
    assert main([*argv[:-1], "episodes=2"]) == 2  # another sweep in the same folder
    assert "holds another sweep (different fixed" in capsys.readouterr().err


@pytest.mark.slow
def test_a_sweep_runs_through_a_two_node_ray_cluster(tmp_path):
    """``ray start --head`` and a second ``ray start --address`` on this machine: the sweep
    goes to the cluster with ``--address`` (one CPU per node: the two trials can run at once
only across both nodes) and finishes every trial. Every process
    uses Ray's token authentication (the head writes the token to ``~/.ray/auth_token``)."""
    pytest.importorskip("ray")
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    ray = shutil.which("ray", path=str(sys.executable.rsplit("/", 1)[0])) or "ray"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    env_cpus = ["--num-cpus", "1", "--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run([ray, "start", "--head", "--port", str(port), *env_cpus], check=True, env=env)
    try:
        subprocess.run([ray, "start", "--address", address, "--num-cpus", "1",
                        "--disable-usage-stats"], check=True, env=env)
        out = tmp_path / "cluster"
        result = subprocess.run(
            [sys.executable, "-m", "experiments.command", "sweep", "pets", "--preset", "none",
             "--seeds", "0", "1", "--address", address, "--out", str(out), "episodes=1",
             *TINY], capture_output=True, text=True, env=env, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads(result.stdout)["trials"] == 2
        assert len(list(out.glob(f"*/{DONE}"))) == 2
    finally:
        subprocess.run([ray, "stop", "--force"], check=False, env=env)
