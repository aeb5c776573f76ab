"""The side-by-side script: sides run in separate processes end in one result file."""

import json

import pytest

from experiments import model_vs_model_free as script


@pytest.fixture
def fake_runs(tmp_path, monkeypatch):
    """Runs that only report a curve; the plot and table of run folders that do not exist are
    replaced by a record of which folders they were given."""
    monkeypatch.setattr(script, "RESULTS", tmp_path)
    monkeypatch.setattr(script, "run_one", lambda side, seed, output: {
        "seed": seed, "run_dir": f"{side.name}-{seed}", "train_seconds": 1.0,
        "curve": [[side.steps, 4000.0 if side.name == "mbpo" else 100.0]]})

    def compare(folders, out):
        out.mkdir(parents=True, exist_ok=True)
        (out / "returns_vs_env_steps.png").write_bytes(b"png")
        return {"folders": folders}

    monkeypatch.setattr(script, "compare", compare)
    return tmp_path


def test_sides_run_apart_are_merged_into_one_result(fake_runs):
    output = ["--output-dir", str(fake_runs / "runs"), "--seeds", "0"]
    script.main(["--pair", "half_cheetah", "--sides", "sac", *output])
    script.main(["--pair", "half_cheetah", "--sides", "mbpo", "tdmpc", *output])
    result = json.loads((fake_runs / "half_cheetah.json").read_text())
    assert [key for key in result if key in ("mbpo", "tdmpc", "sac")] == ["mbpo", "tdmpc", "sac"]
    assert result["table"]["folders"] == ["mbpo-0", "tdmpc-0", "sac-0"]
    assert result["mbpo"]["runs"][0]["first_step_at_threshold"] == 15000
    assert result["sac"]["seeds_reaching_threshold"] == 0 and result["sac"]["env_steps"] == 45000


def test_an_unknown_side_is_named(fake_runs, capsys):
    with pytest.raises(SystemExit):
        script.main(["--pair", "half_cheetah", "--sides", "ppo"])
    assert "has sides ['mbpo', 'tdmpc', 'sac'], not ['ppo']" in capsys.readouterr().err
