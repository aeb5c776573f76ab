"""Planning through the MuJoCo simulator (MPC with the true model).

    python -m experiments.benchmarks.simulator_planning            # throughput + MPC runs
    python -m experiments.benchmarks.simulator_planning --skip-mpc # throughput only (keeps the
                                                                   # MPC results on file)

Throughput: simulated env steps per second inside CEM and MPPI planning through
``MujocoSimulator`` (population 500, horizon 30, HalfCheetah-v5), over the throughput of raw
``mujoco.rollout`` on the same batch with the same threads. MPC: InvertedPendulum-v5 and
HalfCheetah-v5 episodes of 1000 steps with the simulator as the model: return and wall time
per step (InvertedPendulum from three seeds). Results go to
``results/simulator_planning.json``.
"""

from __future__ import annotations

import argparse
import json
import time

import mujoco
import numpy as np
import torch
from mujoco import rollout

from experiments.benchmarks.common import RESULTS, median_seconds, write_results
from mbrl.envs import make_task
from mbrl.envs.simulator import MujocoSimulator
from mbrl.policies import SimulatorMPC
from planners import CEM, MPC, MPPI

POPULATION, HORIZON = 500, 30
# the settings the recorded results were measured with (MPPI's defaults before they changed to
# optimise the reward alone, with a relative temperature)
MEASURED_MPPI = {"temperature": 1.0, "noise_std": 0.5, "control_cost": True, "normalize": False}


def throughput(task_name: str, repeats: int) -> dict[str, float]:
    task = make_task(task_name)
    simulator = MujocoSimulator(task)
    env = task.make_env()
    env.reset(seed=0)
    state = torch.from_numpy(simulator.get_state(env))
    problem = simulator.problem(HORIZON)
    rng = np.random.default_rng(0)
    controls = rng.uniform(-1, 1, size=(POPULATION, HORIZON, task.act_dim))
    physics_controls = np.repeat(controls, simulator.frame_skip, axis=1)
    initial = np.tile(state.numpy(), (POPULATION, 1))
    datas = [mujoco.MjData(simulator.model) for _ in range(simulator.num_threads)]
    steps = POPULATION * HORIZON
    planners = {"cem": (CEM(POPULATION, 50, 5, init_std=0.5, seed=0), 5),
                "mppi": (MPPI(POPULATION, **MEASURED_MPPI, iterations=1, seed=0), 1)}
    calls = {"raw": lambda: rollout.rollout(simulator.model, datas, initial, physics_controls)}
    calls.update({name: (lambda p=planner: p.plan(state, problem))
                  for name, (planner, _) in planners.items()})
    times = {name: [] for name in calls}
    for call in calls.values():  # warm up
        call()
    for _ in range(repeats):  # interleaved, so that machine noise hits all three alike
        for name, call in calls.items():
            times[name].append(median_seconds(call, 1, warmup=0))
    raw = float(np.median(times["raw"]))
    result = {"threads": simulator.num_threads, "raw_rollout_steps_per_s": steps / raw}
    for name, (_, iterations) in planners.items():
        result[f"{name}_steps_per_s"] = iterations * steps / float(np.median(times[name]))
        result[f"{name}_ratio_to_raw"] = result[f"{name}_steps_per_s"] / result[
            "raw_rollout_steps_per_s"]
        print(f"{task_name} {name}: {result[f'{name}_steps_per_s']:.0f} env steps/s inside the "
              f"planner, {result[f'{name}_ratio_to_raw']:.2f} of raw mujoco.rollout "
              f"({result['raw_rollout_steps_per_s']:.0f}/s)", flush=True)
    simulator.close()
    return result


def mpc_episodes(task_name: str, make_planner, horizon: int, seeds: tuple[int, ...],
                 steps: int = 1000) -> list[dict[str, float]]:
    """MPC with the simulator as the model for one episode per seed (at most ``steps``)."""
    task = make_task(task_name)
    simulator = MujocoSimulator(task)
    env = task.make_env()
    rows = []
    for seed in seeds:
        policy = SimulatorMPC(MPC(make_planner(seed), simulator.problem(horizon)), simulator, env)
        obs, _ = env.reset(seed=seed)
        total, length, started = 0.0, 0, time.perf_counter()
        while length < steps:
            obs, reward, terminated, truncated, _ = env.step(policy.act(obs))
            total, length = total + float(reward), length + 1
            if terminated or truncated:
                break
        seconds = time.perf_counter() - started
        print(f"{task_name} seed {seed} H={horizon}: return {total:.1f} over {length} steps, "
              f"{seconds / length:.3f} s per step", flush=True)
        rows.append({"seed": seed, "return": total, "steps": length,
                     "seconds_per_step": seconds / length, "horizon": horizon})
    simulator.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--skip-mpc", action="store_true")
    args = parser.parse_args()
    previous = RESULTS / "simulator_planning.json"
    results = json.loads(previous.read_text())["results"] if previous.exists() else {}
    results["throughput"] = throughput("HalfCheetah-v5", args.repeats)
    if not args.skip_mpc:
        results["mpc"] = {
            "InvertedPendulum-v5/mppi(200x3)": mpc_episodes(
                "InvertedPendulum-v5", lambda seed: MPPI(200, **{**MEASURED_MPPI, "noise_std": 0.3},
                                                         iterations=3, seed=seed),
                horizon=30, seeds=(0, 1, 2)),
            "HalfCheetah-v5/mppi(300x2)": mpc_episodes(
                "HalfCheetah-v5", lambda seed: MPPI(300, **{**MEASURED_MPPI, "temperature": 0.5},
                                                    iterations=2, seed=seed),
                horizon=30, seeds=(0,)),
            "HalfCheetah-v5/cem(200x3)": mpc_episodes(
                "HalfCheetah-v5", lambda seed: CEM(200, 20, 3, init_std=0.5, seed=seed), horizon=30,
                seeds=(0,)),
        }
    print(write_results("simulator_planning", results))


if __name__ == "__main__":
    main()
