"""The data files the code reads (presets, help texts, MJCF assets) ship in a built wheel."""

from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).parents[1]
PACKAGE_DATA = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
    "package-data"]


@pytest.mark.parametrize("package, suffix", [("experiments.presets", ".yaml"),
                                             ("experiments", ".txt"), ("mbrl.envs", ".xml")])
def test_every_data_file_matches_a_package_data_pattern(package, suffix):
    folder = ROOT.joinpath(*package.split("."))
    files = {path for path in folder.rglob(f"*{suffix}")}
    shipped = {path for pattern in PACKAGE_DATA[package] for path in folder.glob(pattern)}
    assert files, f"no {suffix} files under {folder}"
    assert sorted(map(str, files - shipped)) == []
