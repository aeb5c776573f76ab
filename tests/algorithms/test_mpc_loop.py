import copy
import math

import pytest
import torch

from experiments.presets import MBRL_PRESETS, preset_path
from experiments.run_mbrl import main
from mbrl.algorithms import mpc_loop
from mbrl.algorithms.models import DynamicsModelConfig
from mbrl.algorithms.mpc_loop import MBRLConfig, MBRLRun
from mbrl.models import MLPDynamics, ProbabilisticEnsemble
from mbrl.util.config import load_config


def run_mbrl(config, resume_dir=None):
    """Start (or resume) a run to its end: ``(folder, every episode's return)``."""
    run = (MBRLRun.start(config) if resume_dir is None
           else MBRLRun.resume(resume_dir, config=config)).run()
    return run.folder, run.returns()


def tiny_config(tmp_path, episodes=3):
    return load_config(MBRLConfig, None, [
        "task=CartPoleSwingUp", f"episodes={episodes}", "episode_steps=20", "progress=false",
        "model.hidden_size=32", "model.num_layers=2", "model.max_epochs=3",
        "planner.random_shooting.num_samples=50", "planner.horizon=5", f"output_dir={tmp_path}"])


def resumed_returns(config, root, episodes):
    """Returns of a run of ``episodes`` (after the random ones) stopped after one and resumed."""
    short, _ = run_mbrl(config(root, 1))
    return run_mbrl(config(root, episodes), resume_dir=short.root)[1]


def assert_config_error(tmp_path, match, *overrides):
    with pytest.raises(ValueError, match=match):
        run_mbrl(load_config(MBRLConfig, None, [*overrides, f"output_dir={tmp_path}"]))


def test_loop_runs_logs_and_resumes_identically(tmp_path):
    folder, returns = run_mbrl(tiny_config(tmp_path / "full"))
    assert len(returns) == 4
    rows = folder.read("episodes")
    assert [r["mpc"] for r in rows] == [0, 1, 1, 1]
    assert rows[-1]["env_steps"] == 80
    assert (folder.root / "episodes_return.png").exists()
    assert (folder.root / "config.yaml").exists()

    # interrupt after 2 MPC episodes, then resume the same run to the end
    short, _ = run_mbrl(tiny_config(tmp_path / "split", episodes=2))
    _, resumed = run_mbrl(tiny_config(tmp_path / "split", episodes=3), resume_dir=short.root)
    assert resumed == returns
    assert len(list(short.checkpoint_dir.glob("buffer-*.npz"))) == 1


