"""YAML presets: one per task for ``run_mbrl`` here, agent presets in ``agents/``."""

from __future__ import annotations

from pathlib import Path

MBRL_PRESETS = Path(__file__).parent
AGENT_PRESETS = MBRL_PRESETS / "agents"


def preset_path(name: str, directory: Path) -> Path:
    """A preset by name (looked up in ``directory``) or by path to a YAML file."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = directory / f"{name}.yaml"
    if not candidate.exists():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.yaml")))
        raise SystemExit(f"error: no preset {name!r}; known presets: {known}")
    return candidate
