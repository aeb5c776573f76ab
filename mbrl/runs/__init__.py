"""The run harness every algorithm is written on: folder, config, seeds by purpose, metrics,
checkpoints, exact resume, progress and evaluation (:class:`Run`)."""

from mbrl.runs.harness import Clock, EvaluationSchedule, Run, RunConfig, load_run
from mbrl.runs.seeds import Seeds

__all__ = ["Clock", "EvaluationSchedule", "Run", "RunConfig", "Seeds", "load_run"]