def test_acting_time_excludes_refits_within_an_episode(tmp_path, monkeypatch):
    """ms_per_step is the acting time per step: refits within an episode (retrain_every) are
    left out, and the time before the last refit is not (it once restarted the clock)."""
    import time

    refit = MBRLRun.refit

    def slow_refit(self, step):
        if step:
            time.sleep(0.2)
        return refit(self, step)

    monkeypatch.setattr(MBRLRun, "refit", slow_refit)
    config = load_config(MBRLConfig, None, [
        "task=CartPoleSwingUp", "episodes=1", "episode_steps=20", "progress=false",
        "model.hidden_size=16", "model.num_layers=2", "model.max_epochs=1",
        "model.retrain_every=5", "planner.random_shooting.num_samples=2000",
        "planner.horizon=10", f"output_dir={tmp_path}"])
    run = MBRLRun.start(config)
    acting = []
    act = run.mpc.act

    def timed_act(obs, deterministic=False):
        started = time.perf_counter()
        action = act(obs, deterministic)
        acting.append(time.perf_counter() - started)
        return action

    run.mpc.act = timed_act
    run.run()
    row = run.folder.read("episodes")[-1]
    assert row["ms_per_step"] / 1000 * row["length"] >= sum(acting) * 0.95
    assert row["ms_per_step"] / 1000 * row["length"] < sum(acting) + 0.2  # three refits left out


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="unknown task"):
        run_mbrl(MBRLConfig(task="Nope", output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="random_episodes must be >= 1"):
        run_mbrl(MBRLConfig(random_episodes=0, output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="discrete actions: planner.name=categorical_cem"):
        run_mbrl(load_config(MBRLConfig, None, ["task=CartPole-v1", "planner.name=cem",
                                                f"output_dir={tmp_path}"]))
    with pytest.raises(ValueError, match="categorical_cem plans discrete actions"):
        run_mbrl(load_config(MBRLConfig, None, ["planner.name=categorical_cem",
                                                f"output_dir={tmp_path}"]))
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="expected one of"):
        load_config(MBRLConfig, None, ["planner.name=tree_search"])


def test_cli_runs_a_preset_with_overrides(tmp_path, capsys):
    code = main(["--preset", "pendulum", "episodes=1", "episode_steps=10", "progress=false",
                 "planner.random_shooting.num_samples=20", "planner.horizon=3",
                 "model.max_epochs=2", f"output_dir={tmp_path}"])
    assert code == 0
    assert '"task": "Pendulum-v1"' in capsys.readouterr().out
    run_dir = next(tmp_path.iterdir())
    assert main(["--resume", str(run_dir), "episodes=2"]) == 0
    assert '"returns": [' in capsys.readouterr().out
    assert len((run_dir / "episodes.csv").read_text().splitlines()) == 1 + 3
    assert main(["--preset", "pendulum", "bogus=1"]) == 2
    assert main(["--preset", "nonexistent"]) == 2
    assert "no preset 'nonexistent'; known presets: cartpole_swingup" in capsys.readouterr().err


@pytest.mark.slow
def test_swingup_preset_clearly_beats_random(tmp_path):
    """The README's main job: MPC through the learned model rises far above the random episode
    (measured: random 2-8, MPC 150-170 out of a maximum of 200 after ~5 episodes)."""
    config = load_config(MBRLConfig, preset_path("cartpole_swingup", MBRL_PRESETS),
                         ["progress=false", f"output_dir={tmp_path}"])
    _, returns = run_mbrl(config)
    assert returns[0] < 20
    assert max(returns[-5:]) > 120


@pytest.mark.slow
def test_reacher_preset_reaches_the_good_region(tmp_path):
    """Issue 19: episodes 10-15 average >= -8 (about -5 is good; random shooting plateaued at
    -15 to -36). Measured on seed 0 with two threads: -4.17 (the preset file has seeds 0-2)."""
    config = load_config(MBRLConfig, preset_path("reacher", MBRL_PRESETS),
                         ["progress=false", f"output_dir={tmp_path}"])
    _, returns = run_mbrl(config)
    assert len(returns) == 16 and sum(returns[10:16]) / 6 >= -8.0


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "episodes"), [("inverted_pendulum", 10),
                                                  ("pets_inverted_pendulum", 5)])
