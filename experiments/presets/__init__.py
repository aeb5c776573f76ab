"""YAML presets: one per task for ``run_mbrl`` here, agent presets in ``agents/``."""

from __future__ import annotations

from pathlib import Path

from mbrl.util.cli import preset_path

MBRL_PRESETS = Path(__file__).parent
AGENT_PRESETS = MBRL_PRESETS / "agents"

__all__ = ["AGENT_PRESETS", "MBRL_PRESETS", "preset_path"]
