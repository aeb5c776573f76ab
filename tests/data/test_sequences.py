"""EpisodeBuffer: windows within episodes, the continuation flag of a terminated episode's last
transition, and save/load of both."""

import numpy as np

from mbrl.data.sequences import EpisodeBuffer


def _episode(steps, offset):
    obs = np.arange(steps + 1, dtype=np.float32)[:, None] + offset
    return obs, np.zeros((steps, 1), np.float32), np.arange(steps, dtype=np.float32) + offset


def test_only_a_terminated_episodes_last_transition_does_not_continue(tmp_path):
    buffer = EpisodeBuffer()
    buffer.add_episode(*_episode(4, 0), terminated=True)
    buffer.add_episode(*_episode(4, 100), terminated=False)
    for loaded in (buffer, _round_trip(buffer, tmp_path)):
        obs, actions, rewards, continues = loaded.sample_windows(400, 2, np.random.default_rng(0))
        assert obs.shape == (400, 3, 1) and continues.shape == (400, 2)
        ends_terminated = (rewards[:, -1] == 3)  # the first episode's last transition
        assert (continues[ends_terminated, -1] == 0).all() and ends_terminated.any()
        assert (continues[~ends_terminated] == 1).all() and (continues[:, 0] == 1).all()
        assert loaded.terminated == [True, False]


def _round_trip(buffer, tmp_path):
    buffer.save(tmp_path / "episodes.npz")
    return EpisodeBuffer.load(tmp_path / "episodes.npz")
