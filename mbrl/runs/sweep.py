"""Sweeps: a grid of configs x seeds, every trial a run in its own folder, run as Ray tasks.

    trials = expand_grid({"planner.horizon": ["20", "30"]}, seeds=[0, 1, 2])
    table = sweep("mbrl.algorithms.mpc_loop:MBRLRun", preset, trials, "sweeps/horizon")

Ray (the distributed engine, ``pip install -e ".[sweep]"``) schedules one task per trial with
``cpus_per_trial`` CPUs (torch in the trial uses that many threads): on this machine by
default, on a cluster with ``address`` (``ray start --head`` on one machine, ``ray start
--address HEAD:6379`` on the others; every node needs this package installed and a shared
path for ``root``). A trial is ``root/<config>-seed<k>/``: the run folder inside it and
``done.json`` once it finished. Sweeping again into the same ``root`` skips finished trials and
resumes interrupted ones from their last checkpoint (a trial killed before its first checkpoint
starts over), so a killed sweep loses at most a checkpoint interval per running trial. At the
end every trial's curve goes into one comparison (``root/compare/``: plots and a table per
config, mean and 95% bootstrap band over seeds, :mod:`mbrl.runs.compare`).
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

DONE = "done.json"  # written into a trial's folder once its run has finished
SPEC = "sweep.json"  # what the sweep in a root is: its job, preset and fixed overrides


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: its folder name, its config's name and the overrides it adds."""

    name: str  # folder under the sweep root: "<config>-seed<k>"
    config: str  # the grid point it belongs to ("planner.horizon=20", or "default")
    overrides: tuple[str, ...]  # grid values and the seed, as key=value


def split_values(text: str) -> list[str]:
    """``"20,30"`` -> ``["20", "30"]``; commas inside brackets stay (``"[64,64],[256]"`` is
    two values)."""
    values, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "(": 1, "{": 1, "]": -1, ")": -1, "}": -1}.get(char, 0)
        if char == "," and depth == 0:
            values.append(current)
            current = ""
        else:
            current += char
    values.append(current)
    if depth != 0 or any(not value for value in values):
        raise ValueError(f"grid values {text!r}: need comma-separated values, brackets closed")
    return values


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    """``["planner.horizon=20,30", "model.kind=mlp,ensemble"]`` -> a grid by key."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key:
            raise ValueError(f"grid entry {item!r}: expected key=value1,value2,...")
        if key in grid or key == "seed":
            raise ValueError(f"grid key {key!r} given twice, or is the seed (use --seeds)")
        grid[key] = split_values(values)
    return grid


def expand_grid(grid: dict[str, list[str]], seeds: list[int]) -> list[Trial]:
    """Every combination of the grid's values, for every seed."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"a sweep needs distinct seeds, got {seeds}")
    trials = []
    for values in itertools.product(*grid.values()):
        settings = [f"{key}={value}" for key, value in zip(grid, values, strict=True)]
        config = ",".join(settings) or "default"
        folder = "".join(c if c.isalnum() or c in "._=,+-" else "_" for c in config)
        trials += [Trial(f"{folder}-seed{seed}", config, (*settings, f"seed={seed}"))
                   for seed in seeds]
    return trials


