"""Train a model-free agent (REINFORCE, A2C, PPO, SAC) on a task.

    python -m experiments.train_agent --preset ppo_cartpole seed=1
    python -m experiments.train_agent --preset sac_pendulum total_steps=20000 sac.batch_size=128
    python -m experiments.train_agent --preset none algo=sac task=Pendulum-v1
    python -m experiments.train_agent --resume runs/ppo-CartPole-v1-s1-20261124-120000

Presets are YAML files in ``experiments/presets/agents/`` (by name) or any path (``none``: the
config's defaults); ``key=value`` arguments override fields. Results go to a run folder under
``output_dir``: config.yaml, train.csv, eval.csv, eval_return.png, tb/, checkpoints/.
``--resume`` continues an interrupted run from its last checkpoint, exactly as the
uninterrupted run would have gone.
"""

from __future__ import annotations

from pathlib import Path

from experiments.presets import AGENT_PRESETS
from mbrl.util import cli


def summary(run) -> dict:
    config = run.config
    return {"algo": run.label(), "task": config.task, "seed": config.seed,
            "run_dir": str(run.folder.root),
            "eval": [[int(r["env_steps"]), round(r["eval_return"], 2)]
                     for r in run.evaluations()]}


JOB = cli.Job(command="python -m experiments.train_agent", doc=__doc__,
          run_class="mbrl.algorithms.model_free:AgentRun", presets=AGENT_PRESETS,
          default_preset="ppo_cartpole", summary=summary,
          help_file=Path(__file__).parent / "help" / "train_agent.txt")



def main(argv: list[str] | None = None) -> int:
    return cli.main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
