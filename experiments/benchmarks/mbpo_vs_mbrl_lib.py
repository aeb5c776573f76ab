"""MBPO time per env step against mbrl-lib 0.2.0's MBPO, whole algorithms, in one process.

mbrl-lib is installed apart (``experiments/benchmarks/mbrl_lib_peer.py``):

    pip install --no-deps --target .bench/mbrl-lib mbrl==0.2.0 && pip install hydra-core==1.3.8
    python -m experiments.benchmarks.mbpo_vs_mbrl_lib

Both run their own MBPO loop (``mbrl_lib.algorithms.mbpo.train`` with its own configs, and our
``MBPORun``) on InvertedPendulum-v5 for 250 steps without updates and then ``--steps``
learning env steps (``--steps / 250`` refits), at mbrl-lib's settings for the task where they
fix the cost: 7 Gaussian members (5 elites) of 4 x 200 SiLU units on normalised inputs and
deltas, refit every F = 250 env steps (Adam lr 1e-3, batch 256, 20% validation, patience 5,
at most 50 epochs of one pass over the data: our default of at least 20 optimiser steps per
epoch, which on MBPO's small buffers trains 10-20x more, is set to 1 as mbrl-lib's), 400
one-step rollouts per env step with the current SAC policy (100,000 per refit), G = 20 SAC
updates per env step (256 x 256 ReLU actor and twin critics, batch 256, 5% real data).
Differences of design kept: mbrl-lib learns the reward as an extra model output (ours: the
task's exact reward), normalises in float64, and saves its model and buffer at every refit
(ours: a checkpoint at the end, outside the clock). Evaluation (one episode at the end) is
timed apart and left out on both sides. Runs alternate between the libraries so machine noise
hits both.

The work per env step is counted by ``torch.utils.flop_counter.FlopCounterMode`` over one
further run of each (matmul FLOPs, forward and backward), and set against the fp32 matmul peak
measured in the same process, at the same thread count (2048-cubed products), and against the
rate of the products these networks are made of (batch 256 through a 256-wide layer): the
fraction of the roofline each implementation reaches. Results go to
``results/mbpo_vs_mbrl_lib.json``.
"""

from __future__ import annotations

from experiments.benchmarks.mbrl_lib_peer import PEER_DIR, import_mbrl_lib

PEER = import_mbrl_lib({"mbpo": "mbrl.algorithms.mbpo",
                        "termination_fns": "mbrl.env.termination_fns"})

import argparse  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import gymnasium as gym  # noqa: E402
import omegaconf  # noqa: E402
import torch  # noqa: E402

from experiments.benchmarks.common import counted_flops, matmul_rate, write_results  # noqa: E402
from mbrl.agents.sac import SACConfig  # noqa: E402
from mbrl.algorithms.mbpo import MBPOConfig, MBPORun  # noqa: E402
from mbrl.algorithms.models import DynamicsModelConfig, ModelKind  # noqa: E402

TASK, ENV_ID, RANDOM_STEPS = "InvertedPendulum-v5", "InvertedPendulum-v5", 250
MEMBERS, ELITES, HIDDEN, LAYERS = 7, 5, 200, 4
REFIT_EVERY, ROLLOUTS_PER_STEP, UPDATES_PER_STEP, REAL_FRACTION = 250, 400, 20, 0.05
MAX_EPOCHS, PATIENCE, VALIDATION = 50, 5, 0.2
SAC_HIDDEN, SAC_BATCH, SAC_LR, TARGET_ENTROPY = 256, 256, 3e-4, -0.05


def peer_config(steps: int, seed: int) -> omegaconf.DictConfig:
    """mbrl-lib's own MBPO configs (algorithm, ensemble, InvertedPendulum overrides) at the
    settings above, hydra targets moved to ``mbrl_lib.*`` and gymnasium. Its loop makes no
    SAC update before its first refit (its model buffer is empty), so instead of a separate
    exploration phase (one random step: it takes no fewer) its first ``RANDOM_STEPS`` loop
    steps, acting with the untrained policy, stand for our random steps: the same refits,
    rollouts and updates at the same env steps (give or take one)."""
    conf = PEER_DIR / "mbrl" / "examples" / "conf"
    cfg = omegaconf.OmegaConf.create({
        "algorithm": omegaconf.OmegaConf.load(conf / "algorithm" / "mbpo.yaml"),
        "dynamics_model": omegaconf.OmegaConf.load(conf / "dynamics_model"
                                                   / "gaussian_mlp_ensemble.yaml"),
        "overrides": omegaconf.OmegaConf.load(conf / "overrides" / "mbpo_inv_pendulum.yaml"),
        "seed": seed, "device": "cpu", "log_frequency_agent": 10**9, "save_video": False,
        "debug_mode": False})
    cfg.dynamics_model.update(_target_="mbrl_lib.models.GaussianMLP", _recursive_=False,
                              ensemble_size=MEMBERS,
                              hid_size=HIDDEN, num_layers=LAYERS)
    cfg.algorithm.update(initial_exploration_steps=1, random_initial_explore=True,
                         real_data_ratio=REAL_FRACTION, num_eval_episodes=1)
    cfg.algorithm.agent._target_ = "mbrl_lib.third_party.pytorch_sac_pranz24.sac.SAC"
    space = gym.make(ENV_ID).action_space  # a Box of one bound: scalars, as Box takes them
    cfg.algorithm.agent.action_space.update(
        _target_="gymnasium.spaces.Box", _convert_="all", low=float(space.low.min()),
        high=float(space.high.max()), shape=list(space.shape))
    loop_steps = RANDOM_STEPS + steps - 1  # refits at env steps 251, 501, ...: as ours
    cfg.overrides.update(
        num_steps=loop_steps, epoch_length=loop_steps, num_elites=ELITES, patience=PATIENCE,
        validation_ratio=VALIDATION, num_epochs_train_model=MAX_EPOCHS,
        freq_train_model=REFIT_EVERY, effective_model_rollouts_per_step=ROLLOUTS_PER_STEP,
        rollout_schedule=[1, 15, 1, 1], num_sac_updates_per_step=UPDATES_PER_STEP,
        sac_hidden_size=SAC_HIDDEN, sac_batch_size=SAC_BATCH, sac_lr=SAC_LR,
        sac_target_entropy=TARGET_ENTROPY)
    return cfg


