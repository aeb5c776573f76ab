"""Defaults that transfer: each algorithm's default config (no preset, only ``algo``, ``task``
and the seed set) on the standard small tasks, several seeds.

    python -m experiments.defaults_table run sac Acrobot-v1 [--seeds 0 1 2]
    python -m experiments.defaults_table table

``run`` trains one entry of :data:`ENTRIES` and writes ``results/defaults/<algo>-<task>.json``
(per seed the curve and the first env step at the entry's threshold), so entries can run as
separate processes; ``table`` gathers the files into ``results/defaults.md``. An entry may
shorten the run (``total_steps`` or ``episodes``): a budget, never a tuned setting.
The agents' curves are deterministic evaluations (mean of ``eval_episodes``); the MPC loop's
are its own episodes' returns (every episode after the random one plans).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from experiments.agent_seeds import mpc_seed, summarise, train_seed

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Entry:
    algo: str  # an AgentRunConfig algo, or "mpc" for the MPC loop (MBRLConfig)
    task: str
    threshold: float  # the return that counts as solved
    budget: tuple[str, ...] = ()  # run-length overrides only

    @property
    def name(self) -> str:
        return f"{self.algo}-{self.task}"


ENTRIES = [
    Entry("ppo", "CartPole-v1", 475.0),
    Entry("ppo", "Acrobot-v1", -100.0),
    # issue 17 puts discrete SAC on CartPole-v1 at ~55,000 env steps: a 60k budget
    Entry("sac", "CartPole-v1", 475.0, ("total_steps=60000", "eval_every=5000")),
    Entry("sac", "Acrobot-v1", -100.0, ("total_steps=50000", "eval_every=5000")),
    Entry("sac", "Pendulum-v1", -200.0, ("total_steps=10000", "eval_every=1000")),
    Entry("sac", "InvertedPendulum-v5", 950.0, ("total_steps=30000", "eval_every=2000")),
    Entry("mpc", "InvertedPendulum-v5", 950.0),
    Entry("mpc", "CartPoleSwingUp", 150.0),
]


def run_entry(entry: Entry, seeds: list[int], output_dir: str) -> Path:
    runs = []
    for seed in seeds:
        if entry.algo == "mpc":
            runs.append(mpc_seed(None, [f"task={entry.task}", *entry.budget], seed,
                                 entry.threshold, output_dir))
        else:
            runs.append(train_seed(None, [f"algo={entry.algo}", f"task={entry.task}",
                                          *entry.budget], seed, entry.threshold, output_dir))
        print(json.dumps(runs[-1]), flush=True)
    path = RESULTS / "defaults" / f"{entry.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"algo": entry.algo, "task": entry.task,
                                "budget": list(entry.budget),
                                **summarise(runs, entry.threshold)}, indent=1) + "\n")
    return path


def table() -> Path:
    """``results/defaults.md`` from every entry's result file."""
    lines = ["| algorithm | task | threshold | seeds solved | first env step at threshold "
             "(per seed) | mean final return | best return (per seed) |",
             "|---|---|---|---|---|---|---|"]
    for entry in ENTRIES:
        path = RESULTS / "defaults" / f"{entry.name}.json"
        if not path.exists():
            lines.append(f"| {entry.algo} | {entry.task} | {entry.threshold:g} | not run | | | |")
            continue
        result = json.loads(path.read_text())
        firsts = ", ".join(str(r["first_step_at_threshold"] or "-") for r in result["runs"])
        best = ", ".join(f"{max(v for _, v in r['curve']):g}" for r in result["runs"])
        lines.append(f"| {entry.algo} | {entry.task} | {entry.threshold:g} | "
                     f"{result['seeds_reaching_threshold']}/{len(result['runs'])} | {firsts} | "
                     f"{result['mean_final_return']:g} | {best} |")
    out = RESULTS / "defaults.md"
    out.write_text("\n".join(lines) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train one entry over seeds")
    run.add_argument("algo", choices=sorted({e.algo for e in ENTRIES}))
    run.add_argument("task")
    run.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    run.add_argument("--output-dir", default="runs/defaults")
    commands.add_parser("table", help="gather the result files into results/defaults.md")
    args = parser.parse_args(argv)
    if args.command == "table":
        print(table().read_text())
        return 0
    entry = next((e for e in ENTRIES if (e.algo, e.task) == (args.algo, args.task)), None)
    if entry is None:
        parser.error(f"no entry {args.algo} {args.task}; entries: "
                     + ", ".join(e.name for e in ENTRIES))
    print(run_entry(entry, args.seeds, args.output_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
