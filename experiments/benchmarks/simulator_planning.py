"""Planning through the MuJoCo simulator (MPC with the true model).

    python -m experiments.benchmarks.simulator_planning            # everything (~20 minutes)
    python -m experiments.benchmarks.simulator_planning --skip-mpc # throughput only (keeps the
                                                                   # MPC results on file)
    python -m experiments.benchmarks.simulator_planning --only-new # the success-criterion runs
                                                                   # and iLQR swing-up only

Throughput: simulated env steps per second inside CEM and MPPI planning through
``MujocoSimulator`` (population 500, horizon 30, HalfCheetah-v5), over the throughput of raw
``mujoco.rollout`` on the same batch with the same threads. MPC: InvertedPendulum-v5 and
HalfCheetah-v5 episodes of 1000 steps with the simulator as the model: return and wall time
per step (InvertedPendulum from three seeds).

Success criteria (``mpc_success``, env reset seeds 0, 1, 2, each task's own reward planned
unless the entry says otherwise): Reacher-v5, the fingertip within 1 cm of the target
(``|obs[8:10]|``) at some step <= 50; Pusher-v5, the object within 5 cm of the goal on the table
(planar ``|obs[17:19] - obs[20:22]|``; the 3D body distance has a floor of 4.8 cm, the goal
body's height below the object's centre, and is recorded too) at some step <= 100. Each row has
the first step within the tolerance (None if never), the smallest and final distance, the
return and the wall time per step. ``ilqr_swingup``: iLQR on ``CartPoleSwingUp`` (200 steps),
receding-horizon (``MPC``: replanned every step, warm-started from the shifted plan, a few
iterations per step) against one-shot (one 200-step plan from the start, executed open loop and
with its time-varying linear feedback); it swings up and balances if ``cos(theta) > 0.95`` over
all of the last 50 steps. Results go to ``results/simulator_planning.json``.
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
from planners import CEM, ICEM, ILQR, MPC, MPPI, Problem

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


# --- success criteria: Reacher and Pusher ----------------------------------------------------

SEEDS = (0, 1, 2)


def reacher_distance(obs: np.ndarray) -> float:
    """Fingertip-target distance (m): Reacher's observation ends with the planar offset."""
    return float(np.linalg.norm(obs[8:10]))


def pusher_distance(obs: np.ndarray) -> float:
    """Object-goal distance on the table (m), from the object and goal positions in obs."""
    return float(np.linalg.norm(obs[17:19] - obs[20:22]))


def pusher_distance_3d(obs: np.ndarray) -> float:
    """Distance between the object and goal bodies (m), what Pusher's reward uses: never below
    4.8 cm, the goal body's height below the object's centre."""
    return float(np.linalg.norm(obs[17:20] - obs[20:23]))


def pusher_shaped_problem(simulator: MujocoSimulator, horizon: int) -> Problem:
    """Pusher with an explicit shaped reward (not the task's; see ``main`` for why):
    ``-|obj - goal|_xy - 0.5 |tip - pre| - 0.01 |a|^2`` where ``pre`` is the point 10 cm behind
    the object on the far side from the goal, at the object's height. The task's own reward pulls
    the wrist to the object's centre (it gets there from above, and then its contact with the
    object points down, so it cannot push) and weighs the actions ten times more."""
    def reward(states: torch.Tensor, actions: torch.Tensor, next_states: torch.Tensor):
        obs = simulator.observe(next_states)
        tip, obj, goal = obs[:, 14:17], obs[:, 17:20], obs[:, 20:23]
        to_goal = goal[:, :2] - obj[:, :2]
        direction = to_goal / to_goal.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        pre = torch.cat([obj[:, :2] - 0.1 * direction, obj[:, 2:]], dim=-1)
        return -to_goal.norm(dim=-1) - 0.5 * (tip - pre).norm(dim=-1) \
            - 0.01 * actions.square().sum(dim=-1)

    base = simulator.problem(horizon)
    return Problem(simulator, reward, base.action_low, base.action_high, horizon)


