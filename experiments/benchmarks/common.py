"""Helpers shared by the benchmarks: timing, thread pinning and result files."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

RESULTS = Path(__file__).parent / "results"


def median_seconds(function: Callable[[], Any], repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def counted_flops(function: Callable[[], Any]) -> int:
    """Matmul FLOPs (forward and backward) of one call of ``function``, counted by
    ``torch.utils.flop_counter.FlopCounterMode``."""
    counter = FlopCounterMode(display=False)
    with counter:
        function()
    return counter.get_total_flops()


def write_results(name: str, results: dict[str, Any]) -> Path:
    """Write ``results`` with the machine description to ``results/<name>.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"machine": {"processor": platform.processor() or platform.machine(),
                           "python": platform.python_version(), "torch": torch.__version__,
                           "torch_threads": torch.get_num_threads()},
               "results": results}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def matmul_rate(rows: int, inner: int, columns: int, repeats: int) -> float:
    """Measured fp32 FLOP/s of ``[rows, inner] @ [inner, columns]``: the best of ``repeats``
    timings of 10 products."""
    a, b = torch.randn(rows, inner), torch.randn(inner, columns)
    best = float("inf")
    for _ in range(repeats + 2):
        started = time.perf_counter()
        for _ in range(10):
            torch.mm(a, b)
        best = min(best, (time.perf_counter() - started) / 10)
    return 2 * rows * inner * columns / best
