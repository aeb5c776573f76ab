"""PETS planning step and ensemble training throughput against mbrl-lib, in one process.

mbrl-lib is installed apart (``experiments/benchmarks/mbrl_lib_peer.py``):

    pip install --no-deps --target .bench/mbrl-lib mbrl==0.2.0 && pip install hydra-core==1.3.8
    python -m experiments.benchmarks.pets_vs_mbrl_lib

Equal settings on both sides: E = 5 members of a 4 x 200 SiLU Gaussian MLP predicting
normalised state deltas from normalised inputs; 20 particles with TS-infinity (mbrl-lib:
``fixed_model``); CEM with population 500, 50 elites, horizon 30, 5 iterations, momentum
0.1, truncated-normal sampling, best-seen solution; the same reward on ``(act, next_obs)`` and
no termination. Sizes: pendulum (obs 3, act 1, bounds +-2) and HalfCheetah (obs 17, act 6,
bounds +-1). Training: five epochs over 10,000 random transitions with batch 256 and bootstrap
resampling (Adam, lr 1e-3), each epoch followed by a validation pass over the same 10,000
transitions that keeps each member's best weights (mbrl-lib: ``evaluate=True`` without a
validation set; it also evaluates once before the first epoch, so it makes 6 passes to our 5).
Each side's matmul FLOPs (forward and backward) are counted over its warm-up call and set
against the fp32 matmul peak measured in the same process (2048-cubed products):
``fraction_of_peak``. Results go to ``results/pets_vs_mbrl_lib.json``.
"""

from __future__ import annotations

from experiments.benchmarks.mbrl_lib_peer import import_mbrl_lib

PEER = import_mbrl_lib({"models": "mbrl.models", "planning": "mbrl.planning",
                        "types": "mbrl.types", "replay_buffer": "mbrl.util.replay_buffer"})

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from experiments.benchmarks.common import (  # noqa: E402
    counted_flops,
    matmul_rate,
    median_seconds,
    write_results,
)
from mbrl.data.buffer import ReplayBuffer  # noqa: E402
from mbrl.models import FitSettings  # noqa: E402
from mbrl.models.ensemble import ProbabilisticEnsemble  # noqa: E402
from mbrl.models.propagation import EnsembleDynamics  # noqa: E402
from planners import CEM, Problem  # noqa: E402

MEMBERS, HIDDEN, LAYERS, PARTICLES = 5, 200, 4, 20
POPULATION, ELITES, HORIZON, ITERATIONS, MOMENTUM = 500, 50, 30, 5, 0.1
SIZES = {"pendulum": (3, 1, 2.0), "half_cheetah": (17, 6, 1.0)}
TRAIN_TRANSITIONS, BATCH, EPOCHS = 10_000, 256, 5


def reward_on_next(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    """A smooth stand-in reward ``[B]``: stay near the origin with small actions."""
    return -next_obs.square().sum(-1) - 0.1 * act.square().sum(-1)


def random_data(obs_dim: int, act_dim: int, bound: float, rows: int, seed: int):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(rows, obs_dim)).astype(np.float32)
    act = rng.uniform(-bound, bound, size=(rows, act_dim)).astype(np.float32)
    next_obs = (obs + 0.1 * np.tanh(obs) + 0.05 * act.sum(-1, keepdims=True)).astype(np.float32)
    return obs, act, next_obs


def peer_model(obs_dim: int, act_dim: int, data):
    models = PEER["models"]
    gaussian = models.GaussianMLP(obs_dim + act_dim, obs_dim, "cpu", num_layers=LAYERS,
                                  ensemble_size=MEMBERS, hid_size=HIDDEN, deterministic=False,
                                  propagation_method="fixed_model",
                                  activation_fn_cfg={"_target_": "torch.nn.SiLU"})
    dynamics = models.OneDTransitionRewardModel(gaussian, target_is_delta=True, normalize=True,
                                                learned_rewards=False)
    obs, act, next_obs = data
    rows = len(obs)
    batch = PEER["types"].TransitionBatch(obs, act, next_obs, np.zeros(rows, np.float32),
                                          np.zeros(rows, bool), np.zeros(rows, bool))
    dynamics.update_normalizer(batch)
    return dynamics, batch


def our_model(obs_dim: int, act_dim: int, data) -> ProbabilisticEnsemble:
    model = ProbabilisticEnsemble(obs_dim, act_dim, MEMBERS, HIDDEN, LAYERS, probabilistic=True)
    model.fit_normalizers(*(torch.as_tensor(x) for x in data))
    return model.eval()


def interleaved(calls: dict, repeats: int, peak: float) -> dict:
    """Per label: FLOPs counted over a warm-up call, then the median of ``repeats`` timed calls
    taken in turns (so that machine noise hits every side)."""
    flops = {label: counted_flops(call) for label, call in calls.items()}
    timings: dict[str, list[float]] = {label: [] for label in calls}
    for _ in range(repeats):
        for label, call in calls.items():
            timings[label].append(median_seconds(call, 1, warmup=0))
    seconds = {label: float(np.median(times)) for label, times in timings.items()}
    return {label: {"seconds": seconds[label], "gflop": flops[label] / 1e9,
                    "fraction_of_peak": flops[label] / seconds[label] / peak}
            for label in calls}