def success_episodes(task_name: str, make_planner, horizon: int, distance, tolerance: float,
                     steps: int, make_problem=None, extra_distances=None) -> list[dict]:
    """One MPC episode of ``steps`` per seed in ``SEEDS`` with the simulator as the model; each
    row says when ``distance(obs)`` first fell below ``tolerance`` (1-based step, None if it
    never did), its smallest and final value, the task's return and the seconds per step."""
    task = make_task(task_name)
    simulator = MujocoSimulator(task)
    env = task.make_env()
    problem = simulator.problem(horizon) if make_problem is None else \
        make_problem(simulator, horizon)
    extra_distances = extra_distances or {}
    rows = []
    for seed in SEEDS:
        policy = SimulatorMPC(MPC(make_planner(seed), problem), simulator, env)
        obs, _ = env.reset(seed=seed)
        distances, extra = [distance(obs)], {name: [f(obs)] for name, f in extra_distances.items()}
        total, started = 0.0, time.perf_counter()
        for _ in range(steps):
            obs, reward, terminated, truncated, _ = env.step(policy.act(obs))
            total += float(reward)
            distances.append(distance(obs))
            for name, f in extra_distances.items():
                extra[name].append(f(obs))
            if terminated or truncated:
                break
        length = len(distances) - 1
        seconds = (time.perf_counter() - started) / length
        within = [t for t, d in enumerate(distances) if d < tolerance]
        row = {"seed": seed, "success": bool(within), "first_step_within":
               within[0] if within else None, "initial_distance": distances[0],
               "min_distance": min(distances), "final_distance": distances[-1],
               "return": total, "steps": length, "seconds_per_step": seconds}
        for name, values in extra.items():
            row[f"min_{name}"], row[f"final_{name}"] = min(values), values[-1]
        print(f"{task_name} seed {seed}: first within {tolerance} m at step "
              f"{row['first_step_within']}, min {row['min_distance']:.4f} m, final "
              f"{row['final_distance']:.4f} m, return {total:.2f}, {seconds:.3f} s per step",
              flush=True)
        rows.append(row)
    simulator.close()
    return rows


def summary(rows: list[dict], settings: dict) -> dict:
    return {"settings": settings, "all_seeds_succeed": all(row["success"] for row in rows),
            "seconds_per_step": float(np.mean([row["seconds_per_step"] for row in rows])),
            "seeds": rows}


# --- iLQR on the cart-pole swing-up ------------------------------------------------------------

SWINGUP_UPRIGHT_COS, SWINGUP_HOLD_STEPS = 0.95, 50


def _swingup_row(seed: int, cosines: list[float], total: float, seconds: float,
                 steps: int) -> dict:
    upright = [t + 1 for t, c in enumerate(cosines) if c > SWINGUP_UPRIGHT_COS]
    balanced = min(cosines[-SWINGUP_HOLD_STEPS:]) > SWINGUP_UPRIGHT_COS
    return {"seed": seed, "swings_up_and_balances": bool(balanced),
            "first_upright_step": upright[0] if upright else None,
            "min_cos_last_50": float(min(cosines[-SWINGUP_HOLD_STEPS:])), "return": total,
            "steps": steps, "seconds_per_step": seconds / steps}


def ilqr_swingup_receding(horizon: int, iterations: int) -> list[dict]:
    """iLQR MPC (finite-difference derivatives: the swing-up uses RK4, which MuJoCo's
    ``mjd_transitionFD`` does not support) for one 200-step episode per seed."""
    task = make_task("CartPoleSwingUp")
    simulator = MujocoSimulator(task)
    env = task.make_env()
    rows = []
    for seed in SEEDS:
        planner = ILQR(max_iterations=iterations, derivatives="finite_differences",
                               seed=seed)
        policy = SimulatorMPC(MPC(planner, simulator.problem(horizon)), simulator, env)
        obs, _ = env.reset(seed=seed)
        cosines, total, started = [], 0.0, time.perf_counter()
        for _ in range(task.max_episode_steps):
            obs, reward, *_ = env.step(policy.act(obs))
            cosines.append(float(obs[1]))
            total += float(reward)
        rows.append(_swingup_row(seed, cosines, total, time.perf_counter() - started,
                                 task.max_episode_steps))
        print(f"CartPoleSwingUp iLQR MPC H={horizon} x{iterations} seed {seed}: {rows[-1]}",
              flush=True)
    simulator.close()
    return rows


