"""Curves that compare runs: runs grouped by what they are (the folder name without its seed and
time stamp: ``ppo-CartPole-v1``), each group's mean over seeds with a 95% bootstrap confidence
band, against env steps and against training time, and a table of final return and area under
the curve (with the interquartile mean over seeds where there are four or more, Agarwal et al.
2021, rliable).

A run's curve is its evaluation stream (``eval.csv``: ``eval_return``) or its episodes
(``episodes.csv``: ``return``, random episodes marked apart from planned ones)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

BOOTSTRAP_SAMPLES = 2000


@dataclass
class Curve:
    """One run's returns ``y`` at ``env_steps`` and ``seconds``; ``planned`` marks episodes
    of a planner (False: random data), all True for evaluation curves."""

    label: str
    run: Path
    env_steps: np.ndarray
    seconds: np.ndarray
    y: np.ndarray
    planned: np.ndarray


def read_curve(run: str | Path) -> Curve:
    """The curve of one run folder."""
    run = Path(run)
    label = re.sub(r"-s\d+-\d{8}-\d{6}(-\d+)?$", "", run.name)
    for stream, column, seconds in (("eval", "eval_return", "train_seconds"),
                                    ("episodes", "return", "wall_seconds")):
        path = run / f"{stream}.csv"
        if path.exists():
            with open(path, newline="") as handle:
                rows = list(csv.DictReader(handle))
            if not rows:
                break
            planned = np.array([float(r.get("mpc", 1)) > 0 for r in rows])
            return Curve(label, run, np.array([float(r["env_steps"]) for r in rows]),
                         np.array([float(r.get(seconds, "nan")) for r in rows]),
                         np.array([float(r[column]) for r in rows]), planned)
    raise ValueError(f"{run} has no eval.csv or episodes.csv rows to plot")


def bootstrap_band(values: np.ndarray, rng: np.random.Generator, level: float = 0.95
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds ``values [seeds, points]`` and the percentile-bootstrap interval."""
    seeds = values.shape[0]
    resamples = rng.integers(0, seeds, size=(BOOTSTRAP_SAMPLES, seeds))
    means = values[resamples].mean(axis=1)  # [samples, points]
    tail = (1 - level) / 2 * 100
    return values.mean(0), np.percentile(means, tail, axis=0), np.percentile(means, 100 - tail,
                                                                             axis=0)


def interquartile_mean(values: np.ndarray) -> float:
    """Mean of the middle 50% of ``values`` (the rliable IQM)."""
    ordered = np.sort(values)
    cut = int(np.floor(len(ordered) / 4))
    return float(ordered[cut:len(ordered) - cut].mean())


def compare(runs: list[str | Path], out: str | Path, seed: int = 0,
            labels: list[str] | None = None) -> dict[str, dict]:
    """Plot and tabulate ``runs`` into the folder ``out``: ``returns_vs_env_steps.png``,
    ``returns_vs_seconds.png`` and ``summary.csv``; returns the table by group. ``labels``
    (one per run) names the groups instead of the folder names (a sweep's configs)."""
    if labels is not None and len(labels) != len(runs):
        raise ValueError(f"compare got {len(labels)} labels for {len(runs)} runs")
    curves = [read_curve(run) for run in runs]
    groups: dict[str, list[Curve]] = {}
    for index, curve in enumerate(curves):
        groups.setdefault(curve.label if labels is None else labels[index], []).append(curve)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    table: dict[str, dict] = {}
    for x_name in ("env_steps", "seconds"):
        figure, axes = plt.subplots(figsize=(7, 4.5))
        for colour, (label, members) in zip(plt.cm.tab10.colors, groups.items(), strict=False):
            grid = np.unique(np.concatenate([getattr(c, x_name) for c in members]))
            grid = grid[np.isfinite(grid)]
            # each seed's curve as a step function of x, over the x all seeds have reached
            grid = grid[grid <= min(getattr(c, x_name).max() for c in members)]
            if not len(grid):
                continue
            values = np.stack([c.y[np.clip(np.searchsorted(getattr(c, x_name), grid,
                                                           side="right") - 1, 0, None)]
                               for c in members])
            mean, low, high = bootstrap_band(values, rng)
            axes.plot(grid, mean, color=colour, label=f"{label} ({len(members)} seeds)")
            axes.fill_between(grid, low, high, color=colour, alpha=0.2)
            for c in members:
                x = getattr(c, x_name)
                axes.scatter(x[~c.planned], c.y[~c.planned], color=colour, marker="x", s=12)
            if x_name == "env_steps":
                finals = np.array([c.y[-1] for c in members])
                area = float(np.trapezoid(mean, grid) / max(grid[-1] - grid[0], 1))
                table[label] = {"seeds": len(members), "env_steps": float(grid[-1]),
                                "final_mean": float(finals.mean()),
                                "final_ci_low": float(low[-1]), "final_ci_high": float(high[-1]),
                                "mean_over_curve": area,
                                "final_iqm": (interquartile_mean(finals) if len(members) >= 4
                                              else float("nan"))}
        axes.set_xlabel("env steps" if x_name == "env_steps" else "training seconds")
        axes.set_ylabel("return")
        axes.set_title("mean over seeds, 95% bootstrap band (x: random-action episodes)")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(out / f"returns_vs_{x_name}.png", dpi=100)
        plt.close(figure)
    with open(out / "summary.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        columns = ["seeds", "env_steps", "final_mean", "final_ci_low", "final_ci_high",
                   "mean_over_curve", "final_iqm"]
        writer.writerow(["group", *columns])
        for label, row in table.items():
            writer.writerow([label, *(row[c] for c in columns)])
    return table
