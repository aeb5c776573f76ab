"""Faults a run must survive: SIGKILL at any instant (during checkpoint and buffer writes too),
a full disk during a checkpoint, and damaged files in a run folder.

A killed run, resumed (or, if it died before its first checkpoint, restarted), must end with the
metrics an uninterrupted run logs; a damaged file must be a clear error on resume, never a
silent load. A few cases run by default; the 20-trial sweeps per job are marked slow.
"""

from __future__ import annotations

import csv
import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.regression.runs import TIMING_COLUMNS

# job -> (CLI module, arguments, metric streams)
JOBS = {
    "mpc": ("experiments.run_mbrl", [
        "--preset", "pendulum", "episodes=3", "episode_steps=30", "model.max_epochs=3",
        "model.hidden_size=32", "planner.horizon=5", "planner.random_shooting.num_samples=50"],
        ["episodes"]),
    "ppo": ("experiments.train_agent", [
        "--preset", "ppo_cartpole", "total_steps=1536", "checkpoint_every=512",
        "eval_every=512", "eval_episodes=2"], ["train", "eval"]),
    "sac": ("experiments.train_agent", [
        "--preset", "sac_pendulum", "total_steps=600", "checkpoint_every=200", "eval_every=200",
        "eval_episodes=1", "sac.hidden=[32,32]", "sac.learning_starts=100"], ["train", "eval"]),
}

# runs the CLI, killing itself with SIGKILL at the n-th atomic rename (MBRL_KILL_AT_REPLACE)
DRIVER = """
import importlib, os, signal, sys
kill_at = int(os.environ.get("MBRL_KILL_AT_REPLACE", "0"))
if kill_at:
    replace, calls = os.replace, [0]
    def killing_replace(source, target):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return replace(source, target)
    os.replace = killing_replace
sys.exit(importlib.import_module(sys.argv[1]).main(sys.argv[2:]))
"""


def cli(job: str, output: Path, *extra: str, kill_at: int = 0, kill_after: float | None = None
        ) -> subprocess.CompletedProcess | None:
    """Run ``job`` in ``output`` (one thread); ``kill_after`` seconds SIGKILLs it (None: run
    to the end)."""
    module, arguments, _ = JOBS[job]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MBRL_KILL_AT_REPLACE": str(kill_at)}
    command = [sys.executable, "-c", DRIVER, module, *arguments, "progress=false",
               f"output_dir={output}", *extra]
    if extra and extra[0] == "--resume":  # a resumed run takes its config from its folder
        command = [sys.executable, "-c", DRIVER, module, *extra]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    if kill_after is None:
        out, err = process.communicate(timeout=600)
        return subprocess.CompletedProcess(command, process.returncode, out, err)
    time.sleep(kill_after)
    process.kill()
    process.communicate()
    return None


def metrics(folder: Path, job: str) -> dict[str, list[dict[str, str]]]:
    out = {}
    for stream in JOBS[job][2]:
        with open(folder / f"{stream}.csv", newline="") as handle:
            out[stream] = [{k: v for k, v in row.items() if k not in TIMING_COLUMNS}
                           for row in csv.DictReader(handle)]
    return out


def finish(job: str, output: Path) -> Path:
    """Bring a killed run to its end: resume it, restart it if it died before its first
    checkpoint, or start it again if it died before writing its config."""
    folders = list(output.glob("*/config.yaml"))
    if not folders:  # killed before the run had a config: nothing to resume
        shutil.rmtree(output, ignore_errors=True)
        result = cli(job, output)
        assert result.returncode == 0, result.stderr
        return next(output.iterdir())
    folder = folders[0].parent
    result = cli(job, output, "--resume", str(folder))
    if result.returncode == 2 and "no checkpoint" in result.stderr:
        result = cli(job, output, "--resume", str(folder), "--restart")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Each job's metrics and duration, uninterrupted."""
    out = {}
    for job in JOBS:
        root = tmp_path_factory.mktemp(f"reference-{job}")
        started = time.perf_counter()
        result = cli(job, root)
        assert result.returncode == 0, result.stderr
        out[job] = (metrics(next(root.iterdir()), job), time.perf_counter() - started)
    return out


