"""Latent world model from pixels (reference 003 Alg. 26) and latent MPC on a swing-up task.

    python -m experiments.latent_world_model --task Pendulum-v1 --seed 0

1. Collect random-policy episodes with 64x64 pixel observations (two stacked frames).
2. Train encoder, latent dynamics, reward model and decoder (eq. 5.3.6 with 10-step
   latent overshooting; by default without decoding the K predicted frames, which halves the
   cost of a step, so that twice as many steps fit the same time: ``--prediction-weight 1``
   adds them back).
3. Measure decoded open-loop predictions over 10 steps on held-out random episodes against the
   copy-the-last-frame baseline, and save a strip of true vs predicted frames.
4. Alternate latent MPC episodes (CEM in latent space with the learned reward) with more
   training on the growing data set (Alg. 26's loop).

Writes ``experiments/results/latent_world_model_<task>.json`` and ``..._frames.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from mbrl.data.sequences import EpisodeBuffer
from mbrl.envs.pixels import make_pixel_env
from mbrl.models.latent import LatentModelConfig, LatentWorldModel
from mbrl.policies import LatentMPC
from mbrl.util.seeding import derive_seed, numpy_generator, seed_torch, torch_generator
from planners import CEM

RESULTS = Path(__file__).parent / "results"


class UniformActions:
    """Uniform random actions whatever the observation's shape (pixels are not a batch)."""

    def __init__(self, space, seed: int) -> None:
        self.space, self.rng = space, np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(self.space.low, self.space.high).astype(self.space.dtype)


