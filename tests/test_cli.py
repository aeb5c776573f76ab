"""The command lines: help without torch and current, one `mbrl` command for every job, videos
and comparison plots, bad input refused before any run folder exists."""

import json
import subprocess
import sys

import pytest

from experiments import (
    command,
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
from mbrl.util.cli import write_help
from mbrl.util.config import help_text

JOBS = (run_mbrl, train_agent, latent_world_model, train_dyna_q, train_mbpo,
        train_model_based_ppo, train_a3c, train_dagger,
        train_distillation, train_model_backprop, train_gps, train_tdmpc,
        train_planet, train_dreamer)


@pytest.mark.parametrize("module", JOBS, ids=lambda m: m.__name__)
def test_help_files_are_current(module):
    """``python -m mbrl.util.cli`` rewrites them after a config changes."""
    config_class = module.JOB.load_run_class().config_class
    assert module.JOB.help_file.read_text() == help_text(config_class) + "\n"
    assert "no description" not in module.JOB.help_file.read_text()


def test_every_field_has_a_description():
    for module in JOBS:
        for line in module.JOB.help_file.read_text().splitlines():
            name = line.split(":")[0].strip()
            assert "  " in line.split("=", 1)[1].strip(), f"{name} has no description"


@pytest.mark.parametrize("argv", [["mbrl", "--help"], ["mbrl", "train", "sac", "--help"],
                                  ["experiments.run_mbrl", "--help"]])
def test_help_lists_presets_and_fields_without_importing_torch(argv):
    code = (f"import sys; from experiments import command, run_mbrl; sys.argv = {argv!r}\n"
            "try:\n"
            "    (run_mbrl.main if sys.argv[0].startswith('experiments') else command.main)("
            "sys.argv[1:])\n"
            "except SystemExit: pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60).stdout
    assert out.strip().endswith("NO TORCH"), out[-500:]
    if argv[-2] != "mbrl":
        assert "presets" in out and "planner.mppi.num_samples" in out or "sac.tau" in out


@pytest.mark.parametrize("module,argv,message", [
    (run_mbrl, ["--preset", "nope"], "no preset 'nope'"),
    (run_mbrl, ["planner.horizon=abc"], "planner.horizon"),
    (run_mbrl, ["nonexistent.key=1"], "nonexistent"),
    (run_mbrl, ["planner.horizon=0"], "horizon >= 1"),
    (train_agent, ["algo=dqn"], "expected one of"),
    (train_agent, ["ppo.clip_range=-1"], "clip_range must be positive"),
    (latent_world_model, ["size=32"], "64 x 64"),
])
def test_bad_values_keys_and_presets_fail_before_a_folder_exists(module, argv, message,
                                                                 tmp_path, capsys):
    assert module.main([*argv, f"output_dir={tmp_path}"]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_mbrl_trains_evaluates_films_and_compares(tmp_path, capsys):
    common = ["total_steps=512", "eval_every=256", "eval_episodes=1", "progress=false",
              f"output_dir={tmp_path}", "ppo.steps_per_env=32", "ppo.hidden=[16]"]
    for seed in (0, 1):
        assert command.main(["train", "ppo", "--task", "CartPole-v1", f"seed={seed}",
                             "video_every=2", *common]) == 0
    runs = sorted(tmp_path.glob("ppo-CartPole-v1-*"))
    assert len(runs) == 2 and (runs[0] / "videos" / "eval-000000256.mp4").stat().st_size > 0
    capsys.readouterr()
    assert command.main(["eval", str(runs[0]), "--episodes", "2", "--video"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["returns"]) == 2 and result["video"].endswith(".mp4")
    assert command.main(["plot", *map(str, runs), "--out", str(tmp_path / "plots")]) == 0
    for name in ("returns_vs_env_steps.png", "returns_vs_seconds.png", "summary.csv"):
        assert (tmp_path / "plots" / name).exists()
    assert "ppo-CartPole-v1,2," in (tmp_path / "plots" / "summary.csv").read_text()


def test_mbrl_plans_with_the_true_simulator(capsys):
    assert command.main(["plan", "--task", "InvertedPendulum-v5", "--planner", "cem",
                         "--horizon", "5", "--steps", "10", "cem.population=20", "cem.elites=4",
                         "cem.iterations=1"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["steps"] == 10


def test_help_files_rewrite(tmp_path):
    import dataclasses

    job = dataclasses.replace(run_mbrl.JOB, help_file=tmp_path / "help.txt")
    write_help(job)
    assert job.help_file.read_text() == run_mbrl.JOB.help_file.read_text()