def planning_step(name: str, repeats: int, peak: float) -> dict:
    obs_dim, act_dim, bound = SIZES[name]
    data = random_data(obs_dim, act_dim, bound, 2000, seed=0)
    start = data[0][0]
    low, high = -bound * np.ones(act_dim, np.float32), bound * np.ones(act_dim, np.float32)

    dynamics, _ = peer_model(obs_dim, act_dim, data)
    space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    env = type("SpacesOnly", (), {"observation_space": space,
                                  "action_space": gym.spaces.Box(low, high, dtype=np.float32)})()
    model_env = PEER["models"].ModelEnv(
        env, dynamics, lambda act, next_obs: torch.zeros(len(act), 1, dtype=torch.bool),
        lambda act, next_obs: reward_on_next(act, next_obs)[:, None],
        generator=torch.Generator().manual_seed(0))
    optimizer = PEER["planning"].CEMOptimizer(
        ITERATIONS, ELITES / POPULATION, POPULATION, np.tile(low, (HORIZON, 1)).tolist(),
        np.tile(high, (HORIZON, 1)).tolist(), MOMENTUM, "cpu")
    x0 = torch.zeros(HORIZON, act_dim)

    def peer_plan():
        with torch.no_grad():
            return optimizer.optimize(
                lambda seqs: model_env.evaluate_action_sequences(seqs, start, PARTICLES), x0=x0)

    ensemble = our_model(obs_dim, act_dim, data)
    problem = Problem(EnsembleDynamics(ensemble, PARTICLES, mode="ts_inf",
                                       generator=torch.Generator().manual_seed(0)),
                      lambda obs, act, next_obs: reward_on_next(act, next_obs),
                      action_low=torch.as_tensor(low, dtype=torch.float32),
                      action_high=torch.as_tensor(high, dtype=torch.float32), horizon=HORIZON,
                      num_particles=PARTICLES)
    cem = CEM(population=POPULATION, elites=ELITES, iterations=ITERATIONS, smoothing=MOMENTUM,
              init_std=bound / 2, seed=0)
    state = torch.as_tensor(start)

    def our_plan():
        with torch.no_grad():
            return cem.plan(state, problem)

    result = interleaved({"mbrl_lib": peer_plan, "ours": our_plan}, repeats, peak)
    result["speedup"] = result["mbrl_lib"]["seconds"] / result["ours"]["seconds"]
    return result


def training_epochs(name: str, repeats: int, peak: float) -> dict:
    obs_dim, act_dim, bound = SIZES[name]
    data = random_data(obs_dim, act_dim, bound, TRAIN_TRANSITIONS, seed=1)
    dynamics, batch = peer_model(obs_dim, act_dim, data)
    trainer = PEER["models"].ModelTrainer(dynamics, optim_lr=1e-3)
    iterator = PEER["replay_buffer"].BootstrapIterator(
        batch, BATCH, MEMBERS, shuffle_each_epoch=True, permute_indices=False,
        rng=np.random.default_rng(0))

    ensemble = our_model(obs_dim, act_dim, data)
    buffer = ReplayBuffer(TRAIN_TRANSITIONS, obs_dim, act_dim)
    obs, act, next_obs = data
    buffer.add(obs, act, np.zeros(TRAIN_TRANSITIONS), next_obs,
               np.zeros(TRAIN_TRANSITIONS, bool), np.zeros(TRAIN_TRANSITIONS, bool))
    adam = torch.optim.Adam(ensemble.parameters(), lr=1e-3, fused=True)
    rng = np.random.default_rng(0)
    runs = {
        "mbrl_lib": lambda: trainer.train(iterator, num_epochs=EPOCHS, silent=True),
        "ours": lambda: ensemble.fit(buffer, adam, rng, FitSettings(
            batch_size=BATCH, max_epochs=EPOCHS, patience=EPOCHS, validation_fraction=0.0)),
    }
    result = interleaved(runs, repeats, peak)
    for side in ("mbrl_lib", "ours"):
        result[side]["transitions_per_second"] = (EPOCHS * TRAIN_TRANSITIONS
                                                  / result[side]["seconds"])
    result["speedup"] = result["mbrl_lib"]["seconds"] / result["ours"]["seconds"]
    return result


def main() -> None:
    torch.manual_seed(0)
    peak = matmul_rate(2048, 2048, 2048, repeats=3)
    results = {"fp32_matmul_peak_gflops": peak / 1e9, "planning_step": {},
               "training_epochs": {}}
    for name in SIZES:
        results["planning_step"][name] = planning_step(name, repeats=3, peak=peak)
        print(name, "planning", results["planning_step"][name], flush=True)
        results["training_epochs"][name] = training_epochs(name, repeats=3, peak=peak)
        print(name, "training", results["training_epochs"][name], flush=True)
    print(write_results("pets_vs_mbrl_lib", results))


if __name__ == "__main__":
    main()
