"""The command line every training entry point shares: ``--preset NAME|PATH`` or ``--resume
RUN_DIR``, then ``key=value`` overrides; ``--help`` lists the presets and every config field
with its type, default and description.

Configs are OmegaConf structured dataclasses (:mod:`mbrl.util.config`): OmegaConf checks types,
enums and unknown keys of YAML presets and dotted overrides, and keeps the ``key=value`` syntax
of the presets and notes; the help text is printed from the dataclasses themselves (tyro would
give help but change the command-line syntax and not read YAML presets), kept in a text file per
job so that ``--help`` answers without importing torch. Everything is validated and every
component built before a run folder is created.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbrl.util.config import help_text, load_config

if TYPE_CHECKING:
    from mbrl.runs.harness import Run


@dataclass(frozen=True)
class Job:
    """A command-line training job: its ``command`` and docstring, the ``Run`` class that runs
    it (``"module:Class"``, imported only once the arguments are parsed, so ``--help`` needs
    no torch), its presets, the summary it prints and the file holding its fields' help (kept
    current by ``tests/test_cli.py``; ``python -m mbrl.util.cli`` rewrites them)."""

    command: str
    doc: str
    run_class: str
    presets: Path
    default_preset: str | None
    summary: Callable[[Run], dict[str, Any]]
    help_file: Path

    def load_run_class(self) -> type[Run]:
        from mbrl.runs.harness import import_run_class

        return import_run_class(self.run_class)


def preset_path(name: str, directory: Path) -> Path:
    """A preset by name (looked up in ``directory``) or by path to a YAML file."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = directory / f"{name}.yaml"
    if not candidate.exists():
        raise ValueError(f"no preset {name!r}; known presets: {', '.join(preset_names(directory))}")
    return candidate


def preset_names(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))


IMPORTS = "imports.txt"  # modules a run folder's run needs imported (--import)

class Terminated(Exception):
    """SIGTERM arrived (raised in the main thread by the handler :func:`main` installs)."""


def main(job: Job, argv: list[str] | None = None) -> int:
    """Parse ``argv``, start or resume a run, print ``summary(run)`` as JSON.

    Exit status: 0 when the run finished; 2 with one line on stderr for a bad command line,
    config or run folder (checked before anything is written); 1 with one line for an
    expected failure while running (a damaged checkpoint, NaN/Inf from a model or a loss, a
    full disk); 130 / 143 after SIGINT / SIGTERM, with the command that resumes the run from
    its last checkpoint. Unexpected errors show their traceback."""
    parser = argparse.ArgumentParser(
        prog=job.command, description=job.doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"presets ({job.presets}): {', '.join(preset_names(job.presets))}\n\n"
               f"fields (key=value overrides):\n{job.help_file.read_text()}")
    parser.add_argument("--preset", default=job.default_preset,
                        help="preset name or YAML path (none: the config's defaults)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the run in this folder from its last checkpoint")
    parser.add_argument("--restart", action="store_true",
                        help="with --resume: start that run over in its folder (deletes its "
                             "checkpoints and metrics)")
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="MODULE", help="import a module first (one that registers your "
                        "own tasks with mbrl.envs.register_task); a resumed run imports again "
                        "what it was started with")
    parser.add_argument("overrides", nargs="*", help="config overrides key=value")
    args = parser.parse_intermixed_args(argv)  # options may come between the overrides
    if args.restart and not args.resume:
        parser.error("--restart needs --resume RUN_DIR")
    try:
        imports = list(args.imports)
        if args.resume and (Path(args.resume) / IMPORTS).exists():
            imports = (Path(args.resume) / IMPORTS).read_text().split() + imports
        for module in dict.fromkeys(imports):
            importlib.import_module(module)
        run_class = job.load_run_class()
        if args.resume:
            resume = run_class.restart if args.restart else run_class.resume
            run = resume(args.resume, args.overrides)
            print(f"{'restarting' if args.restart else 'resuming'} {run.folder.root} at env step "
                  f"{run.env_steps}", file=sys.stderr)
        else:
            preset = (None if args.preset in (None, "none")
                      else preset_path(args.preset, job.presets))
            config = load_config(run_class.config_class, preset, args.overrides)
            run = run_class.start(config)
        if imports:
            (run.folder.root / IMPORTS).write_text("\n".join(dict.fromkeys(imports)) + "\n")
    except ModuleNotFoundError as error:
        print(f"error: --import: {error}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from mbrl.util.checkpoint import CheckpointError
    from mbrl.util.errors import TrainingDiverged
    from planners import NonFiniteModelOutput

    failures = (CheckpointError, NonFiniteModelOutput, TrainingDiverged, OSError)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        run.run()
    except (KeyboardInterrupt, Terminated) as interrupt:
        print(f"interrupted at env step {run.env_steps}; the last checkpoint is kept. Resume "
              f"with: {job.command} --resume {run.folder.root}", file=sys.stderr)
        return 143 if isinstance(interrupt, Terminated) else 130
    except failures as error:
        print(f"error: {error}\nthe last checkpoint is kept; after fixing the cause resume "
              f"with: {job.command} --resume {run.folder.root}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(json.dumps(job.summary(run)))
    return 0


def _raise_terminated(number: int, frame: object) -> None:
    raise Terminated()


def write_help(job: Job) -> None:
    """Rewrite ``job.help_file`` from the job's config dataclass."""
    job.help_file.write_text(help_text(job.load_run_class().config_class) + "\n")


if __name__ == "__main__":  # python -m mbrl.util.cli rewrites the help files of the jobs
    for name in ("run_mbrl", "train_agent", "latent_world_model", "train_dyna_q",
                 "train_mbpo", "train_model_based_ppo", "train_a3c", "train_dagger",
                 "train_distillation", "train_model_backprop", "train_gps", "train_tdmpc",
                 "train_planet", "train_dreamer"):
        write_help(importlib.import_module(f"experiments.{name}").JOB)