def ilqr_swingup_one_shot(iterations: int) -> list[dict]:
    """One iLQR plan over the whole episode from the initial state, executed open loop and
    with its time-varying linear feedback (the same on this deterministic simulator, up to
    round-off); seconds per step is the planning time over the episode's steps."""
    task = make_task("CartPoleSwingUp")
    simulator = MujocoSimulator(task)
    env = task.make_env()
    steps = task.max_episode_steps
    rows = []
    for seed in SEEDS:
        env.reset(seed=seed)
        start = simulator.get_state(env)
        started = time.perf_counter()
        plan = ILQR(max_iterations=iterations, derivatives="finite_differences",
                            seed=seed).plan(torch.from_numpy(start), simulator.problem(steps))
        seconds = time.perf_counter() - started
        row = {"seed": seed, "planned_return": plan.expected_return,
               "iterations": plan.diagnostics["iterations"],
               "converged": plan.diagnostics["converged"], "plan_seconds": seconds}
        for mode in ("open_loop", "feedback"):
            simulator.set_state(env, start)
            feedback = plan.diagnostics["policy"]
            feedback.reset()
            cosines, total = [], 0.0
            for t in range(steps):
                action = plan.actions[t].numpy() if mode == "open_loop" else \
                    feedback.act(simulator.get_state(env), deterministic=True)
                obs, reward, *_ = env.step(action)
                cosines.append(float(obs[1]))
                total += float(reward)
            row[mode] = _swingup_row(seed, cosines, total, seconds, steps)
        print(f"CartPoleSwingUp one-shot iLQR ({iterations} iterations) seed {seed}: {row}",
              flush=True)
        rows.append(row)
    simulator.close()
    return rows


def summary_swingup(rows: list[dict], settings: dict) -> dict:
    """Receding-horizon rows say ``swings_up_and_balances``; one-shot rows say it per mode."""
    def balances(row: dict) -> bool:
        modes = [row[mode] for mode in ("open_loop", "feedback") if mode in row] or [row]
        return any(mode["swings_up_and_balances"] for mode in modes)
    return {"settings": settings, "all_seeds_swing_up_and_balance": all(map(balances, rows)),
            "seeds": rows}


def new_experiments() -> dict[str, dict]:
    """The success-criterion runs and the iLQR swing-up, keyed as in the results file."""
    reacher = {"planner": "MPPI", "num_samples": 200, "iterations": 2, "noise_std": 0.3,
               "temperature": 0.05, "normalize": True, "horizon": 20, "objective": "task reward"}
    pusher = {"planner": "ICEM", "population": 200, "elites": 20, "iterations": 3,
              "init_std": 0.5, "noise_beta": 2.0, "horizon": 30}
    success = {
        "Reacher-v5/mppi(200x2)": summary(success_episodes(
            "Reacher-v5", lambda seed: MPPI(200, temperature=0.05, noise_std=0.3, iterations=2,
                                            seed=seed),
            horizon=20, distance=reacher_distance, tolerance=0.01, steps=50), reacher),
        # the task's own reward: the arm creeps to the object's centre and barely moves it
        "Pusher-v5/icem(200x3)": summary(success_episodes(
            "Pusher-v5", lambda seed: ICEM(200, 20, iterations=3, init_std=0.5, noise_beta=2.0,
                                           seed=seed),
            horizon=30, distance=pusher_distance, tolerance=0.05, steps=100,
            extra_distances={"distance_3d": pusher_distance_3d}),
            {**pusher, "objective": "task reward"}),
        # an explicit pre-push shaping and a lighter control cost: reaches faster, pushes slowly
        "Pusher-v5/icem(200x3)/shaped": summary(success_episodes(
            "Pusher-v5", lambda seed: ICEM(200, 20, iterations=3, init_std=0.5, noise_beta=2.0,
                                           seed=seed),
            horizon=30, distance=pusher_distance, tolerance=0.05, steps=100,
            make_problem=pusher_shaped_problem,
            extra_distances={"distance_3d": pusher_distance_3d}),
            {**pusher, "objective": "shaped: pusher_shaped_problem"}),
    }
    receding = {"horizon": 30, "max_iterations": 2}
    one_shot = {"horizon": 200, "max_iterations": 100}
    swingup = {
        "receding": summary_swingup(ilqr_swingup_receding(receding["horizon"],
                                                          receding["max_iterations"]),
            {**receding, "derivatives": "finite_differences", "warm_start": "shifted plan"}),
        "one_shot": summary_swingup(ilqr_swingup_one_shot(one_shot["max_iterations"]),
                                    {**one_shot, "derivatives": "finite_differences"}),
    }
    return {"mpc_success": success, "ilqr_swingup": swingup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--skip-mpc", action="store_true")
    parser.add_argument("--only-new", action="store_true",
                        help="run only the success-criterion runs and the iLQR swing-up")
    args = parser.parse_args()
    previous = RESULTS / "simulator_planning.json"
    results = json.loads(previous.read_text())["results"] if previous.exists() else {}
    if not args.skip_mpc:
        results.update(new_experiments())
    if args.only_new:
        print(write_results("simulator_planning", results))
        return
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
