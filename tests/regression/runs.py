"""Short fixed-seed runs whose metrics must not change when the code is reshaped.

``python -m tests.regression.runs --write`` records them (one thread) into ``expected.json``;
``tests/test_regression.py`` reruns them and compares every logged column except wall times.
Each run goes through a CLI, so the fixture does not depend on the internal API.

Floating-point kernels differ between CPU families (the math library picks other code paths on
other vector units), and chaotic runs amplify the last bit into different returns, so each run
keeps one exact recording per kind of machine it was recorded on (``--write`` adds this
machine's when it matches none); a run passes when it reproduces one of them exactly.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import torch

EXPECTED = Path(__file__).with_name("expected.json")
TIMING_COLUMNS = {"wall_seconds", "ms_per_step", "train_seconds"}

# name -> (CLI module, preset, overrides, streams)
RUNS: dict[str, tuple[str, str, list[str], list[str]]] = {
    "mpc_swingup_mlp": ("experiments.run_mbrl", "cartpole_swingup", [
        "episodes=2", "episode_steps=60", "planner.random_shooting.num_samples=200",
        "planner.horizon=15",
        "model.max_epochs=8"], ["episodes"]),
    "pets_inverted_pendulum": ("experiments.run_mbrl", "pets_inverted_pendulum", [
        "episodes=2", "episode_steps=40", "planner.mppi.num_samples=100",
        "planner.mppi.iterations=2",
        "model.stacked_rows=0",  # members one by one, as when this was recorded
        "model.max_epochs=5", "model.hidden_size=64", "terminal_value.rounds=2",
        "terminal_value.epochs_per_round=2"], ["episodes"]),
    "mlp_inverted_pendulum_value": ("experiments.run_mbrl", "inverted_pendulum", [
        "episodes=2", "episode_steps=40", "planner.mppi.num_samples=100",
        "planner.mppi.iterations=2",
        # the preset's MPPI settings when this was recorded
        "planner.mppi.control_cost=true", "planner.mppi.normalize=false",
        "planner.mppi.temperature=1.0",
        "model.max_epochs=5", "terminal_value.rounds=2", "terminal_value.epochs_per_round=2"],
        ["episodes"]),
    "ppo_cartpole": ("experiments.train_agent", "ppo_cartpole", [
        "total_steps=4096", "eval_every=2048", "eval_episodes=3"], ["train", "eval"]),
    "ppo_inverted_pendulum": ("experiments.train_agent", "ppo_inverted_pendulum", [
        "total_steps=4096", "eval_every=2048", "eval_episodes=1", "checkpoint_every=2048"],
        ["train", "eval"]),
    "a2c_cartpole": ("experiments.train_agent", "a2c_cartpole", [
        "total_steps=2000", "eval_every=1000", "eval_episodes=2"], ["train", "eval"]),
    "reinforce_cartpole": ("experiments.train_agent", "reinforce_cartpole", [
        "total_steps=3000", "eval_every=1500", "eval_episodes=2"], ["train", "eval"]),
    "sac_pendulum": ("experiments.train_agent", "sac_pendulum", [
        "total_steps=600", "eval_every=300", "eval_episodes=1", "checkpoint_every=400"],
        ["train", "eval"]),
    "sac_discrete_cartpole": ("experiments.train_agent", "sac_discrete_cartpole", [
        "total_steps=500", "sac.learning_starts=200", "eval_every=250", "eval_episodes=1"],
        ["train", "eval"]),
}


def read_stream(path: Path) -> dict[str, list[str]]:
    """Columns of a metrics CSV as strings (exact float reprs), wall-time columns dropped."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {name: [row[name] for row in rows] for name in rows[0] if name not in TIMING_COLUMNS}


def run(name: str, output_dir: Path) -> dict[str, dict[str, list[str]]]:
    """Run ``name`` in ``output_dir`` with one thread; its streams' columns."""
    module, preset, overrides, streams = RUNS[name]
    main = __import__(module, fromlist=["main"]).main
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(["--preset", preset, *overrides, "progress=false",
                     f"output_dir={output_dir}"])
    finally:
        torch.set_num_threads(threads)
    if code != 0:
        raise RuntimeError(f"{name} exited with {code}")
    (folder,) = output_dir.iterdir()
    return {stream: read_stream(folder / f"{stream}.csv") for stream in streams}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"record into {EXPECTED.name}")
    parser.add_argument("names", nargs="*", default=sorted(RUNS))
    args = parser.parse_args(argv)
    expected = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
    status = 0
    for name in args.names:
        with tempfile.TemporaryDirectory() as tmp:
            got = run(name, Path(tmp))
        recordings = expected.setdefault(name, [])
        same = got in recordings
        print(f"{name}: {'same' if same else 'DIFFERENT'}", file=sys.stderr)
        status |= not same
        if not same:
            recordings.append(got)
    if args.write:
        EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    return 0 if args.write else status


if __name__ == "__main__":
    raise SystemExit(main())
