"""The latent-MPC run on the harness: logs, open-loop evaluation, identical resume."""

import numpy as np

from mbrl.algorithms.latent_mpc import LatentMPCRun, LatentRunConfig
from mbrl.data.sequences import EpisodeBuffer
from mbrl.util.config import load_config


def tiny(root, mpc_episodes):
    return load_config(LatentRunConfig, None, [
        "random_episodes=2", "heldout_episodes=1", f"mpc_episodes={mpc_episodes}",
        "train_steps=3", "train_steps_per_episode=2", "episode_steps=24", "batch_size=2",
        "model.latent_dim=4", "model.hidden=16", "model.overshooting=2", "planner.horizon=3",
        "planner.cem.population=8", "planner.cem.elites=2", "planner.cem.iterations=1",
        "progress=false", f"output_dir={root}"])


def test_latent_run_evaluates_open_loop_and_resumes_identically(tmp_path):
    full = LatentMPCRun.start(tiny(tmp_path / "full", 2)).run()
    rows = full.folder.read("episodes")
    assert [r["mpc"] for r in rows] == [0, 0, 0, 1, 1] and rows[-1]["env_steps"] == 5 * 24
    assert (full.folder.root / "open_loop.json").exists()
    assert (full.folder.root / "frames.png").exists()
    short = LatentMPCRun.start(tiny(tmp_path / "split", 1)).run()
    resumed = LatentMPCRun.resume(short.folder.root, config=tiny(tmp_path / "split", 2)).run()
    assert [r["return"] for r in resumed.folder.read("episodes")] == [r["return"] for r in rows]


def test_episode_buffer_round_trips(tmp_path):
    buffer = EpisodeBuffer()
    rng = np.random.default_rng(0)
    for steps in (3, 5):
        buffer.add_episode(rng.integers(0, 255, (steps + 1, 6, 4, 4), dtype=np.uint8),
                           rng.normal(size=(steps, 2)), rng.normal(size=steps))
    buffer.save(tmp_path / "episodes.npz")
    loaded = EpisodeBuffer.load(tmp_path / "episodes.npz")
    for ours, theirs in zip(buffer.episodes, loaded.episodes, strict=True):
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
    EpisodeBuffer().save(tmp_path / "empty.npz")
    assert len(EpisodeBuffer.load(tmp_path / "empty.npz")) == 0
