"""Does ``torch.compile`` speed up the SAC update on this CPU? By measurement:

    python -m experiments.benchmarks.sac_update_compile

MBPO spends ~95% of its FLOPs in SAC updates (``results/mbpo_vs_mbrl_lib.json``), and an update
at batch 256 and 256-wide layers runs at a fraction of the matmul rate: the rest is per-op
overhead that fusing could remove. Timed on one thread (as the MBPO benchmark): ``SAC.update``
as it is, and the same update with its three loss pieces (``soft_target``, ``q_values``,
``actor_loss``) replaced by ``torch.compile``'d versions (Inductor's C++ backend; the
optimiser steps and the finite-loss checks stay eager). Rounds alternate between the two.
Matmul FLOPs per update are counted and set against the one-thread rate of a 256 x 256 x 256
product measured in the same process. Results go to ``results/sac_update_compile.json``.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import torch

from experiments.benchmarks.common import counted_flops, matmul_rate, write_results
from mbrl.agents.sac import SAC, SACConfig

OBS_DIM, ACT_DIM, ROUNDS, UPDATES_PER_ROUND = 4, 1, 3, 200  # InvertedPendulum-v5's sizes


def make_agent() -> tuple[SAC, dict[str, torch.Tensor]]:
    obs_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
    act_space = gym.spaces.Box(-3.0, 3.0, (ACT_DIM,), np.float32)
    agent = SAC(obs_space, act_space, SACConfig(), torch.Generator().manual_seed(0))
    size = agent.config.batch_size
    batch = {"obs": torch.randn(size, OBS_DIM), "act": torch.rand(size, ACT_DIM) * 2 - 1,
             "rew": torch.randn(size), "next_obs": torch.randn(size, OBS_DIM),
             "terminated": torch.zeros(size, dtype=torch.bool)}
    return agent, batch


def ms_per_update(agent: SAC, batch: dict[str, torch.Tensor]) -> float:
    started = time.perf_counter()
    for _ in range(UPDATES_PER_ROUND):
        agent.update(batch)
    return 1000 * (time.perf_counter() - started) / UPDATES_PER_ROUND


def main() -> None:
    torch.set_num_threads(1)
    eager, batch = make_agent()
    compiled, _ = make_agent()
    for name in ("soft_target", "q_values", "actor_loss"):
        setattr(compiled, name, torch.compile(getattr(compiled, name)))
    started = time.perf_counter()
    for _ in range(5):
        compiled.update(batch)
    compile_seconds = time.perf_counter() - started
    for _ in range(20):
        eager.update(batch)
    rounds = []
    for _ in range(ROUNDS):
        rounds.append({"eager_ms": ms_per_update(eager, batch),
                       "compiled_ms": ms_per_update(compiled, batch)})
        print(f"eager {rounds[-1]['eager_ms']:.2f} ms, compiled {rounds[-1]['compiled_ms']:.2f} "
              f"ms per update", flush=True)
    flops = counted_flops(lambda: eager.update(batch))
    rate = matmul_rate(256, 256, 256, repeats=20)
    eager_ms = float(np.median([r["eager_ms"] for r in rounds]))
    compiled_ms = float(np.median([r["compiled_ms"] for r in rounds]))
    results = {
        "settings": {"batch": eager.config.batch_size, "hidden": list(eager.config.hidden),
                     "obs_dim": OBS_DIM, "act_dim": ACT_DIM, "threads": 1},
        "rounds": rounds, "compile_seconds": compile_seconds,
        "eager_ms": eager_ms, "compiled_ms": compiled_ms,
        "eager_over_compiled": eager_ms / compiled_ms,
        "gflop_per_update": flops / 1e9, "matmul_rate_256_gflops": rate / 1e9,
        "eager_fraction_of_rate": flops / (eager_ms / 1000) / rate,
        "compiled_fraction_of_rate": flops / (compiled_ms / 1000) / rate,
    }
    print(f"eager/compiled {eager_ms / compiled_ms:.2f}x; {flops / 1e9:.3f} GFLOP per update, "
          f"eager at {results['eager_fraction_of_rate']:.0%} of the 256^3 rate "
          f"({rate / 1e9:.0f} GFLOP/s)")
    print(write_results("sac_update_compile", results))


if __name__ == "__main__":
    main()
