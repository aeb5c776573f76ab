"""SAC on Pendulum-v1 against stable-baselines3 at rl-zoo settings, in one process.

Both train for ``--steps`` env steps (learning rate 1e-3, 256x256 ReLU actor and twin critics,
batch 256, buffer 1e6, tau 0.005, gamma 0.99, one update per env step after 100 random
steps, automatic temperature with target entropy -1) and are evaluated every ``--eval-every``
steps on 10 deterministic episodes, outside the timed training. Reports gradient updates per
second of training wall time (env steps included) and the returns at matched steps, per seed,
runs alternating between the libraries so machine noise hits both.

    pip install -e ".[bench]"
    python -m experiments.benchmarks.sac_vs_sb3 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from experiments.benchmarks.common import write_results
from experiments.benchmarks.sb3_peer import alternate_runs, learn_with_evaluations
from mbrl.agents.sac import SACConfig
from mbrl.algorithms.model_free import AgentRun, AgentRunConfig
from mbrl.envs import make_task

LEARNING_RATE, LEARNING_STARTS, EVAL_EPISODES = 1e-3, 100, 10


def run_ours(seed: int, steps: int, eval_every: int) -> dict:
    config = AgentRunConfig(algo="sac", task="Pendulum-v1", seed=seed, total_steps=steps,
                            eval_every=eval_every, eval_episodes=EVAL_EPISODES,
                            checkpoint_every=steps, output_dir=tempfile.mkdtemp(),
                            progress=False,
                            sac=SACConfig(learning_rate=LEARNING_RATE,
                                          learning_starts=LEARNING_STARTS))
    rows = AgentRun.start(config).run().evaluations()
    seconds = rows[-1]["train_seconds"]
    return {"updates_per_second": (steps - LEARNING_STARTS) / seconds,
            "train_seconds": seconds,
            "eval": [[int(r["env_steps"]), r["eval_return"]] for r in rows]}


def run_sb3(seed: int, steps: int, eval_every: int) -> dict:
    from stable_baselines3 import SAC

    task = make_task("Pendulum-v1")
    model = SAC("MlpPolicy", task.make_env(), learning_rate=LEARNING_RATE,
                learning_starts=LEARNING_STARTS, seed=seed, device="cpu", verbose=0)
    seconds, curve = learn_with_evaluations(model, steps, eval_every, task.make_env(),
                                            EVAL_EPISODES, seed)
    return {"updates_per_second": (steps - LEARNING_STARTS) / seconds,
            "train_seconds": seconds, "eval": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=15_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    args = parser.parse_args()
    runs = alternate_runs(
        args.seeds,
        {"ours": lambda seed: run_ours(seed, args.steps, args.eval_every),
         "sb3": lambda seed: run_sb3(seed, args.steps, args.eval_every)},
        lambda r: f"{r['updates_per_second']:.1f} updates/s, eval {r['eval']}")
    summary = {}
    for name, results in runs.items():
        summary[name] = {
            "updates_per_second": statistics.median(r["updates_per_second"] for r in results),
            "final_eval_return_mean": statistics.mean(r["eval"][-1][1] for r in results)}
    summary["speed_ratio_ours_over_sb3"] = (summary["ours"]["updates_per_second"]
                                            / summary["sb3"]["updates_per_second"])
    print(summary)
    write_results("sac_vs_sb3", {"settings": vars(args), "summary": summary, "runs": runs})


if __name__ == "__main__":
    main()
