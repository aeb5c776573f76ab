"""MCTS against value iteration on known tabular MDPs (issue: planners, MCTS ground truth).

    python -m experiments.mcts_tabular [--episodes 100] [--states all]

For FrozenLake-v1 8x8 (deterministic and slippery) and Taxi-v4 with discount 0.95 and the
exact model: (1) the fraction of live states where the MCTS action is a value-iteration
optimal action (Q within 1e-6 of the best), at the stated simulation budget; (2) the success
rate of MCTS as a receding-horizon controller (tree and transposition table reused between
steps, so the search keeps what it learnt) in the real env, beside the value-iteration
policy's, over the same episode seeds. Settings: Bellman backups
with exact outcome probabilities, transpositions, and a constant optimistic leaf value (an
upper bound on any return: 1 for FrozenLake, 20 for Taxi), not any learned or exact value.
Classic UCT (Monte Carlo backups, uniform random rollouts) is reported beside it on the
agreement test. Results go to ``experiments/results/mcts_tabular.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mbrl.envs.tabular import make_tabular_mdp, value_iteration
from planners.mcts import MCTS, MCTSPolicy

DISCOUNT = 0.95
CASES = [  # name, env id, kwargs, simulations (agreement, MPC), optimistic leaf value
    ("FrozenLake8x8-deterministic", "FrozenLake-v1", {"map_name": "8x8", "is_slippery": False},
     1000, 1000, 1.0),
    ("FrozenLake8x8-slippery", "FrozenLake-v1", {"map_name": "8x8", "is_slippery": True},
     5000, 1000, 1.0),
    ("Taxi-v4", "Taxi-v4", {}, 1000, 1000, 20.0),
]
RESULTS = Path(__file__).parent / "results"


def make_mcts(simulations: int, optimistic: float | None, seed: int) -> MCTS:
    if optimistic is None:  # classic UCT
        return MCTS(simulations, discount=DISCOUNT, max_depth=100, seed=seed)
    return MCTS(simulations, discount=DISCOUNT, max_depth=100, backup="max",
                transpositions=True, value_fn=lambda state: optimistic, seed=seed)


def agreement(mdp, optimal: np.ndarray, states: np.ndarray, simulations: int,
              optimistic: float | None, label: str) -> float:
    hits = [bool(optimal[s, make_mcts(simulations, optimistic, int(s)).search(int(s), mdp).action])
            for s in tqdm(states, desc=label, leave=False)]
    return float(np.mean(hits))


def success_rate(mdp, act, episodes: int, label: str,
                 reset=lambda: None) -> tuple[float, float]:
    """Fraction of episodes ending with a positive terminal reward, and mean return
    (``reset()`` is called at every episode start)."""
    env = mdp.make_env()
    successes, returns = [], []
    for episode in tqdm(range(episodes), desc=label, leave=False):
        obs, _ = env.reset(seed=10_000 + episode)
        reset()
        total, reward, terminated, truncated = 0.0, 0.0, False, False
        while not (terminated or truncated):
            obs, reward, terminated, truncated, _ = env.step(act(int(obs)))
            total += float(reward)
        successes.append(terminated and reward > 0)
        returns.append(total)
    return float(np.mean(successes)), float(np.mean(returns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--classic-budget", type=int, default=5000)
    args = parser.parse_args()
    results = {}
    for name, env_id, kwargs, simulations, mpc_simulations, optimistic in CASES:
        mdp = make_tabular_mdp(env_id, **kwargs)
        solution = value_iteration(mdp, gamma=DISCOUNT)
        optimal = solution.optimal_actions(1e-6)
        states = np.flatnonzero(mdp.live_states)
        started = time.perf_counter()
        ours = agreement(mdp, optimal, states, simulations, optimistic, f"{name} agreement")
        seconds = (time.perf_counter() - started) / len(states)
        classic = agreement(mdp, optimal, states, args.classic_budget, None, f"{name} classic")
        policy = MCTSPolicy(make_mcts(mpc_simulations, optimistic, 0), mdp)
        mcts_success, mcts_return = success_rate(mdp, policy.act, args.episodes, f"{name} MPC",
                                                 policy.reset)
        greedy = solution.policy
        vi_success, vi_return = success_rate(mdp, lambda s, greedy=greedy: int(greedy[s]),
                                             args.episodes, f"{name} VI")
        # two-proportion standard error of the difference
        noise = float(np.sqrt((mcts_success * (1 - mcts_success) + vi_success * (1 - vi_success))
                              / args.episodes))
        results[name] = {
            "live_states": int(len(states)), "simulations": simulations,
            "agreement": ours, "seconds_per_search": seconds,
            "classic_uct_agreement": classic, "classic_uct_simulations": args.classic_budget,
            "episodes": args.episodes, "mpc_simulations": mpc_simulations,
            "mcts_success_rate": mcts_success,
            "mcts_mean_return": mcts_return, "value_iteration_success_rate": vi_success,
            "value_iteration_mean_return": vi_return, "success_difference_std_error": noise}
        print(f"{name}: agreement {ours:.3f} over {len(states)} states at {simulations} "
              f"simulations ({seconds:.2f} s/search; classic UCT at {args.classic_budget}: "
              f"{classic:.3f}); success MCTS {mcts_success:.2f} vs VI {vi_success:.2f} "
              f"(s.e. of difference {noise:.2f}) over {args.episodes} episodes", flush=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "mcts_tabular.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(path)


if __name__ == "__main__":
    main()
