"""Distillation experiments over seeds.

    python -m experiments.distillation dagger --expert runs/ppo-InvertedPendulum-v5-s0-...
    python -m experiments.distillation dagger --preset dagger_half_cheetah --seeds 0
    python -m experiments.distillation multitask --experts runs/ppo-CartPole-v1-... \\
        runs/ppo-Acrobot-v1-...

``dagger`` (preset ``dagger_inverted_pendulum`` unless ``--preset``) writes
``results/dagger_<task>.json``: the expert's mean return over the same number of evaluation
episodes (the expert is ``--expert``'s run folder, or without it the preset's, e.g. MPC through
the MuJoCo simulator), and per seed the student's return after each iteration, the real env
steps (labelled states) used and the expert's and student's milliseconds per act (measured in
the same run, on the same states). ``multitask`` distils one expert per task (CartPole-v1 and
Acrobot-v1 by default) into one network with soft targets at each ``--temperatures`` and with
hard labels, at each data budget (the same states per task for all), and writes
``results/multitask_distillation.json`` with each task's student return as a fraction of its
expert's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

from experiments.presets import MBRL_PRESETS, preset_path
from mbrl.algorithms.dagger import DAggerConfig, DAggerRun, Purpose
from mbrl.algorithms.planning import PlannerConfig
from mbrl.algorithms.policy_distillation import DistillationConfig, DistillationRun
from mbrl.runs.harness import load_run
from mbrl.util.config import load_config

RESULTS = Path(__file__).parent / "results"


def planner_settings(planner: PlannerConfig) -> dict[str, Any]:
    """The planner MPC runs, its horizon and its own settings (not the other planners')."""
    return {"name": planner.name.value, "horizon": planner.horizon,
            "replan_every": planner.replan_every, **asdict(getattr(planner, planner.name.value))}


def dagger(args: argparse.Namespace) -> Path:
    seeds = []
    for seed in args.seeds:
        expert = ["expert.kind=run", f"expert.run_dir={args.expert}"] if args.expert else []
        config = load_config(DAggerConfig, preset_path(args.preset, MBRL_PRESETS / "dagger"),
                             [*args.overrides, *expert, f"seed={seed}", "progress=false",
                              f"output_dir={args.output_dir}"])
        run = DAggerRun.start(config).run()
        rows = run.evaluations()
        seeds.append({"seed": seed, "run_dir": str(run.folder.root),
                      "student_return": [round(r["student_return"], 2) for r in rows],
                      "labelled_states": [int(r["dataset_size"]) for r in rows],
                      "expert_ms_per_act": round(rows[-1]["expert_ms_per_act"], 4),
                      "student_ms_per_act": round(rows[-1]["student_ms_per_act"], 4)})
        print(json.dumps(seeds[-1]), flush=True)
    expert_return = run.evaluate(run.expert_in(run.eval_env), run.eval_env, config.eval_episodes,
                                 run.seeds.derive(Purpose.EVAL, "expert"))
    expert = ({"expert_run": args.expert, "expert_algo": type(load_run(args.expert)).__name__}
              if args.expert else {"expert": config.expert.kind.value,
                                   "expert_planner": planner_settings(config.expert.planner)})
    result = {"preset": args.preset, **expert, "expert_return": round(expert_return, 2),
              "eval_episodes": config.eval_episodes, "seeds": seeds,
              "student_fraction": [round(s["student_return"][-1] / expert_return, 3)
                                   for s in seeds],
              "act_speedup": [round(s["expert_ms_per_act"] / s["student_ms_per_act"], 1)
                              for s in seeds]}
    path = RESULTS / f"dagger_{config.task}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def multitask(args: argparse.Namespace) -> Path:
    settings = [("hard", None), *(("soft", t) for t in args.temperatures)]
    rows = []
    for budget, (targets, temperature), seed in itertools.product(args.states_per_task,
                                                                   settings, args.seeds):
        overrides = [f"tasks=[{','.join(args.tasks)}]", f"experts=[{','.join(args.experts)}]",
                     f"targets={targets}", f"states_per_task={budget}", f"seed={seed}",
                     "progress=false", f"output_dir={args.output_dir}",
                     *([f"temperature={temperature}"] if temperature else []), *args.overrides]
        run = DistillationRun.start(load_config(DistillationConfig, None, overrides)).run()
        row = {"states_per_task": budget, "targets": targets, "temperature": temperature,
               "seed": seed, "run_dir": str(run.folder.root)}
        for name, result in zip(args.tasks, run.folder.read("tasks"), strict=True):
            student, expert = result["student_return"], result["expert_return"]
            row[f"{name}_student"], row[f"{name}_expert"] = round(student, 1), round(expert, 1)
            row[f"{name}_fraction"] = round(student / expert if expert > 0 else expert / student,
                                            3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    table = []
    for budget, (targets, temperature) in itertools.product(args.states_per_task, settings):
        same = [r for r in rows if (r["states_per_task"], r["targets"], r["temperature"])
                == (budget, targets, temperature)]
        table.append({"states_per_task": budget, "targets": targets, "temperature": temperature,
                      **{f"{name}_mean_fraction": round(statistics.mean(
                          r[f"{name}_fraction"] for r in same), 3) for name in args.tasks}})
    path = RESULTS / "multitask_distillation.json"
    path.write_text(json.dumps({"tasks": args.tasks, "experts": args.experts,
                                "fraction": "student / expert return (expert / student where "
                                            "returns are negative)",
                                "table": table, "runs": rows}, indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("dagger", help="DAgger over seeds from one expert run")
    one.add_argument("--preset", default="dagger_inverted_pendulum")
    one.add_argument("--expert", help="the expert's run folder (default: the preset's expert)")
    many = commands.add_parser("multitask", help="soft against hard multi-task distillation")
    many.add_argument("--tasks", nargs="+", default=["CartPole-v1", "Acrobot-v1"])
    many.add_argument("--experts", nargs="+", required=True, help="run folders, one per task")
    many.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.1])
    many.add_argument("--states-per-task", type=int, nargs="+", default=[300, 1000, 5000],
                      help="data budgets (expert states per task)")
    for command in (one, many):
        command.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
        command.add_argument("--output-dir", default="runs/distillation")
        command.add_argument("overrides", nargs="*", help="config overrides key=value")
    args = parser.parse_args(argv)
    print((dagger if args.command == "dagger" else multitask)(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
