"""EpisodeBuffer: windows within episodes and masked windows of every episode, the
continuation flag of a terminated episode's last transition, and save/load of both."""

import numpy as np
import pytest
import torch

from mbrl.data.sequences import EpisodeBuffer


def _episode(steps, offset):
    obs = np.arange(steps + 1, dtype=np.float32)[:, None] + offset
    return obs, np.zeros((steps, 1), np.float32), np.arange(steps, dtype=np.float32) + offset


def test_only_a_terminated_episodes_last_transition_does_not_continue(tmp_path):
    buffer = EpisodeBuffer()
    buffer.add_episode(*_episode(4, 0), terminated=True)
    buffer.add_episode(*_episode(4, 100), terminated=False)
    for loaded in (buffer, _round_trip(buffer, tmp_path)):
        obs, actions, rewards, continues, valid = loaded.sample_windows(
            400, 2, np.random.default_rng(0))
        assert valid.all()
        assert obs.shape == (400, 3, 1) and continues.shape == (400, 2)
        ends_terminated = (rewards[:, -1] == 3)  # the first episode's last transition
        assert (continues[ends_terminated, -1] == 0).all() and ends_terminated.any()
        assert (continues[~ends_terminated] == 1).all() and (continues[:, 0] == 1).all()
        assert loaded.terminated == [True, False]


def test_windows_run_past_the_end_of_short_episodes_with_a_mask():
    """The fault (issue 22): windows were capped at the shortest stored episode. Now a 3-step
    terminated episode gives 5-step windows padded past its end, drawn as often per transition
    as the inner transitions of a 40-step one."""
    buffer = EpisodeBuffer()
    buffer.add_episode(*_episode(3, 0), terminated=True)
    buffer.add_episode(*_episode(40, 100), terminated=False)
    obs, actions, rewards, continues, valid = buffer.sample_windows(
        4000, 5, np.random.default_rng(0))
    assert obs.shape == (4000, 6, 1) and valid.shape == continues.shape == (4000, 5)
    short = obs[:, 0, 0] < 100
    assert (valid[short] == torch.tensor([True, True, True, False, False])).all()
    assert (obs[short, :, 0] == torch.tensor([0.0, 1, 2, 3, 3, 3])).all()  # last frame repeated
    assert (rewards[short][:, 3:] == 0).all() and (actions[short][:, 3:] == 0).all()
    assert (continues[short][:, 2] == 0).all() and continues[short][:, [0, 1, 3, 4]].all()
    assert valid[~short].all() and continues[~short].all()
    # weights max(T, 5): 5 against 40, so a short window in 1 of 9 draws
    assert short.float().mean().item() == pytest.approx(5 / 45, abs=0.015)
    with pytest.raises(ValueError, match="no episodes"):
        EpisodeBuffer().sample_windows(1, 5, np.random.default_rng(0))


def _round_trip(buffer, tmp_path):
    buffer.save(tmp_path / "episodes.npz")
    return EpisodeBuffer.load(tmp_path / "episodes.npz")
