"""Dyna-Q's must-show runs, side by side with the same seeds:

    python -m experiments.dyna_q_study

1. Taxi-v4 and CliffWalking-v1 with K = 0 (Q-learning), 5 and 50 planning updates per real
   step, seeds 0-2: the real steps until the greedy policy is optimal (value iteration) on
   every state it reaches, and stays so;
2. the blocking and shortcut mazes (Sutton and Barto 2018, Figures 8.4 and 8.5): cumulative
   reward of Dyna-Q and Dyna-Q+ (mean over seeds 0-4).

Writes ``experiments/results/dyna_q.json`` and ``dyna_q_mazes.png``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.presets import MBRL_PRESETS  # noqa: E402
from mbrl.algorithms.dyna_q import DynaQConfig, DynaQRun, first_optimal_step  # noqa: E402
from mbrl.util.config import load_config  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def run(preset: str, output: str, **overrides) -> DynaQRun:
    config = load_config(DynaQConfig, MBRL_PRESETS / "dyna" / f"{preset}.yaml",
                         [f"{k}={v}" for k, v in overrides.items()] + ["progress=false",
                                                                         f"output_dir={output}"])
    return DynaQRun.start(config).run()


def main() -> int:
    results: dict = {"planning_steps": {}, "mazes": {}}
    output = tempfile.mkdtemp()
    # real steps per run: enough for each K to settle (Q-learning needs the most)
    budgets = {"taxi": {0: 400_000, 5: 60_000, 50: 20_000},
               "cliff_walking": {0: 40_000, 5: 10_000, 50: 5_000}}
    for preset, steps_by_k in budgets.items():
        table = results["planning_steps"][preset] = {}
        for k, steps in steps_by_k.items():
            seeds = []
            for seed in range(3):
                started = time.perf_counter()
                done = run(preset, output, planning_steps=k, seed=seed, total_steps=steps)
                seeds.append({"seed": seed, "first_optimal_step": first_optimal_step(
                    done.curve()), "seconds": round(time.perf_counter() - started, 1)})
                print(preset, k, seeds[-1], flush=True)
            reached = [s["first_optimal_step"] for s in seeds]
            table[str(k)] = {"seeds": seeds, "all_optimal": None not in reached,
                             "mean_first_optimal_step": (float(np.mean(reached))
                                                         if None not in reached else None)}
        steps0, steps50 = (table[k]["mean_first_optimal_step"] for k in ("0", "50"))
        table["k0_over_k50"] = steps0 / steps50 if steps0 and steps50 else None
    figure, panels = plt.subplots(1, 2, figsize=(11, 4))
    for axes, (preset, change) in zip(panels, (("blocking_maze", 1000),
                                               ("shortcut_maze", 3000)), strict=True):
        for planning in ("dyna_q", "dyna_q_plus"):
            curves = []
            for seed in range(5):
                done = run(preset, output, planning=planning, seed=seed)
                rows = done.curve()
                curves.append([r["cumulative_reward"] for r in rows])
                x = [r["env_steps"] for r in rows]
            mean = np.mean(curves, axis=0)
            axes.plot(x, mean, label=planning.replace("_", "-").replace("-plus", "+"))
            after = float(mean[-1] - mean[x.index(change)])
            results["mazes"].setdefault(preset, {})[planning] = {
                "mean_cumulative_reward": mean.tolist(), "env_steps": x,
                "reward_after_change": after}
        axes.axvline(change, color="grey", linestyle=":")
        axes.set_title(preset.replace("_", " "))
        axes.set_xlabel("real steps")
        axes.set_ylabel("cumulative reward (mean of 5 seeds)")
        axes.legend()
    figure.tight_layout()
    RESULTS.mkdir(exist_ok=True)
    figure.savefig(RESULTS / "dyna_q_mazes.png", dpi=100)
    (RESULTS / "dyna_q.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: {kk: vv.get("k0_over_k50") if isinstance(vv, dict) else vv
                          for kk, vv in v.items()} for k, v in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
