"""PETS at the control rate: planner settings side by side on one fixed learned ensemble.

mbrl-lib is installed apart (``experiments/benchmarks/mbrl_lib_peer.py``):

    pip install --no-deps --target .bench/mbrl-lib mbrl==0.2.0 && pip install hydra-core==1.3.8
    python -m experiments.run_mbrl --preset pets_inverted_pendulum output_dir=runs/rt
    python -m experiments.benchmarks.pets_real_time --run runs/rt/InvertedPendulum-v5-s0-...

Each ``--run`` is an MPC-loop run folder with a probabilistic ensemble; its last checkpoint
(model, terminal value if any) is loaded and every setting plans through that run's own
planning problem (the same model, particles, propagation, horizon, reward, termination and
terminal value), so only the optimiser differs:

- ``preset``: the planner the run was trained with;
- the real-time candidates ``REAL_TIME[task]`` (iCEM, Pinneri et al. 2020: a small decaying
  population, coloured noise, elites carried over, the shifted previous plan reused; on
  HalfCheetah also the preset's random shooting with fewer samples);
- the preset and each candidate also timed with the ensemble's members stepped one by one
  (``*_members_one_by_one``: the effect of stepping them together);
- ``mbrl_lib_cem``: mbrl-lib 0.2.0's ``CEMOptimizer`` with the settings of its PETS config for
  the task (``conf/overrides/pets_*.yaml``: population, elite ratio, momentum, iterations),
  inside its ``TrajectoryOptimizer`` (the previous solution shifted and reused), scoring
  sequences with our problem.

Returns: ``--episodes`` episodes per setting from the same env seeds (``--episode-steps`` caps
their length), with the same propagation draws. Speed: a timing phase on the last states of
the run's buffer (its own closed-loop trajectory), settings alternating in blocks of
consecutive states (so each warm-starts as in an episode), at the process's thread count;
``ms_per_action`` is the median block mean. ``gflop_per_action`` (matmul FLOPs, counted by
``torch.utils.flop_counter.FlopCounterMode`` over one block) is set against the fp32 matmul
rate measured in the same process: 2048-cubed products (peak) and a 320 x 200 by 200 x 200
product (layer rate: one hidden layer at 64 rows for each of 5 members). ``--phase`` runs
returns and timing apart (timing wants a quiet machine) and ``--only`` a subset of the
settings; results go to ``results/pets_real_time[_returns|_timing].json`` (``--name``
another file).
"""

from __future__ import annotations

from experiments.benchmarks.mbrl_lib_peer import import_mbrl_lib

PEER = import_mbrl_lib({"planning": "mbrl.planning"})

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import omegaconf  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from experiments.benchmarks.common import matmul_rate, write_results  # noqa: E402
from mbrl.algorithms.mpc_loop import MBRLRun  # noqa: E402
from mbrl.algorithms.planning import PlannerConfig, build_planner  # noqa: E402
from mbrl.data import ReplayBuffer  # noqa: E402
from mbrl.runs import load_run  # noqa: E402
from mbrl.util.config import from_yaml  # noqa: E402
from planners import MPC, Problem  # noqa: E402

# mbrl-lib 0.2.0's PETS optimiser settings (conf/overrides/pets_inv_pendulum.yaml,
# pets_halfcheetah.yaml; truncated-normal sampling, its default)
MBRL_LIB_CEM = {
    "InvertedPendulum-v5": dict(num_iterations=5, elite_ratio=0.078, population_size=480,
                                alpha=0.134484),
    "HalfCheetah-v5": dict(num_iterations=5, elite_ratio=0.16, population_size=400,
                           alpha=0.12),
}
# real-time settings: planner overrides (``PlannerConfig`` fields; horizon: the run's)
REAL_TIME = {
    "InvertedPendulum-v5": {
        "icem_64x3": ["name=icem", "icem.population=64", "icem.elites=8", "icem.iterations=3"],
        "icem_32x3": ["name=icem", "icem.population=32", "icem.elites=6", "icem.iterations=3"],
    },
    "HalfCheetah-v5": {
        # on a checkpoint trained without the root x as an input (half_cheetah preset,
        # model.kind=ensemble model.num_particles=5, 6 MPC episodes), 10 x 200 steps: icem_40x3
        # 9.9 +- 7.3 at 37 ms an action against the preset's 8.6 +- 4.4 (146 ms) and mbrl-lib's
        # 8.3 +- 12.7 (322 ms); results/pets_real_time_{returns,timing}_hc.json
        "icem_64x2": ["name=icem", "icem.population=64", "icem.elites=8", "icem.iterations=2"],
        "icem_40x3": ["name=icem", "icem.population=40", "icem.elites=6", "icem.iterations=3"],
        # larger iCEM, tried where the fp32 peak is ~310 GFLOP/s (AVX-512) rather than ~143:
        # 87-91 ms an action there, and lower returns than the small ones
        "icem_128x3": ["name=icem", "icem.population=128", "icem.elites=12",
                       "icem.iterations=3"],
        "icem_96x4": ["name=icem", "icem.population=96", "icem.elites=10", "icem.iterations=4"],
        # the preset's random shooting with fewer samples
        "random_shooting_200": ["random_shooting.num_samples=200"],
        "random_shooting_250": ["random_shooting.num_samples=250"],
        "random_shooting_300": ["random_shooting.num_samples=300"],
    },
}


