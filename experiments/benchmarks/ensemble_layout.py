"""Which way to run the members of an ensemble, by measurement:

    python -m experiments.benchmarks.ensemble_layout

E = 5 members of a 4 x 200 SiLU MLP (HalfCheetah-sized input 23, output 34) with weights stored
stacked (``mbrl.nn.EnsembleMLP``). Two ways to run them: (a) a loop over the members, one matmul per
layer on a view of that member's weights, and (b) one ``torch.baddbmm`` per layer over all
members. Timed: the forward pass without gradients (planning and evaluation) for a range of
rows per member, and a training step (forward, backward of a squared loss) at batch 256 per
member. Results go to ``results/ensemble_layout.json``.
"""

from __future__ import annotations

import torch

from experiments.benchmarks.common import median_seconds, write_results
from mbrl.nn import EnsembleMLP

MEMBERS, IN_DIM, OUT_DIM, HIDDEN, LAYERS, TRAIN_BATCH = 5, 23, 34, 200, 4, 256


def stacked(net: EnsembleMLP, x: torch.Tensor) -> torch.Tensor:
    """All members at once: ``[E, B, in] -> [E, B, out]``."""
    return net(x)


def looped(net: EnsembleMLP, x: torch.Tensor) -> list[torch.Tensor]:
    """One member at a time: ``[E, B, in] -> E x [B, out]``."""
    return [net.member(member, x[member]) for member in range(MEMBERS)]


def training_step(net: EnsembleMLP, x: torch.Tensor, how: str) -> None:
    out = stacked(net, x) if how == "stacked" else torch.stack(looped(net, x))
    net.zero_grad(set_to_none=True)
    out.square().mean().backward()


def main() -> None:
    torch.manual_seed(0)
    layers = EnsembleMLP(MEMBERS, [IN_DIM] + [HIDDEN] * LAYERS + [OUT_DIM], "silu")
    results: dict[str, dict] = {"forward": {}, "training_step": {}}
    with torch.no_grad():
        for rows in (100, 500, 2000, 10_000):
            x = torch.randn(MEMBERS, rows, IN_DIM)
            torch.testing.assert_close(stacked(layers, x)[2], looped(layers, x)[2])
            loop = median_seconds(lambda x=x: looped(layers, x), 20)
            together = median_seconds(lambda x=x: stacked(layers, x), 20)
            results["forward"][str(rows)] = {"loop_ms": 1000 * loop, "stacked_ms": 1000 * together,
                                             "loop_over_stacked": loop / together}
            print(f"forward {rows:6d} rows/member: loop {1000 * loop:.2f} ms, stacked "
                  f"{1000 * together:.2f} ms (loop/stacked {loop / together:.2f})", flush=True)
    x = torch.randn(MEMBERS, TRAIN_BATCH, IN_DIM)
    loop = median_seconds(lambda: training_step(layers, x, "loop"), 50)
    together = median_seconds(lambda: training_step(layers, x, "stacked"), 50)
    results["training_step"][str(TRAIN_BATCH)] = {
        "loop_ms": 1000 * loop, "stacked_ms": 1000 * together, "loop_over_stacked": loop / together}
    print(f"training step, batch {TRAIN_BATCH}/member: loop {1000 * loop:.2f} ms, stacked "
          f"{1000 * together:.2f} ms (loop/stacked {loop / together:.2f})", flush=True)
    print(write_results("ensemble_layout", results))


if __name__ == "__main__":
    main()
