"""``mbrl``: one command for every job.

    mbrl train pets --preset pets_inverted_pendulum seed=1
    mbrl train sac --task Pendulum-v1 total_steps=20000
    mbrl train ppo --preset ppo_cartpole
    mbrl train mb-ppo --preset mb_ppo_inverted_pendulum
    mbrl train a3c --preset a3c_cartpole workers=2
    mbrl train latent
    mbrl plan --task Reacher-v5 --planner mppi --episodes 1 --video reacher.mp4
    mbrl eval runs/ppo-CartPole-v1-s0-20261202-101010 --episodes 10 --video
    mbrl plot runs/ppo-CartPole-v1-* runs/sac-CartPole-v1-* --out plots/cartpole
    mbrl sweep pets --preset pets_inverted_pendulum --seeds 0 1 2 --grid planner.horizon=20,30
    mbrl sweep sac --preset sac_pendulum --address HEAD:6379 --out /shared/sweeps/sac
    mbrl tasks [--check Swimmer-v5] [--import my_tasks]
    mbrl presets

``mbrl train ALGO --help`` lists that job's presets and every config field; no ``--help``
imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from experiments import (
    latent_world_model,
    run_mbrl,
    train_a3c,
    train_agent,
    train_dagger,
    train_distillation,
    train_dreamer,
    train_dyna_q,
    train_gps,
    train_mbpo,
    train_model_backprop,
    train_model_based_ppo,
    train_planet,
    train_tdmpc,
)

AGENTS = ("ppo", "a2c", "reinforce", "sac")
TRAIN = {"pets": run_mbrl, "latent": latent_world_model, "dyna-q": train_dyna_q,
         "mbpo": train_mbpo, "mb-ppo": train_model_based_ppo, "a3c": train_a3c,
         "dagger": train_dagger, "distill": train_distillation,
         "backprop": train_model_backprop, "gps": train_gps, "tdmpc": train_tdmpc,
         "planet": train_planet, "dreamer": train_dreamer,
         **dict.fromkeys(AGENTS, train_agent)}


def train(algo: str, argv: list[str]) -> int:
    """``mbrl train ALGO [--task T] [job arguments]``: the job's own command line, with
    ``--task T`` for ``task=T`` and, for an agent without ``--preset``, its default config."""
    arguments, rest = [], list(argv)
    while rest:
        item = rest.pop(0)
        if item == "--task" and rest:
            arguments.append(f"task={rest.pop(0)}")
        elif item.startswith("--task="):
            arguments.append(f"task={item.split('=', 1)[1]}")
        else:
            arguments.append(item)
    if algo in AGENTS and not any(a in ("--resume", "-h", "--help") for a in arguments):
        if not any(a == "--preset" or a.startswith("--preset=") for a in arguments):
            arguments = ["--preset", "none", *arguments]
        arguments.append(f"algo={algo}")
    return TRAIN[algo].main(arguments)


def plan(args: argparse.Namespace) -> int:
    """MPC with the true MuJoCo simulator: returns and seconds per step, optionally a video."""
    import time

    from mbrl.algorithms.planning import PlannerConfig, build_planner
    from mbrl.envs import MujocoSimulator, make_task
    from mbrl.envs.video import Video, frame_rate
    from mbrl.policies import SimulatorMPC
    from mbrl.util.config import load_config
    from planners import MPC

    config = load_config(PlannerConfig, None, [f"name={args.planner}",
                                               f"horizon={args.horizon}", *args.overrides])
    config.validate()
    task = make_task(args.task)
    simulator = MujocoSimulator(task)
    env = task.make_env(render_mode="rgb_array" if args.video else None)
    policy = SimulatorMPC(MPC(build_planner(config, _generator(args.seed)),
                              simulator.problem(config.horizon), config.replan_every),
                          simulator, env)
    results = []
    for episode in range(args.episodes):
        obs, _ = env.reset(seed=args.seed + episode)
        policy.reset()
        video = Video(args.video, frame_rate(env)) if args.video and episode == 0 else None
        total, steps, done, started = 0.0, 0, False, time.perf_counter()
        while not done and (args.steps is None or steps < args.steps):
            if video is not None:
                video.add(env.render())
            obs, reward, terminated, truncated, _ = env.step(policy.act(obs))
            total, steps, done = total + float(reward), steps + 1, terminated or truncated
        if video is not None:
            video.close()
        results.append({"episode": episode, "return": round(total, 3), "steps": steps,
                        "seconds_per_step": round((time.perf_counter() - started) / steps, 4)})
        print(json.dumps(results[-1]), flush=True)
    simulator.close()
    return 0


def _generator(seed: int):
    import torch

    return torch.Generator().manual_seed(seed)


def evaluate(args: argparse.Namespace) -> int:
    """The learned policy of a run folder (its last checkpoint), evaluated and filmed."""
    from mbrl.data import collect
    from mbrl.envs.video import record_episode
    from mbrl.runs import load_run

    run = load_run(args.run)
    policy = run.evaluation_policy()
    result = collect(run.evaluation_env(), policy, episodes=args.episodes, seed=args.seed,
                     deterministic=True)
    summary = {"run": str(run.folder.root), "env_steps": run.env_steps,
               "episodes": args.episodes, "mean_return": result.mean_return,
               "returns": [round(r, 3) for r in result.episode_returns]}
    if args.video:
        path = run.folder.root / "videos" / f"eval-{run.env_steps:09d}-seed{args.seed}.mp4"
        record_episode(run.evaluation_env("rgb_array"), policy, path, seed=args.seed)
        summary["video"] = str(path)
    print(json.dumps(summary))
    return 0


def sweep_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mbrl sweep", description="A grid of configs x seeds, every trial a run in its own "
        "folder, as Ray tasks (mbrl.runs.sweep); sweeping again into the same folder skips "
        "finished trials and resumes interrupted ones.")
    parser.add_argument("algo", choices=sorted(TRAIN))
    parser.add_argument("--preset", help="the job's preset (none: the config's defaults)")
    parser.add_argument("--task")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                        help="a config field and its values (repeat for a product)")
    parser.add_argument("--address", help="a Ray cluster, HOST:PORT (default: this machine)")
    parser.add_argument("--cpus-per-trial", type=int, default=1)
    parser.add_argument("--out", type=Path, help="sweep folder (default: sweeps/ALGO-PRESET)")
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="MODULE", help="a module registering your tasks (every trial "
                        "imports it)")
    parser.add_argument("overrides", nargs="*", help="key=value for every trial")
    return parser


def sweep(argv: list[str]) -> int:
    """``mbrl sweep ALGO ...``: a grid of configs x seeds as Ray tasks, resumable."""
    args = sweep_parser().parse_intermixed_args(argv)
    from mbrl.runs.sweep import SweepFailed, expand_grid, parse_grid
    from mbrl.runs.sweep import sweep as run_sweep
    from mbrl.util.cli import preset_path

    job = TRAIN[args.algo].JOB
    preset = args.preset if args.preset is not None else (
        None if args.algo in AGENTS else job.default_preset)
    path = None if preset in (None, "none") else preset_path(preset, job.presets)
    fixed = [*([f"task={args.task}"] if args.task else []), *args.overrides,
             *([f"algo={args.algo}"] if args.algo in AGENTS else [])]
    trials = expand_grid(parse_grid(args.grid), args.seeds)
    out = args.out or Path("sweeps") / f"{args.algo}-{preset or 'default'}"
    try:
        table = run_sweep(job.run_class, path, trials, out, fixed, args.address,
                          args.cpus_per_trial, imports=args.imports)
    except SweepFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"out": str(out), "trials": len(trials), "configs": table}, indent=1))
    return 0


def plot(args: argparse.Namespace) -> int:
    from mbrl.runs.compare import compare

    table = compare(args.runs, args.out)
    print(json.dumps({"out": str(args.out), "groups": table}, indent=1))
    return 0


def tasks(args: argparse.Namespace) -> int:
    from mbrl.envs import check_task, list_tasks, make_task

    if args.check:
        report = check_task(args.check, steps=args.steps)
        print(report)
        return 0 if report.ok else 1
    for name in list_tasks():
        spec = make_task(name)
        print(f"{name:28s} obs {spec.obs_dim:3d}  act {spec.act_dim:2d}  "
              f"{'discrete' if spec.discrete_actions else 'box':8s} {spec.max_episode_steps:5d} "
              f"steps  {spec.notes}")
    return 0


def presets(args: argparse.Namespace) -> int:
    from mbrl.util.cli import preset_names

    for name, module in (("pets", run_mbrl), ("agents", train_agent),
                         ("latent", latent_world_model), ("dyna-q", train_dyna_q),
                         ("mbpo", train_mbpo), ("mb-ppo", train_model_based_ppo),
                         ("a3c", train_a3c)):
        print(f"{name}: {', '.join(preset_names(module.JOB.presets))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:  # the job parses its own arguments
        if len(argv) < 2 or argv[1] not in TRAIN:
            print(f"usage: mbrl train {{{','.join(TRAIN)}}} [--task T] [--preset P] "
                  "[key=value ...] (mbrl train ALGO --help for the fields)", file=sys.stderr)
            return 2
        return train(argv[1], argv[2:])
    if argv[:1] == ["sweep"]:  # its own parser: overrides may come between the options
        return sweep(argv[1:])
    parser = argparse.ArgumentParser(prog="mbrl", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="MODULE", help="import a module that registers your tasks")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("train", help="train an algorithm: mbrl train {" + ",".join(TRAIN) + "}")
    planning = commands.add_parser("plan", help="MPC with the true MuJoCo simulator")
    planning.add_argument("--task", required=True)
    planning.add_argument("--planner", default="mppi",
                          choices=["random_shooting", "cem", "icem", "mppi"])
    planning.add_argument("--horizon", type=int, default=30)
    planning.add_argument("--episodes", type=int, default=1)
    planning.add_argument("--steps", type=int, default=None, help="steps per episode (cap)")
    planning.add_argument("--seed", type=int, default=0)
    planning.add_argument("--video", type=Path, help="write the first episode to this MP4")
    planning.add_argument("overrides", nargs="*",
                          help="planner settings, e.g. mppi.num_samples=300 mppi.iterations=2")
    evaluation = commands.add_parser("eval", help="evaluate a run folder's learned policy")
    evaluation.add_argument("run", type=Path)
    evaluation.add_argument("--episodes", type=int, default=10)
    evaluation.add_argument("--seed", type=int, default=10_000)
    evaluation.add_argument("--video", action="store_true", help="also film one episode")
    plotting = commands.add_parser("plot", help="compare runs: mean and 95%% bootstrap band")
    plotting.add_argument("runs", nargs="+", type=Path)
    plotting.add_argument("--out", type=Path, default=Path("plots"))
    commands.add_parser("sweep", help="a grid of configs x seeds as Ray tasks: mbrl sweep ALGO "
                        "--help")
    listing = commands.add_parser("tasks", help="list the tasks, or check one")
    listing.add_argument("--check", metavar="TASK")
    listing.add_argument("--steps", type=int, default=1000)
    commands.add_parser("presets", help="list the presets of every job")
    args = parser.parse_args(argv)
    for module in args.imports:
        importlib.import_module(module)
    handlers = {"plan": plan, "eval": evaluate, "plot": plot, "tasks": tasks,
                "presets": presets}
    try:
        return handlers[args.command](args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
