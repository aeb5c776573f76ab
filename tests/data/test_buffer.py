import numpy as np
import pytest

from mbrl.data import ReplayBuffer


def fill(buffer, n, start=0):
    for i in range(start, start + n):
        buffer.add(np.full(3, i), np.full(2, -i), float(i), np.full(3, i + 1), i % 5 == 0, False)


def test_ring_buffer_keeps_the_newest_in_order():
    buffer = ReplayBuffer(4, 3, 2)
    fill(buffer, 6)
    assert len(buffer) == 4
    np.testing.assert_array_equal(buffer.get().rew, [2, 3, 4, 5])
    np.testing.assert_array_equal(buffer.get().terminated, [False, False, False, True])


def test_batch_add_and_sampling_is_seeded():
    buffer = ReplayBuffer(100, 3, 2)
    n = 50
    buffer.add(np.random.rand(n, 3), np.random.rand(n, 2), np.arange(n), np.random.rand(n, 3),
               np.zeros(n, bool), np.zeros(n, bool))
    a = buffer.sample(10, np.random.default_rng(1)).rew
    b = buffer.sample(10, np.random.default_rng(1)).rew
    np.testing.assert_array_equal(a, b)
    batches = list(buffer.iterate(16, np.random.default_rng(0)))
    assert [len(x) for x in batches] == [16, 16, 16, 2]
    assert sorted(np.concatenate([x.rew for x in batches])) == list(range(n))
    train, val = buffer.split(0.2, np.random.default_rng(0))
    assert len(val) == 10 and len(train) == 40 and not set(train) & set(val)


def test_save_load_round_trips_exactly(tmp_path):
    buffer = ReplayBuffer(5, 3, 2, dtype=np.float64)
    fill(buffer, 7)
    buffer.save(tmp_path / "b.npz")
    loaded = ReplayBuffer.load(tmp_path / "b.npz")
    assert loaded.capacity == 5 and loaded.dtype == np.float64
    for name in ("obs", "act", "rew", "next_obs", "terminated", "truncated"):
        np.testing.assert_array_equal(getattr(loaded.get(), name), getattr(buffer.get(), name))
    fill(loaded, 1, start=7)  # ring position continues correctly
    np.testing.assert_array_equal(loaded.get().rew, [3, 4, 5, 6, 7])
    assert [p.name for p in tmp_path.iterdir()] == ["b.npz"]  # no temp files left behind


def test_bad_input_is_a_clear_error():
    buffer = ReplayBuffer(5, 3, 2)
    with pytest.raises(ValueError, match=r"act must have shape \(1, 2\)"):
        buffer.add(np.zeros(3), np.zeros(3), 0.0, np.zeros(3), False, False)
    with pytest.raises(ValueError, match="obs contains NaN"):
        buffer.add(np.full(3, np.nan), np.zeros(2), 0.0, np.zeros(3), False, False)
    with pytest.raises(ValueError, match="capacity must be a positive integer"):
        ReplayBuffer(0, 3, 2)
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(1, np.random.default_rng(0))


def test_sequence_windows_stop_at_episode_ends_and_the_newest_transition():
    buffer = ReplayBuffer(capacity=6, obs_dim=1, act_dim=1)
    done_at = {2, 6}  # episodes end at the 3rd and 7th transitions (the 7th is a truncation)
    for t in range(8):  # 8 transitions into 6 slots: positions 0..5 hold t = 2..7
        buffer.add(np.array([t], np.float32), np.array([t], np.float32), float(t),
                   np.array([t + 1], np.float32), t == 2, t == 6)
    windows, valid = buffer.sample_sequences(200, 3, np.random.default_rng(0))
    assert windows.obs.shape == (200, 3, 1) and windows.rew.shape == (200, 3)
    assert valid.shape == (200, 3) and valid[:, 0].all()
    for obs, ok in zip(windows.obs[:, :, 0], valid, strict=True):
        start = int(obs[0])
        expected = []
        for k in range(3):
            t = start + k
            alive = t <= 7 and not any(d in done_at for d in range(start, t))
            expected.append(alive)
            if alive:
                assert obs[k] == t  # consecutive transitions of one episode
        assert ok.tolist() == expected
    assert {int(o) for o in windows.obs[:, 0, 0]} == set(range(2, 8))
    with pytest.raises(ValueError, match="length must be a positive integer"):
        buffer.sample_sequences(2, 0, np.random.default_rng(0))


def test_frames_are_stored_in_their_own_shape_and_dtype(tmp_path):
    """uint8 frames [C, H, W] (pixel TD-MPC): stored as uint8, windows keep the frame shape,
    and a saved buffer loads with the same shape and dtypes."""
    buffer = ReplayBuffer(10, (3, 4, 4), 2, obs_dtype=np.uint8)
    frames = np.arange(5 * 48, dtype=np.uint8).reshape(5, 3, 4, 4)
    buffer.add(frames, np.ones((5, 2)), np.arange(5.0), frames[::-1].copy(), np.zeros(5, bool),
               np.zeros(5, bool))
    buffer.add(frames[0], np.zeros(2), 9.0, frames[1], True, False)  # one transition
    assert buffer.obs.dtype == np.uint8 and buffer.act.dtype == np.float32 and len(buffer) == 6
    windows, valid = buffer.sample_sequences(4, 3, np.random.default_rng(0))
    assert windows.obs.shape == (4, 3, 3, 4, 4) and valid.shape == (4, 3)
    loaded = ReplayBuffer.load(_saved(buffer, tmp_path))
    assert loaded.obs_shape == (3, 4, 4) and loaded.obs.dtype == np.uint8
    np.testing.assert_array_equal(loaded.get().next_obs, buffer.get().next_obs)
    with pytest.raises(ValueError, match=r"obs must have shape \(1, 3, 4, 4\)"):
        buffer.add(frames[0, :2], np.zeros(2), 0.0, frames[0, :2], False, False)


def _saved(buffer, tmp_path):
    buffer.save(tmp_path / "buffer.npz")
    return tmp_path / "buffer.npz"


def test_a_buffer_larger_than_the_machine_is_refused_up_front():
    with pytest.raises(ValueError, match="lower its capacity"):
        ReplayBuffer(10**9, (9, 64, 64), 1, obs_dtype=np.uint8)  # 74 TB of frames