def trial(job: str, root: Path, reference, rng: random.Random, during_write: bool) -> None:
    expected, duration = reference[job]
    if during_write:
        cli(job, root, kill_at=rng.randint(1, 12))  # dies at an atomic rename, or finishes
    else:
        cli(job, root, kill_after=rng.uniform(0.5, duration))
    assert metrics(finish(job, root), job) == expected


@pytest.mark.parametrize("job", sorted(JOBS))
def test_a_run_killed_during_a_checkpoint_write_resumes_to_the_same_metrics(
        job, reference, tmp_path):
    trial(job, tmp_path, reference, random.Random(job), during_write=True)


@pytest.mark.slow
@pytest.mark.parametrize("job", sorted(JOBS))
def test_twenty_random_kills_each_resume_to_the_same_metrics(job, reference, tmp_path):
    rng = random.Random(f"sweep-{job}")
    for index in range(20):
        trial(job, tmp_path / str(index), reference, rng, during_write=index % 2 == 0)


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    from experiments.train_agent import main
    from mbrl.util import checkpoint

    real, calls = checkpoint.atomic_write, []

    def full_disk(path, write, verify=None):
        calls.append(path)
        if len(calls) == 2:
            def partial(handle):
                handle.write(b"\0" * 100)
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(path, partial, verify)
        return real(path, write, verify)

    monkeypatch.setattr(checkpoint, "atomic_write", full_disk)
    module, arguments, _ = JOBS["ppo"]
    assert main([*arguments, "progress=false", f"output_dir={tmp_path}"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    monkeypatch.undo()
    folder = next(tmp_path.iterdir())
    checkpoint.load_checkpoint(folder / "checkpoints" / "latest.pt")  # the first one, intact
    assert main(["--resume", str(folder)]) == 0
    assert "resuming" in capsys.readouterr().err


@pytest.fixture(scope="module")
def finished_mpc_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("finished")
    assert cli("mpc", root).returncode == 0
    return next(root.iterdir())


def damage_file(path: Path, damage: str) -> None:
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:len(data) // 2]
    else:
        middle = len(data) // 2
        data[middle:middle + 200] = random.Random(path.name).randbytes(
            min(200, len(data) - middle))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["garble", "truncate"])
@pytest.mark.parametrize("name", ["episodes.csv", "checkpoints/latest.pt",
                                  "checkpoints/buffer"])
def test_a_damaged_file_is_a_clear_error_on_resume(finished_mpc_run, tmp_path, name, damage):
    folder = tmp_path / "run"
    shutil.copytree(finished_mpc_run, folder)
    damage_file(next(folder.glob(name + "*")), damage)
    result = cli("mpc", tmp_path, "--resume", str(folder), "episodes=4")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr


@pytest.mark.parametrize("damage", ["garble", "truncate"])
def test_a_damaged_config_copy_is_rewritten_from_the_checkpoint(finished_mpc_run, tmp_path,
                                                                damage):
    """config.yaml is a copy: resume takes the config from the checkpoint, says it repaired
    the copy, and continues as the undamaged run would."""
    folder = tmp_path / "run"
    shutil.copytree(finished_mpc_run, folder)
    expected = (folder / "config.yaml").read_text()
    damage_file(folder / "config.yaml", damage)
    result = cli("mpc", tmp_path, "--resume", str(folder))
    assert result.returncode == 0 and "rewritten from the checkpoint" in result.stderr
    assert (folder / "config.yaml").read_text() == expected


def test_sigint_keeps_the_checkpoint_and_prints_the_resume_command(tmp_path):
    module, arguments, _ = JOBS["mpc"]
    process = subprocess.Popen(
        [sys.executable, "-m", module, *arguments, "episodes=50", "progress=false",
         f"output_dir={tmp_path}"], env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a suite started in the background (`cmd &` in a script) ignores SIGINT, and a child
        # would inherit that and run to its end: give it the default disposition
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    folder = None
    for _ in range(600):  # until the first checkpoint exists
        time.sleep(0.1)
        found = list(tmp_path.glob("*/checkpoints/latest.pt"))
        if found:
            folder = found[0].parents[1]
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert folder is not None and process.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert f"python -m experiments.run_mbrl --resume {folder}" in err