def run_episode(env, policy, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One episode: ``(obs [T+1, C, 64, 64], actions [T, A], rewards [T])``."""
    obs, _ = env.reset(seed=seed)
    if hasattr(policy, "reset"):
        policy.reset()
    frames, actions, rewards = [obs], [], []
    done = False
    while not done:
        action = np.asarray(policy.act(obs), dtype=np.float32)
        obs, reward, terminated, truncated, _ = env.step(action)
        frames.append(obs)
        actions.append(action)
        rewards.append(reward)
        done = terminated or truncated
    return np.stack(frames), np.stack(actions), np.asarray(rewards, np.float32)


def train(model: LatentWorldModel, optimizer: torch.optim.Optimizer, data: EpisodeBuffer,
          steps: int, batch_size: int, rng: np.random.Generator, generator: torch.Generator,
          desc: str) -> dict[str, float]:
    model.train()
    metrics: dict[str, float] = {}
    bar = tqdm(range(steps), desc=desc, leave=False)
    for _ in bar:
        obs, actions, rewards = data.sample(batch_size, model.config.overshooting, rng)
        loss, metrics = model.loss(obs, actions, rewards, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 100.0)
        optimizer.step()
        bar.set_postfix(latent=f"{metrics['latent']:.4f}", rew=f"{metrics['reward']:.3f}")
    model.eval()
    return metrics


@torch.no_grad()
def open_loop_reward_error(model: LatentWorldModel, obs: torch.Tensor, actions: torch.Tensor,
                           rewards: torch.Tensor) -> torch.Tensor:
    """Root mean squared error ``[K]`` of the rewards predicted along open-loop latent rollouts."""
    latent, errors = model.encode(obs[:, 0]), []
    for k in range(actions.shape[1]):
        errors.append((model.reward(latent, actions[:, k]) - rewards[:, k]).square().mean().sqrt())
        latent = model.step(latent, actions[:, k])
    return torch.stack(errors)


def frame_strip(model: LatentWorldModel, obs: torch.Tensor, actions: torch.Tensor, path: Path
                ) -> None:
    """Top row: real frames 0..K; bottom row: frame 0 and the decoded open-loop predictions."""
    imagined = (model.imagine(obs[None, 0], actions[None])[0] + 0.5).clamp(0, 1)
    predicted = [obs[0, -3:].float() / 255.0, *imagined]
    real = [o[-3:].float() / 255.0 for o in obs]
    rows = [torch.cat(list(frames), dim=2) for frames in (real, predicted)]
    image = (torch.cat(rows, dim=1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 2),
                                  Image.Resampling.NEAREST).save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="Pendulum-v1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random-episodes", type=int, default=50)
    parser.add_argument("--heldout-episodes", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=3000)
    parser.add_argument("--mpc-episodes", type=int, default=12)
    parser.add_argument("--train-steps-per-episode", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--horizon", type=int, default=12, help="planning horizon (actions)")
    parser.add_argument("--action-repeat", type=int, default=4)
    parser.add_argument("--stochastic", action="store_true", help="KL-regularised encoder")
    parser.add_argument("--prediction-weight", type=float, default=0.0,
                        help="weight of the decoded K-step predictions (0: eq. 5.3.6's terms "
                             "only, about half the cost of a training step)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    seed_torch(args.seed)
    env = make_pixel_env(args.task, size=64, frame_stack=2, action_repeat=args.action_repeat)
    act_dim = env.action_space.shape[0]
    data, heldout = EpisodeBuffer(), EpisodeBuffer()
    random_policy = UniformActions(env.action_space, derive_seed(args.seed, 0))
    random_returns = []
    for episode in tqdm(range(args.random_episodes + args.heldout_episodes), desc="random data"):
        obs, actions, rewards = run_episode(env, random_policy, derive_seed(args.seed, 1, episode))
        (data if episode < args.random_episodes else heldout).add_episode(obs, actions, rewards)
        random_returns.append(float(rewards.sum()))

    config = LatentModelConfig(stochastic=args.stochastic,
                               prediction_weight=args.prediction_weight)
    model = LatentWorldModel(env.observation_space.shape, act_dim, config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    rng, generator = numpy_generator(args.seed, 2), torch_generator(args.seed, 3)
    metrics = train(model, optimizer, data, args.train_steps, args.batch_size, rng, generator,
                    "train world model")

    eval_obs, eval_actions, eval_rewards = heldout.sample(64, config.overshooting,
                                                          numpy_generator(args.seed, 4))
    model_error, copy_error = model.open_loop_error(eval_obs, eval_actions)
    reward_error = open_loop_reward_error(model, eval_obs, eval_actions, eval_rewards)
    print("open-loop reward RMSE per step:", np.round(reward_error.numpy(), 3).tolist(),
          f"(reward std {float(eval_rewards.std()):.3f})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"latent_world_model_{args.task}"
    frame_strip(model, eval_obs[0], eval_actions[0], RESULTS / f"{stem}_frames.png")
    print("open-loop MSE per step, model:", np.round(model_error.numpy(), 4).tolist())
    print("open-loop MSE per step, copy last frame:", np.round(copy_error.numpy(), 4).tolist())

    low = torch.as_tensor(env.action_space.low, dtype=torch.float32)
    high = torch.as_tensor(env.action_space.high, dtype=torch.float32)
    planner = CEM(population=500, elites=50, iterations=5, init_std=float(high[0] - low[0]) / 4,
                  seed=torch_generator(args.seed, 5))
    policy = LatentMPC(model, planner, args.horizon, low, high)
    mpc_returns, env_steps = [], args.action_repeat * (len(data) + len(heldout))
    for episode in range(args.mpc_episodes):
        obs, actions, rewards = run_episode(env, policy, derive_seed(args.seed, 6, episode))
        data.add_episode(obs, actions, rewards)
        env_steps += args.action_repeat * len(rewards)
        mpc_returns.append(float(rewards.sum()))
        print(f"latent MPC episode {episode}: return {mpc_returns[-1]:.1f} "
              f"(random mean {np.mean(random_returns):.1f}), env steps {env_steps}", flush=True)
        if episode < args.mpc_episodes - 1:
            metrics = train(model, optimizer, data, args.train_steps_per_episode,
                            args.batch_size, rng, generator, "retrain")

    summary = {
        "task": args.task, "seed": args.seed, "settings": vars(args),
        "open_loop_mse_model": model_error.tolist(), "open_loop_mse_copy_last": copy_error.tolist(),
        "open_loop_reward_rmse": reward_error.tolist(),
        "model_beats_copy_at_every_step": bool((model_error < copy_error).all()),
        "random_returns": random_returns, "random_mean_return": float(np.mean(random_returns)),
        "latent_mpc_returns": mpc_returns, "env_steps": env_steps,
        "final_train_metrics": metrics, "wall_seconds": time.perf_counter() - started}
    (RESULTS / f"{stem}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("settings", "random_returns")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
