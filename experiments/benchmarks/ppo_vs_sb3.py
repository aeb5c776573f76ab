"""PPO on CartPole-v1 against stable-baselines3 at rl-zoo settings, in one process.

Both use 8 synchronous envs, 32-step rollouts, minibatches of 256, 20 epochs, gamma 0.98,
GAE lambda 0.8, no entropy bonus, learning rate 1e-3 and clip range 0.2 both annealed linearly
to 0, separate 64x64 tanh policy and value networks, and are evaluated every ``--eval-every``
env steps on 10 deterministic episodes outside the timed training. Reports env steps per second
of training (updates included), the first evaluation reaching 475 and the returns at matched
steps, per seed, runs alternating between the libraries so machine noise hits both.

    pip install -e ".[bench]"
    python -m experiments.benchmarks.ppo_vs_sb3 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from experiments.benchmarks.common import write_results
from experiments.benchmarks.sb3_peer import alternate_runs, learn_with_evaluations
from mbrl.agents.ppo import PPOConfig
from mbrl.algorithms.model_free import AgentRun, AgentRunConfig
from mbrl.envs import make_task

SETTINGS = dict(steps_per_env=32, batch_size=256, epochs=20, gamma=0.98, gae_lambda=0.8,
                learning_rate=1e-3, clip_range=0.2, entropy_coef=0.0)
NUM_ENVS, EVAL_EPISODES, TARGET = 8, 10, 475.0


def run_ours(seed: int, steps: int, eval_every: int) -> dict:
    config = AgentRunConfig(algo="ppo", task="CartPole-v1", seed=seed, total_steps=steps,
                            num_envs=NUM_ENVS, eval_every=eval_every,
                            eval_episodes=EVAL_EPISODES, checkpoint_every=steps,
                            output_dir=tempfile.mkdtemp(), progress=False,
                            ppo=PPOConfig(anneal_learning_rate=True, anneal_clip_range=True,
                                          **SETTINGS))
    rows = AgentRun.start(config).run().evaluations()
    curve = [[int(r["env_steps"]), r["eval_return"]] for r in rows]
    return {"train_seconds": rows[-1]["train_seconds"], "env_steps": curve[-1][0],
            "eval": curve}


def run_sb3(seed: int, steps: int, eval_every: int) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    def linear(start: float):
        return lambda remaining: remaining * start

    task = make_task("CartPole-v1")
    env = make_vec_env("CartPole-v1", n_envs=NUM_ENVS, seed=seed)
    model = PPO("MlpPolicy", env, n_steps=SETTINGS["steps_per_env"],
                batch_size=SETTINGS["batch_size"], n_epochs=SETTINGS["epochs"],
                gamma=SETTINGS["gamma"], gae_lambda=SETTINGS["gae_lambda"],
                ent_coef=SETTINGS["entropy_coef"], learning_rate=linear(SETTINGS["learning_rate"]),
                clip_range=linear(SETTINGS["clip_range"]), seed=seed, device="cpu", verbose=0)
    seconds, curve = learn_with_evaluations(model, steps, eval_every, task.make_env(),
                                            EVAL_EPISODES, seed)
    return {"train_seconds": seconds, "env_steps": model.num_timesteps, "eval": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--eval-every", type=int, default=2_500)
    args = parser.parse_args()
    def timed(runner):
        def run(seed: int) -> dict:
            result = runner(seed, args.steps, args.eval_every)
            result["steps_per_second"] = result["env_steps"] / result["train_seconds"]
            result["first_step_at_475"] = next(
                (steps for steps, value in result["eval"] if value >= TARGET), None)
            return result
        return run

    runs = alternate_runs(
        args.seeds, {"ours": timed(run_ours), "sb3": timed(run_sb3)},
        lambda r: f"{r['steps_per_second']:.0f} env steps/s, first >= 475 at "
                  f"{r['first_step_at_475']}, final {r['eval'][-1][1]:.1f}")
    summary = {}
    for name, results in runs.items():
        reached = [r["first_step_at_475"] for r in results if r["first_step_at_475"]]
        summary[name] = {
            "steps_per_second": statistics.median(r["steps_per_second"] for r in results),
            "median_first_step_at_475": statistics.median(reached) if reached else None,
            "seeds_reaching_475": len(reached),
            "mean_final_eval_return": statistics.mean(r["eval"][-1][1] for r in results),
            "mean_eval_curve": [[steps, statistics.mean(r["eval"][i][1] for r in results)]
                                for i, (steps, _) in enumerate(results[0]["eval"])]}
    summary["speed_ratio_ours_over_sb3"] = (summary["ours"]["steps_per_second"]
                                            / summary["sb3"]["steps_per_second"])
    print({k: v if not isinstance(v, dict) else {kk: vv for kk, vv in v.items()
                                                 if kk != "mean_eval_curve"}
           for k, v in summary.items()})
    write_results("ppo_vs_sb3", {"settings": vars(args), "summary": summary, "runs": runs})


if __name__ == "__main__":
    raise SystemExit(main())
