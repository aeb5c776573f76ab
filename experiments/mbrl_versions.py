"""Why each step of the chapter matters: MBRL versions 0.5, 1.0 and 1.5 (reference 003
Alg. 23-25) on the MuJoCo cart-pole swing-up, the same preset and seeds for each:

    python -m experiments.mbrl_versions                  # 3 seeds, 10 episodes after 1 random
    python -m experiments.mbrl_versions --episodes 5 --seeds 0

0.5 fits the model once to the random episode and plans through it ever after; 1.0 refits
before every episode but executes each 30-step plan open loop; 1.5 is MPC (replans every step).
Writes ``experiments/results/mbrl_versions.json`` (per version and seed: the episode returns,
wall seconds; a table of final return and area under the curve) and ``mbrl_versions.png``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from experiments.presets import MBRL_PRESETS, preset_path
from mbrl.algorithms.mpc_loop import VERSIONS, MBRLConfig, MBRLRun
from mbrl.runs.compare import compare
from mbrl.util.config import load_config

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cartpole_swingup")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output-dir", default=None, help="run folders (default: a temp dir)")
    args = parser.parse_args(argv)
    output = Path(args.output_dir or tempfile.mkdtemp())
    result: dict = {"preset": args.preset, "episodes": args.episodes, "seeds": args.seeds}
    folders = []
    for version in VERSIONS:
        runs = []
        for seed in args.seeds:
            config = load_config(MBRLConfig, preset_path(args.preset, MBRL_PRESETS), [
                f"version={version}", f"seed={seed}", f"episodes={args.episodes}",
                "progress=false", f"output_dir={output}"])
            run = MBRLRun.start(config).run()
            rows = run.folder.read("episodes")
            runs.append({"seed": seed, "returns": [round(r["return"], 2) for r in rows],
                         "wall_seconds": round(rows[-1]["wall_seconds"], 1)})
            print(f"version {version} seed {seed}: {runs[-1]}", flush=True)
            folders.append(run.folder.root)
        result[version] = runs
    result["table"] = compare(folders, output / "compare")
    RESULTS.mkdir(exist_ok=True)
    (output / "compare" / "returns_vs_env_steps.png").replace(RESULTS / "mbrl_versions.png")
    (RESULTS / "mbrl_versions.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["table"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