def run_trial(run_class: str, preset: str | None, overrides: list[str], trial_dir: str,
              threads: int = 1, imports: list[str] = ()) -> dict[str, Any]:
    """Run (or finish) one trial in ``trial_dir`` with ``threads`` torch threads, after
    importing ``imports`` (modules registering tasks): skipped when done, resumed from its
    checkpoint when interrupted; returns what ``done.json`` holds."""
    import importlib

    import torch

    from mbrl.runs.harness import CHECKPOINT, RUN_CLASS, import_run_class
    from mbrl.util.atomic import atomic_write
    from mbrl.util.config import load_config
    from mbrl.util.run_folder import RunFolder

    folder = Path(trial_dir)
    done = folder / DONE
    if done.exists():
        return json.loads(done.read_text())
    torch.set_num_threads(threads)
    for module in imports:
        importlib.import_module(module)
    kind = import_run_class(run_class)
    config = load_config(kind.config_class, None if preset is None else Path(preset),
                         [*overrides, f"output_dir={folder}", "progress=false"])
    started = [p.parent for p in folder.glob(f"*/{RUN_CLASS}")]
    if not started:
        run = kind.start(config)
    elif (RunFolder(started[0]).checkpoint_dir / CHECKPOINT).exists():
        run = kind.resume(started[0], config=config)
    else:  # killed before its first checkpoint
        run = kind.restart(started[0], [*overrides, "progress=false"])
    run.run()
    record = {"run": str(run.folder.root), "env_steps": run.env_steps,
              "overrides": list(overrides)}
    atomic_write(done, lambda handle: handle.write((json.dumps(record) + "\n").encode()))
    return record


def sweep(run_class: str, preset: str | Path | None, trials: list[Trial], root: str | Path,
          fixed: list[str] = (), address: str | None = None, cpus_per_trial: int = 1,
          imports: list[str] = (), progress: bool = True) -> dict[str, dict]:
    """Run ``trials`` (each with the ``fixed`` overrides first) as Ray tasks into ``root``,
    every trial importing ``imports`` first; returns the comparison table by config (also in
    ``root/compare/summary.csv``)."""
    try:
        import ray
    except ImportError:
        raise ValueError('sweeps run on Ray: pip install -e ".[sweep]"') from None
    from mbrl.runs.compare import compare

    if cpus_per_trial < 1:
        raise ValueError(f"cpus_per_trial must be >= 1, got {cpus_per_trial}")
    root = Path(root).resolve()
    preset = None if preset is None else str(Path(preset).resolve())
    spec = {"run_class": run_class, "preset": preset, "fixed": list(fixed),
            "imports": list(imports)}
    _check_spec(root, spec)
    where = {"address": address} if address else {"num_cpus": os.cpu_count()}
    if ray.is_initialized():  # this process already uses Ray (an A3C run): start afresh
        ray.shutdown()
    ray.init(**where, include_dashboard=False, log_to_driver=False)
    records: dict[str, dict] = {}
    failures: dict[str, str] = {}
    try:
        task = ray.remote(num_cpus=cpus_per_trial, max_retries=0)(run_trial)
        pending = {task.remote(run_class, preset, [*fixed, *trial.overrides],
                               str(root / trial.name), cpus_per_trial, list(imports)): trial
                   for trial in trials}
        bar = tqdm(total=len(trials), unit="trial", desc=f"sweep {root.name}",
                   disable=not progress)
        while pending:
            finished, _ = ray.wait(list(pending), num_returns=1)
            trial = pending.pop(finished[0])
            try:
                records[trial.name] = ray.get(finished[0])
            except ray.exceptions.RayTaskError as error:  # the others go on
                failures[trial.name] = f"{type(error.cause).__name__}: {error.cause}"
            bar.update(1)
            bar.set_postfix_str(trial.name)
        bar.close()
    finally:
        ray.shutdown()
    if failures:
        raise SweepFailed(failures)
    return compare([records[t.name]["run"] for t in trials], root / "compare",
                   labels=[t.config for t in trials])


class SweepFailed(RuntimeError):
    """Trials of a sweep raised (the others finished); ``failures``: trial -> error."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        super().__init__(f"{len(failures)} trial(s) failed (sweep again to retry them): "
                         + "; ".join(f"{name}: {error}" for name, error in failures.items()))


def _check_spec(root: Path, spec: dict[str, Any]) -> None:
    """Write ``root/sweep.json``, or check that the sweep already there is this one."""
    path = root / SPEC
    if path.exists():
        before = json.loads(path.read_text())
        if before != spec:
            changed = ", ".join(key for key in spec if before.get(key) != spec[key])
            raise ValueError(f"{root} holds another sweep (different {changed}: {path}); "
                             "sweep into another folder")
        return
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=1) + "\n")