class MbrlLibCEM:
    """mbrl-lib's CEM in its ``TrajectoryOptimizer`` as a policy with ``reset``/``act``."""

    def __init__(self, problem: Problem, settings: dict) -> None:
        low, high = problem.action_low.numpy(), problem.action_high.numpy()
        config = omegaconf.OmegaConf.create({"_target_": "mbrl_lib.planning.CEMOptimizer",
                                             "device": "cpu", "lower_bound": "???",
                                             "upper_bound": "???", **settings})
        self.optimizer = PEER["planning"].TrajectoryOptimizer(config, low, high,
                                                              problem.horizon)
        self.problem = problem

    def reset(self) -> None:
        self.optimizer.reset()

    def act(self, obs: np.ndarray) -> np.ndarray:
        state = torch.as_tensor(obs, dtype=torch.float32)
        with torch.no_grad():
            plan = self.optimizer.optimize(lambda seqs: self.problem.evaluate(state, seqs))
        return plan[0]


class MembersOneByOne:
    """A policy that plans with the ensemble's members stepped one by one (``stacked_rows=0``):
    the timing of the loop the stacked step replaced."""

    def __init__(self, policy, dynamics) -> None:
        self.policy, self.dynamics = policy, dynamics

    def reset(self) -> None:
        self.policy.reset()

    def act(self, obs: np.ndarray) -> np.ndarray:
        stacked, self.dynamics.stacked_rows = self.dynamics.stacked_rows, 0
        try:
            return self.policy.act(obs)
        finally:
            self.dynamics.stacked_rows = stacked


def policies(run: MBRLRun) -> dict[str, Callable[[int], object]]:
    """Setting name -> a builder of that setting's policy from a seed."""
    problem, config = run.mpc.problem, run.config.planner

    def ours(planner_config: PlannerConfig) -> Callable[[int], MPC]:
        return lambda seed: MPC(build_planner(planner_config, torch.Generator().manual_seed(
            seed)), problem, planner_config.replan_every)

    def peer(seed: int) -> MbrlLibCEM:
        torch.manual_seed(seed)  # mbrl-lib samples from torch's global generator
        return MbrlLibCEM(problem, MBRL_LIB_CEM[run.config.task])

    builders = {"preset": ours(config), "mbrl_lib_cem": peer}
    for name, overrides in REAL_TIME[run.config.task].items():
        builders[name] = ours(from_yaml(PlannerConfig, None,
                                        [f"horizon={config.horizon}"] + overrides))
    return builders


def episodes(run: MBRLRun, build: Callable[[int], object], count: int, steps: int | None
             ) -> tuple[list[float], float]:
    """``count`` episodes of the policy; their returns and the mean ms per action."""
    env = run.task.make_env(max_episode_steps=steps)
    returns, acting, actions = [], 0.0, 0
    for episode in range(count):
        policy = build(episode)
        policy.reset()
        run.dynamics.generator = torch.Generator().manual_seed(10_000 + episode)
        obs, _ = env.reset(seed=1_000 + episode)
        total, done = 0.0, False
        while not done:
            started = time.perf_counter()
            action = policy.act(obs)
            acting += time.perf_counter() - started
            actions += 1
            obs, reward, terminated, truncated, _ = env.step(action)
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    return returns, 1000 * acting / actions


