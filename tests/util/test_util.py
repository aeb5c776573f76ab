from dataclasses import dataclass, field

import pytest
import torch

from mbrl.util.checkpoint import load_checkpoint, save_checkpoint
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


def test_run_folder_metrics_truncate_and_plot(tmp_path):
    folder = RunFolder(tmp_path / "run")
    for episode in range(4):
        folder.log("episodes", {"episode": episode, "return": 2.0 * episode}, step=episode)
    with pytest.raises(ValueError, match="must have columns"):
        folder.log("episodes", {"episode": 9}, step=9)
    folder.truncate("episodes", "episode", 1)
    assert [r["return"] for r in folder.read("episodes")] == [0.0, 2.0]
    assert folder.plot("episodes", "episode", "return").exists()
    assert any((tmp_path / "run" / "tb").iterdir())
    folder.close()


def test_seeds_are_derived_deterministically():
    assert derive_seed(1, 2, 3) == derive_seed(1, 2, 3) != derive_seed(1, 2, 4)
    a = torch.rand(3, generator=torch_generator(5, 1))
    torch.testing.assert_close(a, torch.rand(3, generator=torch_generator(5, 1)))
