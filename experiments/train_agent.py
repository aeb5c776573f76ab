"""Train a model-free agent (REINFORCE, A2C, PPO, SAC) on a task.

    python -m experiments.train_agent --preset ppo_cartpole seed=1
    python -m experiments.train_agent --preset sac_pendulum total_steps=20000 sac.batch_size=128
    python -m experiments.train_agent --resume runs/ppo-CartPole-v1-s1-20261124-120000

Presets are YAML files in ``experiments/presets/agents/`` (by name) or any path; ``key=value``
arguments override fields. Results go to a run folder under ``output_dir``: config.yaml,
train.csv, eval.csv, eval_return.png, tb/, checkpoints/. ``--resume`` continues an
interrupted run from its last checkpoint, exactly as the uninterrupted run would have gone.
"""

from __future__ import annotations

from experiments.presets import AGENT_PRESETS
from mbrl.algorithms.model_free import AgentRun, AgentRunConfig
from mbrl.runs import cli


def summary(run: AgentRun) -> dict:
    config = run.config
    return {"algo": config.algo.value, "task": config.task, "seed": config.seed,
            "run_dir": str(run.folder.root),
            "eval": [[int(r["env_steps"]), round(r["eval_return"], 2)]
                     for r in run.evaluations()]}


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, doc=__doc__, schema=AgentRunConfig, run_class=AgentRun,
                    presets=AGENT_PRESETS, default_preset="ppo_cartpole", summary=summary,
                    command="python -m experiments.train_agent")


if __name__ == "__main__":
    raise SystemExit(main())