def run_peer(steps: int, seed: int) -> float:
    """Seconds of mbrl-lib's MBPO for ``steps`` learning steps, its evaluation left out."""
    mbpo, evaluation_seconds = PEER["mbpo"], [0.0]
    evaluate = mbpo.evaluate

    def timed_evaluate(*args, **kwargs):
        started = time.perf_counter()
        try:
            return evaluate(*args, **kwargs)
        finally:
            evaluation_seconds[0] += time.perf_counter() - started

    mbpo.evaluate = timed_evaluate
    env, test_env = gym.make(ENV_ID), gym.make(ENV_ID)
    env.reset(seed=seed)
    test_env.reset(seed=seed + 1)
    try:
        with tempfile.TemporaryDirectory() as work_dir:
            started = time.perf_counter()
            mbpo.train(env, test_env, PEER["termination_fns"].inverted_pendulum,
                       peer_config(steps, seed), silent=True, work_dir=work_dir)
            return time.perf_counter() - started - evaluation_seconds[0]
    finally:
        mbpo.evaluate = evaluate


def run_ours(steps: int, seed: int) -> float:
    """Training seconds of our MBPO for ``RANDOM_STEPS + steps`` env steps (the run's clock
    leaves evaluation and checkpoints out)."""
    total = RANDOM_STEPS + steps
    config = MBPOConfig(
        task=TASK, seed=seed, total_steps=total, random_steps=RANDOM_STEPS,
        refit_every=REFIT_EVERY, rollouts=ROLLOUTS_PER_STEP, real_fraction=REAL_FRACTION,
        eval_every=total, eval_episodes=1, checkpoint_every=total,
        output_dir=tempfile.mkdtemp(), progress=False,
        model=DynamicsModelConfig(kind=ModelKind.ensemble, ensemble_size=MEMBERS,
                                  num_elites=ELITES, hidden_size=HIDDEN, num_layers=LAYERS,
                                  max_epochs=MAX_EPOCHS, patience=PATIENCE,
                                  validation_fraction=VALIDATION, min_updates_per_epoch=1),
        sac=SACConfig(learning_starts=0, updates_per_step=float(UPDATES_PER_STEP),
                      hidden=(SAC_HIDDEN, SAC_HIDDEN), batch_size=SAC_BATCH,
                      learning_rate=SAC_LR, target_entropy=TARGET_ENTROPY))
    return MBPORun.start(config).run().evaluations()[-1]["train_seconds"]


def run_flops(run: Callable[[int, int], float], steps: int, seed: int) -> int:
    """Matmul FLOPs (forward and backward) of one whole run, its printing silenced."""
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        return counted_flops(lambda: run(steps, seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000, help="learning env steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--no-flops", action="store_true", help="skip the counted runs")
    args = parser.parse_args()
    runs = {"mbrl_lib": run_peer, "ours": run_ours}
    peak = matmul_rate(2048, 2048, 2048, repeats=5)
    # the products these MLPs are made of: a batch of 256 through a 256-wide layer
    layer_rate = matmul_rate(SAC_BATCH, SAC_HIDDEN, SAC_HIDDEN, repeats=50)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for seed in args.seeds:  # alternating, so that machine noise hits both
        for name, run in runs.items():
            seconds[name].append(run(args.steps, seed))
            print(name, "seed", seed, f"{seconds[name][-1]:.1f} s", flush=True)
    summary = {"fp32_matmul_peak_gflops": peak / 1e9,
               "fp32_matmul_256x256x256_gflops": layer_rate / 1e9,
               "torch_threads": torch.get_num_threads()}
    for name, run in runs.items():
        per_step = statistics.median(seconds[name]) / args.steps
        entry = {"seconds": seconds[name], "ms_per_env_step": 1000 * per_step}
        if not args.no_flops:
            flops = run_flops(run, args.steps, args.seeds[0])
            entry["gflop_per_env_step"] = flops / args.steps / 1e9
            entry["achieved_gflops"] = flops / args.steps / per_step / 1e9
            entry["roofline_fraction"] = flops / args.steps / per_step / peak
            entry["fraction_of_layer_shape_rate"] = flops / args.steps / per_step / layer_rate
        summary[name] = entry
        print(name, entry, flush=True)
    summary["speedup_ours_over_mbrl_lib"] = (summary["mbrl_lib"]["ms_per_env_step"]
                                             / summary["ours"]["ms_per_env_step"])
    print(summary)
    print(write_results("mbpo_vs_mbrl_lib", {"settings": vars(args), "summary": summary}))


if __name__ == "__main__":
    main()