def timed_blocks(run: MBRLRun, builders: dict[str, Callable[[int], object]],
                 states: list[np.ndarray], block: int, repeats: int) -> dict[str, dict]:
    """Median ms per action over ``repeats`` blocks of ``block`` consecutive states per
    setting (alternating), and matmul GFLOP per action counted over one block."""
    times: dict[str, list[float]] = {name: [] for name in builders}
    flops = {}
    for repeat in range(repeats + 1):
        for name, build in builders.items():
            policy = build(0)
            policy.reset()
            run.dynamics.generator = torch.Generator().manual_seed(0)
            chunk = states[repeat * block:(repeat + 1) * block]
            if repeat == 0:  # warm-up, counted
                counter = FlopCounterMode(display=False)
                with counter:
                    for obs in chunk:
                        policy.act(obs)
                flops[name] = counter.get_total_flops() / len(chunk)
                continue
            started = time.perf_counter()
            for obs in chunk:
                policy.act(obs)
            times[name].append(1000 * (time.perf_counter() - started) / len(chunk))
    return {name: {"ms_per_action": statistics.median(times[name]),
                   "gflop_per_action": flops[name] / 1e9} for name in builders}


def benchmark(root: str, phase: str, count: int, steps: int | None, block: int, repeats: int,
              rates: dict[str, float], only: list[str] | None = None) -> dict:
    run = load_run(root)
    if not isinstance(run, MBRLRun) or run.config.model.kind.value != "ensemble":
        raise SystemExit(f"{root} is not an MPC-loop run with a probabilistic ensemble")
    builders = policies(run)
    if only:
        unknown = sorted(set(only) - set(builders))
        if unknown:
            raise SystemExit(f"no setting {unknown} for {run.config.task}; settings: "
                             + ", ".join(builders))
        builders = {name: builders[name] for name in only}
    result: dict[str, dict] = {"run": str(root), "task": run.config.task,
                               "horizon": run.config.planner.horizon,
                               "particles": run.config.model.num_particles,
                               "episode_steps": steps, "settings": {}}
    if phase in ("returns", "both"):
        for name, build in builders.items():
            returns, in_episode = episodes(run, build, count, steps)
            result["settings"][name] = {"returns": returns,
                                        "mean_return": float(np.mean(returns)),
                                        "ms_per_action_in_episodes": in_episode}
            print(run.config.task, name, [round(r, 1) for r in returns],
                  f"{in_episode:.1f} ms/action", flush=True)
    if phase in ("timing", "both"):
        # the last states the run visited (its own closed-loop trajectory), in order
        buffer = ReplayBuffer.load(sorted(Path(root, "checkpoints").glob("buffer-*.npz"))[-1])
        states = list(buffer.get().obs[-block * (repeats + 1):])
        timed = dict(builders)
        for name in (name for name in ["preset", *REAL_TIME[run.config.task]]
                     if name in builders):
            timed[f"{name}_members_one_by_one"] = (
                lambda seed, build=builders[name]: MembersOneByOne(build(seed), run.dynamics))
        for name, timing in timed_blocks(run, timed, states, block, repeats).items():
            seconds = timing["ms_per_action"] / 1000
            achieved = timing["gflop_per_action"] * 1e9 / seconds
            timing["fraction_of_peak"] = achieved / rates["peak"]
            timing["fraction_of_layer_rate"] = achieved / rates["layer"]
            result["settings"].setdefault(name, {}).update(timing)
            print(run.config.task, name, {k: round(v, 3) for k, v in timing.items()},
                  flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, help="an MPC-loop run folder")
    parser.add_argument("--phase", choices=("returns", "timing", "both"), default="both",
                        help="returns and timing can run apart (timing wants a quiet machine); "
                             "each writes its own results file")
    parser.add_argument("--name", default=None, help="results file name (default: "
                        "pets_real_time, with _returns or _timing for one phase)")
    parser.add_argument("--only", nargs="+", metavar="SETTING",
                        help="run these settings only (default: all)")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--episode-steps", type=int, default=None,
                        help="cap on episode length (default: the task's)")
    parser.add_argument("--block", type=int, default=25, help="states per timing block")
    parser.add_argument("--repeats", type=int, default=4, help="timing blocks per setting")
    args = parser.parse_args()
    rates = {"peak": matmul_rate(2048, 2048, 2048, 3), "layer": matmul_rate(320, 200, 200, 20)}
    results = {"matmul_gflops": {k: v / 1e9 for k, v in rates.items()}, "runs": [
        benchmark(root, args.phase, args.episodes, args.episode_steps, args.block,
                  args.repeats, rates, args.only) for root in args.run]}
    name = args.name or "pets_real_time" + ("" if args.phase == "both" else f"_{args.phase}")
    print(write_results(name, results))


if __name__ == "__main__":
    main()
