"""PETS for discrete actions (issue 17 item 5): categorical CEM through an ensemble learned from
scratch, on CartPole-v1 (preset ``pets_cartpole``, goal: 500 steps within 10 episodes) and
Acrobot-v1 (``pets_acrobot``, goal: return >= -100 within 20 episodes):

    python -m experiments.discrete_planning --preset pets_acrobot        # seeds 0-2
    python -m experiments.discrete_planning --preset pets_cartpole --seeds 0

Each seed runs until its first MPC episode at the goal (``stop_at_return``) or the preset's
episode budget. Writes ``experiments/results/<preset>.json`` (per seed: the episode returns,
the episodes to the goal, ms per planned step, wall seconds) and ``<preset>.png``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from experiments.presets import MBRL_PRESETS, preset_path
from mbrl.algorithms.mpc_loop import MBRLConfig, MBRLRun
from mbrl.runs.compare import compare
from mbrl.util.config import load_config

RESULTS = Path(__file__).parent / "results"
GOALS = {"pets_cartpole": (500.0, 10), "pets_acrobot": (-100.0, 20)}  # return, MPC episodes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(GOALS), required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output-dir", default=None, help="run folders (default: a temp dir)")
    args = parser.parse_args(argv)
    goal, episodes = GOALS[args.preset]
    output = Path(args.output_dir or tempfile.mkdtemp())
    runs, folders = [], []
    for seed in args.seeds:
        config = load_config(MBRLConfig, preset_path(args.preset, MBRL_PRESETS), [
            f"seed={seed}", f"episodes={episodes}", f"stop_at_return={goal}",
            "progress=false", f"output_dir={output}"])
        run = MBRLRun.start(config).run()
        rows = run.folder.read("episodes")
        planned = [r for r in rows if r["mpc"]]
        reached = next((i + 1 for i, r in enumerate(planned) if r["return"] >= goal), None)
        runs.append({"seed": seed, "returns": [round(r["return"], 2) for r in rows],
                     "mpc_episodes_to_goal": reached,
                     "ms_per_step": round(sum(r["ms_per_step"] * r["length"] for r in planned)
                                          / sum(r["length"] for r in planned), 1),
                     "wall_seconds": round(rows[-1]["wall_seconds"], 1)})
        print(f"seed {seed}: {runs[-1]}", flush=True)
        folders.append(run.folder.root)
    result = {"preset": args.preset, "goal_return": goal, "mpc_episode_budget": episodes,
              "seeds_reaching_goal": sum(r["mpc_episodes_to_goal"] is not None for r in runs),
              "runs": runs, "table": compare(folders, output / "compare")}
    RESULTS.mkdir(exist_ok=True)
    (output / "compare" / "returns_vs_env_steps.png").replace(RESULTS / f"{args.preset}.png")
    (RESULTS / f"{args.preset}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "table"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