def test_inverted_pendulum_presets_balance_for_a_full_episode(tmp_path, preset, episodes):
    """Measured on seed 0 with one thread: ``inverted_pendulum`` (MLP model) 1000 in episodes
    6-7 (re-measured at 532fa42 with its new MPPI settings), ``pets_inverted_pendulum``
    (ensemble) in episodes 4-5 (at cc58357, before the MPPI update change; not re-measured).
    Runs are chaotic in floating-point order, so the test pins the thread count of the
    measurement it asserts."""
    config = load_config(MBRLConfig, preset_path(preset, MBRL_PRESETS),
                         ["progress=false", f"output_dir={tmp_path}"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _, returns = run_mbrl(config)
    finally:
        torch.set_num_threads(threads)
    assert len(returns) == episodes and max(returns) >= 900


@pytest.mark.parametrize("planner", ["cem", "icem", "mppi", "categorical_cem"])
def test_loop_runs_with_every_population_planner_and_resumes_identically(tmp_path, planner):
    task = "CartPole-v1" if planner == "categorical_cem" else "CartPoleSwingUp"

    def config(root, episodes):
        return load_config(MBRLConfig, None, [
            f"task={task}", f"episodes={episodes}", "episode_steps=10", "progress=false",
            "model.hidden_size=16", "model.num_layers=2", "model.max_epochs=2",
            f"planner.name={planner}", "planner.horizon=4", f"output_dir={root}",
            *planner_settings[planner]])

    planner_settings = {
        "cem": ["planner.cem.population=30", "planner.cem.elites=5", "planner.cem.iterations=2"],
        "icem": ["planner.icem.population=30", "planner.icem.elites=5",
                 "planner.icem.iterations=2"],
        "mppi": ["planner.mppi.num_samples=30", "planner.mppi.iterations=2"],
        "categorical_cem": ["planner.categorical_cem.population=30",
                            "planner.categorical_cem.elites=5",
                            "planner.categorical_cem.iterations=2"]}

    _, returns = run_mbrl(config(tmp_path / "full", 2))
    assert resumed_returns(config, tmp_path / "split", 2) == returns


def test_pets_loop_with_an_ensemble_and_particles_resumes_identically(tmp_path):
    def config(root, episodes):
        return load_config(MBRLConfig, None, [
            "task=CartPoleSwingUp", f"episodes={episodes}", "episode_steps=10", "progress=false",
            "model.kind=ensemble", "model.ensemble_size=3", "model.num_elites=2",
            "model.hidden_size=16", "model.num_layers=2", "model.max_epochs=2",
            "model.num_particles=4", "planner.name=cem", "planner.cem.population=20",
            "planner.cem.elites=4", "planner.cem.iterations=2", "planner.horizon=4",
            f"output_dir={root}"])

    folder, returns = run_mbrl(config(tmp_path / "full", 2))
    # 10 and 20 transitions leave fewer than 10 for validation: no score is reported
    assert all(math.isnan(r["model_val_mse"]) for r in folder.read("episodes"))
    assert resumed_returns(config, tmp_path / "split", 2) == returns
    with pytest.raises(ValueError, match="not a valid ModelKind"):
        run_mbrl(MBRLConfig(model=DynamicsModelConfig(kind="gp"), output_dir=str(tmp_path)))


def test_loop_with_a_learned_terminal_value_logs_it_and_resumes_identically(tmp_path):
    def config(root, episodes):
        return load_config(MBRLConfig, None, [
            "task=InvertedPendulum-v5", f"episodes={episodes}", "episode_steps=15",
            "progress=false", "model.hidden_size=16", "model.num_layers=2", "model.max_epochs=2",
            "planner.random_shooting.num_samples=30", "planner.horizon=4",
            "terminal_value.enabled=true",
            "terminal_value.hidden_size=16", "terminal_value.rounds=2",
            "terminal_value.epochs_per_round=2", "terminal_value.ensemble_size=3",
            "terminal_value.pessimism=1.0", f"output_dir={root}"])

    folder, returns = run_mbrl(config(tmp_path / "full", 2))
    rows = folder.read("episodes")
    assert math.isnan(rows[0]["value_mse"]) and all(math.isfinite(r["value_mse"])
                                                    for r in rows[1:])
    short, _ = run_mbrl(config(tmp_path / "split", 1))
    _, resumed = run_mbrl(config(tmp_path / "split", 2), resume_dir=short.root)
    assert resumed == returns
    without_value = config(tmp_path / "split", 3)
    without_value.terminal_value.enabled = False
    with pytest.raises(ValueError, match="terminal_value.enabled: True -> False"):
        run_mbrl(without_value, resume_dir=short.root)
    assert_config_error(tmp_path, "terminal_value needs discount", "terminal_value.discount=0")
    assert_config_error(tmp_path, "terminal_value needs ensemble_size >= 1",
                        "terminal_value.pessimism=-1")
    assert_config_error(tmp_path, "pessimism needs ensemble_size >= 2",
                        "terminal_value.pessimism=1")


@pytest.mark.parametrize("warm_start", [True, False])
def test_value_refits_continue_from_the_last_fit_or_start_afresh(tmp_path, monkeypatch,
                                                                  warm_start):
    def config(root, episodes):
        config = tiny_config(root, episodes)
        config.terminal_value.enabled, config.terminal_value.rounds = True, 1
        config.terminal_value.warm_start = warm_start
        return config

    entering, leaving = [], []
    original_fit = mpc_loop.fit_state_value

    def recording_fit(value, *args, **kwargs):
        entering.append(copy.deepcopy(value.state_dict()))
        result = original_fit(value, *args, **kwargs)
        leaving.append(copy.deepcopy(value.state_dict()))
        return result

    monkeypatch.setattr(mpc_loop, "fit_state_value", recording_fit)
    folder, returns = run_mbrl(config(tmp_path / "full", 2))
    assert len(entering) == 2
    continued = all(torch.equal(entering[1][name], leaving[0][name]) for name in leaving[0])
    assert continued == warm_start
    if not warm_start:
        assert entering[1]["normalizer.mean"].eq(0).all()
        assert entering[1]["return_normalizer.std"].eq(1).all()
    assert resumed_returns(config, tmp_path / "split", 2) == returns


@pytest.mark.parametrize(("field", "value", "episodes", "refits_expected", "invalid", "error"), [
    # 20-step MPC episodes: refits at the start and after 8 and 16 steps
    ("retrain_every", 8, 2, [(1, 0, 20), (1, 8, 28), (1, 16, 36), (2, 0, 40), (2, 8, 48),
                             (2, 16, 56)], 0, "model.retrain_every must be >= 1"),
    # fitted at 20 transitions, again at 30 (step 10); fitted at 40, the next is due at 60, the
    # end of the episode; fitted at 60, due at 90 (never in a 20-step episode)
    ("retrain_growth", 1.5, 3, [(1, 0, 20), (1, 10, 30), (2, 0, 40), (3, 0, 60)],
     1.0, "model.retrain_growth must be > 1"),
])
def test_refits_within_an_episode_and_resumes_identically(tmp_path, monkeypatch, field, value,
                                                          episodes, refits_expected, invalid,
                                                          error):
    def config(root, episodes):
        config = tiny_config(root, episodes)
        setattr(config.model, field, value)
        return config

    refits = []
    original = MBRLRun.refit
    monkeypatch.setattr(MBRLRun, "refit", lambda run, step: refits.append(
        (run.episode, step, len(run.buffer))) or original(run, step))
    folder, returns = run_mbrl(config(tmp_path / "full", episodes))
    assert refits == refits_expected
    assert [r["mpc"] for r in folder.read("episodes")] == [0] + [1] * episodes
    assert resumed_returns(config, tmp_path / "split", episodes) == returns
    assert_config_error(tmp_path, error, f"model.{field}={invalid}")


@pytest.mark.parametrize("kind", ["ensemble", "mlp"])
def test_mirror_data_trains_model_and_value_on_twice_the_data(tmp_path, monkeypatch, kind):
    def config(root, episodes):
        config = tiny_config(root, episodes)
        config.mirror_data, config.model.kind, config.model.num_particles = True, kind, 2
        config.terminal_value.enabled, config.terminal_value.rounds = True, 1
        return config

    sizes = []
    model_class = ProbabilisticEnsemble if kind == "ensemble" else MLPDynamics
    original = model_class.fit_normalizers
    monkeypatch.setattr(model_class, "fit_normalizers", lambda model, obs, *rest: (
        sizes.append(len(obs)), original(model, obs, *rest))[1])
    value_mirrors = []
    original_fit = mpc_loop.fit_state_value
    monkeypatch.setattr(mpc_loop, "fit_state_value", lambda *args, mirror, **kwargs: (
        value_mirrors.append(mirror), original_fit(*args, mirror=mirror, **kwargs))[1])
    folder, returns = run_mbrl(config(tmp_path / "full", 2))
    # 20 then 40 transitions: 90% for training, each followed by its mirror image
    assert sizes == [36, 72]
    swingup_mirror = torch.tensor([-1.0, 1.0, -1.0, -1.0, -1.0]), torch.tensor([-1.0])
    assert len(value_mirrors) == 2 and all(
        torch.equal(m[0], swingup_mirror[0]) and torch.equal(m[1], swingup_mirror[1])
        for m in value_mirrors)
    assert resumed_returns(config, tmp_path / "split", 2) == returns
    assert_config_error(tmp_path, "mirror_data needs a task with a mirror symmetry",
                        "task=Pendulum-v1", "mirror_data=true")


@pytest.mark.parametrize("name", sorted(p.stem for p in MBRL_PRESETS.glob("*.yaml")))
def test_every_preset_loads_and_validates(name):
    load_config(MBRLConfig, preset_path(name, MBRL_PRESETS), []).validate()


def test_mbrl_versions_are_settings_of_the_loop(tmp_path):
    """Version 0.5 fits once (to the random data), 1.0 plans open loop (one plan per horizon
    of steps), 1.5 is MPC; all resume identically."""
    from planners import RandomShooting

    def config(root, episodes, version):
        return load_config(MBRLConfig, None, [
            "task=CartPoleSwingUp", f"episodes={episodes}", "episode_steps=12", "progress=false",
            "model.hidden_size=16", "model.num_layers=2", "model.max_epochs=2",
            "planner.random_shooting.num_samples=20", "planner.horizon=4",
            f"version={version}", f"output_dir={root}"])

    plans, fits = {}, {}
    for version in ("0.5", "1.0", "1.5"):
        calls, fitted = [], []
        plan, fit = RandomShooting.plan, MBRLRun.fit_model

        def counting_plan(self, *args, calls=calls, plan=plan, **kwargs):
            calls.append(1)
            return plan(self, *args, **kwargs)

        def counting_fit(self, step, fitted=fitted, fit=fit):
            fitted.append(self.episode)
            return fit(self, step)

        RandomShooting.plan, MBRLRun.fit_model = counting_plan, counting_fit
        try:
            _, returns = run_mbrl(config(tmp_path / version, 2, version))
        finally:
            RandomShooting.plan, MBRLRun.fit_model = plan, fit
        plans[version], fits[version] = len(calls), fitted
        assert resumed_returns(lambda root, n, v=version: config(root, n, v),
                               tmp_path / f"split-{version}", 2) == returns
    assert fits == {"0.5": [1], "1.0": [1, 2], "1.5": [1, 2]}  # 0.5: once, to random data
    assert plans == {"0.5": 24, "1.0": 6, "1.5": 24}  # 2 episodes x 12 steps; 1.0 every 4
    with pytest.raises(ValueError, match="version 1.0 executes each plan whole"):
        run_mbrl(load_config(MBRLConfig, None, ["version=1.0", "planner.replan_every=2",
                                                f"output_dir={tmp_path / 'bad'}"]))
    with pytest.raises(ValueError, match="version must be one of"):
        run_mbrl(load_config(MBRLConfig, None, ["version=2.0",
                                                f"output_dir={tmp_path / 'bad'}"]))


def test_potential_shaping_is_the_terminal_value_and_a_run_stops_at_its_goal_return(tmp_path):
    """``terminal_value.potential_scale`` plans with scale x the task's potential at the horizon
    (added to a learned value when there is one); ``stop_at_return`` ends a run at its first MPC
    episode reaching that return, and a resumed run may drop it."""
    def config(root, episodes, *extra):
        return load_config(MBRLConfig, None, [
            "task=Acrobot-v1", f"episodes={episodes}", "episode_steps=8", "progress=false",
            "model.hidden_size=16", "model.num_layers=2", "model.max_epochs=2",
            "planner.name=categorical_cem", "planner.horizon=3",
            "planner.categorical_cem.population=20", "planner.categorical_cem.elites=4",
            "terminal_value.potential_scale=10", f"output_dir={root}", *extra])

    run = MBRLRun(config(tmp_path, 1))
    states = torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(run.mpc.problem.terminal_value(states),
                               torch.tensor([-30.0, -10.0]))  # hanging, and horizontal
    assert run.mpc.problem.discount == 0.99
    learned = MBRLRun(config(tmp_path, 1, "terminal_value.enabled=true"))
    torch.testing.assert_close(learned.mpc.problem.terminal_value(states),
                               learned.value(states) + torch.tensor([-30.0, -10.0]))
    folder, returns = run_mbrl(config(tmp_path / "stop", 4, "stop_at_return=-8"))
    assert returns == [-8.0, -8.0]  # every 8-step episode scores -8: stop after the first MPC
    _, resumed = run_mbrl(config(tmp_path / "stop", 4, "stop_at_return=null"), folder.root)
    assert resumed[:2] == returns and len(resumed) == 5
    assert_config_error(tmp_path / "bad", "potential_scale needs a task with a shaping potential",
                        "terminal_value.potential_scale=1")
    assert_config_error(tmp_path / "bad", "potential_scale must be finite and >= 0",
                        "task=Acrobot-v1", "planner.name=categorical_cem",
                        "terminal_value.potential_scale=-1")
