"""The defaults-table experiment runs entries at the defaults and tabulates them."""

from __future__ import annotations

import json

from experiments import defaults_table
from experiments.defaults_table import ENTRIES, Entry, run_entry, table

RUN_LENGTH = {"total_steps", "eval_every", "episodes"}


def test_entries_change_only_the_run_length() -> None:
    for entry in ENTRIES:
        assert {item.split("=")[0] for item in entry.budget} <= RUN_LENGTH, entry.name


def test_an_entry_runs_at_the_defaults_and_reaches_the_table(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(defaults_table, "RESULTS", tmp_path)
    entry = Entry("a2c", "CartPole-v1", 20.0, ("total_steps=2000", "eval_every=1000"))
    monkeypatch.setattr(defaults_table, "ENTRIES", [entry])
    result = json.loads(run_entry(entry, [0], str(tmp_path / "runs")).read_text())
    config = (tmp_path / "runs").glob("*/config.yaml")
    assert "steps_per_env: 5" in next(config).read_text()  # A2CConfig's default, no preset
    assert [steps for steps, _ in result["runs"][0]["curve"]] == [1000, 2000]
    assert result["seeds_reaching_threshold"] in (0, 1)
    row = table().read_text().splitlines()[-1]
    assert row.startswith("| a2c | CartPole-v1 | 20 | ") and "not run" not in row
