"""Importing mbrl-lib beside our package.

mbrl-lib's top-level package is also named ``mbrl``, so it is installed apart and its modules
are moved to ``mbrl_lib.*`` before our package is imported:

    pip install --no-deps --target .bench/mbrl-lib mbrl==0.2.0
    pip install hydra-core==1.3.8 termcolor
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

PEER_DIR = Path(__file__).resolve().parents[2] / ".bench" / "mbrl-lib"


def import_mbrl_lib(wanted: dict[str, str]) -> dict[str, ModuleType]:
    """Import mbrl-lib's modules ``{key: "mbrl.<module>"}`` from ``PEER_DIR``, every module
    they loaded renamed to ``mbrl_lib.*`` (so hydra targets name them ``mbrl_lib.<module>``)."""
    if "mbrl" in sys.modules:
        raise RuntimeError("import this benchmark before anything imports our mbrl package")
    if not (PEER_DIR / "mbrl").is_dir():
        raise SystemExit(f"mbrl-lib is not installed in {PEER_DIR}; see "
                         "experiments/benchmarks/mbrl_lib_peer.py")
    sys.path.insert(0, str(PEER_DIR))
    try:
        modules = {key: importlib.import_module(name) for key, name in wanted.items()}
    finally:
        sys.path.remove(str(PEER_DIR))
    for name in [n for n in sys.modules if n == "mbrl" or n.startswith("mbrl.")]:
        sys.modules["mbrl_lib" + name[len("mbrl"):]] = sys.modules.pop(name)
    return modules
