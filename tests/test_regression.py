"""Short fixed-seed runs reproduce their recorded metrics exactly (every logged column but wall
times): reshaping the code must not change results (``tests/regression/runs.py``, which keeps
one recording per kind of machine)."""

import json

import pytest

from tests.regression.runs import EXPECTED, RUNS, run

RECORDED = json.loads(EXPECTED.read_text())


@pytest.mark.parametrize("name", sorted(RUNS))
def test_run_reproduces_its_recorded_metrics(name, tmp_path):
    assert run(name, tmp_path) in RECORDED[name]  # one recording per kind of machine
