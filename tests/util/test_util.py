import os
from dataclasses import dataclass, field

import pytest
import torch

from mbrl.util.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mbrl.util.config import from_yaml, load_config, to_yaml
from mbrl.util.run_folder import RunFolder
from mbrl.util.seeding import derive_seed, torch_generator


@dataclass
class Inner:
    rate: float = 0.1


@dataclass
class Outer:
    name: str = "a"
    steps: int = 3
    inner: Inner = field(default_factory=Inner)


def test_config_from_yaml_with_overrides(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("name: b\ninner:\n  rate: 0.5\n")
    config = load_config(Outer, preset, ["steps=7", "inner.rate=0.25"])
    assert config == Outer("b", 7, Inner(0.25))
    assert from_yaml(Outer, to_yaml(config)) == config


@pytest.mark.parametrize("override, message", [
    ("nope=1", "nope"), ("steps=abc", "steps"), ("steps", "key=value")])
def test_bad_config_is_a_clear_error(override, message):
    with pytest.raises(ValueError, match=message):
        load_config(Outer, None, [override])


def test_checkpoint_round_trip_is_weights_only(tmp_path):
    state = {"w": torch.arange(3.0), "step": 4, "nested": {"x": [1, 2]}}
    save_checkpoint(tmp_path / "c.pt", state)
    loaded = load_checkpoint(tmp_path / "c.pt")
    torch.testing.assert_close(loaded["w"], state["w"])
    assert loaded["nested"] == {"x": [1, 2]} and loaded["step"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_run_folder_metrics_restore_and_plot(tmp_path):
    folder = RunFolder.create(tmp_path, "run")
    for episode in range(2):
        folder.log("episodes", {"episode": episode, "return": 2.0 * episode}, step=episode)
    records = folder.stream_records()
    for episode in range(2, 4):
        folder.log("episodes", {"episode": episode, "return": 2.0 * episode}, step=episode)
    folder.log("late", {"x": 1}, step=3)
    with pytest.raises(ValueError, match="must have columns"):
        folder.log("episodes", {"episode": 9}, step=9)
    assert "\r" not in folder.csv_path("episodes").read_text()
    folder.restore_streams(records, env_steps=1)
    assert [r["return"] for r in folder.read("episodes")] == [0.0, 2.0]
    assert not folder.csv_path("late").exists()
    assert folder.plot("episodes", "episode", "return").exists()
    assert any((folder.root / "tb").iterdir())
    folder.close()
    with folder.csv_path("episodes").open("r+b") as handle:
        handle.write(b"X")
    with pytest.raises(CheckpointError, match="changed or damaged"):
        folder.restore_streams(records, env_steps=1)


def test_run_folders_are_never_shared_and_files_get_normal_permissions(tmp_path):
    first, second = RunFolder.create(tmp_path, "run"), RunFolder.create(tmp_path, "run")
    assert first.root != second.root
    first.save_config({"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert first.config_path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_damaged_checkpoints_are_clear_errors(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {"w": torch.arange(1000.0)})
    data = bytearray((tmp_path / "c.pt").read_bytes())
    (tmp_path / "short.pt").write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "short.pt")
    middle = len(data) // 2
    data[middle:middle + 200] = bytes(200)
    (tmp_path / "garbled.pt").write_bytes(data)
    with pytest.raises(CheckpointError, match="garbled.pt"):
        load_checkpoint(tmp_path / "garbled.pt")
    torch.save({"w": 1}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint of this toolkit"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_seeds_are_derived_deterministically():
    assert derive_seed(1, 2, 3) == derive_seed(1, 2, 3) != derive_seed(1, 2, 4)
    a = torch.rand(3, generator=torch_generator(5, 1))
    torch.testing.assert_close(a, torch.rand(3, generator=torch_generator(5, 1)))
